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

struct Outcome {
  std::string status;
  double test_accuracy = 0;
  double seconds = 0;        // wall time of this invocation (a resumed run: the rest only)
  double epoch_seconds = 0;  // Σ epoch durations in the event log: the whole run, resumed or not
  int branches = 0;  // kept branches, identity not counted
  int budget_k = 0;
  std::optional<double> val_accuracy;  // of the last epoch, with val_split
  SearchStats search;                  // search runs only
};

// The summary a finished run leaves in its folder, so that an interrupted benchmark re-runs
// only what is missing; the configuration the benchmark asked for (config.json holds the
// resolved one), so that an interrupted run resumes only when it is the same run.
const char* kSummaryFile = "bench_run.json";
const char* kRequestFile = "bench_config.json";

// What a run's event log says, read in one pass: Σ of the epoch durations, the last validation
// accuracy, and for a search α at the fix (the last search step) and the mask agreement over
// its last search epoch. Steps that a resumed run repeats supersede the interrupted ones.
struct LogSummary {
  double epoch_seconds = 0;
  std::optional<double> val_accuracy;
  SearchStats search;
};

LogSummary readLog(const fs::path& events) {
  LogSummary out;
  int64_t steps_per_epoch = 0;
  std::map<int64_t, double> agreement;  // search step -> mask agreement
  std::optional<StepSnapshot> last;
  bench::forEachEvent(events, [&](const Event& event) {
    if (const auto* i = std::get_if<RunInfo>(&event)) steps_per_epoch = i->steps_per_epoch;
    if (const auto* e = std::get_if<EpochSummary>(&event)) {
      out.epoch_seconds += e->seconds;
      if (e->val_accuracy) out.val_accuracy = e->val_accuracy;
    }
    if (const auto* s = std::get_if<StepSnapshot>(&event); s && s->phase == Phase::Search) {
      agreement[s->step] = s->mask_agreement;
      if (!last || s->step >= last->step) last = *s;
    }
  });
  if (!last) return out;
  auto& st = out.search;
  st.has = true;
  for (float a : last->alpha) st.max_abs_alpha = std::max(st.max_abs_alpha, std::abs(double(a)));
  st.alpha_margin = last->alpha_margin;
  st.final_noise = last->noise_scale;
  double sum = 0;
  int n = 0;
  for (auto it = agreement.rbegin(); it != agreement.rend() && (steps_per_epoch <= 0 || n < steps_per_epoch); ++it, ++n)
    sum += it->second;
  st.agreement_last_epoch = n > 0 ? sum / n : 0;
  return out;
}

nlohmann::json searchStatsJson(const SearchStats& st) {
  if (!st.has) return nullptr;
  return {{"max_abs_alpha_at_fix", st.max_abs_alpha},
          {"alpha_margin_at_fix", st.alpha_margin ? nlohmann::json(*st.alpha_margin) : nlohmann::json(nullptr)},
          {"noise_at_fix", st.final_noise},
          {"mask_agreement_last_search_epoch", st.agreement_last_epoch}};
}

SearchStats searchStatsFromJson(const nlohmann::json& j) {
  SearchStats st;
  if (j.is_null()) return st;
  st.has = true;
  st.max_abs_alpha = j.at("max_abs_alpha_at_fix");
  if (!j.at("alpha_margin_at_fix").is_null()) st.alpha_margin = j.at("alpha_margin_at_fix").get<double>();
  st.final_noise = j.at("noise_at_fix");
  st.agreement_last_epoch = j.at("mask_agreement_last_search_epoch");
  return st;
}

/// What a run reads of its configuration, as JSON: the thread count (which changes its speed and
/// its float rounding, not the experiment), the BatchNorm recalibration before the fix (what the
/// search-epoch evaluations measure, not what the run trains or its result) and every key only
/// other strategies read at their defaults, so that a key added to one strategy leaves the
/// other strategies' runs reusable.
nlohmann::json experimentOf(const RunConfig& config) {
  RunConfig c = config;
  c.threads = 0;
  c.bn_recalibration_batches = 0;
  auto j = nlohmann::json::parse(configToJson(c));
  const auto defaults = nlohmann::json::parse(configToJson(RunConfig{}));
  for (const auto& s : strategyRegistry())
    for (const auto& key : s.keys)
      if (!strategyUsesKey(c.mode, key)) j[key] = defaults.at(key);
  return j;
}

/// Whether a recorded configuration (as JSON) is the experiment `config`: read through the
/// configuration format's versions, so that a run recorded before a key was added (at the value
/// that keeps its behaviour) still counts.
bool sameExperiment(const nlohmann::json& recorded, const RunConfig& config) {
  try {
    return experimentOf(configFromJson(recorded.dump())) == experimentOf(config);
  } catch (const std::exception&) {
    return false;
  }
}

std::optional<Outcome> finishedOutcome(const fs::path& dir, const RunConfig& config) {
  std::ifstream in(dir / kSummaryFile);
  if (!in) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(in);
    if (!sameExperiment(j.at("config"), config)) return std::nullopt;
    Outcome o;
    o.status = j.at("status");
    o.test_accuracy = j.at("test_accuracy");
    o.seconds = j.at("seconds");
    o.branches = j.at("branches");
    o.budget_k = j.at("budget_k");
    if (j.contains("log")) {
      // The summary holds what the event log said: the folder's other files may be gone (a
      // finished run kept in the repository is only its summary, config and weights).
      const auto& log = j.at("log");
      o.epoch_seconds = log.at("epoch_seconds");
      if (!log.at("val_accuracy").is_null()) o.val_accuracy = log.at("val_accuracy").get<double>();
      o.search = searchStatsFromJson(log.at("search"));
      return o;
    }
    // Summaries written before the log summary was kept in them: read the event log.
    const auto log = readLog(RunFolder(dir.string()).events());
    o.epoch_seconds = j.contains("epoch_seconds") ? j.at("epoch_seconds").get<double>()
                                                  : log.epoch_seconds;
    o.val_accuracy = log.val_accuracy;
    o.search = log.search;
    return o;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Keeps the last budget in force (the final k of a search run).
class BudgetTracker : public Observer {
 public:
  void onRunStarted(const RunInfo& e) override { k = e.budget.k; }
  void onCommand(const CommandAck& e) override { k = e.budget.k; }
  int k = 0;
};

Outcome runOne(const RunConfig& config, const fs::path& dir) {
  // The run's identity: what it reads of its configuration (experimentOf), so that runs made
  // with other threads, or before another strategy's key was added, count.
  RunConfig identity = config;
  identity.threads = 0;
  const std::string config_json = configToJson(identity);
  if (auto done = finishedOutcome(dir, config)) {
    std::printf("  reusing %s (%.2f%%)\n", dir.c_str(), 100 * done->test_accuracy);
    return *done;
  }
  // An unfinished earlier attempt with the same configuration resumes from its checkpoint.
  bool resume = false;
  const RunFolder folder(dir.string());
  if (folder.hasCheckpoint() && fs::exists(dir / kRequestFile)) {
    std::ifstream in(dir / kRequestFile);
    try {
      resume = sameExperiment(nlohmann::json::parse(in), config);
    } catch (const std::exception&) {
      resume = false;
    }
  }
  if (!resume && fs::exists(dir)) fs::remove_all(dir);
  fs::create_directories(dir);
  if (!resume) std::ofstream(dir / kRequestFile) << config_json << "\n";
  std::printf("  %s %s\n", resume ? "resuming" : "running", dir.c_str());
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  Engine engine(config, dir.string(), resume);
  EventLogWriter log(folder.events(), resume);
  BudgetTracker budget;
  engine.addObserver(&log);
  engine.addObserver(&budget);
  const auto fin = engine.run();
  Outcome o;
  o.status = fin.status;
  o.test_accuracy = fin.test_accuracy.value_or(0);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto summary = readLog(folder.events());
  o.epoch_seconds = summary.epoch_seconds;
  o.branches = countBranches(fin.mask);
  o.budget_k = budget.k;
  o.val_accuracy = summary.val_accuracy;
  o.search = summary.search;
  if (fin.status != "completed")
    throw Error(dir.string() + ": run " + fin.status + ": " + fin.message);
  nlohmann::json j = {{"config", nlohmann::json::parse(config_json)}, {"status", o.status},
                      {"test_accuracy", o.test_accuracy}, {"seconds", o.seconds},
                      {"epoch_seconds", o.epoch_seconds}, {"branches", o.branches},
                      {"budget_k", o.budget_k},
                      {"log", {{"epoch_seconds", o.epoch_seconds},
                               {"val_accuracy", o.val_accuracy ? nlohmann::json(*o.val_accuracy)
                                                               : nlohmann::json(nullptr)},
                               {"search", searchStatsJson(o.search)}}}};
  bench::writeJsonAtomically((dir / kSummaryFile).string(), j);
  return o;
}

std::pair<double, double> meanStd(const std::vector<double>& v) {
  double mean = 0;
  for (double x : v) mean += x;
  mean /= v.size();
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  // Sample standard deviation (n − 1), 0 for a single run.
  return {mean, v.size() > 1 ? std::sqrt(var / (v.size() - 1)) : 0.0};
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
      const auto o = runOne(c, dir);
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

namespace {

/// Pooled standard deviation of two groups of runs (sample variances weighted by n − 1).
double pooledStd(const std::vector<double>& a, const std::vector<double>& b) {
  const auto [ma, sa] = meanStd(a);
  const auto [mb, sb] = meanStd(b);
  const double dof = static_cast<double>(a.size() + b.size()) - 2;
  if (dof <= 0) return 0;
  return std::sqrt(((a.size() - 1) * sa * sa + (b.size() - 1) * sb * sb) / dof);
}

}  // namespace

int benchProtocol(const ProtocolOptions& opt) {
  RunConfig base;
  applyConfigOverrides(base, opt.overrides);
  base.mode = opt.strategy;
  base.validate();
  if (!base.isSearch()) throw Error("--strategy " + opt.strategy + " is not a search strategy");
  const bool repnas = opt.strategy == "search";
  const std::string search_name = repnas ? "search" : opt.strategy;
  const std::string retrained_name = repnas ? "retrained" : opt.strategy + "-retrained";
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
                    const Outcome& o) {
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
  for (auto seed : opt.seeds) {
    const fs::path root = fs::path(opt.runs_dir) / ("protocol-seed" + std::to_string(seed));
    // The controls do not depend on the search's settings: they can run ahead (and beside
    // another measurement) and are reused by the full protocol.
    if (!opt.controls_only) {
      RunConfig search = base;
      search.seed = seed;
      const auto search_dir = root / search_name;
      const auto found = runOne(search, search_dir);
      record("search", seed, search_dir, found);
      stats.push_back(found.search);
      const auto& st = found.search;
      std::printf("    α at the fix: max |α| %.2f, margin %s, τ %.3f; mask agreement over the last "
                  "search epoch %.3f\n", st.max_abs_alpha,
                  st.alpha_margin ? std::to_string(*st.alpha_margin).c_str() : "-", st.final_noise,
                  st.agreement_last_epoch);

      RunConfig retrained = retrainConfig(search_dir.string());
      const auto retrained_dir = root / retrained_name;
      record("retrained", seed, retrained_dir, runOne(retrained, retrained_dir));
    }

    for (int r = 1; r <= opt.random_masks; ++r) {
      RunConfig random = base;
      random.mode = "odbb";
      random.mask.kind = MaskSetting::Kind::Random;
      random.seed = seed + 1000 * static_cast<std::uint64_t>(r);  // its own mask and weights
      const auto dir = root / ("random" + std::to_string(r));
      record("random", random.seed, dir, runOne(random, dir));
    }
    for (const auto& mode : opt.baselines) {
      RunConfig c = base;
      c.mode = mode;
      c.seed = seed;
      const auto dir = root / mode;
      record(mode, seed, dir, runOne(c, dir));
    }
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

double kendallTau(const std::vector<double>& a, const std::vector<double>& b) {
  // τ-b: (concordant − discordant) / √((pairs − ties in a)(pairs − ties in b)).
  double concordant = 0, discordant = 0, ties_a = 0, ties_b = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = i + 1; j < a.size(); ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) continue;
      if (da == 0) ++ties_a;
      else if (db == 0) ++ties_b;
      else if ((da > 0) == (db > 0)) ++concordant;
      else ++discordant;
    }
  const double n1 = concordant + discordant + ties_a, n2 = concordant + discordant + ties_b;
  return n1 > 0 && n2 > 0 ? (concordant - discordant) / std::sqrt(n1 * n2) : 0.0;
}

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
  const auto super_outcome = runOne(supernet, root / "supernet");
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
    const auto o = runOne(alone, root / ("standalone" + std::to_string(i)));
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
  const double tau = kendallTau(proxy, standalone), tau_full = kendallTau(proxy_full, standalone);
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
