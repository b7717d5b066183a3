// Constrained top-k selection, budget feasibility, and the config / event formats.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>

#include "repnas/backbone.h"
#include "repnas/budget.h"
#include "repnas/command_journal.h"
#include "repnas/config.h"
#include "repnas/events.h"
#include "repnas/strategy_info.h"

using namespace repnas;

namespace {

std::vector<double> rampScores(int layers) {  // distinct scores, higher for later entries
  std::vector<double> s(layers * kNumBranchKinds);
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<double>(i);
  return s;
}

Budget freeBudget(int layers, int k) {
  Budget b;
  b.k = k;
  b.layer_min.assign(layers, 0);
  b.resize(layers, {});
  return b;
}

QString problem(const Budget& b, int layers) {
  auto p = budgetProblem(b, layers);
  return p ? QString::fromStdString(*p) : QString();
}

}  // namespace

class TestBudget : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void genericBranchNamesBecomeTheRunsNames() {
    QCOMPARE(withKernelSizeNames("pin layer 1 1x1-KxK keep", 3), std::string("pin layer 1 1x1-3x3 keep"));
    QCOMPARE(withKernelSizeNames("KxK, 1xK and Kx1; 1x1-AVG stays", 5),
             std::string("5x5, 1x5 and 5x1; 1x1-AVG stays"));
  }

  void globalTopKTakesTheHighestScores() {
    const auto masks = selectBranches(rampScores(3), freeBudget(3, 5));
    QCOMPARE(countBranches(masks), 5);
    QCOMPARE(masks[0].count(), size_t(0));
    QCOMPARE(masks[1].count(), size_t(0));
    QCOMPARE(masks[2].count(), size_t(5));  // 5 best are all in the last layer
    QVERIFY(!masks[2].test(0));
  }

  void minimumsAreHonouredWithEachLayersBest() {
    auto b = freeBudget(3, 5);
    b.layer_min = {1, 1, 0};
    const auto masks = selectBranches(rampScores(3), b);
    QCOMPARE(countBranches(masks), 5);
    QVERIFY(masks[0].test(5));  // layer 0's best branch
    QVERIFY(masks[1].test(5));
    QCOMPARE(masks[2].count(), size_t(3));
  }

  void maximumsCapALayer() {
    auto b = freeBudget(3, 8);
    b.layer_max = {6, 6, 2};
    const auto masks = selectBranches(rampScores(3), b);
    QCOMPARE(masks[2].count(), size_t(2));
    QCOMPARE(masks[1].count(), size_t(6));
    QCOMPARE(countBranches(masks), 8);
  }

  void pinsForceKeepAndDrop() {
    auto b = freeBudget(2, 3);
    b.pins[0][2] = Pin::Keep;  // a low score, kept anyway
    b.pins[1][5] = Pin::Drop;  // the best score, never taken
    const auto masks = selectBranches(rampScores(2), b);
    QVERIFY(masks[0].test(2));
    QVERIFY(!masks[1].test(5));
    QVERIFY(masks[1].test(4) && masks[1].test(3));
    QCOMPARE(countBranches(masks), 3);
  }

  void tiesGoToTheLowerIndex() {
    const std::vector<double> zeros(12, 0.0);
    const auto masks = selectBranches(zeros, freeBudget(2, 2));
    QVERIFY(masks[0].test(0) && masks[0].test(1));
    QCOMPARE(countBranches(masks), 2);
  }

  void infeasibleBudgetsAreRefusedWithTheReason() {
    auto b = freeBudget(22, 10);
    b.layer_min.assign(22, 1);
    QCOMPARE(problem(b, 22),
             QString("k=10 is below the sum of per-layer minimums and keep pins 22"));
    QVERIFY_THROWS_EXCEPTION(Error, selectBranches(std::vector<double>(22 * 6, 0), b));

    b = freeBudget(2, 13);
    QVERIFY(problem(b, 2).contains("k=13 is above the 12 branches"));
    b = freeBudget(2, 3);
    b.layer_min[1] = 4;
    b.layer_max[1] = 3;
    QVERIFY(problem(b, 2).contains("layer 1: minimum 4 is above maximum 3"));
    b = freeBudget(2, 3);
    b.layer_max[0] = 1;
    b.pins[0][0] = b.pins[0][1] = Pin::Keep;
    QVERIFY(problem(b, 2).contains("layer 0: 2 branches pinned keep but maximum is 1"));
    b = freeBudget(2, 3);
    b.layer_min[0] = 2;
    for (int j = 0; j < 5; ++j) b.pins[0][j] = Pin::Drop;
    QVERIFY(problem(b, 2).contains("layer 0: minimum 2 but only 1 branches are not pinned drop"));
    b = freeBudget(2, 3);
    QVERIFY(problem(b, 3).contains("describes 2 layers but the network has 3"));
    QVERIFY(problem(freeBudget(2, 3), 2).isEmpty());
  }

  void defaultBudgetIsAThirdOfAllBranches() {
    const auto tiny = makeBackbone("tiny", 1, 28, 28, 10);
    QCOMPARE(tiny.numLayers(), 8);
    const auto b = defaultBudget(tiny.layerHasIdentity());
    QCOMPARE(b.k, 16);  // ⌊0.34 · 48⌋
    // Layers without identity must keep a branch, the others may keep none.
    for (int l = 0; l < 8; ++l) QCOMPARE(b.layer_min[l], tiny.layers[l].block.hasIdentityBranch() ? 0 : 1);
    const auto a0 = makeBackbone("repvgg-a0", 3, 224, 224, 1000);
    QCOMPARE(a0.numLayers(), 22);
    QCOMPARE(defaultBudget(a0.layerHasIdentity()).k, 44);  // as in the RepNAS code
  }

  void backbonePresetsHaveTheirPublishedShapes() {
    const auto tiny = makeBackbone("tiny", 1, 28, 28, 10);
    const std::vector<int> widths = {16, 16, 32, 32, 64, 64, 128, 128};
    const std::vector<int> strides = {1, 1, 2, 1, 2, 1, 2, 1};
    for (int l = 0; l < 8; ++l) {
      QCOMPARE(tiny.layers[l].block.out_channels, widths[l]);
      QCOMPARE(tiny.layers[l].block.stride, strides[l]);
    }
    QCOMPARE(tiny.layers[0].block.in_channels, 1);
    const auto a0 = makeBackbone("repvgg-a0", 3, 224, 224, 1000);
    QCOMPARE(a0.layers.front().block.out_channels, 48);
    QCOMPARE(a0.layers.back().block.out_channels, 1280);
    int stride2 = 0;
    for (const auto& l : a0.layers) stride2 += l.block.stride == 2;
    QCOMPARE(stride2, 5);
    const auto r18 = makeBackbone("resnet18", 3, 32, 32, 10);
    QCOMPARE(r18.numLayers(), 17);
    int residual = 0, projections = 0;
    for (const auto& l : r18.layers) {
      residual += l.shortcut_from >= 0;
      projections += l.shortcut_projection;
    }
    QCOMPARE(residual, 8);
    QCOMPARE(projections, 3);
    QVERIFY_THROWS_EXCEPTION(Error, makeBackbone("vgg", 1, 28, 28, 10));
  }

  void configErrorsNameTheKey() {
    auto expect = [](const std::string& json, const QString& words) {
      try {
        configFromJson(json);
        QFAIL(qPrintable("accepted: " + QString::fromStdString(json)));
      } catch (const ConfigError& e) {
        QVERIFY2(QString(e.what()).contains(words), e.what());
      }
    };
    expect(R"({"epoch": 3})", "unknown config key 'epoch'");
    expect(R"({"epochs": "ten"})", "config key 'epochs': expected an integer, got string");
    expect(R"({"epochs": 2.5})", "config key 'epochs': expected an integer, got a fraction");
    expect(R"({"lr": "fast"})", "config key 'lr': expected a number");
    expect(R"({"flip": 1})", "config key 'flip': expected true or false");
    expect(R"({"mode": "darts"})", "config key 'mode'");
    expect(R"({"backbone": "vgg"})", "config key 'backbone'");
    expect(R"({"epochs": 0})", "config key 'epochs'");
    // Version 1 (a run folder's file from before fixed_epochs): epochs was the total.
    expect(R"({"config_version": 1, "epochs": 4, "warmup_epochs": 3, "search_epochs": 2})",
           "config key 'search_epochs'");
    expect("{\"config_version\": " + std::to_string(kConfigVersion + 1) + "}", "config key 'config_version'");
    // `strategy` was `mode` before version 3: both names are read, a disagreement is refused.
    expect(R"({"strategy": "darts"})", "config key 'strategy'");
    expect(R"({"strategy": "gdas", "mode": "plain"})", "config keys 'strategy' and 'mode' disagree");
    QCOMPARE(QString::fromStdString(configFromJson(R"({"mode": "gdas"})").mode), QString("gdas"));
    // RENA's keys: ranges, and the hard cost budgets its swaps cannot honour (its limits are
    // penalties of the reward).
    expect(R"({"strategy": "rena", "rena_children": 0})", "config key 'rena_children': must be between 1 and 1024");
    expect(R"({"strategy": "rena", "rena_lr": 0})", "config key 'rena_lr'");
    expect(R"({"strategy": "rena", "rena_limit_ms": -1})", "config key 'rena_limit_ms': must be >= 0");
    expect(R"({"strategy": "rena", "rena_baseline_decay": 1})", "config key 'rena_baseline_decay'");
    expect(R"({"strategy": "rena", "budget_ms": 30})", "config key 'budget_ms': rena counts cost in its reward");
    expect(R"({"strategy": "rena", "budget_count": false, "budget_mb": 50})", "config key 'budget_count'");
    QCOMPARE(configFromJson(R"({"strategy": "rena", "rena_limit_ms": 30})").rena_limit_ms, 30.0);
    QCOMPARE(QString::fromStdString(configFromJson(R"({"config_version": 2, "mode": "dbb"})").mode), QString("dbb"));
    QCOMPARE(QString::fromStdString(configFromJson(R"({"strategy": "plain", "mode": "plain"})").mode), QString("plain"));
    {
      RunConfig c;
      applyConfigOverride(c, "mode=repvgg");  // the old name on the command line too
      QCOMPARE(QString::fromStdString(c.mode), QString("repvgg"));
      const auto written = nlohmann::json::parse(configToJson(c));
      QVERIFY(written.contains("strategy") && !written.contains("mode"));
      QCOMPARE(written["config_version"].get<int>(), 4);
    }
    // The RepNAS search is also named by its method: "repnas" is read as "search" (and written so).
    QCOMPARE(QString::fromStdString(configFromJson(R"({"strategy": "repnas"})").mode), QString("search"));
    QCOMPARE(QString::fromStdString(configFromJson(R"({"strategy": "repnas", "mode": "search"})").mode), QString("search"));
    expect(R"({"strategy": "repnas", "mode": "gdas"})", "config keys 'strategy' and 'mode' disagree");
    {
      RunConfig c;
      c.mode = "plain";
      applyConfigOverride(c, "strategy=repnas");
      QCOMPARE(QString::fromStdString(c.mode), QString("search"));
      QVERIFY(QString::fromStdString(strategyNameList()).contains("search (or repnas)"));
    }
    expect(R"({"fixed_epochs": -2})", "config key 'fixed_epochs'");
    expect(R"({"warmup_epochs": 0, "search_epochs": 0, "fixed_epochs": 0})", "config key 'fixed_epochs'");
    expect(R"({"mode": "odbb"})", "config key 'mask'");
    expect(R"({"mask": "random"})", "config key 'mask': only mode odbb");
    expect(R"({"mode": "odbb", "mask": [["KxK"]]})", "config key 'mask': 1 layers given");
    expect(R"({"mode": "odbb", "mask": [["KxK", "3x3x3"]]})", "unknown branch");
    expect(R"({"mode": "odbb", "mask": [[], ["KxK"], ["KxK"], [], ["KxK"], [], ["KxK"], []]})",
           "layer 0 keeps no branch and has no identity");
    expect(R"({"mode": "odbb", "backbone": "vgg", "mask": [["KxK"]]})", "config key 'backbone'");
    expect(R"({"arch_lr": -0.5})", "config key 'arch_lr'");
    expect(R"({"head_dropout": 1})", "config key 'head_dropout'");
    expect(R"({"noise_end": -1})", "config key 'noise_end'");
    expect(R"({"dataset": "cifar10"})", "config key 'data_dir'");
    expect(R"({"pins": [{"layer": 0, "branch": "3x3", "pin": "maybe"}]})", "unknown pin 'maybe'");
    expect(R"({"pins": [{"layer": 0, "branch": "5x5x5", "pin": "keep"}]})", "unknown branch");
    expect("[1, 2]", "JSON object");
    expect("{nope", "not valid JSON");
  }

  void randomMasksHonourTheBudgetAndAreUniform() {
    // Two layers, k = 3; layer 0 keeps 1x1 (pin), at most 2 there; layer 1 never Kx1 (pin).
    Budget b;
    b.k = 3;
    b.resize(2, {true, true});
    b.pins[0][0] = Pin::Keep;
    b.pins[1][5] = Pin::Drop;
    b.layer_max[0] = 2;
    // Every allowed mask: layer 0 = {1x1} + 0 or 1 of 5 others; layer 1 the rest from 5.
    // 1 extra in layer 0: 5 · C(5,1) = 25; none: C(5,2) = 10; 35 masks.
    std::map<std::vector<int>, int> counts;
    const int draws = 35000;
    for (int i = 0; i < draws; ++i) {
      const auto m = randomBranches(b, 1000 + i);
      QCOMPARE(countBranches(m), 3);
      QVERIFY(m[0].test(0) && !m[1].test(5) && m[0].count() <= 2);
      ++counts[maskToBits(m)];
    }
    QCOMPARE(counts.size(), size_t(35));
    // χ² against uniform, 34 degrees of freedom: p = 0.001 at 65.2.
    double chi2 = 0;
    const double expected = static_cast<double>(draws) / 35;
    for (const auto& [mask, n] : counts) chi2 += (n - expected) * (n - expected) / expected;
    QVERIFY2(chi2 < 65.2, qPrintable(QString("chi2 %1").arg(chi2)));
    // Deterministic with the seed, different across seeds; an infeasible budget is refused.
    QVERIFY(randomBranches(b, 7) == randomBranches(b, 7));
    b.k = 20;
    QVERIFY_THROWS_EXCEPTION(Error, randomBranches(b, 7));
    // The default budget of the tiny backbone: k = 16, a minimum of 1 where there is no identity.
    const auto tiny = makeBackbone("tiny", 1, 28, 28, 10);
    const auto d = defaultBudget(tiny.layerHasIdentity());
    for (std::uint64_t seed = 1; seed <= 50; ++seed) {
      const auto m = randomBranches(d, seed);
      QCOMPARE(countBranches(m), d.k);
      for (int l = 0; l < 8; ++l) QVERIFY(static_cast<int>(m[l].count()) >= d.layer_min[l]);
    }
  }

  void maskAgreementAndMarginOnAConstructedAlpha() {
    Budget b;
    b.k = 3;
    b.resize(2, {true, true});
    // α: layer 0 = 3, 2, 0...; layer 1 = 1, -1, ...: top-3 = (0,0), (0,1), (1,0).
    std::vector<double> alpha = {3, 2, 0, 0, 0, 0, 1, -1, 0.5, -2, -2, -2};
    const auto topk = selectBranches(alpha, b);
    QCOMPARE(maskName(topk[0]), std::string("1x1+1x1-AVG"));
    QCOMPARE(maskName(topk[1]), std::string("1x1"));
    // The 3rd and 4th largest: 1 and 0.5.
    QCOMPARE(*selectionMargin(alpha, topk, b), 0.5);
    std::vector<BranchMask> sampled = {BranchMask("000011"), BranchMask("000100")};  // 1x1, 1x1-AVG; KxK
    QCOMPARE(maskAgreement(sampled, topk), 2.0 / 3.0);
    QCOMPARE(maskAgreement(topk, topk), 1.0);
    // A pinned branch is outside the margin: keep the lowest kept one pinned, the gap grows.
    b.pins[1][0] = Pin::Keep;
    QCOMPARE(*selectionMargin(alpha, selectBranches(alpha, b), b), 1.5);  // 2 − 0.5
  }

  void archLrFollowsTheSearchStepsAndTheNoiseAnneals() {
    RunConfig c;  // the default search: 4 search epochs
    const auto r = c.resolved(/*steps_per_epoch=*/469);
    QCOMPARE(r.search_epochs, 4);
    QCOMPARE(r.arch_lr, 17.5 / (4 * 469));
    QCOMPARE(r.resolved(469).arch_lr, r.arch_lr);  // resolving again changes nothing
    c.arch_travel = 5;
    QCOMPARE(c.resolved(100).arch_lr, 5.0 / 400);
    c.arch_lr = 1e-4;  // an explicit value wins
    QCOMPARE(c.resolved(100).arch_lr, 1e-4);
    // GDAS's α rate likewise, from its own travel; each search resolves only its own rate.
    RunConfig g;
    g.mode = "gdas";
    const auto rg = g.resolved(391);
    QCOMPARE(rg.gdas_arch_lr, 7.35 / (4 * 391));
    QCOMPARE(rg.arch_lr, -1.0);
    QCOMPARE(r.gdas_arch_lr, -1.0);
    g.gdas_arch_travel = 2;
    QCOMPARE(g.resolved(100).gdas_arch_lr, 2.0 / 400);
    g.gdas_arch_lr = 3e-4;
    QCOMPARE(g.resolved(100).gdas_arch_lr, 3e-4);
    // A file of version 3 or earlier without the key meant the paper's fixed rate.
    QCOMPARE(configFromJson(R"({"config_version": 3, "strategy": "gdas"})").gdas_arch_lr, 3e-4);
    QCOMPARE(configFromJson(R"({"config_version": 3, "gdas_arch_lr": 0.01})").gdas_arch_lr, 0.01);
    QCOMPARE(configFromJson(R"({"strategy": "gdas"})").gdas_arch_lr, -1.0);
    // τ: geometric from noise_start to noise_end over the search.
    RunConfig n;
    QCOMPARE(n.noiseScale(0), 1.0);
    QVERIFY(std::abs(n.noiseScale(1) - 0.1) < 1e-12);
    QVERIFY(std::abs(n.noiseScale(0.5) - std::sqrt(0.1)) < 1e-12);
    QCOMPARE(n.noiseScale(2), n.noiseScale(1));
    n.noise_end = 1;  // the official run: constant
    QCOMPARE(n.noiseScale(0.7), 1.0);
    n.noise_start = 0.5;
    n.noise_end = 0;  // through 0: linear
    QCOMPARE(n.noiseScale(0.5), 0.25);
  }

  void maskSettingsRoundTrip() {
    RunConfig c;
    applyConfigOverrides(c, {"mode=odbb", R"(mask=[["KxK"],["KxK","1x1-KxK"],["KxK"],[],["KxK"],["1x1"],["KxK"],["Kx1","1xK"]])",
                             "mask_source=test"});
    QVERIFY(c.mask.kind == MaskSetting::Kind::Given);
    QCOMPARE(maskName(c.mask.layers[1]), std::string("KxK+1x1-KxK"));
    QVERIFY(c.mask.layers[3].none());
    const auto back = configFromJson(configToJson(c));
    QVERIFY(back.mask == c.mask);
    QCOMPARE(back.mask_source, std::string("test"));
    const auto spec = backboneFor(back, 1, 28, 28, 10);  // the ODBB's layers have just its branches
    QVERIFY(spec.layers[1].block.branches == c.mask.layers[1]);
    QVERIFY(spec.layers[1].block.hasIdentityBranch());
    applyConfigOverrides(c, {"mask=random"});
    QVERIFY(c.mask.kind == MaskSetting::Kind::Random);
    QVERIFY(configFromJson(configToJson(c)).mask.kind == MaskSetting::Kind::Random);
  }

  void configRoundTripsAndOverrides() {
    RunConfig c;
    applyConfigOverride(c, "epochs=3");
    applyConfigOverride(c, "mode=dbb");
    applyConfigOverride(c, "lr=0.05");
    applyConfigOverride(c, "layer_min=[1,0,0,0,0,0,0,0]");
    applyConfigOverride(c, R"(pins=[{"layer":1,"branch":"1x1-AVG","pin":"drop"}])");
    QCOMPARE(c.epochs, 3);
    QCOMPARE(QString::fromStdString(c.mode), QString("dbb"));
    QCOMPARE(c.lr, 0.05);
    const auto back = configFromJson(configToJson(c));
    QCOMPARE(configToJson(back), configToJson(c));
    QCOMPARE(back.pins.size(), size_t(1));
    QVERIFY(back.pins[0].branch == BranchKind::OneByOneAvg && back.pins[0].pin == Pin::Drop);
    QVERIFY_THROWS_EXCEPTION(ConfigError, applyConfigOverride(c, "nokey=1"));
    QVERIFY_THROWS_EXCEPTION(ConfigError, applyConfigOverride(c, "epochs"));
    const auto v1 = configFromJson("{}", /*version_when_absent=*/1);  // a version-1 run folder
    QCOMPARE(v1.resolvedWarmupEpochs(), 1);   // 10% of 10
    QCOMPARE(v1.resolvedSearchEpochs(), 2);   // 23% of 10
    QCOMPARE(v1.totalEpochs(), 10);           // epochs was the total
    QCOMPARE(v1.noise_end, 1.0);              // and nothing added since changes behaviour
    QVERIFY(!v1.norm_reset && v1.head_dropout == 0 && !v1.clip_alpha_from_start &&
            !v1.second_kxk_at_stride2 && v1.arch_lr == 1e-4);
    // Version 2: the fixed phase is as long as a baseline (epochs); warm-up and search on top,
    // in the official run's ratios to its fixed phase (15 and 35 to 100).
    QCOMPARE(RunConfig().resolvedFixedEpochs(), 10);
    QCOMPARE(RunConfig().resolvedWarmupEpochs(), 2);
    QCOMPARE(RunConfig().resolvedSearchEpochs(), 4);
    QCOMPARE(RunConfig().totalEpochs(), 16);
    RunConfig dbb;
    dbb.mode = "dbb";
    QCOMPARE(dbb.totalEpochs(), 10);
  }

  void eventsRoundTripThroughJson() {
    StepSnapshot s;
    s.step = 41;
    s.epoch = 2;
    s.phase = Phase::Search;
    s.loss = 0.6931;
    s.alpha = {0.25f, -0.5f, 0, 0, 0, 1};
    s.sigma = {0.562f, 0.377f, 0.5f, 0.5f, 0.5f, 0.731f};
    s.mask = {BranchMask("100100")};
    s.budget_k = 2;
    const auto back = std::get<StepSnapshot>(eventFromJson(eventToJson(s)));
    QCOMPARE(back.step, s.step);
    QVERIFY(back.phase == Phase::Search);
    QVERIFY(back.alpha == s.alpha);
    QVERIFY(back.mask == s.mask);

    CommandAck ack{7, "set budget k=3", false, "k=3 is above ...", 12, freeBudget(1, 2), 0, {}};
    ack.budget.pins[0][3] = Pin::Keep;
    const auto ack2 = std::get<CommandAck>(eventFromJson(eventToJson(ack)));
    QVERIFY(ack2.budget == ack.budget);
    QCOMPARE(QString::fromStdString(ack2.reason), QString::fromStdString(ack.reason));
    QVERIFY_THROWS_EXCEPTION(Error, eventFromJson(R"({"type": "bogus"})"));
    QVERIFY_THROWS_EXCEPTION(Error, eventFromJson("{not json"));
    // Schema 3: the command's merge id and the engine's journal ride along; a schema-2 line
    // has no journal (not known, so a reader does not take it for an empty one).
    ack.merge = 5;
    ack.journal = {{"budget k 16 → 20", "pin layer 0 1x1-AVG: auto → keep"}, 1, true};
    const auto ack3 = std::get<CommandAck>(eventFromJson(eventToJson(ack)));
    QCOMPARE(ack3.merge, int64_t(5));
    QVERIFY(ack3.journal == ack.journal);
    auto old_line = nlohmann::json::parse(eventToJson(ack));
    old_line.erase("journal");
    old_line.erase("merge");
    QVERIFY(!std::get<CommandAck>(eventFromJson(old_line.dump())).journal.known);
    old_line["journal"] = {{"entries", {"a"}}, {"index", 2}};
    QVERIFY_THROWS_EXCEPTION(Error, eventFromJson(old_line.dump()));  // index past the entries

    // Schema 4: a strategy's trial (RENA's child); a parent for another number of layers, a
    // missing field and a resource that is not a number are refused.
    Trial t;
    t.index = 9;
    t.step = 120;
    t.update = 3;
    t.mask = {BranchMask("000101"), BranchMask("100000")};
    t.parent = {BranchMask("000110"), BranchMask("100000")};
    t.val_accuracy = 0.8125;
    t.resources = {{"train_ms", 12.5}, {"params", 18342}};
    t.reward = 0.8;
    t.feasible = false;
    t.cached = true;
    const auto t2 = std::get<Trial>(eventFromJson(eventToJson(t)));
    QCOMPARE(t2.index, t.index);
    QCOMPARE(t2.update, 3);
    QVERIFY(t2.mask == t.mask && t2.parent == t.parent);
    QCOMPARE(t2.val_accuracy, t.val_accuracy);
    QCOMPARE(t2.reward, t.reward);
    QVERIFY(!t2.feasible && t2.cached);
    QCOMPARE(t2.resources.size(), size_t(2));
    auto line = nlohmann::json::parse(eventToJson(t));
    line["parent"] = std::vector<int>(18, 0);
    QVERIFY_THROWS_EXCEPTION(Error, eventFromJson(line.dump()));
    line = nlohmann::json::parse(eventToJson(t));
    line.erase("reward");
    QVERIFY_THROWS_EXCEPTION(Error, eventFromJson(line.dump()));
    line = nlohmann::json::parse(eventToJson(t));
    line["resources"]["params"] = "many";
    QVERIFY_THROWS_EXCEPTION(Error, eventFromJson(line.dump()));
  }

  // Cost limits (issue 17): in the event log's budget, the configuration and the commands;
  // budgets written before them load as budgets without limits; bad values are refused.
  void costLimitsRoundTripAndOldBudgetsLoad() {
    Budget b = freeBudget(2, 3);
    b.max_ms = 45.5;
    b.max_mb = 120;
    QVERIFY(budgetFromJson(budgetToJson(b)) == b);
    b.k = kAnyCount;
    QVERIFY(budgetFromJson(budgetToJson(b)) == b);
    const Budget old = budgetFromJson(R"({"k": 3, "layer_min": [0, 0], "layer_max": [6, 6], "pins": []})");
    QVERIFY(!old.costLimited() && old.countLimited() && old.k == 3);
    for (const char* bad : {R"({"k": 3, "layer_min": [0], "layer_max": [6], "pins": [], "max_ms": -3})",
                            R"({"k": 3, "layer_min": [0], "layer_max": [6], "pins": [], "max_mb": "lots"})",
                            R"({"k": -1, "layer_min": [0], "layer_max": [6], "pins": []})",
                            R"({"k": -2, "layer_min": [0], "layer_max": [6], "pins": [], "max_ms": 3})"})
      QVERIFY_THROWS_EXCEPTION(Error, budgetFromJson(bad));

    // Commands: set, leave unchanged (-1), clear (0); a free count only beside a cost limit.
    Budget live = freeBudget(2, 3);
    QVERIFY(!applyBudgetEdit(Command::setCostLimits(40, -1), 2, live));
    QCOMPARE(live.max_ms, 40.0);
    QVERIFY(!applyBudgetEdit(Command::setCostLimits(-1, 90), 2, live));
    QVERIFY(live.max_ms == 40.0 && live.max_mb == 90.0);
    QVERIFY(!applyBudgetEdit(Command::setBudget(kAnyCount), 2, live));
    QVERIFY(applyBudgetEdit(Command::setCostLimits(0, 0), 2, live)->find("no cost limit") != std::string::npos);
    QVERIFY(applyBudgetEdit(Command::setCostLimits(NAN, -1), 2, live).has_value());
    QCOMPARE(live.max_ms, 40.0);  // refused: unchanged
    QCOMPARE(QString::fromStdString(Command::setCostLimits(40, 0).describe()), QString("set cost limits ms<=40 MB<=none"));
    QCOMPARE(QString::fromStdString(Command::setBudget(kAnyCount).describe()), QString("set budget k=any"));
    Budget before = freeBudget(2, 3);
    QCOMPARE(QString::fromStdString(describeBudgetChange(before, live)),
             QString("budget k 3 → any; ms per step limit none → 40; training MB limit none → 90"));

    // The configuration: keys, defaults that mean no limit, refusals naming the key.
    RunConfig c;
    QVERIFY(c.budget_count && c.budget_ms == 0 && c.budget_mb == 0);
    c.budget_ms = 250;
    c.budget_count = false;
    const auto back = configFromJson(configToJson(c));
    QVERIFY(!back.budget_count && back.budget_ms == 250);
    const auto budget = searchBudget(back, makeBackbone("tiny", 1, 28, 28, 10));
    QVERIFY(budget.k == kAnyCount && budget.max_ms == 250 && budget.max_mb == 0);
    c.budget_ms = 0;
    auto problems = c.problems();
    QVERIFY(!problems.empty() && problems.front().key == "budget_count");
    c.budget_count = true;
    c.budget_mb = -1;
    problems = c.problems();
    QVERIFY(!problems.empty() && problems.front().key == "budget_mb");
  }

  void theJournalHoldsAppliedEditsAndUndoesThemExactly() {
    const int layers = 2;
    Budget budget = freeBudget(layers, 4);
    CommandJournal j;
    QVERIFY(!j.apply(1, Command::setBudget(6), layers, budget));
    QVERIFY(!j.apply(2, Command::setPin(1, BranchKind::OneByOneAvg, Pin::Keep), layers, budget));
    QCOMPARE(j.index(), 2);
    QCOMPARE(QString::fromStdString(j.undoText()), QString("pin layer 1 1x1-AVG: auto → keep"));
    // A refused edit never enters, and leaves the budget.
    const Budget before_refusal = budget;
    QVERIFY(j.apply(3, Command::setBudget(13), layers, budget));  // above the 12 branches
    QVERIFY(budget == before_refusal);
    QCOMPARE(int(j.entries().size()), 2);
    // An edit that changes nothing is no undo step.
    QVERIFY(!j.apply(4, Command::setBudget(6), layers, budget));
    QCOMPARE(int(j.entries().size()), 2);
    // Undo restores each budget before, exactly; redo the one after.
    QVERIFY(!j.apply(5, Command::undo(), layers, budget));
    QCOMPARE(budget.pins[1][static_cast<int>(BranchKind::OneByOneAvg)], Pin::Auto);
    QCOMPARE(budget.k, 6);
    QVERIFY(!j.apply(6, Command::undo(), layers, budget));
    QVERIFY(budget == freeBudget(layers, 4));
    QCOMPARE(QString::fromStdString(*j.apply(7, Command::undo(), layers, budget)), QString("nothing to undo"));
    QVERIFY(!j.apply(8, Command::redo(), layers, budget));
    QCOMPARE(budget.k, 6);
    QCOMPARE(QString::fromStdString(j.redoText()), QString("pin layer 1 1x1-AVG: auto → keep"));
    // A new edit ends the redo side.
    QVERIFY(!j.apply(9, Command::setLayerLimits(0, 1, -1), layers, budget));
    QCOMPARE(int(j.entries().size()), 2);
    QCOMPARE(j.index(), 2);
    QCOMPARE(QString::fromStdString(j.undoText()), QString("layer 0 limits 0..6 → 1..6"));
    QCOMPARE(QString::fromStdString(*j.apply(10, Command::redo(), layers, budget)), QString("nothing to redo"));
    const auto v = j.view();
    QVERIFY(v.known);
    QCOMPARE(v.index, 2);
    QCOMPARE(QString::fromStdString(v.entries[0]), QString("budget k 4 → 6"));
  }

  void editsOfOneDragAreOneJournalEntry() {
    const int layers = 2;
    Budget budget = freeBudget(layers, 4);
    CommandJournal j;
    for (int k : {5, 7, 9}) {
      auto c = Command::setBudget(k);
      c.merge = 42;
      QVERIFY(!j.apply(k, c, layers, budget));
    }
    QCOMPARE(int(j.entries().size()), 1);
    QCOMPARE(QString::fromStdString(j.undoText()), QString("budget k 4 → 9"));
    // Another setting, or another drag, is a new entry.
    auto pin = Command::setPin(0, BranchKind::KxK, Pin::Keep);
    pin.merge = 42;
    QVERIFY(!j.apply(10, pin, layers, budget));
    auto next_drag = Command::setBudget(10);
    next_drag.merge = 43;
    QVERIFY(!j.apply(11, next_drag, layers, budget));
    QCOMPARE(int(j.entries().size()), 3);
    // A drag that comes back where it started leaves nothing to undo.
    next_drag.k = 9;
    QVERIFY(!j.apply(12, next_drag, layers, budget));
    QCOMPARE(int(j.entries().size()), 2);
    QCOMPARE(j.index(), 2);
    // One undo takes the whole first drag back.
    QVERIFY(!j.apply(13, Command::undo(), layers, budget));
    QVERIFY(!j.apply(14, Command::undo(), layers, budget));
    QVERIFY(budget == freeBudget(layers, 4));
  }

  void theJournalSurvivesItsFileAndRefusesAHostileOne() {
    const int layers = 2;
    Budget budget = freeBudget(layers, 4);
    CommandJournal j;
    QVERIFY(!j.apply(1, Command::setBudget(6), layers, budget));
    QVERIFY(!j.apply(2, Command::setBudget(8), layers, budget));
    QVERIFY(!j.apply(3, Command::undo(), layers, budget));
    const auto back = CommandJournal::fromJson(j.toJson(), layers);
    QVERIFY(back.view() == j.view());
    QCOMPARE(int(back.entries().size()), 2);
    QVERIFY(back.entries()[1].before == j.entries()[1].before && back.entries()[1].after == j.entries()[1].after);
    auto hostile = [&](const std::string& text, const QString& words) {
      try {
        CommandJournal::fromJson(text, layers);
        QFAIL(qPrintable("accepted: " + QString::fromStdString(text)));
      } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains(words), e.what());
      }
    };
    auto doc = nlohmann::json::parse(j.toJson());
    doc["index"] = 3;
    hostile(doc.dump(), "index");
    hostile(CommandJournal{}.toJson().substr(1), "budget-edit journal");
    hostile(R"({"index": 0, "entries": 7})", "entries");
    // A journal of another network (3 layers) does not load into this one.
    Budget three = freeBudget(3, 4);
    CommandJournal other;
    QVERIFY(!other.apply(1, Command::setBudget(5), 3, three));
    hostile(other.toJson(), "budget-edit journal");
  }
};

QTEST_GUILESS_MAIN(TestBudget)
#include "test_budget.moc"
