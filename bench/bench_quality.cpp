// repnas-bench quality / sweep: real training runs through the engine's public API, one run
// directory per (mode or budget, seed), summarised as mean ± std test accuracy.
// No torch here: this translation unit only uses the engine facade.
#include "bench_quality.h"
#include "bench_util.h"
#include "repnas/strategy_info.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "repnas/budget.h"
#include "repnas/config.h"
#include "repnas/engine.h"
#include "repnas/run_folder.h"
#include "repnas/runtime.h"
#include "data/data.h"
#include "formats/run_files.h"
#include "nn/network.h"

namespace repnas::bench {
namespace {

namespace fs = std::filesystem;

nlohmann::json searchStatsJson(const SearchStats& st) {
  if (!st.has) return nullptr;
  return {{"max_abs_alpha_at_fix", st.max_abs_alpha},
          {"alpha_margin_at_fix", st.alpha_margin ? nlohmann::json(*st.alpha_margin) : nlohmann::json(nullptr)},
          {"noise_at_fix", st.final_noise},
          {"mask_agreement_last_search_epoch", st.agreement_last_epoch}};
}

}  // namespace

int benchQuality(const QualityOptions& opt) {
  // One group per mode (quality) or per budget k (sweep); every group runs every seed.
  struct Group {
    std::string label;
    RunConfig config;
  };
  std::vector<Group> groups;
  RunConfig base;
  applyConfigOverrides(base, opt.overrides);
  if (opt.sweep) {
    for (int k : opt.budgets) {
      RunConfig c = base;
      c.mode = "search";
      c.budget = k;
      groups.push_back({"k=" + std::to_string(k), c});
    }
  } else {
    for (const auto& mode : opt.modes) {
      RunConfig c = base;
      c.mode = mode;
      groups.push_back({mode, c});
    }
  }
  const std::string name = opt.sweep ? "sweep" : "quality";
  std::printf("%s: %zu groups x %zu seeds, runs in %s\n", name.c_str(), groups.size(),
              opt.seeds.size(), opt.runs_dir.c_str());

  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::string> lines;
  for (const auto& g : groups) {
    std::vector<double> acc, secs;
    nlohmann::json runs = nlohmann::json::array();
    int branches = 0, k = 0;
    for (auto seed : opt.seeds) {
      RunConfig c = g.config;
      c.seed = seed;
      c.validate();
      const fs::path dir = fs::path(opt.runs_dir) / (name + "-" + g.label + "-seed" +
                                                     std::to_string(seed));
      const auto o = runTrial(c, dir, false);
      acc.push_back(100 * o.test_accuracy);
      secs.push_back(o.epoch_seconds);
      branches = o.branches;
      k = o.budget_k;
      runs.push_back({{"seed", seed}, {"run_dir", dir.string()}, {"test_accuracy", o.test_accuracy},
                      {"seconds", o.seconds}, {"epoch_seconds", o.epoch_seconds},
                      {"branches", o.branches}});
      std::printf("  %-8s seed %-3llu %7.2f%%  %6.0f s  %d branches\n", g.label.c_str(),
                  static_cast<unsigned long long>(seed), 100 * o.test_accuracy, o.epoch_seconds,
                  o.branches);
      std::fflush(stdout);
    }
    const auto [m, s] = meanStd(acc);
    const auto [ms, ss] = meanStd(secs);
    char line[160];
    std::snprintf(line, sizeof line, "%-10s %3d %9d %8.2f ± %.2f %10.0f", g.label.c_str(),
                  static_cast<int>(acc.size()), branches, m, s, ms);
    lines.push_back(line);
    rows.push_back({{"group", g.label}, {"mode", g.config.mode}, {"budget_k", k},
                    {"branches", branches}, {"test_accuracy_mean", m / 100},
                    {"test_accuracy_std", s / 100}, {"epoch_seconds_mean", ms},
                    {"runs", runs}});
  }
  std::printf("\n%-10s %3s %9s %16s %10s\n", opt.sweep ? "budget" : "mode", "n", "branches",
              "test acc % ", "s/run");
  for (const auto& l : lines) std::printf("%s\n", l.c_str());

  nlohmann::json j = {{"benchmark", name},
                      {"date", bench::utcNow()},
                      {"repnas", version()},
                      {"torch", torchVersion()},
                      {"config", nlohmann::json::parse(configToJson(base))},
                      {"seeds", opt.seeds},
                      {"rows", rows}};
  bench::writeJsonAtomically(opt.out, j);
  std::printf("wrote %s\n", opt.out.c_str());
  return 0;
}

int benchProtocol(const ProtocolOptions& opt) {
  RunConfig base;
  applyConfigOverrides(base, opt.overrides);
  base.mode = opt.strategy;
  base.validate();
  if (!base.isSearch()) throw Error("--strategy " + opt.strategy + " is not a search strategy");
  std::printf("protocol (%s): %zu seeds, search + retrained + %d random masks + %zu baselines "
              "each, runs in %s\n", strategyInfo(opt.strategy).method.c_str(), opt.seeds.size(),
              opt.random_masks, opt.baselines.size(), opt.runs_dir.c_str());
  // Per group: one accuracy (%) per run, the runs, and the last branch count.
  struct Group {
    std::vector<double> acc, secs;
    nlohmann::json runs = nlohmann::json::array();
    int branches = 0;
  };
  std::map<std::string, Group> groups;
  std::vector<std::string> order = {"search", "retrained", "random"};
  for (const auto& b : opt.baselines) order.push_back(b);
  std::vector<SearchStats> stats;
  auto record = [&](const std::string& group, std::uint64_t seed, const fs::path& dir,
                    const TrialOutcome& o) {
    auto& g = groups[group];
    g.acc.push_back(100 * o.test_accuracy);
    g.secs.push_back(o.epoch_seconds);
    g.branches = o.branches;
    g.runs.push_back({{"seed", seed}, {"run_dir", dir.string()}, {"test_accuracy", o.test_accuracy},
                      {"epoch_seconds", o.epoch_seconds}, {"branches", o.branches},
                      {"search", searchStatsJson(o.search)}});
    std::printf("  %-15s seed %-5llu %7.2f%%  %6.0f s  %d branches\n", group.c_str(),
                static_cast<unsigned long long>(seed), 100 * o.test_accuracy, o.epoch_seconds,
                o.branches);
    std::fflush(stdout);
  };
  // The trials are the comparison's (repnas compare) for this one strategy: the same folders,
  // the same configurations. The controls do not depend on the search's settings: they can run
  // ahead (and beside another measurement) and are reused by the full protocol.
  ComparisonRequest request;
  request.strategies = {opt.strategy};
  request.seeds = opt.seeds;
  request.random_masks = opt.random_masks;
  request.baselines = opt.baselines;
  request.overrides = opt.overrides;
  validateComparison(request);
  using Kind = ComparisonTrial::Kind;
  for (auto seed : opt.seeds)
    for (const auto& t : comparisonTrials(request)) {
      if (t.seed != seed || (opt.controls_only && (t.kind == Kind::Search || t.kind == Kind::Retrained))) continue;
      const auto config = comparisonTrialConfig(request, t, opt.runs_dir);
      const auto dir = fs::path(opt.runs_dir) / t.dir;
      const auto o = runTrial(config, dir.string(), false);
      const std::string group = t.kind == Kind::Search ? "search" : t.kind == Kind::Retrained ? "retrained" : t.group;
      record(group, config.seed, dir, o);
      if (t.kind != Kind::Search) continue;
      stats.push_back(o.search);
      const auto& st = o.search;
      std::printf("    α at the fix: max |α| %.2f, margin %s, τ %.3f; mask agreement over the last "
                  "search epoch %.3f\n", st.max_abs_alpha,
                  st.alpha_margin ? std::to_string(*st.alpha_margin).c_str() : "-", st.final_noise,
                  st.agreement_last_epoch);
    }

  if (opt.controls_only) {
    std::printf("controls done; the full protocol reuses them\n");
    return 0;
  }
  // The table and the verdicts, all from the numbers above.
  auto mean = [&](const std::string& g) { return meanStd(groups.at(g).acc).first; };
  std::printf("\n%-15s %3s %9s %16s %10s\n", "group", "n", "branches", "test acc %", "s/run");
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& name : order) {
    if (!groups.count(name)) continue;
    const auto& g = groups.at(name);
    const auto [m, sd] = meanStd(g.acc);
    const auto [ms, ss] = meanStd(g.secs);
    std::printf("%-15s %3zu %9d %8.2f ± %.2f %10.0f\n", name.c_str(), g.acc.size(), g.branches, m,
                sd, ms);
    rows.push_back({{"group", name}, {"n", g.acc.size()}, {"branches", g.branches},
                    {"test_accuracy_mean", m / 100}, {"test_accuracy_std", sd / 100},
                    {"epoch_seconds_mean", ms}, {"runs", g.runs}});
  }
  const auto& found = groups.at("retrained").acc;
  const auto& random = groups.at("random").acc;
  const double pooled = pooledStd(found, random);
  bool alpha_ok = true;
  for (const auto& st : stats) alpha_ok &= st.max_abs_alpha >= 1 && st.agreement_last_epoch >= 0.8;
  auto has = [&](const std::string& g) { return groups.count(g) > 0; };
  nlohmann::json verdicts = {
      {"1_alpha_leaves_the_noise", alpha_ok},
      {"2_retrained_beats_random_by_2_pooled_std",
       mean("retrained") - mean("random") > 2 * pooled},
      {"2_retrained_above_plain", has("plain") && mean("retrained") > mean("plain")},
      {"3_one_stage_at_least_plain", has("plain") && mean("search") >= mean("plain")},
      {"4_retrained_at_least_dbb", has("dbb") && mean("retrained") >= mean("dbb")},
  };
  const double search_wall = meanStd(groups.at("search").secs).first;
  std::printf("\npooled std (retrained, random) %.3f points; retrained − random %+.2f\n", pooled,
              mean("retrained") - mean("random"));
  if (has("dbb"))
    std::printf("search wall (warm-up + search + fixed) %.0f s vs dbb %.0f s; branches %d vs %d\n",
                search_wall, meanStd(groups.at("dbb").secs).first, groups.at("retrained").branches,
                groups.at("dbb").branches);
  for (auto it = verdicts.begin(); it != verdicts.end(); ++it)
    std::printf("  %-45s %s\n", it.key().c_str(), it.value().get<bool>() ? "met" : "NOT met");
  nlohmann::json j = {{"benchmark", "quality-protocol"},
                      {"date", bench::utcNow()},
                      {"repnas", version()},
                      {"torch", torchVersion()},
                      {"config", nlohmann::json::parse(configToJson(base))},
                      {"strategy", opt.strategy},
                      {"seeds", opt.seeds},
                      {"pooled_std_retrained_random", pooled / 100},
                      {"search_wall_seconds_mean", search_wall},
                      {"verdicts", verdicts},
                      {"rows", rows}};
  bench::writeJsonAtomically(opt.out, j);
  std::printf("wrote %s\n", opt.out.c_str());
  return 0;
}

}  // namespace repnas::bench

namespace repnas::bench {

int benchRenaProxy(const ProxyOptions& opt) {
  RunConfig base;
  base.mode = "rena";
  applyConfigOverrides(base, opt.overrides);
  base.seed = opt.seed;
  const fs::path root = fs::path(opt.runs_dir) / ("rena-proxy-seed" + std::to_string(opt.seed));
  std::printf("RENA proxy: a supernet, %d random masks scored with its weights and trained %d epochs "
              "from scratch, in %s\n", opt.masks, opt.standalone_epochs, root.c_str());
  // The supernet: warm-up and search, no fixed phase (weights.pt holds the shared weights).
  RunConfig supernet = base;
  supernet.fixed_epochs = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const auto super_outcome = runTrial(supernet, root / "supernet", false);
  (void)super_outcome;

  // The run's data as the engine prepared it: its split, its normalisation.
  auto dataset = data::loadDataset({supernet.dataset, supernet.data_dir});
  auto train = data::takeFirst(dataset.train, supernet.train_limit);
  RunConfig resolved = supernet;
  resolved.val_split = supernet.resolvedValSplit(dataset.train.size());
  if (resolved.val_split <= 0) throw Error("the proxy needs a validation split (val_split)");
  auto [train_set, val_set] = data::splitValidation(train, resolved.val_split, supernet.seed);
  const auto norm = data::computeNormalization(train_set.images);
  const auto& info = dataset.info;
  const auto backbone = backboneFor(supernet, info.channels, info.height, info.width, info.num_classes);
  Network net(backbone);
  {
    auto archive = readRunArchive(RunFolder((root / "supernet").string()).weights());
    torch::serialize::InputArchive net_archive;
    archive.content.read("network", net_archive);
    net->load(net_archive);
  }
  setComputeThreads(supernet.threads);
  std::vector<torch::Tensor> recalibration;
  const int64_t batch = supernet.batch_size;
  for (int64_t b = 0; b < supernet.rena_bn_batches && b * batch < train_set.size(); ++b)
    recalibration.push_back(data::prepareBatch(train_set.images.narrow(0, b * batch, std::min(batch, train_set.size() - b * batch)),
                                               norm, {}, nullptr));
  // RENA's validation batches: the first rena_val_batches of epoch 0's order.
  data::BatchSampler val_sampler(val_set.size(), batch, supernet.seed + 0x5eed, /*drop_last=*/false);
  auto budget = searchBudget(supernet, backbone);

  nlohmann::json rows = nlohmann::json::array();
  std::vector<double> proxy, proxy_full, standalone;
  for (int i = 0; i < opt.masks; ++i) {
    const auto mask = randomBranches(budget, 7000 + 131 * opt.seed + i);
    double shared = 0, shared_full = 0;
    {
    torch::NoGradGuard no_grad;
    const auto saved = net->batchNormStatistics();
    net->recalibrateBatchNorm(mask, recalibration);
    net->eval();
    int64_t correct = 0, seen = 0;
    for (int v = 0; v < supernet.rena_val_batches; ++v) {
      const auto b = val_sampler.batch(val_set, 0, v % val_sampler.batchesPerEpoch());
      correct += net->forward(data::prepareBatch(b.images, norm, {}, nullptr), mask).argmax(1).eq(b.labels).sum().item<int64_t>();
      seen += b.labels.size(0);
    }
    shared = static_cast<double>(correct) / std::max<int64_t>(1, seen);
    shared_full = data::classificationAccuracy(val_set, norm, supernet.eval_batch_size,
                                               [&](const torch::Tensor& x) { return net->forward(x, mask); });
    net->restoreBatchNormStatistics(saved);
    net->train();
    }
    // The same mask from scratch, as the baselines train, on the same split.
    RunConfig alone = base;
    alone.mode = "odbb";
    alone.mask = {MaskSetting::Kind::Given, mask};
    alone.mask_source = "rena proxy random mask " + std::to_string(i);
    alone.epochs = opt.standalone_epochs;
    alone.warmup_epochs = alone.search_epochs = alone.fixed_epochs = -1;
    alone.val_split = resolved.val_split;
    const auto o = runTrial(alone, root / ("standalone" + std::to_string(i)), false);
    if (!o.val_accuracy) throw Error("the stand-alone run has no validation accuracy");
    proxy.push_back(shared);
    proxy_full.push_back(shared_full);
    standalone.push_back(*o.val_accuracy);
    std::printf("  mask %d: shared weights %.2f%% (RENA's %d batches), %.2f%% (whole validation split); "
                "from scratch %.2f%%\n", i, 100 * shared, supernet.rena_val_batches, 100 * shared_full,
                100 * *o.val_accuracy);
    std::fflush(stdout);
    rows.push_back({{"mask", maskToBits(mask)}, {"shared_accuracy", shared}, {"shared_accuracy_full_split", shared_full},
                    {"standalone_val_accuracy", *o.val_accuracy}});
  }
  const double tau = kendallTau(proxy, standalone).value_or(0), tau_full = kendallTau(proxy_full, standalone).value_or(0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("Kendall tau, shared-weight accuracy against %d-epoch stand-alone training: %.3f (RENA's batches), "
              "%.3f (whole validation split), over %d masks; %.0f s\n",
              opt.standalone_epochs, tau, tau_full, opt.masks, seconds);
  nlohmann::json j = {{"benchmark", "rena-proxy"}, {"date", utcNow()}, {"repnas", repnas::version()},
                      {"seed", opt.seed}, {"standalone_epochs", opt.standalone_epochs},
                      {"overrides", opt.overrides}, {"kendall_tau", tau}, {"kendall_tau_full_split", tau_full},
                      {"seconds", seconds}, {"masks", rows}};
  writeJsonAtomically(opt.out, j);
  std::printf("wrote %s\n", opt.out.c_str());
  return 0;
}

}  // namespace repnas::bench
