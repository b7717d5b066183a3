// The training engine on tiny synthetic data: phases, straight-through estimator, commands,
// checkpoints, resume, NaN handling, errors. torch before Qt.
#include <torch/torch.h>

#include <QtTest>

#include <QTemporaryDir>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "nn/network.h"
#include "formats/run_archive_meta.h"
#include "formats/run_files.h"
#include "repnas/costs.h"
#include "repnas/engine.h"
#include "repnas/export.h"
#include "repnas/inspect.h"
#include "repnas/strategy_info.h"
#include "search/strategy.h"
#include "search/strategies/gdas.h"
#include "search/strategies/repnas.h"
#include "search/subset_search.h"
#include "synthetic_data.h"

using namespace repnas;
namespace fs = std::filesystem;

namespace {

/// Records every event; optionally reacts to steps (to post commands mid-run).
struct Recorder : Observer {
  std::vector<Event> events;
  std::function<void(const StepSnapshot&)> on_step;
  void onRunStarted(const RunInfo& e) override { events.push_back(e); }
  void onStep(const StepSnapshot& e) override {
    events.push_back(e);
    if (on_step) on_step(e);
  }
  void onEpoch(const EpochSummary& e) override { events.push_back(e); }
  void onPhaseChange(const PhaseChange& e) override { events.push_back(e); }
  void onCommand(const CommandAck& e) override { events.push_back(e); }
  void onCheckpoint(const CheckpointSaved& e) override { events.push_back(e); }
  void onFinished(const RunFinished& e) override { events.push_back(e); }
  void onTrial(const Trial& e) override { events.push_back(e); }
  template <typename T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& e : events)
      if (auto* p = std::get_if<T>(&e)) out.push_back(*p);
    return out;
  }
};

RunConfig tinyConfig(const std::string& data_dir) {
  RunConfig c;
  c.dataset = "idx";
  c.data_dir = data_dir;
  c.epochs = 3;
  c.warmup_epochs = 1;
  c.search_epochs = 1;
  c.fixed_epochs = 1;  // 3 epochs in all
  c.batch_size = 32;  // 160 images: 5 steps per epoch
  c.eval_batch_size = 64;
  c.threads = 1;
  c.lr = 0.05;
  c.arch_lr = 0.05;  // large enough to move α in a few steps
  c.seed = 3;
  return c;
}

/// The tiny search of `mode` (search: RepNAS; gdas: GDAS and rena: RENA, whose data set has 32
/// more images for their validation split, so that all train on 160 images: 5 steps per epoch).
RunConfig searchConfig(const std::string& mode, const std::string& data_dir,
                       const std::string& gdas_data_dir) {
  RunConfig c = tinyConfig(data_dir);
  c.mode = mode;
  if (mode == "gdas" || mode == "rena") {
    c.data_dir = gdas_data_dir;
    c.val_split = 32;
  }
  if (mode == "gdas") {
    c.gdas_arch_lr = -1;  // resolved: 0.25 / 5 search steps = 0.05, large enough to move α
    c.gdas_arch_travel = 0.25;
  }
  if (mode == "rena") {  // two controller updates in the 5 search steps, three children each
    c.rena_update_every = 2;
    c.rena_children = 3;
    c.rena_buffer = 2;
    c.rena_bn_batches = 1;
    c.rena_val_batches = 1;
  }
  return c;
}

nlohmann::json readJson(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

/// The tensors of a saved network (checkpoint.pt or weights.pt) of the tiny backbone on the
/// 12x12 synthetic images, by name.
std::map<std::string, torch::Tensor> readNetworkTensors(const fs::path& file,
                                                        const std::string& mode = "search") {
  RunConfig config;
  config.mode = mode;
  Network net(backboneFor(config, 1, 12, 12, 10));
  auto archive = readRunArchive(file.string());
  torch::serialize::InputArchive net_archive;
  archive.content.read("network", net_archive);
  net->load(net_archive);
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : net->named_parameters()) out[p.key()] = p.value().detach().clone();
  for (const auto& b : net->named_buffers()) out[b.key()] = b.value().clone();
  return out;
}

}  // namespace

class TestEngine : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  std::string data_;
  std::string gdas_data_;

  /// Every search strategy, for the tests that each must pass.
  static void searchStrategies() {
    QTest::addColumn<QString>("mode");
    QTest::newRow("repnas") << "search";
    QTest::newRow("gdas") << "gdas";
    QTest::newRow("rena") << "rena";
  }
  /// The strategies whose selection solves a cost budget (RENA counts cost in its reward).
  static void costBudgetStrategies() {
    QTest::addColumn<QString>("mode");
    QTest::newRow("repnas") << "search";
    QTest::newRow("gdas") << "gdas";
  }
  RunConfig searchConfigOf(const QString& mode) const {
    return searchConfig(mode.toStdString(), data_, gdas_data_);
  }
  fs::path runDir(const std::string& name, const QString& mode) const {
    return fs::path(tmp_.path().toStdString()) / (name + "-" + mode.toStdString());
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    data_ = (fs::path(tmp_.path().toStdString()) / "data").string();
    fs::create_directories(data_);
    testing::writeIdxDataset(data_, 160, 60);
    gdas_data_ = (fs::path(tmp_.path().toStdString()) / "data-gdas").string();
    fs::create_directories(gdas_data_);
    testing::writeIdxDataset(gdas_data_, 192, 60);
  }

  void straightThroughForwardEqualsDiscreteSubnetwork() {
    torch::manual_seed(0);
    auto spec = makeBackbone("tiny", 1, 12, 12, 10);
    Network net(spec);
    net->eval();  // same BN path for both forwards
    RunConfig c;
    auto strategy = makeRepNasStrategy(spec.numLayers(), c.resolved(/*steps_per_epoch=*/10));
    {
      torch::NoGradGuard g;
      strategy->alpha().normal_();
    }
    auto budget = defaultBudget(spec.layerHasIdentity());
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    auto sel = strategy->sample(budget, gen, 1.0, /*straight_through=*/true);
    QVERIFY(sel.gates.defined());
    QCOMPARE(countBranches(sel.masks), budget.k);
    const auto x = torch::randn({4, 1, 12, 12});
    const auto with_gates = net->forward(x, sel.masks, sel.gates);
    const auto discrete = net->forward(x, sel.masks);
    QCOMPARE((with_gates - discrete).abs().max().item<double>(), 0.0);
  }

  void alphaGetsGradientOnlyForKeptBranches() {
    torch::manual_seed(1);
    auto spec = makeBackbone("tiny", 1, 12, 12, 10);
    Network net(spec);
    RunConfig c;
    auto strategy = makeRepNasStrategy(spec.numLayers(), c.resolved(/*steps_per_epoch=*/10));
    auto budget = defaultBudget(spec.layerHasIdentity());
    auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
    auto sel = strategy->sample(budget, gen, 1.0, /*straight_through=*/true);
    const auto loss = net->forward(torch::randn({8, 1, 12, 12}), sel.masks, sel.gates).logsumexp(1).mean();
    loss.backward();
    const auto grad = strategy->alpha().grad();
    QVERIFY(grad.defined());
    for (int l = 0; l < spec.numLayers(); ++l)
      for (int j = 0; j < kNumBranchKinds; ++j) {
        const double g = grad[l][j].item<double>();
        if (sel.masks[l].test(j)) QVERIFY2(g != 0.0, qPrintable(QString("layer %1 branch %2").arg(l).arg(j)));
        else QCOMPARE(g, 0.0);
      }
    // Warm-up: α is frozen, no straight-through weights.
    QVERIFY(!strategy->sample(budget, gen, 1.0, /*straight_through=*/false).gates.defined());
  }

  // ------------------------------------------------------------ GDAS (STRATEGIES.md §2)

  void gdasSamplesHonourKPinsAndLimits() {
    auto spec = makeBackbone("tiny", 1, 12, 12, 10);
    RunConfig c;
    c.mode = "gdas";
    c.gdas_arch_lr = 3e-4;  // resolved (no α step here)
    GdasStrategy gdas(spec.numLayers(), c);
    {
      torch::NoGradGuard g;
      gdas.alpha().normal_(0, 2);  // far from uniform: the constraints must bind
      gdas.alpha()[3][static_cast<int>(BranchKind::KxK)] = 10;
      gdas.alpha()[7] = 10;
    }
    auto budget = defaultBudget(spec.layerHasIdentity());
    budget.k = 14;
    budget.pins[2][static_cast<int>(BranchKind::OneByOneAvg)] = Pin::Keep;
    budget.pins[3][static_cast<int>(BranchKind::KxK)] = Pin::Drop;
    budget.layer_min[7] = 2;
    budget.layer_max[7] = 3;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
    for (int draw = 0; draw < 10000; ++draw) {
      const auto sel = gdas.sample(budget, gen, 1.0, /*straight_through=*/false);
      QCOMPARE(countBranches(sel.masks), 14);
      QVERIFY(sel.masks[2].test(static_cast<size_t>(BranchKind::OneByOneAvg)));
      QVERIFY(!sel.masks[3].test(static_cast<size_t>(BranchKind::KxK)));
      QVERIFY(sel.masks[7].count() >= 2 && sel.masks[7].count() <= 3);
      for (int l = 0; l < spec.numLayers(); ++l)
        QVERIFY(static_cast<int>(sel.masks[l].count()) >= budget.layer_min[l]);
    }
  }

  void gdasDynamicProgrammeIsTheJointMaximum() {
    // On random scores, pins and limits of three layers, the DP's choice is the best of all
    // combinations with exactly k branches (enumerated).
    std::mt19937_64 rng(5);
    std::normal_distribution<double> normal;
    for (int trial = 0; trial < 300; ++trial) {
      Budget b = defaultBudget({true, false, true});
      b.k = 2 + static_cast<int>(rng() % 12);
      b.layer_max[1] = 1 + static_cast<int>(rng() % 6);
      if (trial % 3 == 0) b.pins[0][rng() % 6] = Pin::Keep;
      if (trial % 4 == 0) b.pins[2][rng() % 6] = Pin::Drop;
      if (budgetProblem(b, 3)) continue;
      const auto allowed = allowedSubsets(b);
      std::vector<std::vector<double>> score(3, std::vector<double>(kNumSubsets));
      for (auto& layer : score)
        for (auto& v : layer) v = normal(rng);
      double best = -1e300;
      for (SubsetBits s0 : allowed[0])
        for (SubsetBits s1 : allowed[1])
          for (SubsetBits s2 : allowed[2]) {
            if (BranchMask(s0).count() + BranchMask(s1).count() + BranchMask(s2).count() !=
                static_cast<size_t>(b.k))
              continue;
            best = std::max(best, score[0][s0] + score[1][s1] + score[2][s2]);
          }
      const auto chosen = bestSubsets(allowed, score, b.k);
      QCOMPARE(score[0][chosen[0]] + score[1][chosen[1]] + score[2][chosen[2]], best);
    }
  }

  void gdasSampleFrequenciesMatchTheConstrainedGumbelMax() {
    // L = 2, k = 3: 220 pairs of subsets. Reference: the joint maximum of Σ_l logit + G over
    // every pair, by enumeration, with its own random numbers; then a χ² test of 10,000 draws
    // of the strategy against it (categories with fewer than 5 expected merged).
    RunConfig c;
    c.mode = "gdas";
    c.gdas_arch_lr = 3e-4;  // resolved (no α step here)
    GdasStrategy gdas(2, c);
    torch::manual_seed(2);
    {
      torch::NoGradGuard g;
      gdas.alpha().normal_(0, 0.7);
    }
    Budget b = defaultBudget({true, true});
    b.k = 3;
    const auto allowed = allowedSubsets(b);
    const auto a = gdas.alpha().detach();
    std::vector<std::pair<SubsetBits, SubsetBits>> pairs;
    std::vector<double> logit;
    for (SubsetBits s0 : allowed[0])
      for (SubsetBits s1 : allowed[1])
        if (BranchMask(s0).count() + BranchMask(s1).count() == 3) {
          pairs.push_back({s0, s1});
          double v = 0;
          for (int j = 0; j < kNumBranchKinds; ++j)
            v += ((s0 >> j) & 1) * a[0][j].item<double>() + ((s1 >> j) & 1) * a[1][j].item<double>();
          logit.push_back(v);
        }
    QCOMPARE(pairs.size(), size_t(220));
    std::map<std::pair<SubsetBits, SubsetBits>, double> expected;
    std::mt19937_64 rng(9);
    std::uniform_real_distribution<double> uniform(1e-12, 1 - 1e-12);
    const int reference_draws = 400000;
    for (int d = 0; d < reference_draws; ++d) {
      double g0[kNumSubsets], g1[kNumSubsets];
      for (int s = 0; s < kNumSubsets; ++s) {
        g0[s] = -std::log(-std::log(uniform(rng)));
        g1[s] = -std::log(-std::log(uniform(rng)));
      }
      size_t best = 0;
      double best_value = -1e300;
      for (size_t i = 0; i < pairs.size(); ++i) {
        const double v = logit[i] + g0[pairs[i].first] + g1[pairs[i].second];
        if (v > best_value) best_value = v, best = i;
      }
      expected[pairs[best]] += 1.0 / reference_draws;
    }
    const int draws = 10000;
    std::map<std::pair<SubsetBits, SubsetBits>, int> observed;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(13);
    for (int d = 0; d < draws; ++d) {
      const auto sel = gdas.sample(b, gen, 1.0, false);
      observed[{static_cast<SubsetBits>(sel.masks[0].to_ulong()),
                static_cast<SubsetBits>(sel.masks[1].to_ulong())}]++;
    }
    double chi2 = 0, pooled_expected = 0, pooled_observed = 0;
    int categories = 0;
    for (const auto& pair : pairs) {
      const double e = expected[pair] * draws;
      const double o = observed.count(pair) ? observed[pair] : 0;
      if (e < 5) {
        pooled_expected += e;
        pooled_observed += o;
        continue;
      }
      chi2 += (o - e) * (o - e) / e;
      ++categories;
    }
    if (pooled_expected >= 5) {
      chi2 += (pooled_observed - pooled_expected) * (pooled_observed - pooled_expected) / pooled_expected;
      ++categories;
    }
    // χ² quantile at p = 0.01 (Wilson–Hilferty), df = categories − 1.
    const double df = categories - 1, z = 2.3263;
    const double critical = df * std::pow(1 - 2 / (9 * df) + z * std::sqrt(2 / (9 * df)), 3);
    QVERIFY(categories > 30);
    QVERIFY2(chi2 < critical, qPrintable(QString("χ² %1 over %2 categories, critical %3")
                                             .arg(chi2).arg(categories).arg(critical)));
  }

  void gdasForwardIsExactlyOneHotAndItsGradientIsTheSubsetProbabilities() {
    torch::manual_seed(6);
    auto spec = makeBackbone("tiny", 1, 12, 12, 10);
    Network net(spec);
    net->eval();
    RunConfig c;
    c.mode = "gdas";
    c.gdas_arch_lr = 3e-4;  // resolved (no α step here)
    GdasStrategy gdas(spec.numLayers(), c);
    {
      torch::NoGradGuard g;
      gdas.alpha().normal_(0, 0.5);
    }
    const auto budget = defaultBudget(spec.layerHasIdentity());
    const double tau = 2.0;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
    const auto sel = gdas.sample(budget, gen, tau, /*straight_through=*/true);
    // Forward: the gates are exactly the mask, the network exactly the discrete subnetwork.
    QVERIFY(torch::equal(sel.gates.detach(), maskTensor(sel.masks)));
    const auto x = torch::randn({4, 1, 12, 12});
    const auto logits = net->forward(x, sel.masks, sel.gates);
    QCOMPARE((logits - net->forward(x, sel.masks)).abs().max().item<double>(), 0.0);
    // Backward: ∂L/∂α = Σ_l c_l ∂p_l(S*_l)/∂α with c_l = Σ_{b∈S*} ∂L/∂gate[l][b]. Check against
    // central finite differences of J(α) = Σ_l c_l p_l(S*_l; α) with the same Gumbel noise.
    const auto loss = logits.logsumexp(1).mean();
    auto grads = torch::autograd::grad({loss}, {gdas.alpha(), sel.gates}, {}, /*retain_graph=*/true);
    const auto alpha_grad = grads[0];
    const auto gate_grad = (torch::autograd::grad({loss}, {sel.gates})[0] * maskTensor(sel.masks)).sum(1);
    auto J = [&] {
      auto g = at::make_generator<at::CPUGeneratorImpl>(21);
      const auto d = gdas.draw(budget, g, tau, true);
      return (d.probability.detach().to(torch::kDouble) * gate_grad.to(torch::kDouble)).sum().item<double>();
    };
    const double eps = 1e-3;
    double max_error = 0, max_grad = 0;
    for (int l = 0; l < spec.numLayers(); ++l)
      for (int j = 0; j < kNumBranchKinds; ++j) {
        torch::NoGradGuard g;
        const float saved = gdas.alpha()[l][j].item<float>();
        gdas.alpha()[l][j] = saved + eps;
        const double up = J();
        gdas.alpha()[l][j] = saved - eps;
        const double down = J();
        gdas.alpha()[l][j] = saved;
        const double fd = (up - down) / (2 * eps);
        max_error = std::max(max_error, std::abs(fd - alpha_grad[l][j].item<double>()));
        max_grad = std::max(max_grad, std::abs(fd));
      }
    QVERIFY(max_grad > 1e-4);  // the check has something to check
    QVERIFY2(max_error < 1e-3 * std::max(1.0, max_grad),
             qPrintable(QString("max |fd − autograd| %1, max |fd| %2").arg(max_error).arg(max_grad)));
  }

  void gdasResolvesItsValidationSplitFromTheTrainingImages() {
    RunConfig c;
    c.mode = "gdas";
    QCOMPARE(c.resolvedValSplit(60000), int64_t(10000));
    c.train_limit = 600;
    QCOMPARE(c.resolvedValSplit(60000), int64_t(100));
    c.val_split = 77;
    QCOMPARE(c.resolvedValSplit(60000), int64_t(77));
    c.mode = "search";
    c.val_split = 0;
    QCOMPARE(c.resolvedValSplit(60000), int64_t(0));
  }

  void theValidationStreamNeverTouchesTestImages() {
    // The same training images with other test images: if no step read a test image (GDAS's α
    // steps read validation batches), every step of the search is bit for bit the same.
    const auto other = fs::path(tmp_.path().toStdString()) / "data-gdas-other-test";
    fs::create_directories(other);
    testing::writeIdxSplit(other.string(), "train", 192, 12, 12, 1);  // as gdas_data_'s
    testing::writeIdxSplit(other.string(), "t10k", 60, 12, 12, 7);    // not as gdas_data_'s
    // A cost cache of this test's own: the steps' predicted ms come from it, and another test
    // program measuring the same key beside this one must not change it between the two runs.
    qputenv("XDG_CACHE_HOME", QByteArray::fromStdString((fs::path(tmp_.path().toStdString()) / "cache-val").string()));
    std::vector<std::vector<StepSnapshot>> runs;
    for (const auto& data : {gdas_data_, other.string()}) {
      auto c = searchConfigOf("gdas");
      c.data_dir = data;
      Engine engine(c, (fs::path(tmp_.path().toStdString()) / ("run-val-" + fs::path(data).filename().string())).string());
      Recorder rec;
      engine.addObserver(&rec);
      QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
      runs.push_back(rec.all<StepSnapshot>());
    }
    QCOMPARE(runs[0].size(), runs[1].size());
    int with_val_loss = 0;
    for (size_t i = 0; i < runs[0].size(); ++i) {
      const auto& a = runs[0][i];
      const auto& b = runs[1][i];
      QVERIFY(a.loss == b.loss && a.alpha == b.alpha && a.mask == b.mask && a.metrics == b.metrics);
      for (const auto& [name, value] : a.metrics) with_val_loss += name == "val_loss";
    }
    QCOMPARE(with_val_loss, 5);  // the search epoch's five α steps read validation batches
    // α's rate resolved from gdas_arch_travel over the search steps, in config.json and the steps.
    const auto dir = fs::path(tmp_.path().toStdString()) / ("run-val-" + fs::path(gdas_data_).filename().string());
    QCOMPARE(loadRunConfig(dir.string()).gdas_arch_lr, 0.25 / 5);
    for (const auto& s : runs[0])
      for (const auto& [name, value] : s.metrics)
        if (name == "arch_lr") QCOMPARE(value, s.phase == Phase::Search ? 0.25 / 5 : 0.0);
  }

  // One-shot NAS's BN recalibration: before the fix, the architecture found so far is measured
  // with BatchNorm statistics re-estimated for it; the supernet's are put back, so training is
  // bit for bit the same with and without it.
  void batchNormRecalibrationReestimatesAndRestores() {
    auto spec = makeBackbone("tiny", 1, 12, 12, 10);
    torch::manual_seed(5);
    Network net(spec);
    std::vector<BranchMask> masks(spec.numLayers(), BranchMask("000101"));
    std::vector<torch::Tensor> batches = {torch::randn({8, 1, 12, 12}), torch::randn({8, 1, 12, 12})};
    net->train();
    for (int i = 0; i < 3; ++i) net->forward(torch::randn({8, 1, 12, 12}) * 3 + 1, masks);  // supernet stats
    const auto before = net->batchNormStatistics();
    net->recalibrateBatchNorm(masks, batches);
    QVERIFY(net->is_training());
    const auto recalibrated = net->batchNormStatistics();
    // The statistics depend on the batches only: from other statistics, the same result.
    {
      torch::NoGradGuard g;
      for (auto& t : net->named_buffers())
        if (t.key().find("running") != std::string::npos) t.value().uniform_(2, 9);
    }
    net->recalibrateBatchNorm(masks, batches);
    const auto again = net->batchNormStatistics();
    for (size_t i = 0; i < again.buffers.size(); ++i)
      QVERIFY(torch::equal(again.buffers[i], recalibrated.buffers[i]));
    // The first branch's BN (layer 0, KxK): the average over the two batches of their batch mean.
    auto kxk = std::dynamic_pointer_cast<ConvBatchNormBranch>(net->block(0)->branch(BranchKind::KxK));
    QVERIFY(kxk);
    {
      torch::NoGradGuard g;
      torch::Tensor mean = torch::zeros({kxk->bn->running_mean.size(0)});
      for (const auto& b : batches) mean += kxk->conv->forward(b).mean({0, 2, 3}) / 2;
      QVERIFY(torch::allclose(kxk->bn->running_mean, mean, 1e-5, 1e-6));
    }
    net->restoreBatchNormStatistics(before);
    const auto restored = net->batchNormStatistics();
    for (size_t i = 0; i < restored.buffers.size(); ++i)
      QVERIFY(torch::equal(restored.buffers[i], before.buffers[i]));

    // In a run: the same steps with and without it; the validation accuracy of the search epoch
    // is measured either way.
    std::vector<std::vector<StepSnapshot>> steps;
    std::vector<std::vector<EpochSummary>> epochs;
    for (int batches_n : {0, 3}) {
      auto c = searchConfigOf("gdas");
      c.bn_recalibration_batches = batches_n;
      Engine engine(c, (fs::path(tmp_.path().toStdString()) / ("run-recal-" + std::to_string(batches_n))).string());
      Recorder rec;
      engine.addObserver(&rec);
      QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
      steps.push_back(rec.all<StepSnapshot>());
      epochs.push_back(rec.all<EpochSummary>());
    }
    QCOMPARE(steps[0].size(), steps[1].size());
    for (size_t i = 0; i < steps[0].size(); ++i)
      QVERIFY(steps[0][i].loss == steps[1][i].loss && steps[0][i].alpha == steps[1][i].alpha &&
              steps[0][i].mask == steps[1][i].mask);
    QCOMPARE(epochs[1].size(), size_t(3));
    QVERIFY(epochs[1][1].val_accuracy.has_value());  // the search epoch
    QCOMPARE(epochs[0].back().val_accuracy, epochs[1].back().val_accuracy);  // after the fix: no recalibration
  }

  void nanLossFailsEveryStrategyAtItsStep_data() {
    QTest::addColumn<QString>("mode");
    QTest::newRow("plain") << "plain";
    QTest::newRow("repnas") << "search";
    QTest::newRow("gdas") << "gdas";
    QTest::newRow("rena") << "rena";
  }
  void nanLossFailsEveryStrategyAtItsStep() {
    QFETCH(QString, mode);
    const auto dir = runDir("run-diverge", mode);
    auto c = searchConfigOf(mode);
    c.lr = 1e30;
    Engine engine(c, dir.string());
    Recorder rec;
    engine.addObserver(&rec);
    const auto result = engine.run();
    QCOMPARE(QString::fromStdString(result.status), QString("failed"));
    QVERIFY2(QString::fromStdString(result.message).contains(QRegularExpression("loss is (NaN|infinite) at step \\d+")),
             result.message.c_str());
    QVERIFY(rec.all<CheckpointSaved>().empty());
    QVERIFY(!fs::exists(dir / "checkpoint.pt"));
  }

  void foldedNetworkEqualsEvalNetwork() {
    torch::NoGradGuard no_grad;
    for (const char* backbone : {"tiny", "resnet18"}) {
      torch::manual_seed(4);
      auto spec = makeBackbone(backbone, 3, 12, 10, 10);
      Network net(spec);
      randomizeForTesting(*net);
      net->eval();
      std::vector<BranchMask> masks;
      for (int l = 0; l < spec.numLayers(); ++l) masks.push_back(BranchMask((l * 11 + 5) % 64));
      FoldedNetwork folded(*net, masks);
      const auto x = torch::randn({3, 3, 12, 10});
      const auto a = net->forward(x, masks);
      const auto b = folded->forward(x);
      const double scale = std::max(1.0, a.abs().max().item<double>());
      QVERIFY2((a - b).abs().max().item<double>() <= 1e-4 * scale, backbone);
    }
  }

  void searchRunGoesThroughThePhasesAndWritesItsFiles_data() { searchStrategies(); }
  void searchRunGoesThroughThePhasesAndWritesItsFiles() {
    QFETCH(QString, mode);
    const auto dir = runDir("run-search", mode);
    fs::create_directories(dir);
    Engine engine(searchConfigOf(mode), dir.string());
    Recorder rec;
    engine.addObserver(&rec);
    EventLogWriter log((dir / "events.jsonl").string());
    engine.addObserver(&log);
    const auto result = engine.run();
    QVERIFY2(result.status == "completed", result.message.c_str());

    const auto info = rec.all<RunInfo>();
    QCOMPARE(info.size(), size_t(1));
    QCOMPARE(info[0].steps_per_epoch, int64_t(5));
    QCOMPARE(info[0].budget.k, 16);
    const auto steps = rec.all<StepSnapshot>();
    QCOMPARE(steps.size(), size_t(15));
    for (const auto& s : steps) {
      QCOMPARE(countBranches(s.mask), 16);
      QCOMPARE(s.alpha.size(), size_t(48));
      QVERIFY(std::isfinite(s.loss));
    }
    QVERIFY(steps[0].phase == Phase::Warmup && steps[5].phase == Phase::Search &&
            steps[10].phase == Phase::Fixed);
    // α is frozen in warm-up (RepNAS: 0; GDAS: its N(0, 1e-3) start) and moves in search;
    // fixed steps all use one mask.
    QVERIFY(steps[4].alpha == info[0].alpha);
    if (mode == "search")
      for (float a : steps[4].alpha) QCOMPARE(a, 0.f);
    bool moved = false;
    for (float a : steps[9].alpha) moved |= a != 0.f;
    QVERIFY(moved);
    for (int i = 11; i < 15; ++i) QVERIFY(steps[i].mask == steps[10].mask);
    QVERIFY(steps[14].alpha == steps[9].alpha);

    const auto phases = rec.all<PhaseChange>();
    QCOMPARE(phases.size(), size_t(2));
    QVERIFY(phases[1].to == Phase::Fixed);
    const auto trials = rec.all<Trial>();
    if (mode == "rena") {
      // Two controller updates (search steps 2 and 4) of three children each, every child
      // within k; the fix keeps the best feasible one (no limits here: the best accuracy).
      QCOMPARE(trials.size(), size_t(6));
      bool fixed_is_a_trial = false;
      for (size_t i = 0; i < trials.size(); ++i) {
        QCOMPARE(trials[i].index, int64_t(i));
        QCOMPARE(trials[i].update, i < 3 ? 1 : 2);
        QCOMPARE(trials[i].step, i < 3 ? int64_t(6) : int64_t(8));
        QCOMPARE(countBranches(trials[i].mask), 16);
        QVERIFY(trials[i].feasible && trials[i].reward == trials[i].val_accuracy);
        QVERIFY(trials[i].val_accuracy >= 0 && trials[i].val_accuracy <= 1);
        QCOMPARE(trials[i].resources.size(), size_t(4));
        fixed_is_a_trial |= trials[i].mask == phases[1].mask;
      }
      QVERIFY(fixed_is_a_trial);
      // What the controller reports, on every step after its first update.
      const auto& m = steps[9].metrics;
      QVERIFY(std::find_if(m.begin(), m.end(), [](const auto& p) {
                return p.first == "controller_updates" && p.second == 2;
              }) != m.end());
    } else {
      QVERIFY(trials.empty());
    }
    QVERIFY(phases[1].mask == steps[10].mask);
    QCOMPARE(countBranches(phases[1].mask), 16);

    const auto epochs = rec.all<EpochSummary>();
    QCOMPARE(epochs.size(), size_t(3));
    // Every epoch ends a phase here; warm-up has no architecture to evaluate (α is all 0).
    QVERIFY(epochs[0].phase == Phase::Warmup && !epochs[0].test_accuracy.has_value());
    for (size_t i = 1; i < epochs.size(); ++i) QVERIFY(epochs[i].test_accuracy.has_value());
    QVERIFY(result.test_accuracy.has_value());

    // Files.
    for (auto f : {"config.json", "events.jsonl", "checkpoint.pt", "arch.json", "weights.pt"})
      QVERIFY2(fs::exists(dir / f), f);
    const auto arch = readJson(dir / "arch.json");
    int kept = 0;
    for (const auto& l : arch["layers"]) kept += static_cast<int>(l["kept"].size());
    QCOMPARE(kept, 16);
    QCOMPARE(arch["layers"].size(), size_t(8));
    // The event log holds the same events, one JSON object per line.
    std::ifstream in(dir / "events.jsonl");
    int lines = 0;
    for (std::string line; std::getline(in, line); ++lines) eventFromJson(line);
    QCOMPARE(lines, static_cast<int>(rec.events.size()));

    // Its retraining trains the found mask as the baselines train: GDAS's validation images
    // go back to training.
    const auto retrain = retrainConfig(dir.string());
    QCOMPARE(retrain.val_split, int64_t(0));
    QVERIFY(retrain.mask.layers == phases[1].mask);

    // The fix reset every BN's running statistics: after one fixed epoch of 5 steps, the
    // counters say 5, not 15.
    const auto tensors = readNetworkTensors(dir / "checkpoint.pt");
    int counters = 0;
    for (const auto& [name, t] : tensors) {
      if (name.find("num_batches_tracked") == std::string::npos) continue;
      ++counters;
      QVERIFY2(t.item<int64_t>() <= 5, name.c_str());
    }
    QVERIFY(counters > 10);
  }

  void normResetLeavesTheFunctionAndScalesMomentum() {
    torch::manual_seed(11);
    RunConfig space;
    space.second_kxk_at_stride2 = true;  // both forms of 1x1-KxK: stride 1 and 2
    auto spec = backboneFor(space, 1, 12, 12, 10);
    Network net(spec);
    const auto initial = net->batchNormFedKernelNorms();
    QVERIFY(initial.size() > 30);
    randomizeForTesting(*net);  // random kernels and BN statistics: the norms have moved
    // BN removes a kernel's scale up to its ε (a channel whose variance is near ε feels it):
    // with a negligible ε the function must not change at all. Momentum 0 keeps the running
    // statistics (which BN-and-pad's border uses in training too) fixed across forwards.
    for (auto& m : net->modules(/*include_self=*/false))
      if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) bn->options.eps(1e-12).momentum(0.0);
    torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
    const auto x = torch::randn({6, 1, 12, 12});
    std::vector<BranchMask> all(spec.numLayers(), allBranches());
    net->train();
    net->forward(x, all).logsumexp(1).mean().backward();
    sgd.step();  // momentum buffers exist now
    const auto kernels = net->batchNormFedKernels();
    const auto w = kernels[3].weight;
    const auto buffer_before = static_cast<torch::optim::SGDParamState&>(
        *sgd.state().at(c10::guts::to_string(w.unsafeGetTensorImpl()))).momentum_buffer().clone();
    torch::NoGradGuard no_grad;
    net->train();
    net->setDropoutGenerator(at::make_generator<at::CPUGeneratorImpl>(3));  // the same masks
    const auto train_before = net->forward(x, all);
    net->eval();
    const auto eval_before = net->forward(x, all);
    net->train();
    std::vector<double> seen;
    const auto factors = net->rescaleBatchNormFedKernels(initial, [&](const torch::Tensor& t, double c) {
      scaleMomentumBuffer(sgd, t, c);
      seen.push_back(c);
    });
    // Back at the initial norms, and not by a trivial factor.
    const auto after = net->batchNormFedKernelNorms();
    for (size_t i = 0; i < after.size(); ++i)
      QVERIFY2(std::abs(after[i] - initial[i]) <= 1e-5 * initial[i], kernels[i].name.c_str());
    double spread = 0;
    for (double c : factors) spread = std::max(spread, std::abs(std::log(c)));
    QVERIFY(spread > 0.5);
    QCOMPARE(seen.size(), factors.size());
    // The function is unchanged in training mode (batch statistics) and in eval mode
    // (running statistics, rescaled with the kernels).
    net->eval();
    const auto eval_after = net->forward(x, all);
    net->train();
    net->setDropoutGenerator(at::make_generator<at::CPUGeneratorImpl>(3));
    const auto train_after = net->forward(x, all);
    const double scale = std::max(1.0, eval_before.abs().max().item<double>());
    QVERIFY2((eval_after - eval_before).abs().max().item<double>() <= 1e-4 * scale, "eval mode");
    QVERIFY2((train_after - train_before).abs().max().item<double>() <=
                 1e-4 * std::max(1.0, train_before.abs().max().item<double>()), "training mode");
    // The momentum buffer scaled by the kernel's own factor.
    const auto buffer_after = static_cast<torch::optim::SGDParamState&>(
        *sgd.state().at(c10::guts::to_string(w.unsafeGetTensorImpl()))).momentum_buffer();
    QVERIFY(torch::allclose(buffer_after, buffer_before * factors[3], 1e-5, 1e-7));
  }

  void annealedSearchReportsNoiseAgreementAndResolvedArchLr() {
    const auto dir = fs::path(tmp_.path().toStdString()) / "run-annealed";
    auto c = tinyConfig(data_);
    c.arch_lr = -1;  // derived: arch_travel / search steps
    c.arch_travel = 2.0;
    c.search_epochs = 2;
    c.noise_start = 1.0;
    c.noise_end = 0.01;
    Engine engine(c, dir.string());
    Recorder rec;
    engine.addObserver(&rec);
    QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
    const auto saved = loadRunConfig(dir.string());
    QCOMPARE(saved.arch_lr, 2.0 / 10);  // 2 search epochs of 5 steps
    QCOMPARE(saved.fixed_epochs, 1);
    const auto steps = rec.all<StepSnapshot>();
    QCOMPARE(steps.size(), size_t(20));
    QCOMPARE(steps[5].arch_lr, 0.2);
    // τ: 1 in warm-up, geometric to 0.01 over the search, nothing sampled after the fix.
    QCOMPARE(steps[0].noise_scale, 1.0);
    QCOMPARE(steps[5].noise_scale, 1.0);
    QVERIFY(std::abs(steps[10].noise_scale - 0.1) < 1e-9);  // half way
    QVERIFY(steps[14].noise_scale < steps[13].noise_scale);
    QCOMPARE(steps[15].noise_scale, 0.0);
    for (int i = 0; i < 15; ++i) {
      QCOMPARE(countBranches(steps[i].topk_mask), 16);
      QCOMPARE(steps[i].mask_agreement, maskAgreement(steps[i].mask, steps[i].topk_mask));
      QVERIFY(steps[i].alpha_margin.has_value());
    }
    QVERIFY(steps[15].topk_mask.empty() && steps[15].mask_agreement == 1.0);
    // With α away from 0 and τ small, the sampled mask is (nearly) the noise-free top-k.
    QVERIFY2(steps[14].mask_agreement >= 0.9, qPrintable(QString::number(steps[14].mask_agreement)));
    // The fixed mask is the noise-free top-k of α after the last search step.
    const auto& last = steps[14].alpha;
    QVERIFY(rec.all<PhaseChange>().back().mask ==
            selectBranches(std::vector<double>(last.begin(), last.end()), rec.all<RunInfo>()[0].budget));
  }

  void odbbTrainsItsMaskDeterministicallyAndRandomMasksHonourTheBudget() {
    auto c = tinyConfig(data_);
    c.mode = "odbb";
    c.epochs = 1;
    applyConfigOverrides(c, {R"(mask=[["KxK"],["KxK","1x1-KxK"],["1x1-KxK"],[],["KxK","1x1"],["1xK"],["KxK"],["KxK","1x1-AVG","Kx1"]])"});
    const auto mask = c.mask.layers;
    std::vector<std::map<std::string, torch::Tensor>> weights;
    for (const char* name : {"run-odbb-a", "run-odbb-b"}) {
      const auto dir = fs::path(tmp_.path().toStdString()) / name;
      Engine engine(c, dir.string());
      Recorder rec;
      engine.addObserver(&rec);
      QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
      for (const auto& s : rec.all<StepSnapshot>()) {
        QVERIFY(s.phase == Phase::Train);
        QVERIFY(s.mask == mask);
      }
      QVERIFY(rec.all<RunFinished>().back().mask == mask);
      QCOMPARE(readJson(dir / "arch.json")["branches_kept"].get<int>(), countBranches(mask));
      RunConfig saved = loadRunConfig(dir.string());
      QVERIFY(saved.mask == c.mask);
      // Only the kept branches exist in the network.
      Network net(backboneFor(saved, 1, 12, 12, 10));
      QVERIFY(!net->block(3)->branch(BranchKind::KxK) && net->block(3)->identity());
      auto archive = readRunArchive((dir / "weights.pt").string());
      torch::serialize::InputArchive net_archive;
      archive.content.read("network", net_archive);
      net->load(net_archive);
      std::map<std::string, torch::Tensor> w;
      for (const auto& p : net->named_parameters()) w[p.key()] = p.value().clone();
      weights.push_back(w);
    }
    for (const auto& [name, t] : weights[0]) QVERIFY2(torch::equal(t, weights[1].at(name)), name.c_str());

    // mask=random: drawn once under the budget and recorded, so that config.json says which.
    auto r = tinyConfig(data_);
    r.mode = "odbb";
    r.epochs = 1;
    r.layer_max = {3};
    r.pins = {{1, BranchKind::OneByOneAvg, Pin::Keep}};
    applyConfigOverrides(r, {"mask=random"});
    const auto dir = fs::path(tmp_.path().toStdString()) / "run-random";
    Engine engine(r, dir.string());
    QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
    const auto saved = loadRunConfig(dir.string());
    QVERIFY(saved.mask.kind == MaskSetting::Kind::Given);
    QCOMPARE(countBranches(saved.mask.layers), 16);
    QVERIFY(saved.mask.layers[1].test(static_cast<size_t>(BranchKind::OneByOneAvg)));
    for (const auto& m : saved.mask.layers) QVERIFY(m.count() <= 3);
    QVERIFY(QString::fromStdString(saved.mask_source).contains("random"));
    Budget b = searchBudget(r, backboneFor(r, 1, 12, 12, 10));
    QVERIFY(saved.mask.layers == randomBranches(b, r.seed));
  }

  void retrainTakesTheFoundMaskFromScratch() {
    const auto search_dir = fs::path(tmp_.path().toStdString()) / "run-to-retrain";
    {
      Engine engine(tinyConfig(data_), search_dir.string());
      QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
    }
    auto c = retrainConfig(search_dir.string());
    QCOMPARE(QString::fromStdString(c.mode), QString("odbb"));
    QVERIFY(QString::fromStdString(c.mask_source).contains("run-to-retrain"));
    // The mask is the search's final architecture, layer by layer (arch.json's kept lists).
    const auto arch = readJson(search_dir / "arch.json");
    for (int l = 0; l < 8; ++l) {
      BranchMask kept;
      for (const auto& name : arch["layers"][l]["kept"])
        kept.set(static_cast<size_t>(*parseBranchKind(name.get<std::string>())));
      QVERIFY(c.mask.layers[l] == kept);
    }
    c.epochs = 1;
    const auto dir = fs::path(tmp_.path().toStdString()) / "run-retrained";
    Engine engine(c, dir.string());
    Recorder rec;
    engine.addObserver(&rec);
    QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
    QVERIFY(rec.all<StepSnapshot>().front().mask == c.mask.layers);
    QVERIFY(loadRunConfig(dir.string()).mask == c.mask);
    // Not a search, or not fixed yet: a clear refusal naming the folder.
    try {
      retrainConfig(dir.string());
      QFAIL("retrained an odbb run");
    } catch (const Error& e) {
      QVERIFY2(QString(e.what()).contains("not a search"), e.what());
    }
    try {  // a trial of it (RENA's children) neither
      trialRetrainConfig(dir.string(), c.mask.layers, "trial 3 (update 1)");
      QFAIL("retrained a trial of an odbb run");
    } catch (const Error& e) {
      QVERIFY2(QString(e.what()).contains("has no trials to retrain"), e.what());
    }
  }

  void versionOneRunFoldersOpenResumeAndExport() {
    // A run folder written before config_version: epochs was the total, no new keys.
    const auto dir = fs::path(tmp_.path().toStdString()) / "run-v1";
    auto c = tinyConfig(data_);
    c.epochs = 3;  // v1 meaning: 1 warm-up + 1 search + 1 fixed
    c.noise_end = 1;
    c.norm_reset = false;
    c.head_dropout = 0;
    c.clip_alpha_from_start = false;
    c.second_kxk_at_stride2 = false;
    {
      Engine first(c, dir.string());
      Recorder rec;
      rec.on_step = [&](const StepSnapshot& s) { if (s.step == 7) first.post(Command::stop()); };
      first.addObserver(&rec);
      QCOMPARE(QString::fromStdString(first.run().status), QString("stopped"));
    }
    auto v1 = nlohmann::json::parse(configToJson(c));
    for (const char* key : {"config_version", "fixed_epochs", "mask", "mask_source", "arch_travel",
                            "noise_start", "noise_end", "norm_reset", "head_dropout",
                            "clip_alpha_from_start", "second_kxk_at_stride2"})
      v1.erase(key);
    {
      std::ofstream out(dir / "config.json");
      out << v1.dump(2);
    }
    const auto loaded = loadRunConfig(dir.string());
    QCOMPARE(loaded.totalEpochs(), 3);
    QVERIFY(!loaded.second_kxk_at_stride2 && loaded.noise_end == 1.0);
    RunConfig threads_only;
    threads_only.threads = 1;
    Engine second(threads_only, dir.string(), /*resume=*/true);
    Recorder rec;
    second.addObserver(&rec);
    QCOMPARE(QString::fromStdString(second.run().status), QString("completed"));
    QCOMPARE(rec.all<RunInfo>()[0].total_steps, int64_t(15));
    // weights.pt with a version-1 config in its metadata exports.
    {
      auto in = readRunArchive((dir / "weights.pt").string());
      auto meta = nlohmann::json::parse(in.meta);
      meta["config"] = v1;
      torch::serialize::InputArchive net_in;
      in.content.read("network", net_in);
      Network net(backboneFor(loaded, 1, 12, 12, 10));
      net->load(net_in);
      torch::serialize::OutputArchive out, net_out;
      out.write("meta", c10::IValue(meta.dump()));
      net->save(net_out);
      out.write("network", net_out);
      out.save_to((dir / "weights.pt").string());  // the format of version-1 runs
    }
    std::ofstream(dir / "config.json") << v1.dump(2);
    ExportRequest req;
    req.run_dir = dir.string();
    req.spec_path = (dir / "m.json").string();
    req.threads = 1;
    const auto exported = exportRun(req);
    QVERIFY2(exported.exported, exported.message.c_str());
  }

  // The registry is what every front end reads: each entry's keys are config keys, the names
  // are the modes config validation accepts (and names when it refuses one), and the engine's
  // rule for live budget edits follows each entry's capabilities.
  void strategyRegistryIsWhatValidationAndTheEngineUse() {
    std::vector<std::string> keys;
    for (const auto& k : configKeyHelp()) keys.push_back(k.key);
    std::vector<std::string> names;
    for (const auto& s : strategyRegistry()) {
      QVERIFY2(std::find(names.begin(), names.end(), s.name) == names.end(), s.name.c_str());
      names.push_back(s.name);
      for (const auto& k : s.keys)
        QVERIFY2(std::find(keys.begin(), keys.end(), k) != keys.end(), (s.name + ": " + k).c_str());
      QVERIFY(!s.phases.empty());
      QCOMPARE(s.capabilities.searches, s.phases.size() == 3 && s.phases[1] == Phase::Search);
      QVERIFY(s.branches.any());
      QCOMPARE(budgetEditRefusal(s.name, false).has_value(), !s.capabilities.accepts_budget_edits);
      RunConfig c;
      c.mode = s.name;
      if (s.given_mask) c.mask.kind = MaskSetting::Kind::Random;
      c.validate();  // every entry is a valid mode
      QCOMPARE(modeBranches(s.name), s.branches);
      QCOMPARE(modeHasIdentity(s.name), s.identity);
    }
    QVERIFY(names == modeNames());
    RunConfig bad;
    bad.mode = "gdas-not-yet";
    try {
      bad.validate();
      QFAIL("an unknown mode was accepted");
    } catch (const ConfigError& e) {
      for (const auto& n : names) QVERIFY2(QString(e.what()).contains(QString::fromStdString(n)), e.what());
    }
    QVERIFY(!findStrategy("gdas-not-yet"));
    QVERIFY_THROWS_EXCEPTION(Error, strategyInfo("gdas-not-yet"));
  }

  void fixedMaskModesTrainTheirBranches() {
    for (const char* mode : {"plain", "repvgg", "dbb"}) {
      const auto dir = fs::path(tmp_.path().toStdString()) / (std::string("run-") + mode);
      auto c = tinyConfig(data_);
      c.mode = mode;
      c.epochs = 1;
      Engine engine(c, dir.string());
      Recorder rec;
      rec.on_step = [&](const StepSnapshot& s) {
        if (s.step == 0) engine.post(Command::setBudget(3));
      };
      engine.addObserver(&rec);
      const auto result = engine.run();
      QVERIFY2(result.status == "completed", result.message.c_str());
      const auto expected = modeBranches(mode);
      for (const auto& s : rec.all<StepSnapshot>()) {
        QVERIFY(s.phase == Phase::Train);
        for (const auto& m : s.mask) QVERIFY(m == expected);
      }
      const auto acks = rec.all<CommandAck>();
      QCOMPARE(acks.size(), size_t(1));
      QVERIFY(!acks[0].accepted);
      QVERIFY(QString::fromStdString(acks[0].reason).contains("fixed mask"));
    }
  }

  void commandsApplyBetweenSteps_data() { searchStrategies(); }
  void commandsApplyBetweenSteps() {
    QFETCH(QString, mode);
    const auto dir = runDir("run-commands", mode);
    auto c = searchConfigOf(mode);
    c.epochs = 2;
    c.warmup_epochs = 0;
    c.search_epochs = 2;
    c.fixed_epochs = 0;
    Engine engine(c, dir.string());
    Recorder rec;
    std::thread resumer;
    rec.on_step = [&](const StepSnapshot& s) {
      if (s.step == 1) {
        engine.post(Command::setBudget(10));
        engine.post(Command::setPin(2, BranchKind::OneByOneAvg, Pin::Keep));
        engine.post(Command::setLayerLimits(7, 2, 3));
        engine.post(Command::setBudget(2));   // below the minimums: refused
        engine.post(Command::setPin(9, BranchKind::KxK, Pin::Drop));  // no layer 9: refused
      }
      if (s.step == 3) {
        engine.post(Command::pause());
        resumer = std::thread([&engine] {
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          engine.post(Command::resume());
        });
      }
      if (s.step == 6) engine.post(Command::stop());
    };
    engine.addObserver(&rec);
    const auto t0 = std::chrono::steady_clock::now();
    const auto result = engine.run();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    resumer.join();
    QCOMPARE(QString::fromStdString(result.status), QString("stopped"));
    QCOMPARE(result.step, int64_t(7));  // stop applies before step 7
    QVERIFY(seconds > 0.3);              // it did wait while paused

    const auto acks = rec.all<CommandAck>();
    QCOMPARE(acks.size(), size_t(8));
    QVERIFY(acks[0].accepted && acks[1].accepted && acks[2].accepted);
    QVERIFY(!acks[3].accepted);
    QVERIFY2(QString::fromStdString(acks[3].reason).contains("k=2 is below the sum of per-layer minimums"),
             acks[3].reason.c_str());
    QVERIFY(!acks[4].accepted);
    QVERIFY(QString::fromStdString(acks[4].reason).contains("layer 9 does not exist"));
    QCOMPARE(acks[4].budget.k, 10);  // a refusal leaves the budget as it was
    QVERIFY(acks[5].accepted && acks[6].accepted && acks[7].accepted);  // pause, resume, stop
    // Commands are applied between steps: the budget edits before step 2, pause before step 4.
    for (int i = 0; i < 5; ++i) QCOMPARE(acks[i].step, int64_t(2));
    QCOMPARE(acks[5].step, int64_t(4));
    QCOMPARE(acks[7].step, int64_t(7));

    for (const auto& s : rec.all<StepSnapshot>()) {
      if (s.step < 2) continue;  // commands apply before step 2
      QCOMPARE(countBranches(s.mask), 10);
      QCOMPARE(s.budget_k, 10);
      QVERIFY(s.mask[2].test(static_cast<size_t>(BranchKind::OneByOneAvg)));
      QVERIFY(s.mask[7].count() >= 2 && s.mask[7].count() <= 3);
    }
    QVERIFY(fs::exists(dir / "checkpoint.pt"));  // saved on stop

    // The engine's journal: the three applied edits, the refused ones never entered.
    const auto& journal = acks[7].journal;
    QVERIFY(journal.known);
    QCOMPARE(journal.index, 3);
    QCOMPARE(journal.entries.size(), size_t(3));
    QVERIFY2(QString::fromStdString(journal.entries[2]).startsWith("layer 7 limits"), journal.entries[2].c_str());
    QVERIFY(acks[4].journal == acks[2].journal);
    // It is kept with the run: the resumed run starts with it and undoes the last edit first.
    RunConfig threads_only;
    threads_only.threads = 1;
    Engine resumed(threads_only, dir.string(), /*resume=*/true);
    Recorder rec2;
    rec2.on_step = [&](const StepSnapshot& s) {
      if (s.step == 7) {
        resumed.post(Command::undo());
        resumed.post(Command::undo());
        resumed.post(Command::redo());
      }
      if (s.step == 8) resumed.post(Command::stop());
    };
    resumed.addObserver(&rec2);
    QCOMPARE(QString::fromStdString(resumed.run().status), QString("stopped"));
    QVERIFY(rec2.all<RunInfo>()[0].journal == journal);
    const auto acks2 = rec2.all<CommandAck>();
    QCOMPARE(acks2.size(), size_t(4));
    QVERIFY(acks2[0].accepted && acks2[1].accepted && acks2[2].accepted);
    QVERIFY2(QString::fromStdString(acks2[0].command).startsWith("undo: layer 7 limits"), acks2[0].command.c_str());
    QVERIFY(acks2[0].budget == acks[1].budget);  // the budget before the limits, exactly
    QCOMPARE(acks2[1].budget.pins[2][static_cast<int>(BranchKind::OneByOneAvg)], Pin::Auto);
    QVERIFY(acks2[2].budget == acks[1].budget);  // redo: the pin again, the limits still undone
    QCOMPARE(acks2[2].journal.index, 2);
    QCOMPARE(acks2[2].journal.entries.size(), size_t(3));
  }

  // RENA's swaps keep exactly k: a live cost limit or a free count is refused with the reason,
  // the budget unchanged; a k edit applies.
  void renaRefusesCostBudgetsLive() {
    const auto dir = runDir("run-rena-costs", "rena");
    auto c = searchConfigOf("rena");
    Engine engine(c, dir.string());
    Recorder rec;
    rec.on_step = [&](const StepSnapshot& s) {
      if (s.step == 1) {
        engine.post(Command::setCostLimits(50, 0));
        engine.post(Command::setBudget(kAnyCount));
        engine.post(Command::setBudget(12));
      }
      if (s.step == 2) engine.post(Command::stop());
    };
    engine.addObserver(&rec);
    QCOMPARE(QString::fromStdString(engine.run().status), QString("stopped"));
    const auto acks = rec.all<CommandAck>();
    QCOMPARE(acks.size(), size_t(4));
    for (int i = 0; i < 2; ++i) {  // whatever the machine's costs: the reason is the strategy
      QVERIFY(!acks[i].accepted);
      QVERIFY2(QString::fromStdString(acks[i].reason).contains("counts cost in its reward"), acks[i].reason.c_str());
      QCOMPARE(acks[i].budget.k, 16);
      QCOMPARE(acks[i].budget.max_ms, 0.0);
    }
    QVERIFY(acks[2].accepted);
    QCOMPARE(countBranches(rec.all<StepSnapshot>().back().mask), 12);
  }

  // A budget in measured milliseconds per step (issue 17): every step's mask and the fix meet
  // it, the run keeps its cost table, live cost edits apply, refuse what no mask meets and
  // undo; a resumed run counts in the run's own table.
  void costBudgetsBindEveryStepAndTheFix_data() { costBudgetStrategies(); }
  void costBudgetsBindEveryStepAndTheFix() {
    QFETCH(QString, mode);
    const auto dir = runDir("run-costs", mode);
    // A cache of this test's own: other test programs running beside it measure the same key.
    const auto cache_home = runDir("cost-cache", mode);
    qputenv("XDG_CACHE_HOME", QByteArray::fromStdString(cache_home.string()));
    auto c = searchConfigOf(mode);
    const auto spec = backboneFor(c, 1, 12, 12, 10);
    CostRequest request;
    request.backbone = spec;
    request.batch = c.batch_size;
    request.threads = c.threads;
    const auto cache = defaultCostCachePath(request);
    const auto table = trainingCostTable(cachedTrainingCosts(request, cache, false));
    // A limit between the two cheapest and the two dearest branches of every layer, nearer the
    // cheap end (k = 16 of 8 layers): the unconstrained top-k breaks it on many steps.
    double limit = table.base_ms;
    for (const auto& row : table.ms) {
      auto sorted = row;
      std::sort(sorted.begin(), sorted.end());
      limit += 0.7 * (sorted[0] + sorted[1]) + 0.3 * (sorted[4] + sorted[5]);
    }
    c.budget_ms = limit;
    Engine engine(c, dir.string());
    Recorder rec;
    rec.on_step = [&](const StepSnapshot& s) {
      if (s.step == 5) {
        engine.post(Command::setCostLimits(1e-3, -1));  // below any mask of 16 branches: refused
        engine.post(Command::setCostLimits(-1, 1e6));                  // a MB limit beside: applies
        engine.post(Command::undo());
      }
      if (s.step == 7) engine.post(Command::stop());
    };
    engine.addObserver(&rec);
    QCOMPARE(QString::fromStdString(engine.run().status), QString("stopped"));
    const auto acks = rec.all<CommandAck>();
    QCOMPARE(acks.size(), size_t(4));
    QVERIFY(!acks[0].accepted);
    QVERIFY2(QString::fromStdString(acks[0].reason).startsWith("ms per step <= "), acks[0].reason.c_str());
    QVERIFY(acks[1].accepted && acks[1].budget.max_mb == 1e6 && acks[1].budget.max_ms == limit);
    QVERIFY2(QString::fromStdString(acks[1].journal.entries.back()).startsWith("training MB limit none → 1e+06"),
             acks[1].journal.entries.back().c_str());
    QVERIFY(acks[2].accepted && acks[2].budget.max_mb == 0 && acks[2].budget.max_ms == limit);
    // The run's table is the machine's, kept in the run folder.
    QVERIFY(fs::exists(dir / "costs.json"));
    std::ifstream costs_file(dir / "costs.json");
    const std::string costs_text((std::istreambuf_iterator<char>(costs_file)), std::istreambuf_iterator<char>());
    const auto kept = trainingCostTable(trainingCostsFromJson(costs_text));
    QVERIFY(kept.ms == table.ms && kept.base_ms == table.base_ms);
    int checked = 0;
    auto checkSteps = [&](const Recorder& r) {
      for (const auto& s : r.all<StepSnapshot>()) {
        QCOMPARE(countBranches(s.mask), 16);
        const double predicted = table.msOf(s.mask);
        QVERIFY2(predicted <= limit + 1e-9, qPrintable(QString("step %1: %2 ms > %3").arg(s.step).arg(predicted).arg(limit)));
        double metric = -1;
        for (const auto& [name, v] : s.metrics)
          if (name == "predicted_ms") metric = v;
        QVERIFY(std::abs(metric - predicted) < 1e-9);
        ++checked;
      }
    };
    checkSteps(rec);
    QCOMPARE(checked, 8);  // the stop applies before step 8
    // Resumed without the machine's cache: the run's own table, nothing measured again.
    fs::remove(cache);
    RunConfig threads_only;
    threads_only.threads = 1;
    Engine resumed(threads_only, dir.string(), /*resume=*/true);
    Recorder rec2;
    resumed.addObserver(&rec2);
    const auto result = resumed.run();
    QCOMPARE(QString::fromStdString(result.status), QString("completed"));
    QVERIFY(!fs::exists(cache));
    checkSteps(rec2);
    QCOMPARE(checked, 15);
    QVERIFY(table.msOf(result.mask) <= limit + 1e-9);
    QCOMPARE(countBranches(result.mask), 16);
    // The limit binds: many masks of k = 16 break it (the warm-up's are uniform ones).
    int breaking = 0;
    Budget count_only = searchBudget(c, spec);
    count_only.max_ms = 0;
    for (uint64_t seed = 0; seed < 200; ++seed) breaking += table.msOf(randomBranches(count_only, seed)) > limit;
    QVERIFY2(breaking >= 40, qPrintable(QString("%1 of 200 random masks break the limit").arg(breaking)));
  }

  void resumeEndsExactlyLikeAnUninterruptedRun_data() { searchStrategies(); }
  void resumeEndsExactlyLikeAnUninterruptedRun() {
    QFETCH(QString, mode);
    const auto full_dir = runDir("run-full", mode);
    const auto split_dir = runDir("run-split", mode);
    const auto c = searchConfigOf(mode);
    std::vector<Trial> full_trials, split_trials;  // RENA's children, evaluated alike
    {
      Engine full(c, full_dir.string());
      Recorder rec;
      full.addObserver(&rec);
      QCOMPARE(QString::fromStdString(full.run().status), QString("completed"));
      full_trials = rec.all<Trial>();
    }
    {
      Engine first(c, split_dir.string());
      Recorder rec;
      rec.on_step = [&](const StepSnapshot& s) {
        if (s.step == 7) first.post(Command::stop());  // mid-epoch, in the search phase
      };
      first.addObserver(&rec);
      QCOMPARE(QString::fromStdString(first.run().status), QString("stopped"));
      split_trials = rec.all<Trial>();
    }
    {
      RunConfig threads_only;
      threads_only.threads = 1;
      // Inspecting the stopped search shows what its strategy would fix now (the checkpoint's
      // strategy state, read by the strategy): the noise-free top-k that the resumed run's
      // first step then reports.
      std::vector<unsigned long> inspected;
      for (int l = 0; l < backboneFor(c, 1, 12, 12, 10).numLayers(); ++l) inspected.push_back(inspectRunBlock(split_dir.string(), l).kept.to_ulong());
      Engine second(threads_only, split_dir.string(), /*resume=*/true);
      Recorder rec;
      std::vector<unsigned long> topk_first_step;
      rec.on_step = [&](const StepSnapshot& s) {
        if (s.step == 8)
          for (const auto& m : s.topk_mask) topk_first_step.push_back(m.to_ulong());
      };
      second.addObserver(&rec);
      const auto result = second.run();
      QCOMPARE(QString::fromStdString(result.status), QString("completed"));
      QCOMPARE(topk_first_step, inspected);
      for (const auto& t : rec.all<Trial>()) split_trials.push_back(t);
      const auto info = rec.all<RunInfo>();
      QVERIFY(info[0].resumed);
      QCOMPARE(info[0].start_step, int64_t(8));
    }
    QCOMPARE(split_trials.size(), full_trials.size());
    if (mode == "rena") QCOMPARE(full_trials.size(), size_t(6));  // 2 updates × 3 children
    for (size_t i = 0; i < full_trials.size(); ++i) {
      QCOMPARE(split_trials[i].index, full_trials[i].index);
      QVERIFY(split_trials[i].mask == full_trials[i].mask);
      QCOMPARE(split_trials[i].val_accuracy, full_trials[i].val_accuracy);
      QCOMPARE(split_trials[i].reward, full_trials[i].reward);
      QCOMPARE(split_trials[i].cached, full_trials[i].cached);
    }
    const auto a = readJson(full_dir / "arch.json");
    const auto b = readJson(split_dir / "arch.json");
    QCOMPARE(QString::fromStdString(b["layers"].dump()), QString::fromStdString(a["layers"].dump()));
    const auto wa = readNetworkTensors(full_dir / "weights.pt");
    const auto wb = readNetworkTensors(split_dir / "weights.pt");
    QCOMPARE(wa.size(), wb.size());
    for (const auto& [name, t] : wa) QVERIFY2(torch::equal(t, wb.at(name)), name.c_str());
    // Resuming the completed run (a process killed after its results, before a summary of its
    // own) reports the result it recorded, without training or evaluating again.
    {
      RunConfig threads_only;
      threads_only.threads = 1;
      Engine again(threads_only, full_dir.string(), /*resume=*/true);
      const auto result = again.run();
      QCOMPARE(QString::fromStdString(result.status), QString("completed"));
      QVERIFY(result.test_accuracy.has_value());
      QCOMPARE(*result.test_accuracy, a["test_accuracy"].get<double>());
    }
  }

  void stopAtAPhaseBoundaryAnnouncesEachPhaseOnce_data() { searchStrategies(); }
  void stopAtAPhaseBoundaryAnnouncesEachPhaseOnce() {
    QFETCH(QString, mode);
    const auto dir = runDir("run-boundary", mode);
    const auto c = searchConfigOf(mode);
    std::vector<PhaseChange> phases;
    {
      Engine first(c, dir.string());
      Recorder rec;
      rec.on_step = [&](const StepSnapshot& s) {
        if (s.step == 4) first.post(Command::stop());  // applies before step 5: the boundary
      };
      first.addObserver(&rec);
      QCOMPARE(QString::fromStdString(first.run().status), QString("stopped"));
      for (const auto& p : rec.all<PhaseChange>()) phases.push_back(p);
    }
    QVERIFY(phases.empty());  // stopped before the transition
    RunConfig threads_only;
    threads_only.threads = 1;
    Engine second(threads_only, dir.string(), /*resume=*/true);
    Recorder rec;
    second.addObserver(&rec);
    QCOMPARE(QString::fromStdString(second.run().status), QString("completed"));
    for (const auto& p : rec.all<PhaseChange>()) phases.push_back(p);
    QCOMPARE(phases.size(), size_t(2));
    QVERIFY(phases[0].from == Phase::Warmup && phases[0].to == Phase::Search && phases[0].step == 5);
    QVERIFY(phases[1].from == Phase::Search && phases[1].to == Phase::Fixed && phases[1].step == 10);

    // A finished run whose result files were lost (e.g. a crash right after the last
    // checkpoint) gets them back on resume.
    fs::remove(dir / "arch.json");
    fs::remove(dir / "weights.pt");
    Engine third(threads_only, dir.string(), /*resume=*/true);
    const auto r = third.run();
    QCOMPARE(QString::fromStdString(r.status), QString("completed"));
    QVERIFY(r.test_accuracy.has_value());
    QVERIFY(fs::exists(dir / "arch.json") && fs::exists(dir / "weights.pt"));
  }

  void searchSecondsFixesOnTheClockAndCountsOnAfterAResume_data() { searchStrategies(); }
  void searchSecondsFixesOnTheClockAndCountsOnAfterAResume() {
    QFETCH(QString, mode);
    // A limit far beyond the run: the plan's phases, and the checkpoint counts the step time
    // before the fix (all of it) and in the search phase (steps 5..7 of a stop after step 7).
    {
      const auto dir = runDir("run-clock-long", mode);
      auto c = searchConfigOf(mode);
      c.search_seconds = 1e6;
      Engine first(c, dir.string());
      Recorder rec;
      rec.on_step = [&](const StepSnapshot& s) {
        if (s.step == 7) first.post(Command::stop());
      };
      first.addObserver(&rec);
      QCOMPARE(QString::fromStdString(first.run().status), QString("stopped"));
      const auto steps = rec.all<StepSnapshot>();
      QCOMPARE(steps.size(), size_t(8));
      double before = 0, search = 0;
      for (const auto& s : steps) {
        before += s.step_ms / 1000;
        if (s.phase == Phase::Search) search += s.step_ms / 1000;
      }
      const auto meta = parseRunArchiveMeta(readRunArchive((dir / "checkpoint.pt").string()).meta);
      QVERIFY(search > 0 && search < before);
      QVERIFY2(std::abs(meta.seconds_before_fix - before) < 1e-9 * before, qPrintable(QString::number(meta.seconds_before_fix)));
      QVERIFY(std::abs(meta.search_phase_seconds - search) < 1e-9 * search);
      QCOMPARE(loadRunConfig(dir.string()).search_seconds, 1e6);
    }
    // A limit that the first step spends: the fix at step 1, in warm-up, on the clock; one
    // phase change, every later step trains the fixed architecture, and a run stopped and
    // resumed ends exactly like an uninterrupted one.
    auto c = searchConfigOf(mode);
    c.search_seconds = 1e-6;
    const auto full_dir = runDir("run-clock-full", mode);
    const auto split_dir = runDir("run-clock-split", mode);
    {
      Engine full(c, full_dir.string());
      Recorder rec;
      full.addObserver(&rec);
      QCOMPARE(QString::fromStdString(full.run().status), QString("completed"));
      const auto phases = rec.all<PhaseChange>();
      QCOMPARE(phases.size(), size_t(1));
      QVERIFY(phases[0].from == Phase::Warmup && phases[0].to == Phase::Fixed && phases[0].step == 1);
      QVERIFY(phases[0].time_limit);
      const auto steps = rec.all<StepSnapshot>();
      QCOMPARE(steps.size(), size_t(15));
      QVERIFY(phases[0].search_seconds && std::abs(*phases[0].search_seconds - steps[0].step_ms / 1000) < 1e-12);
      for (size_t i = 1; i < steps.size(); ++i) {
        QVERIFY2(steps[i].phase == Phase::Fixed, qPrintable(QString::number(i)));
        QVERIFY(steps[i].mask == phases[0].mask && steps[i].topk_mask.empty());
      }
      for (const auto& e : rec.all<EpochSummary>()) QVERIFY(e.phase == Phase::Fixed);
    }
    {
      Engine first(c, split_dir.string());
      Recorder rec;
      rec.on_step = [&](const StepSnapshot& s) {
        if (s.step == 7) first.post(Command::stop());
      };
      first.addObserver(&rec);
      QCOMPARE(QString::fromStdString(first.run().status), QString("stopped"));
    }
    {
      RunConfig threads_only;
      threads_only.threads = 1;
      Engine second(threads_only, split_dir.string(), /*resume=*/true);
      Recorder rec;
      second.addObserver(&rec);
      QCOMPARE(QString::fromStdString(second.run().status), QString("completed"));
      QVERIFY(rec.all<PhaseChange>().empty());  // fixed before the stop, announced then
    }
    const auto wa = readNetworkTensors(full_dir / "weights.pt");
    const auto wb = readNetworkTensors(split_dir / "weights.pt");
    for (const auto& [name, t] : wa) QVERIFY2(torch::equal(t, wb.at(name)), name.c_str());
  }

  void searchProgressRunsOnTheLimitsClock() {
    // The later of the steps' and the clock's progress; the warm-up's seconds come off the limit.
    QCOMPARE(searchProgressUnderTimeLimit(0.2, 100, 40, 10), 0.2);   // 10 of 90 s: the steps lead
    QCOMPARE(searchProgressUnderTimeLimit(0.2, 100, 55, 45), 0.5);   // 45 of 90 s
    QCOMPARE(searchProgressUnderTimeLimit(0.2, 100, 150, 45), 1.0);  // the warm-up overran
    QCOMPARE(searchProgressUnderTimeLimit(0.9, 100, 10, 10), 0.9);
    QCOMPARE(searchProgressUnderTimeLimit(0.1, 100, 200, 190), 1.0); // spent
  }

  void nanLossStopsTheRunAndKeepsTheLastCheckpoint() {
    const auto dir = fs::path(tmp_.path().toStdString()) / "run-nan";
    auto c = tinyConfig(data_);
    c.mode = "plain";
    c.epochs = 1;
    {
      Engine good(c, dir.string());
      QCOMPARE(QString::fromStdString(good.run().status), QString("completed"));
    }
    auto readBytes = [](const fs::path& p) {
      std::ifstream in(p, std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const auto good_checkpoint = readBytes(dir / "checkpoint.pt");
    // Continue the run for two more epochs with a learning rate that makes it diverge (asked
    // for explicitly: an edited config.json is refused on resume).
    RunConfig threads_only;
    threads_only.threads = 1;
    Engine engine(threads_only, dir.string(), /*resume=*/true, {"epochs=3", "lr=1e30"});
    Recorder rec;
    engine.addObserver(&rec);
    const auto result = engine.run();
    QCOMPARE(QString::fromStdString(result.status), QString("failed"));
    QVERIFY2(QString::fromStdString(result.message)
                 .contains(QRegularExpression("loss is (NaN|infinite) at step \\d+")),
             result.message.c_str());
    QVERIFY2(QString::fromStdString(result.message).contains("last good checkpoint (step 5) is intact"),
             result.message.c_str());
    QVERIFY(rec.all<CheckpointSaved>().empty());
    QVERIFY(readBytes(dir / "checkpoint.pt") == good_checkpoint);
    for (const auto& [name, t] : readNetworkTensors(dir / "checkpoint.pt", "plain"))
      if (t.is_floating_point()) QVERIFY2(torch::isfinite(t).all().item<bool>(), name.c_str());
  }

  void badDataAndConfigFailWithAClearMessage() {
    auto c = tinyConfig((fs::path(tmp_.path().toStdString()) / "nowhere").string());
    Engine engine(c, (fs::path(tmp_.path().toStdString()) / "run-bad").string());
    const auto result = engine.run();
    QCOMPARE(QString::fromStdString(result.status), QString("failed"));
    QVERIFY2(QString::fromStdString(result.message).contains("nowhere"), result.message.c_str());

    auto bad = tinyConfig(data_);
    bad.budget = 100;  // more than 48 branches
    // An infeasible budget is a configuration error, found before any data is read.
    try {
      Engine infeasible(bad, (fs::path(tmp_.path().toStdString()) / "run-infeasible").string());
      QFAIL("an infeasible budget was accepted");
    } catch (const ConfigError& e) {
      QVERIFY2(QString(e.what()).contains("k=100 is above the 48 branches"), e.what());
    }
    const auto problems = bad.problems();
    QCOMPARE(problems.size(), size_t(1));
    QCOMPARE(QString::fromStdString(problems[0].key), QString("budget"));
    // Every problem is listed, each with its key.
    bad.epochs = 0;
    bad.search_epochs = -5;
    bad.batch_size = 0;
    QStringList keys;
    for (const auto& p : bad.problems()) keys << QString::fromStdString(p.key);
    QCOMPARE(keys, QStringList({"epochs", "search_epochs", "batch_size"}));

    bad = tinyConfig(data_);
    bad.epochs = 0;
    QVERIFY_THROWS_EXCEPTION(ConfigError, Engine(bad, "/tmp/never"));
  }
};

QTEST_GUILESS_MAIN(TestEngine)
#include "test_engine.moc"
