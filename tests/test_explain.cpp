// The re-parameterization explainer's numbers: each step's matrices follow from the previous
// step's by the step's formula (recomputed here by hand), step 6 equals the block's own fold,
// the proof is exact with BN-and-pad and running statistics and visibly broken without.
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <map>

#include "repnas/engine.h"
#include "repnas/error.h"
#include "repnas/explain.h"
#include "synthetic_data.h"

using namespace repnas;

namespace {

const ExplainTensor& tensorNamed(const std::vector<ExplainTensor>& ts, const std::string& name) {
  for (const auto& t : ts)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

double maxDiff(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t k = 0; k < a.size(); ++k) m = std::max(m, std::abs(a[k] - b[k]));
  return m;
}

const ExplainItem& itemFor(const ExplainStep& step, const std::string& branch, int nth = 0) {
  for (const auto& item : step.items)
    if (item.branch == branch && nth-- == 0) return item;
  throw std::runtime_error("step " + std::to_string(step.number) + " has no item for " + branch);
}

/// A deterministic image with structure everywhere, including the border.
ExplainImage testImage(int h, int w) {
  ExplainImage img;
  img.height = h;
  img.width = w;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) img.values.push_back(0.5 + 0.5 * std::sin(0.7 * y + 1.3 * x));
  return img;
}

}  // namespace

class TestExplain : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void stepsFollowTheirFormulas() {
    auto ex = ReparamExplainer::demo({});
    QCOMPARE(ex.spec().in_channels, 2);
    const auto ts = ex.tensors();
    for (int o = 0; o < 2; ++o)
      for (int i = 0; i < 2; ++i) {
        const auto steps = ex.steps(o, i);
        QCOMPARE(steps.size(), size_t(6));
        // Step 1, KxK: F' = (γ/σ)·W, b' = β − μγ/σ, from the block's own tensors.
        const auto& w = tensorNamed(ts, "KxK.conv.weight").values;
        const double g = tensorNamed(ts, "KxK.bn.weight").values[o];
        const double b = tensorNamed(ts, "KxK.bn.bias").values[o];
        const double mu = tensorNamed(ts, "KxK.bn.running_mean").values[o];
        const double var = tensorNamed(ts, "KxK.bn.running_var").values[o];
        const double scale = g / std::sqrt(var + 1e-5);
        const auto& kxk = itemFor(steps[0], "3x3");
        for (int k = 0; k < 9; ++k) {
          QVERIFY(std::abs(kxk.inputs[0].values[k] - w[(o * 2 + i) * 9 + k]) < 1e-7);
          QVERIFY(std::abs(kxk.outputs[0].values[k] - scale * w[(o * 2 + i) * 9 + k]) < 1e-7);
        }
        QVERIFY(std::abs(kxk.outputs[0].bias - (b - mu * scale)) < 1e-7);

        // Step 2: the 1x3 kernel lands in the centre row of zeros, bias unchanged.
        const auto& pad = itemFor(steps[1], "1x3");
        QCOMPARE(pad.inputs[0].rows, 1);
        QCOMPARE(pad.outputs[0].rows, 3);
        for (int c = 0; c < 3; ++c) {
          QCOMPARE(pad.outputs[0].values[3 + c], pad.inputs[0].values[c]);
          QCOMPARE(pad.outputs[0].values[c], 0.0);
          QCOMPARE(pad.outputs[0].values[6 + c], 0.0);
        }
        QCOMPARE(pad.outputs[0].bias, pad.inputs[0].bias);

        // Step 3: the average kernel is 1/9 on the diagonal and 0 off it; folded by its BN.
        const auto& pool = itemFor(steps[2], "1x1-AVG");
        for (double v : pool.inputs[0].values) QVERIFY(std::abs(v - 1.0 / 9) < 1e-15);
        for (double v : pool.inputs[1].values) QCOMPARE(v, 0.0);

        // Step 4: F[o,i](u,v) = Σ_d F2[o,d](u,v)·F1[d,i] and b = b2 + Σ_d ΣF2[o,d]·b1[d], from
        // the matrices the step shows.
        for (const std::string name : {"1x1-3x3", "1x1-AVG"}) {
          const auto& merge = itemFor(steps[3], name);
          const auto& f1 = merge.inputs[0].values;  // F1[·, i]
          const auto& b1 = merge.inputs[1].values;  // b1[·]
          QCOMPARE(f1.size(), size_t(2));
          const auto& f20 = merge.inputs[2];
          const auto& f21 = merge.inputs[3];
          const auto& out = merge.outputs[0];
          for (int k = 0; k < 9; ++k) {
            const double expected = f20.values[k] * f1[0] + f21.values[k] * f1[1];
            QVERIFY2(std::abs(out.values[k] - expected) < 1e-12, name.c_str());
          }
          double sum0 = 0, sum1 = 0;
          for (int k = 0; k < 9; ++k) sum0 += f20.values[k], sum1 += f21.values[k];
          QVERIFY(std::abs(out.bias - (f20.bias + sum0 * b1[0] + sum1 * b1[1])) < 1e-12);
        }

        // Step 5: the identity is γ/σ at the centre of the diagonal kernels only.
        const auto& id = itemFor(steps[4], "identity");
        const double gi = tensorNamed(ts, "identity.bn.weight").values[o];
        const double vi = tensorNamed(ts, "identity.bn.running_var").values[o];
        for (int k = 0; k < 9; ++k) {
          const double expected = (k == 4 && o == i) ? gi / std::sqrt(vi + 1e-5) : 0.0;
          QVERIFY(std::abs(id.outputs[0].values[k] - expected) < 1e-12);
        }

        // Step 6: every branch kernel and the sum equal the block's own fold (the exporter's).
        const auto& sum = steps[5].items.at(0);
        const auto core = ex.coreBranchFolds();
        QCOMPARE(sum.inputs.size(), core.size());
        QCOMPARE(core.size(), size_t(7));
        for (size_t k = 0; k < core.size(); ++k) {
          QVERIFY(maxDiff(sum.inputs[k].values, core[k].slice(o, i)) < 1e-12);
          QVERIFY(std::abs(sum.inputs[k].bias - core[k].bias[o]) < 1e-12);
        }
        const auto fused = ex.coreFused();
        QVERIFY(maxDiff(sum.outputs[0].values, fused.slice(o, i)) < 1e-12);
        QVERIFY(std::abs(sum.outputs[0].bias - fused.bias[o]) < 1e-12);
        double by_hand = 0;
        for (const auto& m : sum.inputs) by_hand += m.values[4];
        QVERIFY(std::abs(sum.outputs[0].values[4] - by_hand) < 1e-12);
      }
  }

  void togglingBranchesAndTypingValues() {
    auto ex = ReparamExplainer::demo({});
    const double typed = 0.25;
    ex.setValue("KxK.conv.weight", 4, typed);  // [0, 0, 1, 1]: the centre of W[0,0]
    QCOMPARE(itemFor(ex.steps(0, 0)[0], "3x3").inputs[0].values[4], typed);
    QVERIFY_THROWS_EXCEPTION(Error, ex.setValue("KxK.bn.running_var", 0, -1.0));
    QVERIFY_THROWS_EXCEPTION(Error, ex.setValue("KxK.conv.weight", 999, 1.0));
    QVERIFY_THROWS_EXCEPTION(Error, ex.setValue("no.such.tensor", 0, 1.0));

    // Only KxK + identity: steps 2-4 have nothing to do and say so; step 6 sums two kernels.
    BranchMask only_kxk;
    only_kxk.set(static_cast<int>(BranchKind::KxK));
    ex.setDemoBranches(only_kxk, true);
    QCOMPARE(itemFor(ex.steps(0, 0)[0], "3x3").inputs[0].values[4], typed);  // kept
    auto steps = ex.steps(0, 0);
    for (int s : {1, 2, 3}) {
      QVERIFY(steps[s].items.empty());
      QCOMPARE(steps[s].notes.size(), size_t(1));
    }
    QCOMPARE(steps[5].items[0].inputs.size(), size_t(2));
    // Without identity: step 5 is empty and says why.
    ex.setDemoBranches(only_kxk, false);
    steps = ex.steps(0, 0);
    QVERIFY(steps[4].items.empty());
    QCOMPARE(steps[5].items[0].inputs.size(), size_t(1));
    // The text export carries the formulas and numbers.
    const auto text = explainStepsText(steps);
    if (qEnvironmentVariableIsSet("REPNAS_TEST_VERBOSE"))
      qInfo("%s", explainStepsText(ReparamExplainer::demo({}).steps(0, 1)).c_str());
    QVERIFY(text.find("Step 6") != std::string::npos);
    QVERIFY(text.find("γ/σ") != std::string::npos);
  }

  // Each step says what the block looks like before and after it: a step changes exactly the
  // branches it folds, and each step's "before" is the previous step's "after".
  void eachStepShowsTheBlockBeforeAndAfter() {
    const auto ex = ReparamExplainer::demo({});
    const auto steps = ex.steps(0, 0);
    QCOMPARE(steps.size(), size_t(6));
    const int rows = kNumBranchKinds + 1;  // six branches and the identity
    QCOMPARE(static_cast<int>(steps[0].before.size()), rows);
    for (size_t s = 1; s < steps.size(); ++s) QCOMPARE(steps[s].before, steps[s - 1].after);
    auto row = [&](int stage, BranchKind kind) {
      return foldStageForms(ex.spec(), ex.active(), stage)[static_cast<size_t>(kind)];
    };
    // 1x1-AVG: its first BN at step 1, its pooling (and second BN) at step 3, merged at step 4.
    const auto avg = BranchKind::OneByOneAvg;
    QCOMPARE(row(0, avg), std::string("1x1 → BN-and-pad → avg 3x3 → BN"));
    QVERIFY(row(1, avg) != row(0, avg));
    QCOMPARE(row(2, avg), row(1, avg));
    QVERIFY(row(3, avg) != row(2, avg));
    QVERIFY(row(4, avg) != row(3, avg));
    // The KxK changes only at step 1; the 1x1 at steps 1 and 2; the identity only at step 5.
    for (int stage = 2; stage <= 5; ++stage) QCOMPARE(row(stage, BranchKind::KxK), row(1, BranchKind::KxK));
    QVERIFY(row(2, BranchKind::OneByOne) != row(1, BranchKind::OneByOne));
    const auto identity = [&](int stage) { return foldStageForms(ex.spec(), ex.active(), stage).back(); };
    for (int stage = 1; stage <= 4; ++stage) QCOMPARE(identity(stage), identity(0));
    QVERIFY(identity(5) != identity(4));
    // After the sum: one conv.
    QCOMPARE(steps[5].after, std::vector<std::string>{"one 3x3 conv + bias"});
    // K = 5 names its kernels.
    ReparamExplainer::DemoOptions five;
    five.kernel_size = 5;
    QCOMPARE(foldStageForms(ReparamExplainer::demo(five).spec(), allBranches(), 0)[static_cast<size_t>(BranchKind::OneByK)],
             std::string("1x5 conv → BN"));
  }

  void proofIsExactAndTheCounterExamplesBreakIt() {
    auto ex = ReparamExplainer::demo({});
    const auto img = testImage(12, 12);
    ProofOptions opt;
    opt.out_channel = 1;
    const auto ok = ex.prove(img, 1, "test image", opt);
    QCOMPARE(ok.difference.height, 12);
    QVERIFY(ok.max_abs_output > 0.5);
    QVERIFY2(ok.max_abs_difference < 1e-5 * ok.max_abs_output, std::to_string(ok.max_abs_difference).c_str());
    QCOMPARE(ok.borderWidth(), 1);
    // Zero padding in BN-and-pad: wrong on the border only.
    opt.zero_padding = true;
    const auto zero = ex.prove(img, 1, "test image", opt);
    QVERIFY2(zero.border_max > 1e-2, std::to_string(zero.border_max).c_str());
    QVERIFY(zero.interior_max < 1e-5 * zero.max_abs_output);
    // Batch statistics: wrong everywhere.
    opt.zero_padding = false;
    opt.batch_statistics = true;
    const auto batch = ex.prove(img, 1, "test image", opt);
    for (const auto* p : {&ok, &zero, &batch}) qInfo("%s", explainProofText(*p).c_str());
    QVERIFY(batch.interior_max > 1e-2);
    // The block is unchanged afterwards: the proof is exact again, with the same numbers.
    opt.batch_statistics = false;
    const auto again = ex.prove(img, 1, "test image", opt);
    QCOMPARE(again.max_abs_difference, ok.max_abs_difference);
    QCOMPARE(again.folded.values, ok.folded.values);
    // A proof that fails half-way (training-mode BatchNorm refuses one value per channel)
    // leaves every running statistic as it was.
    {
      // Only 1x1-KxK: its first BatchNorm updates its statistics before the second one throws.
      ReparamExplainer::DemoOptions seq;
      seq.branches = BranchMask().set(static_cast<int>(BranchKind::OneByOneKxK));
      seq.identity = false;
      auto broken = ReparamExplainer::demo(seq);
      const auto before = broken.tensors();
      ProofOptions batch_opt;
      batch_opt.batch_statistics = true;
      QVERIFY_THROWS_EXCEPTION(std::exception, broken.prove(testImage(1, 1), 1, "one pixel", batch_opt));
      const auto after = broken.tensors();
      QCOMPARE(after.size(), before.size());
      for (size_t t = 0; t < after.size(); ++t) QCOMPARE(after[t].values, before[t].values);
      QVERIFY(broken.prove(img, 1, "test image", {}).max_abs_difference < 1e-5 * std::max(1.0, ok.max_abs_output));
    }
    // K = 5: exact, and zero padding breaks a border two pixels wide.
    ReparamExplainer::DemoOptions k5;
    k5.kernel_size = 5;
    auto ex5 = ReparamExplainer::demo(k5);
    ProofOptions opt5;
    QVERIFY(ex5.prove(img, 1, "test image", opt5).max_abs_difference < 1e-5 * ok.max_abs_output);
    opt5.zero_padding = true;
    const auto zero5 = ex5.prove(img, 1, "test image", opt5);
    QCOMPARE(zero5.borderWidth(), 2);
    QCOMPARE(zero5.border_top + zero5.border_bottom + zero5.border_left + zero5.border_right, 8);
    QVERIFY(zero5.border_max > 1e-2);
    QVERIFY(zero5.interior_max < 1e-5 * zero5.max_abs_output);
    // Without any two-stage branch, zero padding changes nothing: it is BN-and-pad's business.
    BranchMask plain;
    plain.set(static_cast<int>(BranchKind::KxK)).set(static_cast<int>(BranchKind::OneByOne));
    ex.setDemoBranches(plain, true);
    opt.zero_padding = true;
    QVERIFY(ex.prove(img, 1, "test image", opt).max_abs_difference < 1e-5 * ok.max_abs_output);
  }

  void runLayersAreExplainedWithTheirOwnActivations() {
    QTemporaryDir tmp;
    const std::string data = tmp.filePath("data").toStdString(), run = tmp.filePath("run").toStdString();
    QDir().mkpath(tmp.filePath("data"));
    testing::writeIdxDataset(data, 64, 20);
    RunConfig c;
    c.mode = "dbb";
    c.dataset = "idx";
    c.data_dir = data;
    c.epochs = 1;
    c.batch_size = 32;
    c.eval_batch_size = 20;
    c.threads = 1;
    Engine engine(c, run);
    QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
    DatasetSpec spec{"idx", data};
    const auto sample = loadSampleImage(spec, 3);
    QCOMPARE(sample.label, 3);
    QCOMPARE(sample.image.height, 12);
    QVERIFY_THROWS_EXCEPTION(DataError, loadSampleImage(spec, 20));
    for (int layer : {0, 2, 7}) {
      auto ex = ReparamExplainer::fromRun(run, layer);
      QCOMPARE(ex.layers(), 8);
      QVERIFY(!ex.isDemo());
      QVERIFY_THROWS_EXCEPTION(Error, ex.randomize(3));
      const auto steps = ex.steps(0, 0);
      const auto fused = ex.coreFused();
      QVERIFY(maxDiff(steps[5].items[0].outputs[0].values, fused.slice(0, 0)) < 1e-12);
      const auto proof = ex.prove(sample.image, sample.channels, sample.source, {});
      QVERIFY2(proof.max_abs_difference < 1e-5 * std::max(1.0, proof.max_abs_output),
               std::to_string(proof.max_abs_difference).c_str());
      if (layer == 2) QCOMPARE(proof.folded.height, 6);  // stride 2
    }
    QVERIFY_THROWS_EXCEPTION(Error, ReparamExplainer::fromRun(run, 8));
  }
};

QTEST_GUILESS_MAIN(TestExplain)
#include "test_explain.moc"
