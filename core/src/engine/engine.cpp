#include "repnas/engine.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <optional>
#include <type_traits>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data.h"
#include "formats/input_file.h"
#include "nn/network.h"
#include "repnas/backbone.h"
#include "repnas/command_journal.h"
#include "repnas/costs.h"
#include "repnas/run_folder.h"
#include "repnas/runtime.h"
#include "formats/run_archive_meta.h"
#include "formats/run_files.h"
#include "search/cost_selection.h"
#include "search/strategy.h"

namespace repnas {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- engine

namespace {

/// A run that must end now, with this status and message.
struct RunAbort {
  std::string status;
  std::string message;
};

double cosine(double start, double progress) {
  return start * 0.5 * (1 + std::cos(M_PI * std::clamp(progress, 0.0, 1.0)));
}

}  // namespace

struct Engine::Impl {
  RunConfig config;
  std::string run_dir;
  RunFolder files{""};
  bool resume = false;
  std::vector<std::string> resume_changes;   // "lr: 0.1 -> 0.05"
  std::vector<Observer*> observers;

  // Commands, posted from any thread.
  std::mutex command_mutex;
  std::condition_variable command_cv;
  std::deque<std::pair<int64_t, Command>> commands;
  int64_t next_command_id = 1;
  std::atomic<bool> stop_posted{false};  // set by post(stop) at once: honoured in any phase

  // Run state.
  BackboneSpec backbone;
  data::LoadedDataset dataset;
  data::ImageSet train_set, val_set, test_set;
  data::Normalization norm;
  Network net{nullptr};
  std::unique_ptr<Strategy> strategy;
  std::vector<PhaseSpan> plan;  // the strategy's phases
  std::unique_ptr<torch::optim::SGD> sgd;
  std::unique_ptr<WeightTrainer> trainer;
  Budget budget;
  // What each (layer, branch) costs to train here (the run's costs.json): measured once per
  // machine and backbone for a run that chooses branches, the units of its cost limits.
  std::shared_ptr<const BranchCostTable> costs;
  CommandJournal journal;  // the budget edits, for undo (saved in the checkpoint)
  std::vector<BranchMask> fixed_masks;  // the fixed architecture (from the start, or the fix)
  bool fixed = false;
  // Step time before the fix, and its part in the search phase (search_seconds; checkpointed).
  double seconds_before_fix = 0, search_phase_seconds = 0;
  int64_t step = 0;  // steps completed
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
  EpochTotals epoch_totals;
  bool paused = false;
  bool stop_requested = false;
  int64_t last_checkpoint_step = -1;
  std::vector<double> initial_kernel_norms;  // of batchNormFedKernels(), for the norm reset

  // The first exception an observer threw (e.g. the event log on a full disk). The observer
  // gets no more events but the last, the others still get every one, and the run ends failed
  // at the next step gate with this message: an observer can neither kill the run nor starve
  // the rest.
  std::optional<std::string> observer_error;
  std::vector<const Observer*> failed_observers;

  template <typename E>
  void emit(const E& e) {
    const Event event(e);
    // The end of the run goes to every observer, a failed one too: a full disk often has room
    // again once the failed write's temporary file is gone, and a monitor then sees the end.
    constexpr bool last_event = std::is_same_v<E, RunFinished>;
    for (auto* o : observers) {
      if (!last_event &&
          std::find(failed_observers.begin(), failed_observers.end(), o) != failed_observers.end())
        continue;
      try {
        dispatchEvent(event, *o);
      } catch (const std::exception& ex) {
        failed_observers.push_back(o);
        if (!observer_error) observer_error = ex.what();
      } catch (...) {
        failed_observers.push_back(o);
        if (!observer_error) observer_error = "an observer of the run failed";
      }
    }
  }

  void checkObservers() const {
    if (observer_error) throw RunAbort{"failed", *observer_error};
  }

  Phase phaseOf(int epoch) const { return phaseOfEpoch(plan, epoch); }
  /// The phase `epoch` is in as the run goes: the plan's, but Fixed for the search epochs
  /// left after search_seconds fixed the architecture early.
  Phase shownPhase(int epoch) const {
    const Phase p = phaseOf(epoch);
    return fixed && !architectureFixedIn(p) ? Phase::Fixed : p;
  }

  // ------------------------------------------------------------ setup

  void prepare() {
    reuseFreedMemory();
    // The data first: a missing or bad data set is reported before any thread pool starts.
    DatasetSpec ds{config.dataset, config.data_dir};
    dataset = data::loadDataset(ds);
    setComputeThreads(config.threads);
    stopIfAsked("while loading the data");
    if (const auto problems = config.dataProblems(dataset.train.size()); !problems.empty())
      throw ConfigError("config key '" + problems.front().key + "': " + problems.front().message);
    auto train = data::takeFirst(dataset.train, config.train_limit);
    config.val_split = config.resolvedValSplit(dataset.train.size());
    if (config.val_split > 0) {
      auto [tr, val] = data::splitValidation(train, config.val_split, config.seed);
      train_set = tr;
      val_set = val;
    } else {
      train_set = train;
    }
    test_set = data::takeFirst(dataset.test, config.test_limit);
    norm = data::computeNormalization(train_set.images);

    data::BatchSampler sampler(train_set.size(), config.batch_size, config.seed);
    steps_per_epoch = sampler.batchesPerEpoch();
    // What config.json records: the schedule and α's learning rate as this run uses them.
    config = config.resolved(steps_per_epoch);
    total_steps = steps_per_epoch * config.totalEpochs();

    const auto input = dataset.info;
    if (config.mask.kind == MaskSetting::Kind::Random) {
      // Drawn once and recorded as the given mask, so that a resumed run trains the same one.
      const auto all = backboneFor(config, input.channels, input.height, input.width,
                                   input.num_classes);
      Budget b = searchBudget(config, all);
      if (b.costLimited()) b.costs = runCosts(all);
      config.mask = {MaskSetting::Kind::Given, randomBranches(b, config.seed)};
      config.mask_source = "random: uniform over the masks of k=" + std::to_string(b.k) +
                           " that the budget allows, seed " + std::to_string(config.seed);
    }
    backbone = backboneFor(config, input.channels, input.height, input.width, input.num_classes);
    torch::manual_seed(config.seed);
    net = Network(backbone);
    initial_kernel_norms = net->batchNormFedKernelNorms();
    const int layers = backbone.numLayers();

    strategy = makeStrategy(config, backbone);
    plan = phasePlan(config);
    if (config.isSearch()) {
      budget = searchBudget(config, backbone);
      budget.costs = runCosts(backbone);
      if (auto problem = costBudgetProblem(budget, layers)) {
        const char* key = problem->rfind("training MB", 0) == 0 ? "budget_mb"
                          : problem->rfind("ms per step", 0) == 0 ? "budget_ms"
                                                                  : "budget";
        throw ConfigError(std::string("config key '") + key + "': infeasible budget: " + *problem);
      }
    } else {
      budget.k = countBranches(strategy->derive(budget));
      budget.resize(layers, backbone.layerHasIdentity());
    }
    if (architectureFixedIn(plan.front().phase)) {  // nothing to choose: fixed from the start
      fixed_masks = strategy->derive(budget);
      fixed = true;
    }

    auto [decay, no_decay] = net->parameterGroups();
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::SGDOptions>(
                                   torch::optim::SGDOptions(config.lr)
                                       .momentum(config.momentum)
                                       .weight_decay(config.weight_decay)));
    groups.emplace_back(no_decay, std::make_unique<torch::optim::SGDOptions>(
                                      torch::optim::SGDOptions(config.lr)
                                          .momentum(config.momentum)
                                          .weight_decay(0)));
    sgd = std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(config.lr));
    trainer = std::make_unique<WeightTrainer>(net, *sgd, config.grad_clip);
  }

  /// The training costs of `spec` on this machine: the run's own costs.json when it is resumed
  /// (the selection of a resumed run counts in what it counted in), else the machine's cached
  /// table for the backbone, batch and threads (measured when there is none). Written to the
  /// run folder.
  std::shared_ptr<const BranchCostTable> runCosts(const BackboneSpec& spec) {
    if (costs) return costs;
    TrainingCosts measured;
    bool have = false;
    if (resume && files.hasCosts()) {
      try {
        measured = trainingCostsFromJson(readInputFile(files.costs(), kMaxCostTableBytes, "a cost table"));
        have = measured.base.present && static_cast<int>(measured.branches.size()) == spec.numLayers();
      } catch (const Error& e) {
        throw Error(files.costs() + ": " + e.what());
      }
    }
    if (!have) {
      CostRequest request;
      request.backbone = spec;
      request.batch = config.batch_size;
      request.threads = config.threads;
      measured = cachedTrainingCosts(request, defaultCostCachePath(request), /*remeasure=*/false);
    }
    writeTrainingCosts(measured, files.costs());
    costs = std::make_shared<const BranchCostTable>(trainingCostTable(measured));
    return costs;
  }

  // ------------------------------------------------------------ checkpoint

  RunArchiveMeta archiveMeta(RunArchiveMeta::Kind kind) const {
    RunArchiveMeta m;
    m.kind = kind;
    m.config_json = configToJson(config);
    m.mean = norm.mean;
    m.std = norm.std;
    m.input = InputShape{backbone.in_channels, backbone.input_height, backbone.input_width,
                         backbone.num_classes};
    if (kind == RunArchiveMeta::Kind::Weights) {
      m.mask = currentArchitecture();
      return m;
    }
    m.step = step;
    m.fixed = fixed;
    m.fixed_masks = fixed_masks;
    m.budget = budget;
    m.journal_json = journal.toJson();
    m.epoch_totals = epoch_totals;
    m.seconds_before_fix = seconds_before_fix;
    m.search_phase_seconds = search_phase_seconds;
    return m;
  }

  void saveCheckpoint() {
    torch::serialize::OutputArchive content;
    torch::serialize::OutputArchive net_archive;
    net->save(net_archive);
    content.write("network", net_archive);
    torch::serialize::OutputArchive sgd_archive;
    sgd->save(sgd_archive);
    content.write("sgd", sgd_archive);
    strategy->save(content);
    const auto path = files.checkpoint();
    writeRunArchive(path, runArchiveMetaJson(archiveMeta(RunArchiveMeta::Kind::Checkpoint)), content);
    last_checkpoint_step = step;
    emit(CheckpointSaved{path, step, static_cast<int>(step / steps_per_epoch)});
  }

  /// config.json must be the configuration the checkpoint was written with (a version-1
  /// checkpoint's is read with version 1's meaning), but for `threads` and the changes asked
  /// for with this resume.
  void checkConfigMatchesCheckpoint(const json& checkpoint_config, const std::string& path) const {
    json saved, found;
    try {
      saved = json::parse(configToJson(configFromJson(checkpoint_config.dump(), /*version_when_absent=*/1)));
    } catch (const ConfigError& e) {
      throw Error("cannot read checkpoint " + path + ": its configuration: " + e.what());
    }
    found = json::parse(configToJson(config));
    for (auto it = saved.begin(); it != saved.end(); ++it) {
      const bool asked = std::any_of(resume_changes.begin(), resume_changes.end(), [&](const std::string& c) {
        return c.rfind(it.key() + ": ", 0) == 0;
      });
      if (asked || it.key() == "threads" || !found.contains(it.key()) || found[it.key()] == it.value()) continue;
      throw ConfigError("cannot resume: config key '" + it.key() + "' in " + run_dir +
                        "/config.json is " + clippedText(found[it.key()].dump()) + " but the checkpoint was "
                        "written with " + clippedText(it.value().dump()) + ": config.json was edited; "
                        "restore it (a resume may change threads, and lr, epochs or fixed_epochs with "
                        "--override --set KEY=VALUE)");
    }
  }

  void loadCheckpoint() {
    const auto path = files.checkpoint();
    auto archive = readRunArchive(path);
    const auto fail = [&](const std::string& why) { return Error("cannot read checkpoint " + path + ": " + why); };
    RunArchiveMeta meta;
    try {
      meta = parseRunArchiveMeta(archive.meta);
    } catch (const Error& e) {
      throw fail(e.what());
    }
    if (meta.kind != RunArchiveMeta::Kind::Checkpoint || !meta.budget)
      throw fail("malformed metadata: not a checkpoint's");
    checkConfigMatchesCheckpoint(json::parse(meta.config_json), path);
    step = meta.step;
    fixed = meta.fixed;
    fixed_masks = meta.fixed_masks;
    budget = *meta.budget;
    budget.costs = costs;
    if (meta.journal_json) {  // since 0.2: the undo history of the budget edits
      try {
        journal = CommandJournal::fromJson(*meta.journal_json, backbone.numLayers());
      } catch (const Error& e) {
        throw fail(e.what());
      }
      const auto& entries = journal.entries();
      if (journal.index() > 0 && entries[journal.index() - 1].after != budget)
        throw fail("its budget-edit journal does not end at its budget");
    }
    epoch_totals = meta.epoch_totals;
    seconds_before_fix = meta.seconds_before_fix;
    search_phase_seconds = meta.search_phase_seconds;
    if (step < 0 || step > total_steps)
      throw Error("cannot read checkpoint " + path + ": step " + std::to_string(step) +
                  " is outside the run's 0.." + std::to_string(total_steps));
    try {
      torch::serialize::InputArchive net_archive;
      archive.content.read("network", net_archive);
      net->load(net_archive);
      torch::serialize::InputArchive sgd_archive;
      archive.content.read("sgd", sgd_archive);
      sgd->load(sgd_archive);
      strategy->load(archive.content);
    } catch (const c10::Error& e) {
      throw Error("cannot read checkpoint " + path + ": it does not fit this run's network (" +
                  std::string(e.what_without_backtrace()).substr(0, 200) + ")");
    }
    last_checkpoint_step = step;
  }

  // ------------------------------------------------------------ commands

  CommandAck apply(int64_t id, const Command& c) {
    CommandAck ack{id, c.describe(), true, "", step, budget, c.merge, {}};
    auto refuse = [&](const std::string& why) {
      ack.accepted = false;
      ack.reason = why;
    };
    const int layers = backbone.numLayers();
    switch (c.type) {
      case Command::Type::Pause: paused = true; break;
      case Command::Type::Resume: paused = false; break;
      case Command::Type::Stop: stop_requested = true; break;
      case Command::Type::SetBudget:
      case Command::Type::SetLayerLimits:
      case Command::Type::SetPin:
      case Command::Type::SetCostLimits:
      case Command::Type::Undo:
      case Command::Type::Redo: {
        const std::string what = c.type == Command::Type::Undo   ? journal.undoText()
                                 : c.type == Command::Type::Redo ? journal.redoText()
                                                                 : "";
        auto why = budgetEditRefusal(config.mode, fixed);
        if (!why && !strategyInfo(config.mode).capabilities.accepts_cost_budgets &&
            ((c.type == Command::Type::SetCostLimits && (c.max_ms > 0 || c.max_mb > 0)) ||
             (c.type == Command::Type::SetBudget && c.k == kAnyCount)))
          why = config.mode + " keeps exactly k branches and counts cost in its reward "
                "(rena_limit_ms, rena_limit_mb): no cost limit or free count";
        if (!why && c.isBudgetEdit()) {  // cost limits met together: the knapsack's feasibility
          Budget trial = budget;
          why = applyBudgetEdit(c, layers, trial);
          if (!why) why = costBudgetProblem(trial, layers);
        }
        if (!why) why = journal.apply(id, c, layers, budget);
        budget.costs = costs;  // an undone budget comes from the journal without it
        if (why) refuse(*why);
        if (!what.empty()) ack.command += ": " + what;  // "undo: budget k 16 → 20"
        break;
      }
    }
    ack.budget = budget;
    ack.merge = c.merge;
    ack.journal = journal.view();
    return ack;
  }

  /// Applies queued commands; while paused, waits for more. Returns after a stop request.
  void processCommands() {
    std::unique_lock<std::mutex> lock(command_mutex);
    while (true) {
      while (!commands.empty()) {
        auto [id, c] = commands.front();
        commands.pop_front();
        lock.unlock();
        emit(apply(id, c));
        lock.lock();
      }
      if (!paused || stop_requested) return;
      command_cv.wait(lock, [this] { return !commands.empty(); });
    }
  }

  // ------------------------------------------------------------ evaluation

  std::vector<BranchMask> currentArchitecture() const {
    return fixed ? fixed_masks : strategy->derive(budget);
  }

  /// A stop posted while the engine is not between steps (loading, evaluating) ends the run
  /// there: nothing is saved, the last checkpoint stays as it is.
  void stopIfAsked(const std::string& where) const {
    if (!stop_posted.load()) return;
    throw RunAbort{"stopped", "stopped by request " + where + "; " +
                                  (last_checkpoint_step >= 0
                                       ? "the last checkpoint (step " + std::to_string(last_checkpoint_step) + ") is intact"
                                       : std::string("no checkpoint was written yet"))};
  }

  /// The first `count` (default bn_recalibration_batches) training batches, unaugmented (no
  /// generator drawn).
  std::vector<torch::Tensor> recalibrationBatches(int count = -1) const {
    std::vector<torch::Tensor> out;
    const int64_t batch = config.batch_size;
    if (count < 0) count = config.bn_recalibration_batches;
    for (int64_t b = 0; b < count && b * batch < train_set.size(); ++b) {
      const int64_t n = std::min(batch, train_set.size() - b * batch);
      out.push_back(data::prepareBatch(train_set.images.narrow(0, b * batch, n), norm, {}, nullptr));
    }
    return out;
  }

  /// Accuracy of the folded network (exactly the eval-mode multi-branch network) on each of
  /// `sets`, folded once. Before the fix, the architecture found so far is measured with
  /// BatchNorm statistics re-estimated for it once (the supernet's are of the sampled subsets),
  /// and the supernet's are put back after.
  std::vector<double> evaluate(const std::vector<const data::ImageSet*>& sets) {
    torch::NoGradGuard no_grad;
    const auto masks = currentArchitecture();
    std::optional<NetworkImpl::BatchNormStatistics> supernet;
    if (!fixed && config.bn_recalibration_batches > 0) {
      supernet = net->batchNormStatistics();
      net->recalibrateBatchNorm(masks, recalibrationBatches());
    }
    const auto restore = [&] {
      if (supernet) net->restoreBatchNormStatistics(*supernet);
      net->train();
    };
    try {
      net->eval();
      FoldedNetwork folded(*net, masks);
      folded->eval();
      // A stop that came during the last training step waits for the checkpoint after this
      // evaluation; one that comes during it ends the run at once (the epoch is then repeated
      // on resume).
      const bool stop_before = stop_posted.load();
      std::vector<double> accuracies;
      for (const auto* set : sets)
        accuracies.push_back(data::classificationAccuracy(
            *set, norm, config.eval_batch_size, [&](const torch::Tensor& x) {
              if (!stop_before) stopIfAsked("during an evaluation");
              return folded->forward(x);
            }));
      restore();
      return accuracies;
    } catch (...) {
      restore();
      throw;
    }
  }

  // ------------------------------------------------------------ the loop

  std::vector<float> alphaVector() const { return strategy->importance(); }

  RunInfo runInfo() const {
    RunInfo info;
    info.run_dir = run_dir;
    info.mode = config.mode;
    info.strategy = strategy->info().method;
    info.phase_plan = plan;
    info.backbone = config.backbone;
    info.config_json = configToJson(config);
    for (int l = 0; l < backbone.numLayers(); ++l)
      info.layers.push_back({l, backbone.layers[l].block,
                             backbone.layers[l].block.hasIdentityBranch(), backbone.layerLabel(l)});
    info.dataset = dataset.info;
    info.epochs = config.totalEpochs();
    info.warmup_epochs = config.resolvedWarmupEpochs();
    info.search_epochs = config.resolvedSearchEpochs();
    info.steps_per_epoch = steps_per_epoch;
    info.total_steps = total_steps;
    info.start_step = step;
    info.resumed = resume;
    info.resume_changes = resume_changes;
    info.budget = budget;
    info.journal = journal.view();
    info.alpha = alphaVector();
    return info;
  }

  void fixArchitecture(Phase from, int epoch, bool time_limit = false) {
    fixed_masks = strategy->derive(budget);
    fixed = true;
    if (config.norm_reset) {
      // The random-subset steps inflate the kernels; back at their initial norms the fixed
      // phase learns at the effective rate a network trained from scratch has (STRATEGIES.md
      // §1). The momentum buffer keeps its angle to the kernel: it scales with it.
      net->rescaleBatchNormFedKernels(initial_kernel_norms, [this](const torch::Tensor& w, double c) {
        scaleMomentumBuffer(*sgd, w, c);
      });
    }
    net->resetBatchNormStatistics();
    emit(PhaseChange{from, Phase::Fixed, step, epoch, fixed_masks, seconds_before_fix, time_limit});
  }

  RunFinished finish(const std::string& status, const std::string& message,
                     std::optional<double> test_accuracy = std::nullopt) {
    RunFinished f{status, message, step, test_accuracy, {}};
    if (observer_error && status != "failed") {  // e.g. the log could not record the end
      f.status = "failed";
      f.message = *observer_error + " (the run had " + message + ")";
    }
    if (net && strategy) {
      try { f.mask = currentArchitecture(); } catch (const std::exception&) {}
    }
    emit(f);
    return f;
  }

  /// The update just taken must leave a state worth resuming from: finite parameters, and a
  /// finite loss on the step's batch again (a diverging update leaves finite weights whose next
  /// forward is NaN). Train-mode forward, BatchNorm statistics restored afterwards, no gradient.
  /// Otherwise the run fails and the previous checkpoint stays as it is.
  void checkStateBeforeCheckpoint(int epoch) {
    const auto& x = trainer->lastBatch().x;
    const auto& labels = trainer->lastBatch().labels;
    const auto& sel = trainer->lastSelection();
    torch::NoGradGuard no_grad;
    bool finite = true;
    for (const auto& p : net->parameters()) finite = finite && torch::isfinite(p).all().item<bool>();
    if (finite) {
      std::vector<torch::Tensor> saved;
      for (const auto& b : net->buffers()) saved.push_back(b.clone());
      const auto logits = net->forward(x, fixed ? fixed_masks : sel.masks, sel.gates);
      const double loss = torch::nn::functional::cross_entropy(logits, labels).item<double>();
      size_t i = 0;
      for (auto& b : net->buffers()) b.copy_(saved[i++]);
      finite = std::isfinite(loss);
    }
    if (finite) return;
    throw RunAbort{"failed", "training diverged in the last update of epoch " + std::to_string(epoch) +
                                 " (step " + std::to_string(step - 1) + "): the network's loss is no longer "
                                 "finite; try a lower lr; the last good checkpoint" +
                                 (last_checkpoint_step >= 0 ? " (step " + std::to_string(last_checkpoint_step) + ")"
                                                            : std::string()) +
                                 " is intact"};
  }

  std::string divergedMessage(double loss, int epoch) const {
    return "loss is " + std::string(std::isnan(loss) ? "NaN" : "infinite") + " at step " +
           std::to_string(step) + " (epoch " + std::to_string(epoch) +
           "): training diverged, try a lower lr; the last good checkpoint" +
           (last_checkpoint_step >= 0 ? " (step " + std::to_string(last_checkpoint_step) + ")"
                                      : std::string()) +
           " is intact";
  }

  /// The gate before every step: commands, pause and stop, then the phase's transition (the
  /// fix on entering a fixed phase). Returns false when the run must end (stopped; saved).
  bool nextStep(int epoch, int64_t in_epoch, Phase phase) {
    // Commands first: a stop at a phase boundary saves the state before the transition (so
    // a resumed run makes it exactly once), and budget edits there apply before the fix.
    processCommands();
    checkObservers();
    if (stop_requested) {
      saveCheckpoint();
      return false;
    }
    if (in_epoch == 0 && epoch > 0 && shownPhase(epoch - 1) != shownPhase(epoch)) {
      if (architectureFixedIn(phase) && !fixed) fixArchitecture(phaseOf(epoch - 1), epoch);
      else emit(PhaseChange{phaseOf(epoch - 1), phase, step, epoch, currentArchitecture(), std::nullopt, false});
    }
    // Equal search wall time: the fix once the steps before it have taken search_seconds.
    if (!fixed && config.search_seconds > 0 && seconds_before_fix >= config.search_seconds)
      fixArchitecture(phase, epoch, /*time_limit=*/true);
    return true;
  }

  RunFinished loop() {
    data::BatchSampler sampler(train_set.size(), config.batch_size, config.seed);
    // The validation stream: one batch per step, in an order of its own (no augmentation).
    data::BatchSampler val_sampler(std::max<int64_t>(1, val_set.size()), config.batch_size,
                                   config.seed + 0x5eed, /*drop_last=*/false);
    std::optional<double> final_test;
    net->train();
    while (step < total_steps) {
      const int epoch = static_cast<int>(step / steps_per_epoch);
      const int64_t in_epoch = step % steps_per_epoch;
      if (!nextStep(epoch, in_epoch, phaseOf(epoch)))
        return finish("stopped", "stopped by request after " + std::to_string(step) + " steps");
      const Phase phase = shownPhase(epoch);

      const auto t0 = Clock::now();
      const double progress = static_cast<double>(step) / total_steps;
      const double lr = cosine(config.lr, progress);
      for (auto& group : sgd->param_groups())
        static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);

      const auto [phase_start, phase_epochs] = phaseEpochs(plan, phase);
      SearchContext ctx;
      ctx.network = net;
      ctx.trainer = trainer.get();
      ctx.budget = &budget;
      ctx.phase = phase;
      ctx.phase_progress = static_cast<double>(std::max<int64_t>(0, step - phase_start * steps_per_epoch)) /
                           std::max<int64_t>(1, phase_epochs * steps_per_epoch);
      if (phase == Phase::Search && config.search_seconds > 0)  // the schedules on the limit's clock
        ctx.phase_progress = searchProgressUnderTimeLimit(ctx.phase_progress, config.search_seconds,
                                                          seconds_before_fix, search_phase_seconds);
      const int64_t this_step = step;
      ctx.training_batch = [&, this_step] {
        const auto b = sampler.batch(train_set, epoch, in_epoch);
        auto augment_gen = data::makeGenerator(config.seed, {1, static_cast<uint64_t>(this_step)});
        return Batch{data::prepareBatch(b.images, norm, {config.crop_padding, config.flip}, &augment_gen),
                     b.labels};
      };
      ctx.validation_batch = [&, this_step] {
        if (val_set.size() == 0)
          throw Error("mode " + config.mode + " needs a validation split: set val_split");
        const int64_t per_epoch = val_sampler.batchesPerEpoch();
        const auto b = val_sampler.batch(val_set, this_step / per_epoch, this_step % per_epoch);
        return Batch{data::prepareBatch(b.images, norm, {}, nullptr), b.labels};
      };
      ctx.random = [this, this_step](uint64_t stream) {
        return data::makeGenerator(config.seed, {stream, static_cast<uint64_t>(this_step)});
      };
      ctx.step = this_step;
      ctx.recalibration_images = [this](int n) { return recalibrationBatches(n); };
      ctx.fixed_validation_batch = [&](int64_t index) {
        if (val_set.size() == 0)
          throw Error("mode " + config.mode + " needs a validation split: set val_split");
        const int64_t per_epoch = val_sampler.batchesPerEpoch();
        const auto b = val_sampler.batch(val_set, 0, index % per_epoch);  // epoch 0's order, always
        return Batch{data::prepareBatch(b.images, norm, {}, nullptr), b.labels};
      };
      net->setDropoutGenerator(ctx.random(3));

      StepOutcome out;
      std::vector<BranchMask> topk;  // the noise-free selection, while there is a choice
      std::optional<double> margin;
      try {
        if (fixed) {
          out.selection.masks = fixed_masks;
          out.trained = trainer->step(ctx.training_batch(), out.selection);
        } else {
          topk = strategy->derive(budget);
          const auto scores = alphaVector();
          margin = selectionMargin(std::vector<double>(scores.begin(), scores.end()), topk, budget);
          out = strategy->step(ctx);
        }
      } catch (const NonFiniteLoss& e) {
        throw RunAbort{"failed", divergedMessage(e.loss, epoch)};
      }
      for (const auto& trial : out.trials) emit(trial);
      const auto& batch = trainer->lastBatch();
      const double loss_value = out.trained.loss;
      const int64_t correct = out.trained.correct;
      const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      epoch_totals.loss_sum += loss_value * batch.size();
      epoch_totals.correct += correct;
      epoch_totals.count += batch.size();
      epoch_totals.seconds += seconds;
      if (!fixed) {
        seconds_before_fix += seconds;
        if (phase == Phase::Search) search_phase_seconds += seconds;
      }
      ++step;

      if ((step - 1) % config.snapshot_every == 0 || step == total_steps) {
        StepSnapshot s;
        s.step = step - 1;
        s.epoch = epoch;
        s.phase = phase;
        s.loss = loss_value;
        s.batch_accuracy = static_cast<double>(correct) / batch.size();
        s.lr = lr;
        auto metric = [&](const char* name) {
          const auto it = out.metrics.find(name);
          return it == out.metrics.end() ? 0.0 : it->second;
        };
        s.arch_lr = metric("arch_lr");
        s.metrics.assign(out.metrics.begin(), out.metrics.end());
        s.alpha = alphaVector();
        s.sigma.resize(s.alpha.size());
        const auto& shown = strategyInfo(config.mode);
        for (size_t i = 0; i < s.alpha.size(); ++i) s.sigma[i] = static_cast<float>(shown.shownImportance(s.alpha[i]));
        s.mask = out.selection.masks;
        if (!topk.empty()) {
          s.topk_mask = topk;
          s.noise_scale = metric("tau");
          s.mask_agreement = maskAgreement(out.selection.masks, topk);
          s.alpha_margin = margin;
        }
        if (costs) {  // what the cost model predicts for the step's mask
          s.metrics.emplace_back("predicted_ms", costs->msOf(out.selection.masks));
          s.metrics.emplace_back("predicted_mb", costs->mbOf(out.selection.masks));
        }
        s.budget_k = budget.k;
        s.step_ms = seconds * 1000;
        s.images_per_second = batch.size() / std::max(seconds, 1e-9);
        s.wall_time = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        emit(s);
      }

      if (step % steps_per_epoch == 0) {  // epoch end
        EpochSummary e;
        e.epoch = epoch;
        e.phase = phase;
        e.step = step - 1;
        e.train_loss = epoch_totals.loss_sum / std::max<int64_t>(1, epoch_totals.count);
        e.train_accuracy = static_cast<double>(epoch_totals.correct) / std::max<int64_t>(1, epoch_totals.count);
        e.seconds = epoch_totals.seconds;
        // In warm-up there is no architecture to evaluate: α is frozen at its start, so its
        // top-k is an arbitrary tie-break (measured: test accuracy at chance, 10–16%).
        const bool has_architecture = phase != Phase::Warmup;
        const bool phase_ends = step == total_steps || shownPhase(epoch + 1) != phase;
        std::vector<const data::ImageSet*> sets;
        if (has_architecture && val_set.size() > 0) sets.push_back(&val_set);
        if (has_architecture && phase_ends) sets.push_back(&test_set);
        if (!sets.empty()) {
          const auto accuracy = evaluate(sets);
          if (val_set.size() > 0) e.val_accuracy = accuracy.front();
          if (phase_ends) e.test_accuracy = accuracy.back();
        }
        if (step == total_steps) final_test = e.test_accuracy;
        epoch_totals = {};
        emit(e);
        checkStateBeforeCheckpoint(epoch);
        saveCheckpoint();
      }
    }
    writeResults(final_test);
    return finish("completed", "completed " + std::to_string(total_steps) + " steps", final_test);
  }

  void writeResults(std::optional<double> test_accuracy) {
    const auto masks = currentArchitecture();
    const auto alpha = alphaVector();
    const auto& shown = strategyInfo(config.mode);
    json layers = json::array();
    for (int l = 0; l < backbone.numLayers(); ++l) {
      json kept = json::array(), sigma = json::object(), alpha_l = json::object();
      for (BranchKind k : kAllBranchKinds) {
        const int j = static_cast<int>(k);
        if (masks[l].test(j)) kept.push_back(std::string(branchName(k)));
        const float a = alpha[l * kNumBranchKinds + j];
        sigma[std::string(branchName(k))] = shown.shownImportance(a);
        alpha_l[std::string(branchName(k))] = a;
      }
      const auto& b = backbone.layers[l].block;
      layers.push_back({{"index", l}, {"label", backbone.layerLabel(l)},
                        {"in_channels", b.in_channels}, {"out_channels", b.out_channels},
                        {"kernel_size", b.kernel_size}, {"stride", b.stride},
                        {"groups", b.groups}, {"identity", b.hasIdentityBranch()},
                        {"kept", kept}, {"sigma", sigma}, {"alpha", alpha_l}});
    }
    json arch = {{"backbone", config.backbone}, {"mode", config.mode},
                 {"budget_k", budget.k}, {"branches_kept", countBranches(masks)},
                 {"test_accuracy", test_accuracy ? json(*test_accuracy) : json(nullptr)},
                 {"normalization", {{"mean", norm.mean}, {"std", norm.std}}},
                 {"layers", layers}};
    writeTextAtomically(files.architecture(), arch.dump(2) + "\n");

    torch::serialize::OutputArchive content;
    torch::serialize::OutputArchive net_archive;
    net->save(net_archive);
    content.write("network", net_archive);
    writeRunArchive(files.weights(), runArchiveMetaJson(archiveMeta(RunArchiveMeta::Kind::Weights)), content);
  }
};

Engine::Engine(const RunConfig& config, const std::string& run_dir, bool resume,
               const std::vector<std::string>& resume_changes)
    : impl_(std::make_unique<Impl>()) {
  impl_->run_dir = run_dir;
  impl_->files = RunFolder(run_dir);
  impl_->resume = resume;
  if (resume) {
    const RunFolder& folder = impl_->files;
    if (!folder.hasConfig()) throw Error("cannot resume: " + folder.config() + " does not exist");
    impl_->config = loadRunConfig(run_dir);
    impl_->config.threads = config.threads;
    if (!folder.hasCheckpoint())
      throw Error("cannot resume: no " + std::string(RunFolder::kCheckpoint) + " in " + run_dir);
    const json before = json::parse(configToJson(impl_->config));
    for (const auto& change : resume_changes) {
      const std::string key = change.substr(0, change.find('='));
      const auto& keys = resumeChangeableKeys();
      if (std::find(keys.begin(), keys.end(), key) == keys.end())
        throw ConfigError("config key '" + clippedText(key) + "': a resumed run cannot change it "
                          "(only lr, epochs and fixed_epochs, and threads)");
      applyConfigOverride(impl_->config, change);
      const json after = json::parse(configToJson(impl_->config));
      impl_->resume_changes.push_back(key + ": " + before.at(key).dump() + " -> " + after.at(key).dump());
    }
    impl_->config.validate();
  } else {
    config.validate();
    impl_->config = config;
  }
}

Engine::~Engine() = default;

void Engine::addObserver(Observer* observer) { impl_->observers.push_back(observer); }

int64_t Engine::post(const Command& command) {
  std::lock_guard<std::mutex> lock(impl_->command_mutex);
  const int64_t id = impl_->next_command_id++;
  if (command.type == Command::Type::Stop) impl_->stop_posted = true;
  impl_->commands.emplace_back(id, command);
  impl_->command_cv.notify_all();
  return id;
}

const RunConfig& Engine::config() const { return impl_->config; }

RunFinished Engine::run() {
  auto& d = *impl_;
  struct Release {
    ~Release() { releaseUnusedMemory(); }
  } release_memory_after_the_run;
  try {
    fs::create_directories(d.run_dir);
    removeStaleTemporaryFiles(d.run_dir);  // left by a process killed while writing
    d.prepare();
    if (d.resume) d.loadCheckpoint();
    writeTextAtomically(d.files.config(),
                        configToJson(d.config) + "\n");
    d.emit(d.runInfo());
    d.checkObservers();
    if (d.step >= d.total_steps) {
      // The results are written after the last checkpoint: if that was interrupted, write
      // them now rather than leave a finished run without arch.json / weights.pt.
      // Otherwise the result is the one they record (arch.json's test accuracy), so that a
      // process killed between the results and its own summary learns it again.
      std::optional<double> test_accuracy;
      if (!d.files.hasResults()) {
        test_accuracy = d.evaluate({&d.test_set}).front();
        d.writeResults(test_accuracy);
      } else {
        try {
          const auto arch = json::parse(readInputFile(d.files.architecture(), 64 << 20, "an architecture file"));
          if (arch.contains("test_accuracy") && arch.at("test_accuracy").is_number())
            test_accuracy = arch.at("test_accuracy").get<double>();
        } catch (const std::exception&) {
          test_accuracy = d.evaluate({&d.test_set}).front();  // unreadable: measured again
        }
      }
      return d.finish("completed", "the run had already completed", test_accuracy);
    }
    return d.loop();
  } catch (const RunAbort& abort) {
    return d.finish(abort.status, abort.message);
  } catch (const c10::Error& e) {
    return d.finish("failed", e.what_without_backtrace());
  } catch (const std::exception& e) {
    return d.finish("failed", e.what());
  }
}

}  // namespace repnas
