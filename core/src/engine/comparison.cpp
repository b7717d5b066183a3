// Strategies side by side (comparison.h): the trials of a comparison, their summaries, and the
// table computed from the summaries alone.
#include "repnas/comparison.h"

#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "formats/atomic_file.h"
#include "formats/run_archive_meta.h"
#include "formats/run_files.h"
#include "repnas/engine.h"
#include "repnas/error.h"
#include "repnas/events.h"
#include "repnas/hant.h"
#include "repnas/run_folder.h"
#include "repnas/strategy_info.h"

namespace repnas {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A finished trial's summary and the configuration asked for (config.json holds the resolved
// one), so that an interrupted trial resumes only when it is the same experiment. Folders made
// by `repnas-bench protocol` before the comparison existed hold the legacy names.
constexpr const char* kSummaryFile = "trial.json";
constexpr const char* kRequestFile = "trial_request.json";
constexpr const char* kLegacySummaryFile = "bench_run.json";
constexpr const char* kLegacyRequestFile = "bench_config.json";
constexpr const char* kSummaryFormat = "repnas-trial-1";
constexpr const char* kComparisonFormat = "repnas-comparison-1";

// What a run's event log says, read in one pass: Σ of the epoch durations, the step time
// before the fix (what the fix records; in older logs Σ of the warm-up and search epochs), the
// last validation accuracy, and for a search α at the fix (the last
// search step) and the mask agreement over its last search epoch. Steps that a resumed run
// repeats supersede the interrupted ones. A line that does not parse (the last one, cut by an
// interruption) is skipped.
struct LogSummary {
  double epoch_seconds = 0, search_seconds = 0;
  std::optional<double> val_accuracy;
  SearchStats search;
};

LogSummary readLog(const std::string& events) {
  LogSummary out;
  int64_t steps_per_epoch = 0;
  std::map<int64_t, double> agreement;  // search step -> mask agreement
  std::optional<StepSnapshot> last;
  std::optional<double> before_fix;
  forEachLoggedEvent(events, [&](const Event& event) {
    if (const auto* p = std::get_if<PhaseChange>(&event); p && p->to == Phase::Fixed && p->search_seconds)
      before_fix = p->search_seconds;
    if (const auto* i = std::get_if<RunInfo>(&event)) steps_per_epoch = i->steps_per_epoch;
    if (const auto* e = std::get_if<EpochSummary>(&event)) {
      out.epoch_seconds += e->seconds;
      if (e->phase == Phase::Warmup || e->phase == Phase::Search) out.search_seconds += e->seconds;
      if (e->val_accuracy) out.val_accuracy = e->val_accuracy;
    }
    if (const auto* s = std::get_if<StepSnapshot>(&event); s && s->phase == Phase::Search) {
      agreement[s->step] = s->mask_agreement;
      if (!last || s->step >= last->step) last = *s;
    }
  });
  if (before_fix) out.search_seconds = *before_fix;
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

json optionalJson(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
std::optional<double> optionalFrom(const json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return j.at(key).get<double>();
}

json searchStatsJson(const SearchStats& st) {
  if (!st.has) return nullptr;
  return {{"max_abs_alpha_at_fix", st.max_abs_alpha},
          {"alpha_margin_at_fix", optionalJson(st.alpha_margin)},
          {"noise_at_fix", st.final_noise},
          {"mask_agreement_last_search_epoch", st.agreement_last_epoch}};
}

SearchStats searchStatsFromJson(const json& j) {
  SearchStats st;
  if (j.is_null()) return st;
  st.has = true;
  st.max_abs_alpha = j.at("max_abs_alpha_at_fix");
  st.alpha_margin = optionalFrom(j, "alpha_margin_at_fix");
  st.final_noise = j.at("noise_at_fix");
  st.agreement_last_epoch = j.at("mask_agreement_last_search_epoch");
  return st;
}

/// What a run reads of its configuration, as JSON: the thread count (which changes its speed and
/// its float rounding, not the experiment), the BatchNorm recalibration before the fix (what the
/// search-epoch evaluations measure, not what the run trains or its result) and every key only
/// other strategies read at their defaults, so that a key added to one strategy leaves the
/// other strategies' runs reusable.
json experimentOf(const RunConfig& config) {
  RunConfig c = config;
  c.threads = 0;
  c.bn_recalibration_batches = 0;
  auto j = json::parse(configToJson(c));
  const auto defaults = json::parse(configToJson(RunConfig{}));
  for (const auto& s : strategyRegistry())
    for (const auto& key : s.keys)
      if (!strategyUsesKey(c.mode, key)) j[key] = defaults.at(key);
  return j;
}

/// The mask a finished run records: its weights.pt's architecture, else (a folder kept without
/// its weights) the given mask its config.json resolved (odbb: retrained and random masks);
/// empty when neither says.
std::vector<BranchMask> recordedMask(const fs::path& dir) {
  const RunFolder folder(dir.string());
  try {
    if (fs::exists(folder.weights()))
      if (auto mask = parseRunArchiveMeta(readRunArchive(folder.weights()).meta).architecture()) return *mask;
  } catch (const std::exception&) {
    // unreadable: the configuration may say
  }
  try {
    if (folder.hasConfig()) {
      const auto config = loadRunConfig(dir.string());
      if (config.mask.kind == MaskSetting::Kind::Given) return config.mask.layers;
    }
  } catch (const std::exception&) {
    // none recorded
  }
  return {};
}

// Keeps the last budget in force (the final k of a search run).
class BudgetTracker : public Observer {
 public:
  void onRunStarted(const RunInfo& e) override { k = e.budget.k; }
  void onCommand(const CommandAck& e) override { k = e.budget.k; }
  int k = 0;
};

double cpuSecondsOfThisProcess() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double peakRssMbOfThisProcess() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

std::string joinList(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

bool sameExperiment(const std::string& recorded_config_json, const RunConfig& config) {
  try {
    return experimentOf(configFromJson(recorded_config_json)) == experimentOf(config);
  } catch (const std::exception&) {
    return false;
  }
}

namespace {

/// The summary in `dir` and the configuration it records (as JSON text).
std::optional<std::pair<TrialOutcome, std::string>> readSummary(const fs::path& dir) {
  const bool legacy = !fs::exists(dir / kSummaryFile);
  std::ifstream in(dir / (legacy ? kLegacySummaryFile : kSummaryFile));
  if (!in) return std::nullopt;
  try {
    const auto j = json::parse(in);
    TrialOutcome o;
    o.status = j.at("status");
    if (o.status != "completed") return std::nullopt;
    o.test_accuracy = j.at("test_accuracy");
    o.seconds = j.at("seconds");
    o.branches = j.at("branches");
    o.budget_k = j.at("budget_k");
    o.cpu_seconds = optionalFrom(j, "cpu_seconds");
    o.peak_rss_mb = optionalFrom(j, "peak_rss_mb");
    o.resumed = j.value("resumed", false);
    if (j.contains("mask")) o.mask = maskFromBits(j.at("mask").get<std::vector<int>>());
    else o.mask = recordedMask(dir);
    if (j.contains("hant")) {  // a HANT trial
      const auto& h = j.at("hant");
      o.latency_ms = h.at("student_ms").get<double>();
      o.teacher_latency_ms = h.at("teacher_ms").get<double>();
      for (const auto& p : h.at("points")) o.latency_points.emplace_back(p.at("ms").get<double>(), p.at("val_accuracy").get<double>());
    }
    if (j.contains("log")) {
      // The summary holds what the event log said: the folder's other files may be gone (a
      // finished run kept in the repository is only its summary, config and weights).
      const auto& log = j.at("log");
      o.epoch_seconds = log.at("epoch_seconds");
      o.search_seconds = optionalFrom(log, "search_seconds");
      o.val_accuracy = optionalFrom(log, "val_accuracy");
      o.search = searchStatsFromJson(log.at("search"));
      if (!o.search_seconds && fs::exists(RunFolder(dir.string()).events()))
        o.search_seconds = readLog(RunFolder(dir.string()).events()).search_seconds;
      return std::make_pair(o, j.at("config").dump());
    }
    // Summaries written before the log summary was kept in them: read the event log.
    const auto log = readLog(RunFolder(dir.string()).events());
    o.epoch_seconds = j.contains("epoch_seconds") ? j.at("epoch_seconds").get<double>() : log.epoch_seconds;
    if (fs::exists(RunFolder(dir.string()).events())) o.search_seconds = log.search_seconds;
    o.val_accuracy = log.val_accuracy;
    o.search = log.search;
    return std::make_pair(o, j.at("config").dump());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<TrialOutcome> readTrialSummary(const std::string& dir) {
  auto s = readSummary(dir);
  if (!s) return std::nullopt;
  return s->first;
}

std::optional<TrialOutcome> finishedTrial(const std::string& dir, const RunConfig& config) {
  auto s = readSummary(dir);
  if (!s || !sameExperiment(s->second, config)) return std::nullopt;
  return s->first;
}

namespace {

/// Writes `dir`/trial.json: what readSummary reads back, `extra` (a HANT trial's "hant") beside it.
void writeSummary(const fs::path& dir, const TrialOutcome& o, const std::string& config_json,
                  const json& extra = json::object()) {
  json j = {{"format", kSummaryFormat}, {"config", json::parse(config_json)}, {"status", o.status},
            {"test_accuracy", o.test_accuracy}, {"seconds", o.seconds},
            {"cpu_seconds", *o.cpu_seconds}, {"peak_rss_mb", *o.peak_rss_mb}, {"resumed", o.resumed},
            {"branches", o.branches}, {"budget_k", o.budget_k}, {"mask", maskToBits(o.mask)},
            {"log", {{"epoch_seconds", o.epoch_seconds}, {"search_seconds", optionalJson(o.search_seconds)},
                     {"val_accuracy", optionalJson(o.val_accuracy)}, {"search", searchStatsJson(o.search)}}}};
  j.update(extra);
  writeTextAtomically((dir / kSummaryFile).string(), j.dump(2) + "\n");
}

}  // namespace

TrialOutcome runTrial(const RunConfig& config, const std::string& dir_name, bool quiet) {
  const fs::path dir(dir_name);
  if (auto done = finishedTrial(dir_name, config)) {
    if (!quiet) std::printf("  reusing %s (%.2f%%)\n", dir.c_str(), 100 * done->test_accuracy);
    return *done;
  }
  // The trial's identity: what it reads of its configuration (experimentOf), so that trials
  // made with other threads, or before another strategy's key was added, count.
  RunConfig identity = config;
  identity.threads = 0;
  const std::string config_json = configToJson(identity);
  // An unfinished earlier attempt with the same experiment resumes from its checkpoint.
  bool resume = false;
  const RunFolder folder(dir.string());
  for (const char* request : {kRequestFile, kLegacyRequestFile}) {
    if (resume || !folder.hasCheckpoint() || !fs::exists(dir / request)) continue;
    std::ifstream in(dir / request);
    std::stringstream text;
    text << in.rdbuf();
    resume = sameExperiment(text.str(), config);
  }
  if (!resume && fs::exists(dir)) fs::remove_all(dir);
  fs::create_directories(dir);
  if (!resume) writeTextAtomically((dir / kRequestFile).string(), config_json + "\n");
  if (!quiet) {
    std::printf("  %s %s\n", resume ? "resuming" : "running", dir.c_str());
    std::fflush(stdout);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpuSecondsOfThisProcess();
  Engine engine(config, dir.string(), resume);
  EventLogWriter log(folder.events(), resume);
  BudgetTracker budget;
  engine.addObserver(&log);
  engine.addObserver(&budget);
  const auto fin = engine.run();
  if (fin.status != "completed") throw Error(dir.string() + ": run " + fin.status + ": " + fin.message);
  TrialOutcome o;
  o.status = fin.status;
  o.test_accuracy = fin.test_accuracy.value_or(0);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  o.cpu_seconds = cpuSecondsOfThisProcess() - cpu0;
  o.peak_rss_mb = peakRssMbOfThisProcess();
  o.resumed = resume;
  const auto summary = readLog(folder.events());
  o.epoch_seconds = summary.epoch_seconds;
  o.search_seconds = summary.search_seconds;
  o.branches = countBranches(fin.mask);
  o.budget_k = budget.k;
  o.val_accuracy = summary.val_accuracy;
  o.search = summary.search;
  o.mask = fin.mask;
  writeSummary(dir, o, config_json);
  return o;
}

// --- HANT trials ----------------------------------------------------------------------------------

namespace {

json hantOptionsJson(const ComparisonHant& h) {
  return {{"speedup", h.speedup}, {"sweep", h.sweep}, {"distill_steps", h.distill_steps},
          {"finetune_steps", h.finetune_steps}, {"fit_students", h.fit_students}, {"repeats", h.repeats},
          {"batch", h.batch}};
}

ComparisonHant hantOptionsFromJson(const json& j) {
  ComparisonHant h;
  h.speedup = j.at("speedup").get<double>();
  h.sweep = j.at("sweep").get<std::vector<double>>();
  h.distill_steps = j.at("distill_steps").get<int>();
  h.finetune_steps = j.at("finetune_steps").get<int>();
  h.fit_students = j.at("fit_students").get<int>();
  h.repeats = j.at("repeats").get<int>();
  h.batch = j.value("batch", 128);
  return h;
}

void validateHant(const ComparisonHant& h) {
  if (!(h.speedup > 1 && h.speedup <= 100)) throw Error("hant speedup: must be > 1 and at most 100");
  if (h.sweep.size() > 32) throw Error("hant sweep: at most 32 speed-ups");
  for (double s : h.sweep)
    if (!(s > 1 && s <= 100)) throw Error("hant sweep: every speed-up must be > 1 and at most 100");
  for (const auto& [key, value, lo, hi] :
       {std::tuple<const char*, int, int, int>{"distill_steps", h.distill_steps, 0, 1000000},
        {"finetune_steps", h.finetune_steps, 0, 1000000}, {"fit_students", h.fit_students, 0, 100000},
        {"repeats", h.repeats, 1, 1000}, {"batch", h.batch, 1, 4096}})
    if (value < lo || value > hi)
      throw Error(std::string("hant ") + key + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi));
}

/// trial.json's "hant" object: the options it ran with (its identity beside the teacher's
/// configuration) and what it measured.
std::optional<json> hantSummaryIn(const fs::path& dir) {
  std::ifstream in(dir / kSummaryFile);
  if (!in) return std::nullopt;
  try {
    const auto j = json::parse(in);
    if (!j.contains("hant")) return std::nullopt;
    return j.at("hant");
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// The teacher's trial (the seed's plain baseline) of a HANT trial.
ComparisonTrial teacherTrial(const ComparisonTrial& t) {
  return {ComparisonTrial::Kind::Baseline, "plain", "plain", t.seed, t.after, ""};
}

TrialOutcome runHantTrial(const ComparisonRequest& request, const ComparisonTrial& t, const std::string& root,
                          bool quiet) {
  const fs::path dir = fs::path(root) / t.dir;
  const auto teacher_dir = (fs::path(root) / t.after).string();
  const auto teacher = comparisonTrialConfig(request, teacherTrial(t), root);
  if (!finishedTrial(teacher_dir, teacher))
    throw Error(teacher_dir + ": the teacher this HANT trial needs has not finished");
  const auto& h = *request.hant;
  // HANT does not resume: an unfinished attempt starts again.
  if (fs::exists(dir)) fs::remove_all(dir);
  fs::create_directories(dir);
  if (!quiet) {
    std::printf("  running %s (HANT on %s)\n", dir.c_str(), teacher_dir.c_str());
    std::fflush(stdout);
  }
  HantOptions o;
  o.run_dir = teacher_dir;
  o.out_dir = dir.string();
  o.speedup = h.speedup;
  o.sweep = h.sweep;
  o.distill_steps = h.distill_steps;
  o.finetune_steps = h.finetune_steps;
  o.fit_students = h.fit_students;
  o.latency_repeats = h.repeats;
  o.batch = h.batch;
  o.threads = std::max(1, teacher.threads);
  o.seed = t.seed;
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpuSecondsOfThisProcess();
  const auto r = runHant(o);
  TrialOutcome out;
  out.status = "completed";
  out.test_accuracy = r.student_test;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.cpu_seconds = cpuSecondsOfThisProcess() - cpu0;
  out.peak_rss_mb = peakRssMbOfThisProcess();
  out.val_accuracy = r.student_val;
  out.latency_ms = r.chosen.measured_ms;
  out.teacher_latency_ms = r.chosen.teacher_measured_ms;
  json points = json::array();
  for (const auto& p : r.sweep) {
    out.latency_points.emplace_back(p.measured_ms, p.val_accuracy);
    points.push_back({{"speedup_asked", r.teacher_ms / p.budget_ms}, {"ms", p.measured_ms},
                      {"teacher_ms", p.teacher_measured_ms}, {"val_accuracy", p.val_accuracy}});
  }
  RunConfig identity = teacher;
  identity.threads = 0;
  writeSummary(dir, out, configToJson(identity),
               {{"hant", {{"options", hantOptionsJson(h)}, {"teacher", t.after}, {"student_ms", out.latency_ms.value()},
                          {"teacher_ms", out.teacher_latency_ms.value()}, {"meets_budget", r.chosen.meets_budget},
                          {"teacher_test_accuracy", r.teacher_test}, {"points", points}}}});
  return out;
}

}  // namespace

void setComparisonHantOption(ComparisonHant& h, const std::string& key_value) {
  const auto eq = key_value.find('=');
  if (eq == std::string::npos) throw Error("--hant-set expects KEY=VALUE, got '" + key_value + "'");
  const std::string key = key_value.substr(0, eq), value = key_value.substr(eq + 1);
  auto number = [&](const std::string& text) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size() || !std::isfinite(v))
      throw Error("--hant-set " + key + ": '" + text + "' is not a number");
    return v;
  };
  auto integer = [&](int& out) {
    const double v = number(value);
    if (v != std::floor(v) || std::abs(v) > 1e9) throw Error("--hant-set " + key + ": '" + value + "' is not an integer");
    out = static_cast<int>(v);
  };
  if (key == "speedup") h.speedup = number(value);
  else if (key == "sweep") {
    h.sweep.clear();
    std::string item;
    std::stringstream in(value);
    while (std::getline(in, item, value.find('/') != std::string::npos ? '/' : ',')) h.sweep.push_back(number(item));
  } else if (key == "distill_steps") integer(h.distill_steps);
  else if (key == "finetune_steps") integer(h.finetune_steps);
  else if (key == "fit_students") integer(h.fit_students);
  else if (key == "repeats") integer(h.repeats);
  else if (key == "batch") integer(h.batch);
  else
    throw Error("--hant-set: no option '" + key + "' (speedup, sweep, distill_steps, finetune_steps, fit_students, repeats, batch)");
  try {
    validateHant(h);
  } catch (const Error& e) {
    throw Error(std::string("--hant-set ") + e.what());
  }
}

std::optional<TrialOutcome> finishedComparisonTrial(const ComparisonRequest& request, const ComparisonTrial& trial,
                                                    const std::string& root) {
  const auto dir = fs::path(root) / trial.dir;
  try {
    if (trial.kind != ComparisonTrial::Kind::Hant)
      return finishedTrial(dir.string(), comparisonTrialConfig(request, trial, root));
    const auto summary = hantSummaryIn(dir);
    if (!request.hant || !summary || !(hantOptionsFromJson(summary->at("options")) == *request.hant)) return std::nullopt;
    return finishedTrial(dir.string(), comparisonTrialConfig(request, teacherTrial(trial), root));
  } catch (const std::exception&) {
    return std::nullopt;  // a prerequisite not finished, or a summary that does not parse
  }
}

TrialOutcome runComparisonTrial(const ComparisonRequest& request, const ComparisonTrial& trial, const std::string& root,
                                bool quiet) {
  if (trial.kind != ComparisonTrial::Kind::Hant)
    return runTrial(comparisonTrialConfig(request, trial, root), (fs::path(root) / trial.dir).string(), quiet);
  if (auto done = finishedComparisonTrial(request, trial, root)) {
    if (!quiet) std::printf("  reusing %s (%.2f%%)\n", trial.dir.c_str(), 100 * done->test_accuracy);
    return *done;
  }
  return runHantTrial(request, trial, root, quiet);
}

// --- the request ---------------------------------------------------------------------------------

void validateComparison(const ComparisonRequest& request) {
  if (request.strategies.empty() && !request.hant)
    throw Error("strategies: at least one search strategy (or hant) is needed");
  std::set<std::string> seen;
  for (const auto& s : request.strategies) {
    const auto* info = findStrategy(s);
    RunConfig c;
    c.mode = info ? info->name : s;
    if (!info || !c.isSearch())
      throw Error("strategies: '" + s + "' is not a search strategy (one of search, gdas, rena)");
    if (info->name != s) throw Error("strategies: '" + s + "' is an alias: write " + info->name);
    if (!seen.insert(s).second) throw Error("strategies: '" + s + "' is listed twice");
  }
  if (request.seeds.empty()) throw Error("seeds: at least one seed is needed");
  if (std::set<std::uint64_t>(request.seeds.begin(), request.seeds.end()).size() != request.seeds.size())
    throw Error("seeds: a seed is listed twice");
  if (request.random_masks < 0 || request.random_masks > 100)
    throw Error("random: " + std::to_string(request.random_masks) + " random masks per seed (0 to 100)");
  seen.clear();
  for (const auto& b : request.baselines) {
    const auto* info = findStrategy(b);
    RunConfig c;
    c.mode = info ? info->name : b;
    if (!info || info->name != b || c.isSearch() || info->given_mask)
      throw Error("baselines: '" + b + "' is not a fixed baseline (plain, plain+identity, repvgg or dbb)");
    if (!seen.insert(b).second) throw Error("baselines: '" + b + "' is listed twice");
  }
  if (request.hant) {
    validateHant(*request.hant);
    if (std::find(request.baselines.begin(), request.baselines.end(), "plain") == request.baselines.end())
      throw Error("strategies: hant transforms each seed's plain baseline: add plain to the baselines");
  }
  RunConfig base;
  applyConfigOverrides(base, request.overrides);  // ConfigError names the key
  for (const char* key : {"strategy", "mode", "seed", "mask"})
    for (const auto& o : request.overrides)
      if (o.rfind(std::string(key) + "=", 0) == 0)
        throw Error(std::string("--set ") + key + ": the comparison sets it for each trial");
  base.validate();
}

namespace {

std::string searchDirName(const std::string& strategy) { return strategy == "search" ? "search" : strategy; }
std::string retrainedDirName(const std::string& strategy) {
  return strategy == "search" ? "retrained" : strategy + "-retrained";
}
std::string seedDir(std::uint64_t seed) { return "protocol-seed" + std::to_string(seed); }

}  // namespace

std::vector<ComparisonTrial> comparisonTrials(const ComparisonRequest& request) {
  using Kind = ComparisonTrial::Kind;
  std::vector<ComparisonTrial> out;
  for (auto seed : request.seeds)
    for (const auto& s : request.strategies)
      out.push_back({Kind::Search, s, s, seed, seedDir(seed) + "/" + searchDirName(s), ""});
  for (auto seed : request.seeds) {
    for (int r = 1; r <= request.random_masks; ++r)
      out.push_back({Kind::Random, "random", "odbb", seed, seedDir(seed) + "/random" + std::to_string(r), ""});
    for (const auto& b : request.baselines) out.push_back({Kind::Baseline, b, b, seed, seedDir(seed) + "/" + b, ""});
  }
  for (auto seed : request.seeds)
    for (const auto& s : request.strategies)
      out.push_back({Kind::Retrained, s + " retrained", s, seed, seedDir(seed) + "/" + retrainedDirName(s),
                     seedDir(seed) + "/" + searchDirName(s)});
  if (request.hant)
    for (auto seed : request.seeds)
      out.push_back({Kind::Hant, "hant", "hant", seed, seedDir(seed) + "/hant", seedDir(seed) + "/plain"});
  return out;
}

ComparisonTrial comparisonTrial(const ComparisonRequest& request, const std::string& dir) {
  for (const auto& t : comparisonTrials(request))
    if (t.dir == dir) return t;
  throw Error("--trial " + dir + ": the comparison has no such trial (e.g. " + comparisonTrials(request).front().dir + ")");
}

RunConfig comparisonTrialConfig(const ComparisonRequest& request, const ComparisonTrial& trial,
                                const std::string& root) {
  using Kind = ComparisonTrial::Kind;
  RunConfig base;
  applyConfigOverrides(base, request.overrides);
  RunConfig c = base;
  switch (trial.kind) {
    case Kind::Search:
    case Kind::Baseline:
      c.mode = trial.strategy;
      c.seed = trial.seed;
      break;
    case Kind::Hant:  // its teacher's
      c.mode = "plain";
      c.seed = trial.seed;
      break;
    case Kind::Random: {
      const int r = std::stoi(fs::path(trial.dir).filename().string().substr(6));
      c.mode = "odbb";
      c.mask.kind = MaskSetting::Kind::Random;
      c.seed = trial.seed + 1000 * static_cast<std::uint64_t>(r);  // its own mask and weights
      break;
    }
    case Kind::Retrained: {
      const auto search_dir = (fs::path(root) / trial.after).string();
      RunConfig search = base;
      search.mode = trial.strategy;
      search.seed = trial.seed;
      if (!finishedTrial(search_dir, search))
        throw Error(search_dir + ": the search this retraining needs has not finished");
      c = retrainConfig(search_dir);
      break;
    }
  }
  c.validate();
  return c;
}

std::string comparisonRequestToJson(const ComparisonRequest& r) {
  json j = {{"format", kComparisonFormat}, {"strategies", r.strategies}, {"seeds", r.seeds},
            {"random_masks", r.random_masks}, {"baselines", r.baselines}, {"overrides", r.overrides}};
  if (r.hant) j["hant"] = hantOptionsJson(*r.hant);
  return j.dump(2) + "\n";
}

ComparisonRequest comparisonRequestFromJson(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    throw Error(std::string("not JSON: ") + e.what());
  }
  if (!j.is_object()) throw Error("not a JSON object");
  const std::string format = j.value("format", "");
  if (format != kComparisonFormat)
    throw Error("format: '" + format + "' is not " + kComparisonFormat + " (written by a newer version?)");
  ComparisonRequest r;
  auto field = [&](const char* key, auto& out) {
    try {
      out = j.at(key).get<std::decay_t<decltype(out)>>();
    } catch (const std::exception&) {
      throw Error(std::string(key) + ": missing or of the wrong type");
    }
  };
  field("strategies", r.strategies);
  field("seeds", r.seeds);
  field("random_masks", r.random_masks);
  field("baselines", r.baselines);
  field("overrides", r.overrides);
  if (j.contains("hant")) {
    try {
      r.hant = hantOptionsFromJson(j.at("hant"));
    } catch (const std::exception&) {
      throw Error("hant: missing fields or of the wrong type");
    }
  }
  validateComparison(r);
  return r;
}

ComparisonRequest loadComparison(const std::string& root) {
  const auto path = (fs::path(root) / kComparisonFile).string();
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot read (not a comparison folder?)");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return comparisonRequestFromJson(text.str());
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

void saveComparison(const ComparisonRequest& request, const std::string& root) {
  validateComparison(request);
  const auto path = (fs::path(root) / kComparisonFile).string();
  if (fs::exists(path)) {
    const auto old = loadComparison(root);
    auto differs = [&](const char* what, const std::string& a, const std::string& b) {
      if (a != b)
        throw Error(path + ": holds another comparison (" + what + " " + a + ", asked " + b +
                    "): use another --out, or the same request");
    };
    std::vector<std::string> old_seeds, new_seeds;
    for (auto s : old.seeds) old_seeds.push_back(std::to_string(s));
    for (auto s : request.seeds) new_seeds.push_back(std::to_string(s));
    differs("strategies", joinList(old.strategies), joinList(request.strategies));
    differs("seeds", joinList(old_seeds), joinList(new_seeds));
    differs("random", std::to_string(old.random_masks), std::to_string(request.random_masks));
    differs("baselines", joinList(old.baselines), joinList(request.baselines));
    differs("--set", joinList(old.overrides), joinList(request.overrides));
    differs("hant", old.hant ? hantOptionsJson(*old.hant).dump() : "none",
            request.hant ? hantOptionsJson(*request.hant).dump() : "none");
    return;
  }
  fs::create_directories(root);
  writeTextAtomically(path, comparisonRequestToJson(request));
}

// --- the arithmetic ------------------------------------------------------------------------------

std::pair<double, double> meanStd(const std::vector<double>& v) {
  if (v.empty()) return {0, 0};
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  return {mean, v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0.0};
}

double pooledStd(const std::vector<double>& a, const std::vector<double>& b) {
  const double dof = static_cast<double>(a.size() + b.size()) - 2;
  if (dof <= 0 || a.empty() || b.empty()) return 0;
  const double sa = meanStd(a).second, sb = meanStd(b).second;
  return std::sqrt((static_cast<double>(a.size() - 1) * sa * sa + static_cast<double>(b.size() - 1) * sb * sb) / dof);
}

std::optional<double> kendallTau(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.size() < 2) return std::nullopt;
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
  const double n1 = concordant + discordant + ties_b, n2 = concordant + discordant + ties_a;
  if (n1 <= 0 || n2 <= 0) return std::nullopt;
  return (concordant - discordant) / std::sqrt(n1 * n2);
}

int hammingDistance(const std::vector<BranchMask>& a, const std::vector<BranchMask>& b) {
  if (a.size() != b.size())
    throw Error("masks of " + std::to_string(a.size()) + " and " + std::to_string(b.size()) + " layers");
  int d = 0;
  for (size_t l = 0; l < a.size(); ++l)
    for (int k = 0; k < kNumBranchKinds; ++k) d += a[l][k] != b[l][k];
  return d;
}

std::optional<double> meanPairwiseHamming(const std::vector<std::vector<BranchMask>>& masks) {
  if (masks.size() < 2) return std::nullopt;
  double sum = 0;
  int pairs = 0;
  for (size_t i = 0; i < masks.size(); ++i)
    for (size_t j = i + 1; j < masks.size(); ++j, ++pairs) sum += hammingDistance(masks[i], masks[j]);
  return sum / pairs;
}

std::vector<size_t> paretoFront(const std::vector<double>& cost, const std::vector<double>& accuracy) {
  if (cost.size() != accuracy.size()) throw Error("paretoFront: as many costs as accuracies are needed");
  std::vector<size_t> order(cost.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // By cost, the more accurate first among equal costs; a point is on the front when it is more
  // accurate than every cheaper one.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return cost[a] != cost[b] ? cost[a] < cost[b] : accuracy[a] > accuracy[b];
  });
  std::vector<size_t> front;
  for (size_t i : order) {
    if (!std::isfinite(cost[i]) || !std::isfinite(accuracy[i])) continue;
    if (front.empty() || accuracy[i] > accuracy[front.back()]) front.push_back(i);
  }
  return front;
}

std::vector<std::array<double, kNumBranchKinds>> keepFrequency(const std::vector<std::vector<BranchMask>>& masks) {
  std::vector<std::array<double, kNumBranchKinds>> out;
  if (masks.empty()) return out;
  out.assign(masks.front().size(), {});
  for (const auto& m : masks) {
    if (m.size() != out.size()) throw Error("keepFrequency: masks of different numbers of layers");
    for (size_t l = 0; l < m.size(); ++l)
      for (int k = 0; k < kNumBranchKinds; ++k) out[l][k] += m[l][k] ? 1.0 / static_cast<double>(masks.size()) : 0.0;
  }
  return out;
}

namespace {

/// The folders below `dir` (up to three levels deep, sorted, symlinks not followed) that hold
/// `file`; a folder holding it is not searched further.
std::vector<std::string> foldersHolding(const std::string& dir, const std::string& file) {
  std::vector<std::string> out;
  std::error_code ec;
  std::function<void(const fs::path&, int)> walk = [&](const fs::path& d, int depth) {
    if (depth > 3) return;
    std::vector<fs::path> children;
    for (fs::directory_iterator it(d, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
         it.increment(ec))
      if (it->is_directory(ec) && !it->is_symlink(ec)) children.push_back(it->path());
    std::sort(children.begin(), children.end());
    for (const auto& c : children) {
      if (fs::exists(c / file, ec)) out.push_back(c.string());
      else walk(c, depth + 1);
    }
  };
  walk(dir, 1);
  return out;
}

}  // namespace

std::vector<std::string> findRunFolders(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (fs::exists(fs::path(dir) / RunFolder::kConfig, ec)) return {dir};
  if (fs::exists(fs::path(dir) / kComparisonFile, ec)) {
    const auto request = loadComparison(dir);
    for (const auto& t : comparisonTrials(request)) {
      const auto trial = (fs::path(dir) / t.dir).string();
      if (fs::exists(fs::path(trial) / RunFolder::kConfig, ec)) out.push_back(trial);
    }
    return out;
  }
  return foldersHolding(dir, RunFolder::kConfig);
}

std::optional<HantSummary> readHantSummary(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "hant.json");
  if (!in) return std::nullopt;
  try {
    const auto j = json::parse(in);
    HantSummary s;
    s.dir = dir;
    s.teacher_ms = j.at("teacher_ms").get<double>();
    s.teacher_test = j.at("teacher_test_accuracy").get<double>();
    if (j.contains("chosen")) {
      s.student_ms = j.at("chosen").at("normalized_ms").get<double>();
      s.student_test = j.at("student_test_accuracy").get<double>();
    }
    for (const auto& p : j.at("sweep")) s.sweep.emplace_back(p.at("normalized_ms").get<double>(), p.at("val_accuracy").get<double>());
    s.backbone = j.value("backbone", "");
    if (s.backbone.empty()) {  // written before it was recorded: the teacher's configuration
      fs::path teacher = j.value("teacher", "");
      if (teacher.is_relative() && !fs::exists(teacher)) teacher = fs::path(dir) / ".." / teacher.filename();
      try {
        s.backbone = loadRunConfig(teacher.string()).backbone;
      } catch (const std::exception&) {
        s.backbone.clear();
      }
    }
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::vector<std::string> findHantFolders(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "hant.json", ec)) return {dir};
  std::vector<std::string> out;
  if (fs::exists(fs::path(dir) / kComparisonFile, ec)) {
    for (const auto& t : comparisonTrials(loadComparison(dir)))
      if (t.kind == ComparisonTrial::Kind::Hant && fs::exists(fs::path(dir) / t.dir / "hant.json", ec))
        out.push_back((fs::path(dir) / t.dir).string());
    return out;
  }
  return foldersHolding(dir, "hant.json");
}

bool configKeyApplies(const std::string& config_json, const std::string& key) {
  const std::string strategy = configValueText(config_json, "strategy");
  for (const auto& s : strategyRegistry())
    for (const auto& k : s.keys)
      if (k == key) return strategyUsesKey(strategy.empty() ? configValueText(config_json, "mode") : strategy, key);
  return true;
}

std::vector<std::string> differingConfigKeys(const std::vector<std::string>& config_jsons) {
  std::vector<json> configs;
  std::set<std::string> keys;
  for (const auto& text : config_jsons) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) j = json::object();
    for (auto it = j.begin(); it != j.end(); ++it) keys.insert(it.key());
    configs.push_back(std::move(j));
  }
  std::vector<std::string> out;
  for (const auto& key : keys) {
    // Compared among the configurations it applies to (a key only another strategy reads
    // is no difference).
    std::vector<const json*> values;
    for (size_t i = 0; i < configs.size(); ++i)
      if (configKeyApplies(config_jsons[i], key)) values.push_back(configs[i].contains(key) ? &configs[i].at(key) : nullptr);
    bool differs = false;
    for (const auto* v : values)
      differs |= (v == nullptr) != (values.front() == nullptr) || (v && *v != *values.front());
    if (differs) out.push_back(key);
  }
  return out;
}

std::string configValueText(const std::string& config_json, const std::string& key) {
  const json j = json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains(key)) return "";
  return j.at(key).is_string() ? j.at(key).get<std::string>() : j.at(key).dump();
}

// --- the table -----------------------------------------------------------------------------------

ComparisonTable comparisonTable(const ComparisonRequest& request, const std::string& root,
                                const BranchCostTable* costs) {
  using Kind = ComparisonTrial::Kind;
  ComparisonTable table;
  table.complete = true;
  std::map<std::string, size_t> index;
  std::map<std::string, std::map<std::uint64_t, double>> own_score;  // strategy -> seed -> search's score
  std::map<std::string, std::map<std::uint64_t, double>> retrained;   // strategy -> seed -> accuracy
  auto rowOf = [&](const ComparisonTrial& t) -> ComparisonRow& {
    auto it = index.find(t.group);
    if (it == index.end()) {
      it = index.emplace(t.group, table.rows.size()).first;
      ComparisonRow row;
      row.group = t.group;
      row.kind = t.kind;
      row.strategy = t.strategy;
      table.rows.push_back(row);
    }
    return table.rows[it->second];
  };
  // Rows in the order a reader compares them: each strategy's search and retrained rows, the
  // random masks, the baselines.
  auto trials = comparisonTrials(request);
  std::stable_sort(trials.begin(), trials.end(), [](const ComparisonTrial& a, const ComparisonTrial& b) {
    auto rank = [](Kind k) { return k == Kind::Random ? 1 : k == Kind::Baseline ? 2 : k == Kind::Hant ? 3 : 0; };
    return rank(a.kind) < rank(b.kind);
  });
  std::map<std::string, std::vector<double>> cpu, search, ms, mb, latency, speedup;
  for (const auto& t : trials) {
    auto& row = rowOf(t);
    const auto o = finishedComparisonTrial(request, t, root);
    if (!o) {
      ++row.missing;
      table.complete = false;
      continue;
    }
    ++row.n;
    row.accuracy.push_back(100 * o->test_accuracy);
    row.seeds.push_back(t.seed);
    row.wall_seconds += t.kind == Kind::Hant ? o->seconds : o->epoch_seconds;
    if (o->latency_ms && o->teacher_latency_ms && *o->latency_ms > 0) {
      latency[t.group].push_back(*o->latency_ms);
      speedup[t.group].push_back(*o->teacher_latency_ms / *o->latency_ms);
    }
    if (o->search_seconds) search[t.group].push_back(*o->search_seconds);
    if (o->cpu_seconds) cpu[t.group].push_back(*o->cpu_seconds);
    if (o->peak_rss_mb) row.peak_rss_mb = std::max(row.peak_rss_mb.value_or(0), *o->peak_rss_mb);
    row.branches = o->branches;
    if (t.kind != Kind::Baseline && t.kind != Kind::Hant && o->branches == o->budget_k) ++row.k_compliant;
    if (!o->mask.empty()) {
      row.masks.push_back(o->mask);
      if (costs && costs->ms.size() == o->mask.size()) {
        ms[t.group].push_back(costs->msOf(o->mask));
        mb[t.group].push_back(costs->mbOf(o->mask));
      }
    }
    if (t.kind == Kind::Search)
      own_score[t.strategy][t.seed] = 100 * o->val_accuracy.value_or(o->test_accuracy);
    if (t.kind == Kind::Retrained) retrained[t.strategy][t.seed] = 100 * o->test_accuracy;
  }
  for (auto& row : table.rows) {
    std::tie(row.mean, row.std) = meanStd(row.accuracy);
    if (row.n > 0) {
      row.wall_seconds /= row.n;
    }
    if (!cpu[row.group].empty()) row.cpu_seconds = meanStd(cpu[row.group]).first;
    if (!search[row.group].empty()) row.search_seconds = meanStd(search[row.group]).first;
    if (!ms[row.group].empty()) {
      row.train_ms = meanStd(ms[row.group]).first;
      row.train_mb = meanStd(mb[row.group]).first;
    }
    if (!latency[row.group].empty()) {
      row.latency_ms = meanStd(latency[row.group]).first;
      row.speedup = meanStd(speedup[row.group]).first;
    }
    if (row.kind != Kind::Baseline && row.kind != Kind::Hant) row.hamming = meanPairwiseHamming(row.masks);
    if (row.kind == Kind::Search) {
      std::vector<double> a, b;
      for (const auto& [seed, score] : own_score[row.strategy])
        if (retrained[row.strategy].count(seed)) {
          a.push_back(score);
          b.push_back(retrained[row.strategy][seed]);
        }
      row.score_tau = kendallTau(a, b);
    }
  }
  // The verdicts: each retrained row against the random masks, against the other retrained
  // rows, and against each baseline; called only beyond twice the pooled std.
  auto verdict = [&](const ComparisonRow& a, const ComparisonRow& b) {
    ComparisonVerdict v;
    v.a = a.group;
    v.b = b.group;
    v.difference = a.mean - b.mean;
    v.pooled_std = pooledStd(a.accuracy, b.accuracy);
    if (a.n == 0 || b.n == 0 || v.pooled_std <= 0) v.call = "no call";
    else if (v.difference > 2 * v.pooled_std) v.call = "better";
    else if (v.difference < -2 * v.pooled_std) v.call = "worse";
    else v.call = "no call";
    table.verdicts.push_back(v);
  };
  for (size_t i = 0; i < table.rows.size(); ++i) {
    const auto& a = table.rows[i];
    if (a.kind == Kind::Hant)  // the student against its teachers
      for (const auto& b : table.rows)
        if (b.kind == Kind::Baseline && b.strategy == "plain") verdict(a, b);
    if (a.kind != Kind::Retrained) continue;
    for (size_t j = 0; j < table.rows.size(); ++j) {
      const auto& b = table.rows[j];
      if (b.kind == Kind::Random || b.kind == Kind::Baseline || (b.kind == Kind::Retrained && j > i)) verdict(a, b);
    }
  }
  // Random first among each retrained row's verdicts.
  std::stable_sort(table.verdicts.begin(), table.verdicts.end(), [&](const ComparisonVerdict& x, const ComparisonVerdict& y) {
    if (x.a != y.a) return index.at(x.a) < index.at(y.a);
    return (x.b == "random") > (y.b == "random");
  });
  return table;
}

namespace {

std::string fixed(const std::optional<double>& v, int decimals) {
  if (!v) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, *v);
  return buf;
}

}  // namespace

std::string comparisonTableText(const ComparisonTable& t) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-18s %5s %15s %9s %9s %9s %8s %8s %8s %8s %7s %7s %6s\n", "group", "n",
                "test acc %", "wall s", "search s", "cpu s", "peak MB", "branches", "ms/step", "MB", "k ok",
                "hamming", "tau");
  out += line;
  for (const auto& r : t.rows) {
    char acc[32];
    if (r.n > 0) std::snprintf(acc, sizeof acc, "%.2f ± %.2f", r.mean, r.std);
    else std::snprintf(acc, sizeof acc, "-");
    char n[16];
    std::snprintf(n, sizeof n, r.missing ? "%d/%d" : "%d", r.n, r.n + r.missing);
    const bool search = r.kind == ComparisonTrial::Kind::Search;
    const bool chooses = r.kind != ComparisonTrial::Kind::Baseline && r.kind != ComparisonTrial::Kind::Hant;
    std::snprintf(line, sizeof line, "%-18s %5s %15s %9.0f %9s %9s %8s %8d %8s %8s %7s %7s %6s\n", r.group.c_str(), n, acc,
                  r.wall_seconds, search ? fixed(r.search_seconds, 0).c_str() : "-", fixed(r.cpu_seconds, 0).c_str(),
                  fixed(r.peak_rss_mb, 0).c_str(), r.branches, fixed(r.train_ms, 2).c_str(), fixed(r.train_mb, 1).c_str(),
                  chooses ? (std::to_string(r.k_compliant) + "/" + std::to_string(r.n)).c_str() : "-",
                  fixed(r.hamming, 1).c_str(), fixed(r.score_tau, 2).c_str());
    out += line;
  }
  for (const auto& r : t.rows)
    if (r.kind == ComparisonTrial::Kind::Hant && r.latency_ms && r.speedup) {
      std::snprintf(line, sizeof line, "\n%s: the students measured at %.3f ms per image, %.2fx faster than their teachers (plain)\n",
                    r.group.c_str(), *r.latency_ms, *r.speedup);
      out += line;
    }
  if (!t.verdicts.empty()) out += "\nverdicts (called beyond twice the pooled std):\n";
  for (const auto& v : t.verdicts) {
    std::snprintf(line, sizeof line, "  %-18s vs %-18s %+6.2f points, pooled std %.2f: %s\n", v.a.c_str(), v.b.c_str(),
                  v.difference, v.pooled_std, v.call.c_str());
    out += line;
  }
  if (!t.complete) out += "\n(incomplete: trials not finished are counted in n as missing)\n";
  return out;
}

std::string comparisonTableCsv(const ComparisonTable& t) {
  std::string out =
      "group,kind,strategy,n,missing,test_accuracy_mean,test_accuracy_std,wall_seconds,search_seconds,cpu_seconds,"
      "peak_rss_mb,branches,train_ms_per_step,train_mb,k_compliant,hamming,score_tau,latency_ms,speedup\n";
  auto opt = [](const std::optional<double>& v) { return v ? fixed(v, 6) : std::string(); };
  const char* kinds[] = {"search", "retrained", "random", "baseline", "hant"};
  for (const auto& r : t.rows) {
    out += r.group + "," + kinds[static_cast<int>(r.kind)] + "," + r.strategy + "," + std::to_string(r.n) + "," +
           std::to_string(r.missing) + "," + (r.n ? fixed(r.mean, 6) : "") + "," + (r.n ? fixed(r.std, 6) : "") + "," +
           fixed(r.wall_seconds, 3) + "," + opt(r.search_seconds) + "," + opt(r.cpu_seconds) + "," +
           opt(r.peak_rss_mb) + "," + std::to_string(r.branches) + "," + opt(r.train_ms) + "," + opt(r.train_mb) + "," +
           std::to_string(r.k_compliant) + "," + opt(r.hamming) + "," + opt(r.score_tau) + "," + opt(r.latency_ms) + "," +
           opt(r.speedup) + "\n";
  }
  return out;
}

std::string comparisonTableJson(const ComparisonTable& t, const ComparisonRequest& request) {
  const char* kinds[] = {"search", "retrained", "random", "baseline", "hant"};
  json rows = json::array();
  for (const auto& r : t.rows) {
    json masks = json::array();
    for (const auto& m : r.masks) masks.push_back(maskToBits(m));
    rows.push_back({{"group", r.group}, {"kind", kinds[static_cast<int>(r.kind)]}, {"strategy", r.strategy},
                    {"n", r.n}, {"missing", r.missing}, {"seeds", r.seeds}, {"test_accuracy", r.accuracy},
                    {"test_accuracy_mean", r.mean}, {"test_accuracy_std", r.std}, {"wall_seconds", r.wall_seconds},
                    {"search_seconds", optionalJson(r.search_seconds)}, {"cpu_seconds", optionalJson(r.cpu_seconds)},
                    {"peak_rss_mb", optionalJson(r.peak_rss_mb)}, {"branches", r.branches},
                    {"train_ms_per_step", optionalJson(r.train_ms)}, {"train_mb", optionalJson(r.train_mb)},
                    {"k_compliant", r.k_compliant}, {"hamming", optionalJson(r.hamming)},
                    {"score_tau", optionalJson(r.score_tau)}, {"latency_ms", optionalJson(r.latency_ms)},
                    {"speedup", optionalJson(r.speedup)}, {"masks", masks}});
  }
  json verdicts = json::array();
  for (const auto& v : t.verdicts)
    verdicts.push_back({{"a", v.a}, {"b", v.b}, {"difference", v.difference}, {"pooled_std", v.pooled_std}, {"call", v.call}});
  const json j = {{"format", "repnas-comparison-table-1"}, {"request", json::parse(comparisonRequestToJson(request))},
                  {"complete", t.complete}, {"rows", rows}, {"verdicts", verdicts}};
  return j.dump(2) + "\n";
}

std::vector<std::string> saveComparisonTable(const ComparisonTable& table, const ComparisonRequest& request,
                                             const std::string& root) {
  const auto json_path = (fs::path(root) / "comparison-table.json").string();
  const auto csv_path = (fs::path(root) / "comparison-table.csv").string();
  writeTextAtomically(json_path, comparisonTableJson(table, request));
  writeTextAtomically(csv_path, comparisonTableCsv(table));
  return {json_path, csv_path};
}

}  // namespace repnas
