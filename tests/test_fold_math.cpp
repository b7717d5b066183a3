// Each folding function against the operation it replaces, in float64 on random data.
// torch before Qt: Qt's `slots` macro breaks torch headers.
#include <torch/torch.h>

#include <QtTest>

#include "nn/block.h"
#include "fold/fold.h"
#include "repnas/error.h"

using namespace repnas;
using torch::Tensor;

namespace {

fold::BatchNormStats randomStats(int64_t c) {
  fold::BatchNormStats s;
  s.running_mean = torch::rand({c}, torch::kDouble) - 0.5;
  s.running_var = torch::rand({c}, torch::kDouble) * 1.7 + 0.3;
  s.weight = torch::rand({c}, torch::kDouble) * 2 - 1;
  s.bias = torch::rand({c}, torch::kDouble) - 0.5;
  s.eps = 1e-5;
  return s;
}

Tensor applyBatchNorm(const Tensor& y, const fold::BatchNormStats& s) {
  return torch::batch_norm(y, s.weight, s.bias, s.running_mean, s.running_var,
                           /*training=*/false, /*momentum=*/0.1, s.eps, /*cudnn_enabled=*/false);
}

// conv2d with int arguments (torch's overloads make plain ints ambiguous).
Tensor convPadHW(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride,
                 int64_t pad_h, int64_t pad_w, int64_t groups) {
  const std::vector<int64_t> strides{stride, stride}, pads{pad_h, pad_w}, dilation{1, 1};
  return torch::conv2d(x, w, b, strides, pads, dilation, groups);
}
Tensor conv(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad,
            int64_t groups = 1) {
  return convPadHW(x, w, b, stride, pad, pad, groups);
}

double maxDiff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }

// Pads an activation map with a per-channel value (what BN-and-pad does).
Tensor padWithValue(const Tensor& y, const Tensor& value, int p) {
  auto v = value.reshape({1, -1, 1, 1});
  return torch::constant_pad_nd(y - v, {p, p, p, p}, 0) + v;
}

}  // namespace

class TestFoldMath : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { torch::manual_seed(7); }

  void foldBatchNormMatchesConvThenBatchNorm() {
    for (bool with_bias : {false, true}) {
      const auto x = torch::randn({2, 6, 9, 8}, torch::kDouble);
      const auto k = torch::randn({4, 3, 3, 3}, torch::kDouble);
      const auto b = with_bias ? torch::randn({4}, torch::kDouble) : Tensor();
      const auto s = randomStats(4);
      const auto expected = applyBatchNorm(conv(x, k, b, 1, 1, 2), s);
      const auto f = fold::foldBatchNorm(k, b, s);
      QVERIFY(maxDiff(conv(x, f.kernel, f.bias, 1, 1, 2), expected) < 1e-12);
    }
  }

  void zeroResponseIsBatchNormOfZero() {
    const auto s = randomStats(5);
    const auto bn_of_zero = applyBatchNorm(torch::zeros({1, 5, 1, 1}, torch::kDouble), s);
    QVERIFY(maxDiff(fold::batchNormZeroResponse(s), bn_of_zero.flatten()) < 1e-14);
  }

  // Guards against padding code that is only right for square kernels (DBB's transVI): a 1xK
  // kernel must land in the centre row, a Kx1 kernel in the centre column.
  void padKernelPutsAsymmetricKernelsOnTheRightAxis() {
    for (int k : {3, 5}) {
      const auto row = torch::arange(1, k + 1, torch::kDouble).reshape({1, 1, 1, k});
      const auto padded_row = fold::padKernelToSize(row, k);
      QCOMPARE(padded_row.size(2), int64_t(k));
      QCOMPARE(padded_row.size(3), int64_t(k));
      QVERIFY(maxDiff(padded_row[0][0][k / 2], row.flatten()) == 0);
      QCOMPARE(padded_row.abs().sum().item<double>(), row.abs().sum().item<double>());
      const auto col = row.reshape({1, 1, k, 1});
      const auto padded_col = fold::padKernelToSize(col, k);
      QVERIFY(maxDiff(padded_col[0][0].select(1, k / 2), col.flatten()) == 0);
    }
  }

  void paddedAsymmetricConvEqualsOriginalOnNonSquareInput() {
    // H != W, so a kernel placed along the wrong axis cannot agree by symmetry.
    const auto x = torch::randn({2, 3, 11, 7}, torch::kDouble);
    for (int k : {3, 5}) {
      for (int stride : {1, 2}) {
        const auto one_by_k = torch::randn({4, 3, 1, k}, torch::kDouble);
        const auto k_by_one = torch::randn({4, 3, k, 1}, torch::kDouble);
        const auto a = convPadHW(x, one_by_k, {}, stride, 0, k / 2, 1);
        const auto b = convPadHW(x, k_by_one, {}, stride, k / 2, 0, 1);
        const auto pa = fold::padKernelToSize(one_by_k, k);
        const auto pb = fold::padKernelToSize(k_by_one, k);
        QVERIFY(maxDiff(conv(x, pa, {}, stride, k / 2), a) < 1e-12);
        QVERIFY(maxDiff(conv(x, pb, {}, stride, k / 2), b) < 1e-12);
        // The bug this guards: the wrong axis gives a different answer.
        QVERIFY(maxDiff(conv(x, pa.transpose(2, 3), {}, stride, k / 2), a) > 1e-3);
      }
    }
    QVERIFY_THROWS_EXCEPTION(Error, fold::padKernelToSize(torch::zeros({1, 1, 2, 2}), 3));
  }

  void sequentialMergeEqualsTwoConvsWithBiasPadding() {
    for (int groups : {1, 2, 4}) {
      for (int stride : {1, 2}) {
        const int c = 8, d = 8, e = 12, k = 3;
        const auto x = torch::randn({2, c, 10, 9}, torch::kDouble);
        fold::KernelBias first{torch::randn({d, c / groups, 1, 1}, torch::kDouble),
                               torch::randn({d}, torch::kDouble)};
        fold::KernelBias second{torch::randn({e, d / groups, k, k}, torch::kDouble),
                                torch::randn({e}, torch::kDouble)};
        auto mid = conv(x, first.kernel, first.bias, 1, 0, groups);
        mid = padWithValue(mid, first.bias, k / 2);
        const auto expected = conv(mid, second.kernel, second.bias, stride, 0, groups);
        const auto merged = fold::mergeSequential1x1KxK(first, second, groups);
        const auto got = conv(x, merged.kernel, merged.bias, stride, k / 2, groups);
        QVERIFY2(maxDiff(got, expected) < 1e-10, qPrintable(QString("groups %1").arg(groups)));
        // Zero padding of the intermediate map is the classic bug: the border differs.
        auto mid_zero = conv(x, first.kernel, first.bias, 1, 0, groups);
        mid_zero = torch::constant_pad_nd(mid_zero, {1, 1, 1, 1}, 0);
        const auto wrong =
            conv(mid_zero, second.kernel, second.bias, stride, 0, groups);
        QVERIFY(maxDiff(got, wrong) > 1e-3);
      }
    }
  }

  void averagePoolKernelEqualsAvgPool() {
    const auto x = torch::randn({2, 8, 9, 10}, torch::kDouble);
    for (int k : {3, 5}) {
      for (int groups : {1, 2, 8}) {
        for (int stride : {1, 2}) {
          const auto expected = torch::avg_pool2d(x, k, stride, k / 2, false,
                                                  /*count_include_pad=*/true);
          const auto kernel = fold::averagePoolKernel(8, k, groups);
          QVERIFY(maxDiff(conv(x, kernel, {}, stride, k / 2, groups), expected) <
                  1e-12);
        }
      }
    }
  }

  void identityKernelIsIdentity() {
    const auto x = torch::randn({2, 8, 7, 6}, torch::kDouble);
    for (int k : {3, 5})
      for (int groups : {1, 2, 8})
        QVERIFY(maxDiff(conv(x, fold::identityKernel(8, k, groups), {}, 1, k / 2, groups),
                        x) == 0);
  }

  void sumBranchesAddsAndChecksShapes() {
    fold::KernelBias a{torch::ones({2, 1, 3, 3}), torch::ones({2})};
    fold::KernelBias b{torch::full({2, 1, 3, 3}, 2.0), torch::full({2}, 3.0)};
    const auto s = fold::sumBranches({a, b});
    QCOMPARE(s.kernel.sum().item<double>(), 54.0);
    QCOMPARE(s.bias.sum().item<double>(), 8.0);
    QCOMPARE(a.kernel.sum().item<double>(), 18.0);  // inputs untouched
    fold::KernelBias c{torch::ones({2, 1, 1, 1}), torch::ones({2})};
    QVERIFY_THROWS_EXCEPTION(Error, fold::sumBranches({a, c}));
  }

  void foldingInTrainingModeIsRefused() {
    BlockSpec spec;
    DiverseBranchBlock block(spec);
    block->train();
    try {
      block->fold();
      QFAIL("fold() in training mode must throw");
    } catch (const Error& e) {
      QVERIFY(QString(e.what()).contains("training mode"));
    }
    // Explicitly allowed (for inspection), it folds the eval-mode function.
    const auto kb = block->fold(spec.branches, /*allow_training_mode=*/true);
    QCOMPARE(kb.kernel.size(0), int64_t(spec.out_channels));
    block->eval();
    QVERIFY(maxDiff(block->fold().kernel, kb.kernel) == 0);
  }

  void identityInitialisedOneByOneStartsAsIdentity() {
    BlockSpec spec;
    spec.branches = BranchMask().set(static_cast<size_t>(BranchKind::OneByOneKxK));
    DiverseBranchBlock block(spec);
    auto seq = std::dynamic_pointer_cast<Sequential1x1Branch>(block->branch(BranchKind::OneByOneKxK));
    QVERIFY(seq);
    QVERIFY(seq->first->weight.abs().max().item<double>() == 0);
    QVERIFY(maxDiff(seq->firstKernel().flatten(1), torch::eye(spec.in_channels)) == 0);
    spec.identity_init_1x1 = false;
    DiverseBranchBlock plain(spec);
    auto plain_seq =
        std::dynamic_pointer_cast<Sequential1x1Branch>(plain->branch(BranchKind::OneByOneKxK));
    QVERIFY(!plain_seq->identity_1x1.defined());
  }

  void gatesScaleBranchesAndInactiveBranchesDoNotRun() {
    torch::NoGradGuard no_grad;
    BlockSpec spec;
    DiverseBranchBlock block(spec);
    randomizeForTesting(*block);
    block->eval();
    const auto x = torch::randn({1, spec.in_channels, 8, 8});
    const auto all = block->preActivation(x, spec.branches);
    QVERIFY(maxDiff(block->preActivation(x, spec.branches, torch::ones({6})), all) == 0);
    BranchMask only_kxk;
    only_kxk.set(static_cast<size_t>(BranchKind::KxK));
    const auto kxk = block->branch(BranchKind::KxK)->forward(x);
    const auto id = block->identity()->forward(x);
    QVERIFY(maxDiff(block->preActivation(x, only_kxk), kxk + id) < 1e-6);
    BlockSpec partial = spec;
    partial.branches = only_kxk;
    DiverseBranchBlock small(partial);
    QVERIFY_THROWS_EXCEPTION(Error, small->preActivation(x, spec.branches));
  }

  // The training-mode shortcut of the sequential branches (BN bias β − v, zero padding inside
  // the second stage, running-mean correction) against the literal BN-and-pad construction.
  void sequentialTrainingShortcutEqualsLiteralConstruction() {
    for (auto second : {Sequential1x1Branch::Second::Conv, Sequential1x1Branch::Second::AveragePool}) {
      for (int groups : {1, 2, 8}) {
        for (int stride : {1, 2}) {
          BlockSpec spec;
          spec.in_channels = 8;
          spec.out_channels = second == Sequential1x1Branch::Second::Conv ? 16 : 8;
          spec.groups = groups;
          spec.stride = stride;
          auto fast = std::make_shared<Sequential1x1Branch>(spec, second);
          auto literal = std::make_shared<Sequential1x1Branch>(spec, second);
          randomizeForTesting(*fast);
          {
            torch::NoGradGuard g;
            auto src = fast->named_parameters();
            for (auto& p : literal->named_parameters()) p.value().copy_(src[p.key()]);
            auto srcb = fast->named_buffers();
            for (auto& b : literal->named_buffers()) b.value().copy_(srcb[b.key()]);
          }
          literal->literal_training_path = true;
          fast->train();
          literal->train();
          const auto x = torch::randn({4, 8, 9, 10});
          const auto yf = fast->forward(x);
          const auto yl = literal->forward(x);
          const QString where = QString("groups %1 stride %2 %3").arg(groups).arg(stride)
                                    .arg(second == Sequential1x1Branch::Second::Conv ? "conv" : "avg");
          QVERIFY2(maxDiff(yf, yl) < 1e-4 * std::max(1.0, yl.abs().max().item<double>()), qPrintable(where));
          const auto probe = torch::randn(yf.sizes());
          (yf * probe).sum().backward();
          (yl * probe).sum().backward();
          auto pl = literal->named_parameters();
          for (auto& p : fast->named_parameters()) {
            const auto& gl = pl[p.key()].grad();
            QVERIFY2(maxDiff(p.value().grad(), gl) < 1e-3 * std::max(1.0, gl.abs().max().item<double>()),
                     qPrintable(where + " grad " + QString::fromStdString(p.key())));
          }
          auto bl = literal->named_buffers();
          for (auto& b : fast->named_buffers())
            if (b.value().is_floating_point())
              QVERIFY2(maxDiff(b.value(), bl[b.key()]) < 1e-5,
                       qPrintable(where + " buffer " + QString::fromStdString(b.key())));
            else
              QVERIFY(torch::equal(b.value(), bl[b.key()]));
        }
      }
    }
  }


  // The straight-through gates' gradient is ⟨∂L/∂(Σ branches), y_b⟩ for each active branch,
  // and zero for the others; the branch parameters get the same gradients as without gates.
  // In both modes: in training the branch outputs use batch statistics of the same x, so they
  // can be recomputed too.
  void gateGradientIsTheBranchOutputDotTheSumGradient_data() {
    QTest::addColumn<bool>("training");
    QTest::newRow("eval") << false;
    QTest::newRow("training") << true;
  }
  void gateGradientIsTheBranchOutputDotTheSumGradient() {
    QFETCH(bool, training);
    BlockSpec spec;
    DiverseBranchBlock block(spec);
    randomizeForTesting(*block);
    block->train(training);
    const BranchMask active("011010");  // 1x1-AVG, 1x1-KxK, 1xK
    const auto x = torch::randn({2, spec.in_channels, 7, 9});
    // Training forwards move the running statistics (which the sequential branches' border
    // reads): every forward below starts from the same buffers.
    std::map<std::string, torch::Tensor> buffers;
    for (auto& b : block->named_buffers()) buffers[b.key()] = b.value().clone();
    auto restoreBuffers = [&] {
      torch::NoGradGuard g;
      for (auto& b : block->named_buffers()) b.value().copy_(buffers.at(b.key()));
    };
    const auto gates = torch::ones({6}).requires_grad_();
    const auto out = block->preActivation(x, active, gates);
    const auto probe = torch::randn(out.sizes());
    (out * probe).sum().backward();
    for (int b = 0; b < 6; ++b) {
      const auto kind = static_cast<BranchKind>(b);
      const double got = gates.grad()[b].item<double>();
      if (!active.test(b)) {
        QCOMPARE(got, 0.0);
        continue;
      }
      torch::NoGradGuard g;
      restoreBuffers();
      const double expected = (probe * block->branch(kind)->forward(x)).sum().item<double>();
      QVERIFY2(std::abs(got - expected) <= 1e-4 * std::max(1.0, std::abs(expected)),
               qPrintable(QString("branch %1: %2 vs %3").arg(b).arg(got).arg(expected)));
    }
    // Parameter gradients equal those of the ungated sum.
    std::map<std::string, torch::Tensor> gated;
    for (auto& p : block->named_parameters())
      if (p.value().grad().defined()) gated[p.key()] = p.value().grad().clone();
    for (auto& p : block->parameters()) p.mutable_grad() = torch::Tensor();
    restoreBuffers();
    (block->preActivation(x, active) * probe).sum().backward();
    for (auto& p : block->named_parameters()) {
      if (!p.value().grad().defined()) continue;
      QVERIFY2(maxDiff(p.value().grad(), gated.at(p.key())) <= 1e-6 * std::max(1.0, gated.at(p.key()).abs().max().item<double>()),
               p.key().c_str());
    }
  }
};

QTEST_GUILESS_MAIN(TestFoldMath)
#include "test_fold_math.moc"
