#pragma once
/// @file events.h
/// @brief What the engine tells its observers (snapshots, events) and what it accepts
/// (commands). Plain C++: the GUI, the event log and the console all observe the same types.

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <string>
#include <variant>
#include <vector>

#include "repnas/block_spec.h"
#include "repnas/budget.h"
#include "repnas/dataset.h"

namespace repnas {

/// @brief Training phase. Search mode runs Warmup → Search → Fixed; the fixed-mask modes
/// (plain, repvgg, dbb) run Train only.
enum class Phase { Warmup, Search, Fixed, Train };
std::string phaseName(Phase phase);

/// @brief One phase of a run's plan and its length in epochs.
struct PhaseSpan {
  Phase phase = Phase::Train;
  int epochs = 0;
  bool operator==(const PhaseSpan& o) const { return phase == o.phase && epochs == o.epochs; }
};
std::optional<Phase> parsePhase(const std::string& name);

/// @brief One searchable layer as observers see it.
struct LayerInfo {
  int index = 0;
  BlockSpec block;
  bool has_identity = false;
  std::string label;  ///< e.g. "L3 s2 32->64"
};

/// @brief The engine's journal of budget edits as the GUI shows it (command_journal.h): each
/// entry's description, oldest first, and how many are in force (Undo undoes entries[index-1],
/// Redo redoes entries[index]).
struct JournalView {
  std::vector<std::string> entries;
  int index = 0;
  bool known = false;  ///< false in event logs written before schema 3
  bool operator==(const JournalView& o) const {
    return entries == o.entries && index == o.index && known == o.known;
  }
};

/// @brief Sent once when a run starts (or resumes).
struct RunInfo {
  std::string run_dir;
  std::string mode;
  /// The method the strategy runs ("RepNAS", "GDAS", "fixed"; empty in logs before schema 2).
  std::string strategy;
  /// Its phases in order (empty in logs before schema 2: read warmup/search_epochs).
  std::vector<PhaseSpan> phase_plan;
  std::string backbone;
  std::string config_json;  ///< the resolved configuration
  std::vector<LayerInfo> layers;
  DatasetInfo dataset;
  int epochs = 0;          ///< all epochs of the run (warm-up + search + fixed)
  int warmup_epochs = 0;
  int search_epochs = 0;
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
  int64_t start_step = 0;  ///< > 0 when resumed
  bool resumed = false;
  /// Configuration changes asked for when resuming, e.g. "lr: 0.1 -> 0.05" (empty otherwise).
  std::vector<std::string> resume_changes;
  Budget budget;
  std::vector<float> alpha;  ///< [L × 6] at start (zeros for a new run)
  JournalView journal;       ///< the budget-edit journal at start (a resumed run keeps it)
};

/// @brief The state after one training step.
struct StepSnapshot {
  int64_t step = 0;  ///< 0-based index of the step just taken
  int epoch = 0;
  Phase phase = Phase::Warmup;
  double loss = 0;
  double batch_accuracy = 0;
  double lr = 0;
  double arch_lr = 0;
  std::vector<float> alpha;  ///< [L × 6], layer-major
  std::vector<float> sigma;  ///< σ(α)
  std::vector<BranchMask> mask;  ///< the mask this step used, one per layer
  /// The noise-free selection of α under the budget: what the fix would keep now (search
  /// and warm-up; empty otherwise and in logs written before it existed).
  std::vector<BranchMask> topk_mask;
  double noise_scale = 0;        ///< τ of r = α + τ·ε this step (0 when nothing is sampled)
  /// Fraction of `mask` that `topk_mask` also keeps (warm-up and search; else 1).
  double mask_agreement = 1;
  /// Lowest kept α minus highest dropped α among unpinned branches (the gap between the k-th
  /// and the (k+1)-th α when no limits bind); search and warm-up only.
  std::optional<double> alpha_margin;
  /// The strategy's own numbers for this step, by name (RepNAS: tau, arch_lr; GDAS: tau,
  /// arch_lr, val_loss, val_batch_accuracy); empty for fixed steps and in logs before schema 2.
  std::vector<std::pair<std::string, double>> metrics;
  int budget_k = 0;              ///< k in force
  double step_ms = 0;
  double images_per_second = 0;
  /// Wall-clock time the step ended, in seconds since the Unix epoch (0 in logs written
  /// before it existed): the "wall time" axis of the curves, as TensorBoard's.
  double wall_time = 0;
};

/// @brief Sent at the end of each epoch.
struct EpochSummary {
  int epoch = 0;
  Phase phase = Phase::Warmup;
  int64_t step = 0;  ///< last step of the epoch
  double train_loss = 0;
  double train_accuracy = 0;
  std::optional<double> val_accuracy;
  std::optional<double> test_accuracy;  ///< only at the end of a phase
  double seconds = 0;
};

/// @brief Sent when the phase changes; on entering Fixed, `mask` is the fixed ODBB.
struct PhaseChange {
  Phase from = Phase::Warmup;
  Phase to = Phase::Search;
  int64_t step = 0;
  int epoch = 0;
  std::vector<BranchMask> mask;
  /// Into the fixed phase: the step time spent before the fix (absent in older logs), and
  /// whether search_seconds ended the search (the fix came before its epochs ended).
  std::optional<double> search_seconds;
  bool time_limit = false;
};

/// @brief One network a strategy evaluated while searching (RENA's children), with shared
/// weights on the validation split.
struct Trial {
  int64_t index = 0;   ///< 0-based over the run
  int64_t step = 0;    ///< the step it was evaluated in
  int update = 0;      ///< the controller update it belongs to (1-based)
  std::vector<BranchMask> mask;    ///< the network
  std::vector<BranchMask> parent;  ///< the network it was proposed from
  double val_accuracy = 0;         ///< 0..1
  /// What it costs, by name (RENA: train_ms, train_mb, params, intensity).
  std::vector<std::pair<std::string, double>> resources;
  double reward = 0;
  bool feasible = true;  ///< within every resource limit
  bool cached = false;   ///< its evaluation was reused
};

/// @brief A steering command. Applied between steps, acknowledged with a CommandAck.
struct Command {
  enum class Type { Pause, Resume, Stop, SetBudget, SetLayerLimits, SetPin, SetCostLimits, Undo, Redo };
  Type type = Type::Pause;
  /// Budget edits with the same non-zero merge id, one after another on the same setting
  /// (one slider drag), are one entry of the engine's journal: one undo step.
  int64_t merge = 0;
  int k = 0;          ///< SetBudget (kAnyCount: the count is free, the cost limits bind)
  int layer = -1;     ///< SetLayerLimits, SetPin
  int min = -1;       ///< SetLayerLimits (-1: unchanged)
  int max = -1;       ///< SetLayerLimits (-1: unchanged)
  BranchKind branch = BranchKind::KxK;  ///< SetPin
  Pin pin = Pin::Auto;                  ///< SetPin
  double max_ms = -1;  ///< SetCostLimits: ms per step limit (0: none; -1: unchanged)
  double max_mb = -1;  ///< SetCostLimits: training MB limit (0: none; -1: unchanged)

  static Command pause() { return {Type::Pause}; }
  static Command resume() { return {Type::Resume}; }
  static Command stop() { return {Type::Stop}; }
  static Command setBudget(int k) { Command c{Type::SetBudget}; c.k = k; return c; }
  static Command setLayerLimits(int layer, int min, int max) {
    Command c{Type::SetLayerLimits}; c.layer = layer; c.min = min; c.max = max; return c;
  }
  static Command setPin(int layer, BranchKind branch, Pin pin) {
    Command c{Type::SetPin}; c.layer = layer; c.branch = branch; c.pin = pin; return c;
  }
  static Command setCostLimits(double max_ms, double max_mb) {
    Command c{Type::SetCostLimits}; c.max_ms = max_ms; c.max_mb = max_mb; return c;
  }
  static Command undo() { return {Type::Undo}; }
  static Command redo() { return {Type::Redo}; }
  /// @brief Whether it edits the budget (SetBudget, SetLayerLimits, SetPin, SetCostLimits).
  bool isBudgetEdit() const {
    return type == Type::SetBudget || type == Type::SetLayerLimits || type == Type::SetPin ||
           type == Type::SetCostLimits;
  }
  /// @brief e.g. "set budget k=12", "pin layer 3 1x1-AVG drop", "undo".
  std::string describe() const;
};

/// @brief Whether a run in `mode` accepts budget edits (SetBudget, SetLayerLimits, SetPin)
/// now: nullopt when it does, else why not. The engine's rule; the GUI asks it too.
std::optional<std::string> budgetEditRefusal(const std::string& mode, bool architecture_fixed);

/// @brief Applies a budget edit to `budget` (a network of `layers` layers): nullopt when it
/// applies, else why it is refused, `budget` unchanged. The engine's rule; the GUI uses it to
/// know the budget its unanswered edits will leave.
std::optional<std::string> applyBudgetEdit(const Command& command, int layers, Budget& budget);

/// @brief The engine's answer to a command.
struct CommandAck {
  int64_t id = 0;
  std::string command;  ///< Command::describe()
  bool accepted = false;
  std::string reason;   ///< why it was refused (empty when accepted)
  int64_t step = 0;     ///< applied before this step
  Budget budget;        ///< the budget in force afterwards
  int64_t merge = 0;    ///< the command's Command::merge
  JournalView journal;  ///< the engine's journal afterwards
};

/// @brief A checkpoint was written.
struct CheckpointSaved {
  std::string path;
  int64_t step = 0;  ///< steps completed
  int epoch = 0;
};

/// @brief The run ended.
struct RunFinished {
  std::string status;   ///< "completed", "stopped" or "failed"
  std::string message;
  int64_t step = 0;     ///< steps completed
  std::optional<double> test_accuracy;
  std::vector<BranchMask> mask;  ///< the final architecture (empty when failed early)
};

/// @brief Receives engine events, in the engine's thread. Implementations must be quick.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void onRunStarted(const RunInfo&) {}
  virtual void onStep(const StepSnapshot&) {}
  virtual void onEpoch(const EpochSummary&) {}
  virtual void onPhaseChange(const PhaseChange&) {}
  virtual void onCommand(const CommandAck&) {}
  virtual void onCheckpoint(const CheckpointSaved&) {}
  virtual void onFinished(const RunFinished&) {}
  virtual void onTrial(const Trial&) {}
};

/// @brief One line of the event log, parsed.
using Event = std::variant<RunInfo, StepSnapshot, EpochSummary, PhaseChange, CommandAck,
                           CheckpointSaved, RunFinished, Trial>;

/// @brief An observer that handles every event in one place (the event log, queues).
class EventObserver : public Observer {
 public:
  virtual void onEvent(const Event& event) = 0;
  void onRunStarted(const RunInfo& e) final { onEvent(e); }
  void onStep(const StepSnapshot& e) final { onEvent(e); }
  void onEpoch(const EpochSummary& e) final { onEvent(e); }
  void onPhaseChange(const PhaseChange& e) final { onEvent(e); }
  void onCommand(const CommandAck& e) final { onEvent(e); }
  void onCheckpoint(const CheckpointSaved& e) final { onEvent(e); }
  void onFinished(const RunFinished& e) final { onEvent(e); }
  void onTrial(const Trial& e) final { onEvent(e); }
};

/// @brief The version of the event log's schema that eventToJson writes (field `schema` of
/// run_started). 1 (no field): before the strategy framework. 2: run_started has `strategy`
/// and `phase_plan`, step has `metrics` (the strategy's numbers by name). 3: run_started and
/// command have `journal` (the engine's budget-edit journal, command_journal.h), command has
/// `merge`. 4: `trial` events (a strategy's evaluated networks: RENA's children). A reader
/// takes any version up to its own; fields added later are optional.
inline constexpr int kEventSchemaVersion = 4;

/// @brief Longest line of events.jsonl a reader accepts (a step of the largest network is
/// about 10 KB); readers skip a longer line and say so.
inline constexpr size_t kMaxEventLineBytes = size_t{1} << 20;

/// @brief One JSON object (no newline) for an event, as written to events.jsonl.
std::string eventToJson(const Event& event);
/// @brief Parses one line of events.jsonl. Every field is checked (type, range, sizes that
/// agree with each other and stay within kMaxNetworkLayers); throws repnas::Error naming the
/// problem, for any bytes.
Event eventFromJson(const std::string& line);
/// @brief Why `event` cannot belong to `run` (a per-layer field sized for another number of
/// layers), or nullopt. Readers drop such events instead of indexing past the run's layers.
std::optional<std::string> eventMismatch(const Event& event, const RunInfo& run);
/// @brief Delivers an event to the matching Observer method.
void dispatchEvent(const Event& event, Observer& observer);

/// @brief A budget as the JSON object the event log uses (k, layer_min, layer_max, pins), and
/// back; budgetFromJson throws repnas::Error on a malformed object.
std::string budgetToJson(const Budget& budget);
Budget budgetFromJson(const std::string& json_text);

/// @brief Calls `f(event)` for every event of an events.jsonl file, in order. A line that does
/// not parse (the last one, cut by an interruption) is skipped; a missing file has none.
void forEachLoggedEvent(const std::string& path, const std::function<void(const Event&)>& f);

/// @brief Masks as a layer-major 0/1 list, and back.
std::vector<int> maskToBits(const std::vector<BranchMask>& masks);
std::vector<BranchMask> maskFromBits(const std::vector<int>& bits);

}  // namespace repnas
