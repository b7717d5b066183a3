#pragma once
/// @file run_model.h
/// @brief The history of one run as the GUI shows it, built only from engine events (live,
/// replayed from events.jsonl, or followed while another process writes it).

#include <QObject>
#include <QString>

#include <optional>
#include <vector>

#include "repnas/events.h"

namespace repnas::ui {

/// @brief Where a model's events come from.
enum class RunSource {
  None,     ///< nothing open
  Engine,   ///< an engine in this process runs it (a run started or resumed in this window)
  Monitor,  ///< another process writes its events.jsonl, which is followed as it grows
  Replay,   ///< its events.jsonl was read once
};

/// @brief What the run is doing, as its events (and its source) tell.
enum class RunState {
  None,         ///< no run
  Starting,     ///< an engine was started here; its first event has not arrived
  Running,      ///< steps are being taken (monitored: the log has no result yet)
  Paused,       ///< paused between two steps
  Completed,
  Stopped,      ///< stopped with a checkpoint: it can be resumed
  Failed,
  Interrupted,  ///< a replayed log that ends without a result (crashed, or runs elsewhere)
};

/// @brief The x axis of the curves: steps done, epochs done (fractional), or wall time since
/// the run's first step (seconds).
enum class XAxis { Step, Epoch, WallTime };

/// @brief Everything the views draw. Fed by apply() in the GUI thread, in batches; each batch
/// ends with one updated() signal, so views redraw at most once per batch.
class RunModel : public QObject {
  Q_OBJECT
 public:
  explicit RunModel(QObject* parent = nullptr);

  /// @brief Forgets everything (emits reset()).
  void clear();
  /// @brief Applies a batch of events in order, then emits updated().
  void apply(const std::vector<Event>& events);

  bool hasRun() const { return has_info_; }
  const RunInfo& info() const { return info_; }
  int layers() const { return static_cast<int>(info_.layers.size()); }
  /// @brief The run's K (3 before a run starts): what branch names are shown with.
  int kernelSize() const { return has_info_ && !info_.layers.empty() ? info_.layers[0].block.kernel_size : 3; }
  /// @brief Whether the run's strategy searches (RepNAS, GDAS), as the strategy registry says.
  bool isSearch() const;
  const std::vector<StepSnapshot>& steps() const { return steps_; }
  const std::vector<EpochSummary>& epochs() const { return epochs_; }
  const std::vector<PhaseChange>& phaseChanges() const { return phases_; }
  const std::vector<CommandAck>& commands() const { return commands_; }
  /// @brief The engine's budget-edit journal as last reported (run start or command answer).
  const JournalView& journal() const { return journal_; }
  const std::vector<CheckpointSaved>& checkpoints() const { return checkpoints_; }
  /// @brief The networks the strategy evaluated (RENA's children), in order.
  const std::vector<Trial>& trials() const { return trials_; }
  const std::optional<RunFinished>& finished() const { return finished_; }
  /// @brief The budget in force (from the run start, then every acknowledged command).
  const Budget& budget() const { return budget_; }
  bool paused() const { return paused_; }
  RunSource source() const { return source_; }
  /// @brief Sets where events come from (the window does, before feeding them); emits updated().
  void setSource(RunSource source);
  RunState state() const;
  /// @brief Whether the architecture is fixed now (phase Fixed, a fixed-mask mode, or ended).
  bool architectureFixed() const;
  /// @brief The current phase (from the last snapshot or phase change).
  std::optional<Phase> phase() const;
  /// @brief The architecture now: the fixed ODBB once fixed (or the final one), else the mask
  /// of the last step.
  std::vector<BranchMask> currentMask() const;
  /// @brief The x coordinate of snapshot `index` of steps() on `axis`.
  double x(int index, XAxis axis) const;
  /// @brief The x coordinate after `steps_done` steps on `axis` (wall time: of the nearest
  /// snapshot at or before it).
  double xAtStep(int64_t steps_done, XAxis axis) const;
  /// @brief "step 120", "epoch 2.50", "wall time 1:05" for an x coordinate on `axis`.
  static QString xText(double x, XAxis axis);
  static QString axisLabel(XAxis axis);
  /// @brief Steps completed (last snapshot's step + 1, or the resume point).
  int64_t stepsDone() const;

 Q_SIGNALS:
  void reset();
  void runStarted();
  void stepsAppended(int first_index, int count);
  void epochsChanged();
  void phaseChanged();
  void commandAcknowledged(const repnas::CommandAck& ack);
  void checkpointSaved(const QString& path, qint64 step);
  void runFinished();
  /// @brief Trials arrived (or were dropped by a resume): views redraw them all.
  void trialsChanged();
  void updated();
  /// @brief An event that cannot belong to this run (before its run_started, or sized for
  /// another number of layers) was dropped; `why` says which and why.
  void eventRejected(const QString& why);

 private:
  struct Changes {
    int first_new_step = -1;
    bool epochs = false, phase = false, trials = false;
  };
  void applyOne(const Event& e, Changes& changes);

  bool has_info_ = false;
  RunInfo info_;
  std::vector<StepSnapshot> steps_;
  std::vector<EpochSummary> epochs_;
  std::vector<PhaseChange> phases_;
  std::vector<CommandAck> commands_;
  JournalView journal_;
  std::vector<CheckpointSaved> checkpoints_;
  std::vector<Trial> trials_;
  std::optional<RunFinished> finished_;
  Budget budget_;
  bool paused_ = false;
  RunSource source_ = RunSource::None;
  /// Seconds since the first snapshot, per snapshot: from wall_time, or (logs written before
  /// it existed) the sum of step times.
  std::vector<double> wall_;
  void rebuildWall();
};

/// @brief "step N": N steps completed. Every view names steps this way (the heatmap, the
/// status bar, the engine's answers, the plots' x axis).
QString stepText(int64_t steps_done);

/// @brief Writes the training curves (one row per snapshot) as CSV, atomically. Returns an
/// error message, empty on success.
QString writeCurvesCsv(const RunModel& model, const QString& path);
/// @brief Writes α and σ(α) of every (snapshot, layer, branch) as CSV, atomically.
QString writeAlphaCsv(const RunModel& model, const QString& path);

}  // namespace repnas::ui
