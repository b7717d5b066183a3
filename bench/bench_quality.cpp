// repnas-bench quality / sweep: real training runs through the engine's public API, one run
// directory per (mode or budget, seed), summarised as mean ± std test accuracy.
// No torch here: this translation unit only uses the engine facade.
#include "bench_quality.h"
#include "bench_util.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "repnas/budget.h"
#include "repnas/config.h"
#include "repnas/engine.h"
#include "repnas/runtime.h"

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
};

// The summary a finished run leaves in its folder, so that an interrupted benchmark re-runs
// only what is missing.
const char* kSummaryFile = "bench_run.json";

// Σ of the epoch durations a run's event log records.
double epochSeconds(const fs::path& events) {
  double total = 0;
  bench::forEachEvent(events, [&](const Event& event) {
    if (const auto* e = std::get_if<EpochSummary>(&event)) total += e->seconds;
  });
  return total;
}

std::optional<Outcome> finishedOutcome(const fs::path& dir, const std::string& config_json) {
  std::ifstream in(dir / kSummaryFile);
  if (!in) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(in);
    if (j.at("config") != nlohmann::json::parse(config_json)) return std::nullopt;
    Outcome o;
    o.status = j.at("status");
    o.test_accuracy = j.at("test_accuracy");
    o.seconds = j.at("seconds");
    // Summaries written before epoch_seconds existed: read it from the event log.
    o.epoch_seconds = j.contains("epoch_seconds") ? j.at("epoch_seconds").get<double>()
                                                  : epochSeconds(dir / "events.jsonl");
    o.branches = j.at("branches");
    o.budget_k = j.at("budget_k");
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
  RunConfig resolved = config;
  const std::string config_json = configToJson(resolved);
  if (auto done = finishedOutcome(dir, config_json)) {
    std::printf("  reusing %s (%.2f%%)\n", dir.c_str(), 100 * done->test_accuracy);
    return *done;
  }
  // An unfinished earlier attempt with the same configuration resumes from its checkpoint.
  bool resume = false;
  if (fs::exists(dir / "checkpoint.pt") && fs::exists(dir / "config.json")) {
    std::ifstream in(dir / "config.json");
    std::stringstream text;
    text << in.rdbuf();
    try {
      resume = configToJson(configFromJson(text.str())) == config_json;
    } catch (const std::exception&) {
      resume = false;
    }
  }
  if (!resume && fs::exists(dir)) fs::remove_all(dir);
  fs::create_directories(dir);
  std::printf("  %s %s\n", resume ? "resuming" : "running", dir.c_str());
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  Engine engine(config, dir.string(), resume);
  EventLogWriter log((dir / "events.jsonl").string(), resume);
  BudgetTracker budget;
  engine.addObserver(&log);
  engine.addObserver(&budget);
  const auto fin = engine.run();
  Outcome o;
  o.status = fin.status;
  o.test_accuracy = fin.test_accuracy.value_or(0);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  o.epoch_seconds = epochSeconds(dir / "events.jsonl");
  o.branches = countBranches(fin.mask);
  o.budget_k = budget.k;
  if (fin.status != "completed")
    throw Error(dir.string() + ": run " + fin.status + ": " + fin.message);
  nlohmann::json j = {{"config", nlohmann::json::parse(config_json)}, {"status", o.status},
                      {"test_accuracy", o.test_accuracy}, {"seconds", o.seconds},
                      {"epoch_seconds", o.epoch_seconds}, {"branches", o.branches},
                      {"budget_k", o.budget_k}};
  std::ofstream out(dir / kSummaryFile);
  out << j.dump(2) << "\n";
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

}  // namespace repnas::bench
