// repnas: the headless command line of RepNAS Studio (same engine as the GUI).

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <thread>
#include <iostream>
#include <limits>
#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console_progress.h"
#include "repnas/backbone.h"
#include "repnas/comparison.h"
#include "repnas/config.h"
#include "repnas/costs.h"
#include "repnas/hant.h"
#include "repnas/engine.h"
#include "repnas/error.h"
#include "repnas/run_folder.h"
#include "repnas/export.h"
#include "repnas/fusion_check.h"
#include "repnas/runtime.h"
#include "repnas/strategy_info.h"
#include "cli_help.h"

namespace {

/// A problem with the command line itself (exit status 2, as a configuration error); every
/// other failure is exit status 1.
class UsageError : public repnas::Error {
 public:
  using Error::Error;
};

/// Command-line arguments after the command name, consumed as they are read.
class Args {
 public:
  explicit Args(std::vector<std::string> args) : args_(std::move(args)) {}
  bool flag(const std::string& name) {
    for (auto it = args_.begin(); it != args_.end(); ++it)
      if (*it == name) { args_.erase(it); return true; }
    return false;
  }
  std::string value(const std::string& name, const std::string& fallback) {
    for (auto it = args_.begin(); it != args_.end(); ++it) {
      if (*it == name) {
        if (std::next(it) == args_.end()) throw UsageError(name + " needs a value");
        std::string v = *std::next(it);
        args_.erase(it, std::next(it, 2));
        return v;
      }
    }
    return fallback;
  }
  int intValue(const std::string& name, int fallback) {
    const std::string v = value(name, "");
    if (v.empty()) return fallback;
    try {
      size_t used = 0;
      int n = std::stoi(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
      return n;
    } catch (const std::exception&) {
      throw UsageError(name + " expects an integer, got '" + v + "'");
    }
  }
  double doubleValue(const std::string& name, double fallback) {
    const std::string v = value(name, "");
    if (v.empty()) return fallback;
    try {
      size_t used = 0;
      const double d = std::stod(v, &used);
      if (used != v.size() || !std::isfinite(d)) throw std::invalid_argument(v);
      return d;
    } catch (const std::exception&) {
      throw UsageError(name + " expects a number, got '" + v + "'");
    }
  }
  void expectEmpty() const {
    if (!args_.empty()) throw UsageError("unknown argument '" + args_.front() + "'");
  }
  /// The first argument that is not an option ("" when none), removed.
  std::string positional() {
    for (auto it = args_.begin(); it != args_.end(); ++it) {
      if (it->rfind("--", 0) != 0) {
        std::string v = *it;
        args_.erase(it);
        return v;
      }
    }
    return "";
  }
  /// All values of a repeatable option.
  std::vector<std::string> values(const std::string& name) {
    std::vector<std::string> out;
    for (std::string v = value(name, "\x01"); v != "\x01"; v = value(name, "\x01")) out.push_back(v);
    return out;
  }

 private:
  std::vector<std::string> args_;
};

repnas::FusionFault parseFault(const std::string& name) {
  for (auto f : {repnas::FusionFault::None, repnas::FusionFault::ZeroPadding,
                 repnas::FusionFault::AsymmetricWrongAxis, repnas::FusionFault::PerturbedKernel,
                 repnas::FusionFault::TrainModeReference})
    if (repnas::faultName(f) == name) return f;
  throw UsageError("unknown fault '" + name +
                      "' (expected zero-padding, asymmetric-wrong-axis, perturbed-kernel or "
                      "train-mode-reference)");
}

std::atomic<int> g_interrupts{0};

extern "C" void onInterrupt(int) {
  if (g_interrupts.fetch_add(1) >= 1) std::_Exit(130);
}

/// Runs `config` in `out` (a new run, or resumed) with the event log, the progress bar and
/// Ctrl+C handling; the exit status of repnas search.
int runEngine(const repnas::RunConfig& config, const std::string& out, bool resume, bool quiet,
              const char* command, const std::vector<std::string>& resume_changes = {});

int search(Args& args) {
  const std::string out = args.value("--out", "");
  const std::string config_file = args.value("--config", "");
  const auto overrides = args.values("--set");
  const bool resume = args.flag("--resume");
  const bool override_saved = args.flag("--override");
  const bool quiet = args.flag("--quiet");
  args.expectEmpty();
  if (out.empty()) throw UsageError("--out DIR is required");

  repnas::RunConfig config;
  std::vector<std::string> resume_changes;
  if (resume) {
    if (!config_file.empty()) throw UsageError("--resume uses the run's saved config; drop --config");
    std::vector<std::string> threads;
    for (const auto& kv : overrides) {
      const std::string key = kv.substr(0, kv.find('='));
      const auto& changeable = repnas::resumeChangeableKeys();
      if (key == "threads") {
        threads.push_back(kv);
      } else if (std::find(changeable.begin(), changeable.end(), key) != changeable.end()) {
        if (!override_saved)
          throw UsageError("--resume uses the run's saved config; only --set threads=N may change "
                           "(and lr, epochs or fixed_epochs with --override)");
        resume_changes.push_back(kv);
      } else {
        throw UsageError("--resume uses the run's saved config; only --set threads=N may change "
                         "(and lr, epochs or fixed_epochs with --override), not '" + key + "'");
      }
    }
    repnas::applyConfigOverrides(config, threads);
  } else {
    if (override_saved) throw UsageError("--override goes with --resume");
    if (!config_file.empty()) config = repnas::loadConfigFile(config_file);
    repnas::applyConfigOverrides(config, overrides);
  }
  if (!resume && repnas::RunFolder(out).hasCheckpoint())
    throw UsageError(out + " already holds a run (checkpoint.pt); use --resume to continue it "
                     "or choose another --out");
  return runEngine(config, out, resume, quiet, "search", resume_changes);
}


int retrain(Args& args) {
  const std::string out = args.value("--out", "");
  const auto overrides = args.values("--set");
  const bool quiet = args.flag("--quiet");
  const std::string run_dir = args.positional();
  args.expectEmpty();
  if (run_dir.empty()) throw UsageError("retrain needs a RUN_DIR");
  if (out.empty()) throw UsageError("--out DIR is required");
  if (repnas::RunFolder(out).hasCheckpoint())
    throw UsageError(out + " already holds a run (checkpoint.pt); resume it with repnas search "
                        "--out " + out + " --resume, or choose another --out");
  repnas::RunConfig config;
  try {
    config = repnas::retrainConfig(run_dir);
  } catch (const std::exception& e) {  // a problem of the folder's files, not of the usage
    std::fprintf(stderr, "repnas retrain: error: %s\n", e.what());
    return 1;
  }
  repnas::applyConfigOverrides(config, overrides);
  return runEngine(config, out, /*resume=*/false, quiet, "retrain");
}

int runEngine(const repnas::RunConfig& config, const std::string& out, bool resume, bool quiet,
              const char* command, const std::vector<std::string>& resume_changes) {
  repnas::Engine engine(config, out, resume, resume_changes);
  std::filesystem::create_directories(out);
  // A search measures its branches' training costs when this machine has no table for its
  // backbone, batch and threads yet (the units of cost budgets): say so, it takes a while.
  const auto& c = engine.config();
  if (!quiet && !resume && c.isSearch() && (c.dataset == "fashion-mnist" || c.dataset == "mnist" || c.dataset == "cifar10")) {
    const bool cifar = c.dataset == "cifar10";
    repnas::CostRequest request;
    request.backbone = repnas::backboneFor(c, cifar ? 3 : 1, cifar ? 32 : 28, cifar ? 32 : 28, 10);
    request.batch = c.batch_size;
    request.threads = c.threads;
    const auto cache = repnas::defaultCostCachePath(request);
    if (!std::filesystem::exists(cache))
      std::fprintf(stderr, "measuring what each branch costs to train on this machine first (once; cached in %s)\n",
                   cache.c_str());
  }
  // A new run starts its log anew (a failed earlier attempt may have left one); a resumed run
  // appends to it.
  repnas::EventLogWriter log(repnas::RunFolder(out).events(),
                             /*append=*/resume);
  engine.addObserver(&log);
  repnas::cli::ConsoleProgress progress(stderr);
  if (!quiet) engine.addObserver(&progress);

  // Ctrl+C: stop cleanly (checkpoint), from a watcher thread (posting is not signal-safe).
  std::signal(SIGINT, onInterrupt);
  std::signal(SIGTERM, onInterrupt);
  std::atomic<bool> done{false};
  std::thread watcher([&]() {
    bool posted = false;
    while (!done.load()) {
      if (!posted && g_interrupts.load() > 0) {
        engine.post(repnas::Command::stop());
        posted = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  struct JoinOnExit {  // also when run() throws: a joinable thread must not be destroyed
    std::atomic<bool>& done;
    std::thread& thread;
    ~JoinOnExit() {
      done = true;
      if (thread.joinable()) thread.join();
    }
  } join_on_exit{done, watcher};
  const auto result = engine.run();
  done = true;
  watcher.join();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (result.status == "failed") {
    std::fprintf(stderr, "repnas %s: error: %s\n", command, result.message.c_str());
    return 1;
  }
  if (quiet) std::printf("%s: %s\n", result.status.c_str(), result.message.c_str());
  return result.status == "completed" ? 0 : 3;
}

// --- repnas compare ---------------------------------------------------------------------------

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

/// The comparison's request from the command line; without any request option, the one saved in
/// `out` (a resumed comparison). A strategy's alias (repnas) is read as its name.
/// "A,B,C" → numbers > 0 (and < `below` when given); a usage error names the option.
std::vector<double> positiveNumbers(const std::string& option, const std::string& list, const std::string& what,
                                    double below = std::numeric_limits<double>::infinity()) {
  std::vector<double> numbers;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    try {
      size_t used = 0;
      const double v = std::stod(item, &used);
      if (used != item.size() || !(v > 0) || !(v < below) || !std::isfinite(v)) throw std::invalid_argument(item);
      numbers.push_back(v);
    } catch (const std::exception&) {
      throw UsageError(option + " expects " + what + " separated by commas, got '" + item + "'");
    }
  }
  if (!list.empty() && numbers.empty()) throw UsageError(option + " expects " + what + " separated by commas");
  return numbers;
}

repnas::ComparisonRequest comparisonRequest(Args& args, const std::string& out, bool* given) {
  repnas::ComparisonRequest r;
  const std::string strategies = args.value("--strategies", "\x01");
  const std::string seeds = args.value("--seeds", "\x01");
  const int random = args.intValue("--random", -1);
  const std::string baselines = args.value("--baselines", "\x01");
  auto overrides = args.values("--set");
  const std::string wall = args.value("--budget-wall", "");
  if (!wall.empty()) {
    // Equal search wall time: every search's steps before its fix take at most S seconds.
    const auto seconds = positiveNumbers("--budget-wall", wall, "seconds > 0");
    if (seconds.size() != 1) throw UsageError("--budget-wall expects one number of seconds, got '" + wall + "'");
    overrides.push_back("search_seconds=" + wall);
  }
  const auto hant_options = args.values("--hant-set");
  *given = strategies != "\x01" || seeds != "\x01" || random >= 0 || baselines != "\x01" || !overrides.empty() ||
           !hant_options.empty();
  if (!*given && std::filesystem::exists(std::filesystem::path(out) / repnas::kComparisonFile))
    return repnas::loadComparison(out);
  if (strategies != "\x01") {
    r.strategies.clear();
    for (const auto& s : splitList(strategies)) {
      if (s == "hant") {  // not a branch search: each seed's plain baseline transformed
        r.hant = repnas::ComparisonHant{};
        continue;
      }
      const auto* info = repnas::findStrategy(s);
      r.strategies.push_back(info ? info->name : s);
    }
  }
  if (!hant_options.empty() && !r.hant) throw UsageError("--hant-set needs hant among --strategies");
  for (const auto& kv : hant_options) {
    try {
      repnas::setComparisonHantOption(*r.hant, kv);
    } catch (const repnas::Error& e) {
      throw UsageError(e.what());
    }
  }
  if (seeds != "\x01") {
    r.seeds.clear();
    for (const auto& s : splitList(seeds)) {
      size_t used = 0;
      unsigned long long v = 0;
      try {
        v = std::stoull(s, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != s.size() || s[0] == '-') throw UsageError("--seeds expects integers like 1,2,3, got '" + s + "'");
      r.seeds.push_back(v);
    }
  }
  if (random >= 0) r.random_masks = random;
  if (baselines != "\x01") r.baselines = splitList(baselines);
  r.overrides = overrides;
  try {
    repnas::validateComparison(r);
  } catch (const repnas::ConfigError&) {
    throw;
  } catch (const repnas::Error& e) {
    throw UsageError(e.what());
  }
  return r;
}

std::atomic<bool> g_compare_interrupted{false};
extern "C" void onCompareInterrupt(int) { g_compare_interrupted = true; }

/// A trial's log file in the comparison folder (logs/protocol-seed1_gdas.log).
std::string trialLogPath(const std::string& out, const std::string& trial_dir) {
  std::string name = trial_dir;
  std::replace(name.begin(), name.end(), '/', '_');
  return (std::filesystem::path(out) / "logs" / (name + ".log")).string();
}

/// Starts `repnas compare --out OUT --trial DIR` as a child process writing to its log; it dies
/// with this process (a killed comparison leaves no trial running that a resumed one would race).
pid_t startTrialProcess(const std::string& self, const std::string& out, const std::string& trial_dir) {
  const auto log = trialLogPath(out, trial_dir);
  std::filesystem::create_directories(std::filesystem::path(log).parent_path());
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw repnas::Error(std::string("cannot start a trial process: ") + std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    std::signal(SIGINT, SIG_DFL);
    execl(self.c_str(), self.c_str(), "compare", "--out", out.c_str(), "--trial", trial_dir.c_str(), "--quiet",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

/// The table, printed and written beside the trials (comparison-table.json and .csv).
void writeComparisonTable(const repnas::ComparisonRequest& request, const std::string& out) {
  // The found networks' training cost per step: the cost table this machine measured for the
  // backbone (a search measures it on its first run), when there is one.
  repnas::RunConfig base;
  repnas::applyConfigOverrides(base, request.overrides);
  std::optional<repnas::BranchCostTable> costs;
  if (const auto measured = repnas::cachedTrainingCostsFor(base)) costs = repnas::trainingCostTable(*measured);
  const auto table = repnas::comparisonTable(request, out, costs ? &*costs : nullptr);
  std::printf("\n%s", repnas::comparisonTableText(table).c_str());
  const auto written = repnas::saveComparisonTable(table, request, out);
  std::printf("wrote %s and %s\n", written[0].c_str(), written[1].c_str());
}

int compareCommand(Args& args) {
  const std::string out = args.value("--out", "");
  const std::string trial = args.value("--trial", "");
  const int jobs = args.intValue("--jobs", 1);
  const bool print_commands = args.flag("--print-commands");
  const bool table_only = args.flag("--table");
  const bool quiet = args.flag("--quiet");
  if (out.empty()) throw UsageError("--out DIR is required");
  bool given = false;
  if (!trial.empty()) {
    // One trial, in this process: what the comparison (or an external launcher) starts.
    args.expectEmpty();
    const auto request = repnas::loadComparison(out);
    const auto t = [&] {
      try {
        return repnas::comparisonTrial(request, trial);
      } catch (const repnas::Error& e) {
        throw UsageError(e.what());
      }
    }();
    const auto o = repnas::runComparisonTrial(request, t, out, quiet);
    std::printf("%s: %s, test %.2f%%, %d branches, %.0f s\n", t.dir.c_str(), o.status.c_str(),
                100 * o.test_accuracy, o.branches, o.seconds);
    return 0;
  }
  auto request = comparisonRequest(args, out, &given);
  args.expectEmpty();
  if (jobs < 1 || jobs > 64) throw UsageError("--jobs must be between 1 and 64");
  repnas::saveComparison(request, out);
  const auto trials = repnas::comparisonTrials(request);
  const std::string self = std::filesystem::canonical("/proc/self/exe").string();

  auto finished = [&](size_t i) { return repnas::finishedComparisonTrial(request, trials[i], out).has_value(); };
  if (table_only) {
    // What has finished so far (a comparison may be running elsewhere): nothing is started.
    writeComparisonTable(request, out);
    return 0;
  }
  if (print_commands) {
    // Two stages: everything but the retrainings (independent of each other), then the
    // retrainings (each after its search); then the table.
    for (int stage = 0; stage < 2; ++stage) {
      std::printf("# stage %d: %s\n", stage + 1,
                  stage == 0 ? "the searches, random masks and baselines (independent; any order, in parallel)"
                             : "the retrainings and HANT (each after its stage-1 run: the search, the plain baseline)");
      for (size_t i = 0; i < trials.size(); ++i)
        if (trials[i].after.empty() == (stage == 0))
          std::printf("%s compare --out %s --trial %s --quiet%s\n", self.c_str(), out.c_str(), trials[i].dir.c_str(),
                      finished(i) ? "  # finished: reused" : "");
    }
    std::printf("# then the table\n%s compare --out %s\n", self.c_str(), out.c_str());
    return 0;
  }

  // The scheduler: up to `jobs` trials at once, each a process; a retraining starts once its
  // search has finished. Finished trials are reused; an interrupted one resumes.
  std::printf("comparison in %s: %zu strategies x %zu seeds, %zu trials, %d at a time\n", out.c_str(),
              request.strategies.size(), request.seeds.size(), trials.size(), jobs);
  std::fflush(stdout);
  struct sigaction sa {};
  sa.sa_handler = onCompareInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  enum class State { Pending, Running, Done, Failed };
  std::vector<State> state(trials.size(), State::Pending);
  std::map<pid_t, size_t> running;
  std::vector<std::string> failures;
  auto indexOf = [&](const std::string& dir) {
    for (size_t i = 0; i < trials.size(); ++i)
      if (trials[i].dir == dir) return i;
    return trials.size();
  };
  int done = 0;
  for (size_t i = 0; i < trials.size(); ++i)
    if (finished(i)) state[i] = State::Done, ++done;
  if (done > 0) std::printf("%d trials finished earlier, reused\n", done);
  const auto t0 = std::chrono::steady_clock::now();
  while (!g_compare_interrupted) {
    for (size_t i = 0; i < trials.size() && static_cast<int>(running.size()) < jobs; ++i) {
      if (state[i] != State::Pending) continue;
      if (!trials[i].after.empty() && state[indexOf(trials[i].after)] != State::Done) continue;
      const pid_t pid = startTrialProcess(self, out, trials[i].dir);
      running[pid] = i;
      state[i] = State::Running;
      std::printf("[%d/%zu] started %s\n", done, trials.size(), trials[i].dir.c_str());
      std::fflush(stdout);
    }
    if (running.empty()) break;
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) continue;  // EINTR: an interrupt; the loop ends and the children are waited for
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const size_t i = it->second;
    running.erase(it);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && finished(i);
    state[i] = ok ? State::Done : State::Failed;
    const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 60;
    if (ok) {
      ++done;
      std::printf("[%d/%zu] finished %s (%.1f min in)\n", done, trials.size(), trials[i].dir.c_str(), minutes);
    } else {
      failures.push_back(trials[i].dir);
      std::printf("[%d/%zu] FAILED %s (see %s)\n", done, trials.size(), trials[i].dir.c_str(),
                  trialLogPath(out, trials[i].dir).c_str());
    }
    std::fflush(stdout);
  }
  if (g_compare_interrupted) {
    // The children had the interrupt too (one process group) and stop; wait for them.
    for (auto& [pid, i] : running) waitpid(pid, nullptr, 0);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    std::fprintf(stderr, "repnas compare: interrupted; run the same command again to resume\n");
    return 130;
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  writeComparisonTable(request, out);
  if (!failures.empty()) {
    std::fprintf(stderr, "repnas compare: error: %zu trial%s failed: %s (logs in %s/logs)\n", failures.size(),
                 failures.size() == 1 ? "" : "s", failures.front().c_str(), out.c_str());
    return 1;
  }
  return 0;
}

int exportCommand(Args& args) {
  repnas::ExportRequest request;
  request.onnx_path = args.value("--onnx", "");
  request.torchscript_path = args.value("--torchscript", "");
  request.spec_path = args.value("--spec", "");
  request.force = args.flag("--force");
  request.verify_images = args.intValue("--verify-images", 0);
  request.data_dir = args.value("--data", "");
  request.threads = args.intValue("--threads", 0);
  request.run_dir = args.positional();
  args.expectEmpty();
  if (request.run_dir.empty()) throw UsageError("export needs a RUN_DIR");
  if (request.onnx_path.empty() && request.torchscript_path.empty() && request.spec_path.empty())
    throw UsageError("nothing to export: give --onnx, --torchscript and/or --spec");
  // Ctrl+C (or SIGTERM) cancels between the export's stages; nothing is written then.
  std::signal(SIGINT, onInterrupt);
  std::signal(SIGTERM, onInterrupt);
  request.cancelled = [] { return g_interrupts.load() > 0; };
  const auto result = repnas::exportRun(request);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (result.cancelled) {
    std::fprintf(stderr, "repnas export: %s\n", result.message.c_str());
    return 3;
  }
  std::printf("%s\n", result.report.summary().c_str());
  for (const auto& note : result.report.notes) std::printf("note: %s\n", note.c_str());
  if (!result.exported) {
    std::fprintf(stderr, "repnas export: %s\n", result.message.c_str());
    return 1;
  }
  for (const auto& f : result.written) std::printf("wrote %s\n", f.c_str());
  return 0;
}

int evaluateCommand(Args& args) {
  repnas::DatasetSpec data;
  data.name = args.value("--dataset", "");
  data.dir = args.value("--data", "");
  if (data.name.empty()) data.name = data.dir.empty() ? "fashion-mnist" : "idx";
  const int limit = args.intValue("--limit", 0);
  const int threads = args.intValue("--threads", 0);
  const std::string file = args.positional();
  args.expectEmpty();
  if (file.empty()) throw UsageError("evaluate needs a FILE");
  const auto e = repnas::evaluateExport(file, data, limit, threads);
  std::printf("%s (%s): test accuracy %.2f%% on %lld images\n", file.c_str(), e.format.c_str(),
              100 * e.accuracy, static_cast<long long>(e.images));
  return 0;
}

int hantCommand(Args& args) {
  repnas::HantOptions o;
  o.latency_budget_ms = args.doubleValue("--latency-budget-ms", 0);
  o.speedup = args.doubleValue("--speedup", 0);
  o.latency_batch = args.intValue("--batch", 1);
  o.throughput_batch = args.intValue("--throughput-batch", 64);
  o.distill_steps = args.intValue("--distill-steps", o.distill_steps);
  o.finetune_steps = args.intValue("--finetune-steps", o.finetune_steps);
  o.latency_repeats = args.intValue("--repeats", o.latency_repeats);
  o.fit_students = args.intValue("--fit-students", o.fit_students);
  o.fit_faster_share = args.doubleValue("--fit-faster-share", o.fit_faster_share);
  o.threads = args.intValue("--threads", 1);
  o.out_dir = args.value("--out", "");
  const std::string sweep = args.value("--sweep", "");
  const std::string finetune_lrs = args.value("--finetune-lr", "");
  const bool quiet = args.flag("--quiet");
  o.run_dir = args.positional();
  args.expectEmpty();
  if (o.run_dir.empty()) throw UsageError("hant needs RUN_DIR (a finished run: the teacher)");
  if (o.out_dir.empty()) throw UsageError("hant needs --out DIR");
  if (o.latency_budget_ms < 0 || o.speedup < 0) throw UsageError("--latency-budget-ms and --speedup must be > 0");
  if (o.latency_budget_ms > 0 && o.speedup > 0) throw UsageError("give --latency-budget-ms or --speedup, not both");
  o.sweep = positiveNumbers("--sweep", sweep, "speed-ups > 0");
  if (!finetune_lrs.empty()) o.finetune_lrs = positiveNumbers("--finetune-lr", finetune_lrs, "learning rates > 0 and < 1", 1);
  if (o.latency_budget_ms == 0 && o.speedup == 0 && o.sweep.empty())
    throw UsageError("give --latency-budget-ms X, --speedup S or --sweep S1,S2,...");
  if (o.threads < 1 || o.threads > 64) throw UsageError("--threads must be between 1 and 64");
  if (o.fit_students < 0 || o.fit_students > 100000) throw UsageError("--fit-students must be between 0 and 100000");
  if (o.fit_faster_share < 0 || o.fit_faster_share > 1) throw UsageError("--fit-faster-share must be between 0 and 1");
  std::string last_stage;
  int last_percent = -1;
  const auto r = repnas::runHant(o, [&](const std::string& stage, double f) {
    if (quiet) return;
    const int percent = static_cast<int>(100 * f);
    if (stage == last_stage && percent / 5 == last_percent / 5) return;  // every 5%
    if (stage != last_stage && !last_stage.empty()) std::fprintf(stderr, "\n");
    last_stage = stage;
    last_percent = percent;
    std::fprintf(stderr, "\r%-40s %3d%%", stage.c_str(), percent);
    std::fflush(stderr);
  });
  if (!quiet) std::fprintf(stderr, "\n");
  std::printf("teacher %s: %.3f ms at batch %d (%.2f ms at %d), validation %.2f%%, test %.2f%%\n"
              "each cell: the latency change (ms) and the validation loss change when only that layer takes the operation\n",
              o.run_dir.c_str(), r.teacher_ms, o.latency_batch, r.teacher_throughput_ms, o.throughput_batch,
              100 * r.teacher_val, 100 * r.teacher_test);
  if (r.fit_cv_error >= 0)
    std::printf("the latency model: fitted to %zu measured students (%d random), cross-validated error %.1f%%, ridge %g;"
                " each budget solved %.1f%% under it\n",
                r.samples.size(), o.fit_students, 100 * r.fit_cv_error, r.fit_ridge, 100 * r.margin);
  else
    std::printf("the latency model: the single-swap deltas (fewer than 5 students measured)\n");
  std::printf("%-6s", "layer");
  for (int op = 0; op < repnas::kNumHantOps; ++op)
    std::printf(" %16s", repnas::hantOpName(static_cast<repnas::HantOp>(op)).c_str());
  std::printf("\n%-6s", "");
  for (int op = 0; op < repnas::kNumHantOps; ++op) std::printf(" %16s", "Δms / Δloss");
  std::printf("\n");
  for (size_t l = 0; l < r.layers.size(); ++l) {
    std::printf("%-6zu", l);
    for (const auto& c : r.layers[l]) {
      if (!c.available) std::printf(" %16s", "-");
      else std::printf(" %+7.3f %+8.4f", c.latency_ms, c.score);
    }
    std::printf("\n");
  }
  auto choiceText = [](const std::vector<repnas::HantOp>& choice) {
    std::string t;
    for (size_t l = 0; l < choice.size(); ++l) t += (l ? " " : "") + repnas::hantOpName(choice[l]);
    return t;
  };
  if (!r.sweep.empty()) {
    std::printf("\nspeed-up curve (distilled, not fine-tuned; speed-ups: the teacher over the student, "
                "predicted and measured interleaved with it; 'measured' in the latency table's time):\n"
                "%-10s %10s %10s %10s %10s %8s %8s  %s\n",
                "budget ms", "predicted", "measured", "predicted", "measured", "budget", "val %", "choice");
    auto row = [&](const repnas::HantPoint& p, bool budget) {
      std::printf("%-10s %10.3f %10.3f %9.2fx %9.2fx %8s %8.2f  %s\n",
                  budget ? std::to_string(p.budget_ms).substr(0, 6).c_str() : "", p.predicted_ms, p.normalized_ms,
                  r.teacher_ms / p.predicted_ms, p.teacher_measured_ms / p.measured_ms,
                  !budget ? "" : p.meets_budget ? "met" : "OVER", 100 * p.val_accuracy, choiceText(p.choice).c_str());
    };
    for (const auto& p : r.sweep) row(p, true);
    std::printf("every layer the same operation:\n");
    for (const auto& p : r.uniform) row(p, false);
  }
  char kept_lr[48] = "";
  if (r.student_best_step > 0) std::snprintf(kept_lr, sizeof kept_lr, " at learning rate %g", r.student_best_lr);
  if (!r.chosen.choice.empty())
    std::printf("\nbudget %.3f ms: %s\npredicted %.3f ms; measured %.3f ms beside the teacher's %.3f "
                "(%.2fx faster; %.3f ms in the latency table's time: %s, after %d solve%s); CBC %.3f s%s; "
                "validation %.2f%% (%.2f%% before fine-tuning; the state kept: step %d of %d%s), test %.2f%%\n",
                r.budget_ms, choiceText(r.chosen.choice).c_str(), r.chosen.predicted_ms, r.chosen.measured_ms,
                r.chosen.teacher_measured_ms, r.chosen.teacher_measured_ms / r.chosen.measured_ms,
                r.chosen.normalized_ms, r.chosen.meets_budget ? "under the budget" : "OVER the budget",
                r.chosen.iterations, r.chosen.iterations == 1 ? "" : "s", r.chosen.solve_seconds,
                r.chosen.optimal ? ", optimal" : "",
                100 * r.student_val, 100 * r.student_val_before, r.student_best_step, o.finetune_steps,
                kept_lr,
                100 * r.student_test);
  if (!r.chosen.choice.empty())
    std::printf("the student's export reproduces it: %lld validation images, max abs error %.3e (tolerance %.3e)\n",
                static_cast<long long>(r.export_check.images), r.export_check.max_abs_err, r.export_check.tolerance);
  std::string files;
  for (const auto& f : r.exported) files += ", " + std::filesystem::path(f).filename().string();
  std::printf("wrote %s/hant.json%s (%.0f s)\n", o.out_dir.c_str(), files.c_str(), r.seconds);
  return 0;
}

int costsCommand(Args& args) {
  const std::string backbone = args.value("--backbone", "tiny");
  const std::string dataset = args.value("--dataset", "fashion-mnist");
  repnas::CostRequest request;
  request.batch = args.intValue("--batch", 128);
  request.threads = args.intValue("--threads", 0);
  request.repeats = args.intValue("--repeats", 7);
  const std::string out = args.value("--out", "");
  const bool remeasure = args.flag("--remeasure");
  const bool json = args.flag("--json");
  args.expectEmpty();
  // The input shape of the data set (its files are not read).
  int channels = 1, side = 28, classes = 10;
  if (dataset == "cifar10") channels = 3, side = 32;
  else if (dataset != "fashion-mnist" && dataset != "mnist")
    throw UsageError("--dataset must be fashion-mnist, mnist or cifar10 (got '" + dataset + "')");
  const auto presets = repnas::backbonePresets();
  if (std::find(presets.begin(), presets.end(), backbone) == presets.end())
    throw UsageError("--backbone: no preset '" + backbone + "'");
  if (request.batch < 1 || request.batch > 4096) throw UsageError("--batch must be between 1 and 4096");
  if (request.repeats < 1 || request.repeats > 1000) throw UsageError("--repeats must be between 1 and 1000");
  request.backbone = repnas::makeBackbone(backbone, channels, side, side, classes);
  const auto cache = repnas::defaultCostCachePath(request);
  bool measured = false;
  if (!json) std::fprintf(stderr, "measuring or reading %s ...\n", cache.c_str());
  const auto costs = repnas::cachedTrainingCosts(request, cache, remeasure, &measured);
  if (!out.empty()) repnas::writeTrainingCosts(costs, out);
  if (json) {
    std::fputs(repnas::trainingCostsToJson(costs).c_str(), stdout);
    return 0;
  }
  std::printf("%s on %s, batch %d, %d threads, LibTorch %s: %s (%d repeats, %.1f s)\n",
              costs.backbone.c_str(), costs.cpu.c_str(), costs.batch, costs.threads,
              costs.torch_version.c_str(), measured ? "measured now" : "from the cache",
              costs.repeats, costs.seconds);
  std::printf("forward + backward ms per step (median), and MiB kept for the backward\n%-6s", "layer");
  for (repnas::BranchKind k : repnas::kAllBranchKinds) std::printf(" %16s", std::string(repnas::branchName(k)).c_str());
  std::printf(" %16s\n", "identity");
  auto cell = [](const repnas::BranchCost& c) {
    if (!c.present) return std::printf(" %16s", "-");
    return std::printf(" %8.2f %6.1fM", c.ms, c.mb);
  };
  for (size_t l = 0; l < costs.branches.size(); ++l) {
    std::printf("%-6zu", l);
    for (const auto& c : costs.branches[l]) cell(c);
    cell(costs.identity[l]);
    std::printf("\n");
  }
  if (costs.base.present) {
    double predicted = costs.base.ms;
    for (size_t l = 0; l < costs.branches.size(); ++l)
      for (const auto& c : costs.branches[l]) predicted += c.present ? c.ms : 0.0;
    std::printf("base of a step (stem, head, identity, loss, update): %.2f ms, %.1f MiB\n", costs.base.ms,
                costs.base.mb);
    std::printf("a step with every branch: measured %.2f ms, base + branches predict %.2f ms (%+.1f%%)\n",
                costs.all_branches.ms, predicted, 100.0 * (predicted / costs.all_branches.ms - 1));
  }
  std::printf("cache: %s%s%s\n", cache.c_str(), out.empty() ? "" : "; written to ", out.c_str());
  return 0;
}

int verifyFusion(Args& args) {
  const bool json = args.flag("--json");
  const int threads = args.intValue("--threads", 0);
  const auto fault = parseFault(args.value("--fault", "none"));
  args.expectEmpty();
  repnas::setComputeThreads(threads);

  auto cases = repnas::standardFusionCases();
  nlohmann::json rows = nlohmann::json::array();
  int failed = 0;
  if (!json)
    std::printf("%-44s %12s %12s  %s\n", "case", "max_abs_err", "rel_err", "result");
  for (auto& c : cases) {
    c.fault = fault;
    const auto r = repnas::runFusionCase(c);
    failed += r.pass ? 0 : 1;
    if (json) {
      rows.push_back({{"name", r.name}, {"max_abs_err", r.max_abs_err}, {"rel_err", r.rel_err},
                      {"pass", r.pass}});
    } else {
      std::printf("%-44s %12.3e %12.3e  %s\n", r.name.c_str(), r.max_abs_err, r.rel_err,
                  r.pass ? "pass" : "FAIL");
    }
  }
  if (json) {
    std::cout << rows.dump(2) << std::endl;
  } else {
    std::printf("\n%zu cases, %zu passed, %d failed\n", cases.size(), cases.size() - failed,
                failed);
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  repnas::reuseFreedMemory();  // before any thread starts (see runtime.h)
  // A file-size limit (ulimit -f) makes a write fail with EFBIG, reported like a full disk,
  // instead of killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
  if (argc < 2) {
    repnas::cli::printUsage(stderr);
    return 2;
  }
  std::string command = argv[1];
  if (command == "--version") command = "version";
  if (command == "--help" || command == "-h") command = "help";
  Args args(std::vector<std::string>(argv + 2, argv + argc));
  // COMMAND --help (or -h) prints that command's help, whatever else is on the line.
  if (args.flag("--help") || args.flag("-h")) {
    if (repnas::cli::printCommandHelp(command, stdout)) return 0;
  }
  const std::map<std::string, std::function<int(Args&)>> commands = {
      {"verify-fusion", verifyFusion},
      {"search", search},
      {"retrain", retrain},
      {"export", exportCommand},
      {"evaluate", evaluateCommand},
      {"costs", costsCommand},
      {"hant", hantCommand},
      {"compare", compareCommand},
      {"version",
       [](Args& a) {
         a.expectEmpty();
         std::printf("repnas %s (LibTorch %s)\n", repnas::version().c_str(),
                     repnas::torchVersion().c_str());
         return 0;
       }},
      {"help",
       [](Args& a) {
         const std::string topic = a.positional();
         a.expectEmpty();
         if (topic.empty()) {
           repnas::cli::printUsage(stdout);
           return 0;
         }
         if (repnas::cli::printCommandHelp(topic, stdout)) return 0;
         throw UsageError("no command '" + topic + "' (see repnas --help)");
       }},
      {"man",
       [](Args& a) {
         a.expectEmpty();
         std::fputs(repnas::cli::manPage().c_str(), stdout);
         return 0;
       }},
  };
  const auto it = commands.find(command);
  if (it == commands.end()) {
    std::fprintf(stderr, "repnas: unknown command '%s'\n\n", command.c_str());
    repnas::cli::printUsage(stderr);
    return 2;
  }
  try {
    return it->second(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "repnas %s: error: %s\n", command.c_str(), e.what());
    return 2;
  } catch (const repnas::ConfigError& e) {
    std::fprintf(stderr, "repnas %s: error: %s\n", command.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {  // a file, the disk, the data: the command failed
    std::fprintf(stderr, "repnas %s: error: %s\n", command.c_str(), e.what());
    return 1;
  }
}
