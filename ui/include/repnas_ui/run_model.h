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
  bool isSearch() const { return info_.mode == "search"; }
  const std::vector<StepSnapshot>& steps() const { return steps_; }
  const std::vector<EpochSummary>& epochs() const { return epochs_; }
  const std::vector<PhaseChange>& phaseChanges() const { return phases_; }
  const std::vector<CommandAck>& commands() const { return commands_; }
  const std::vector<CheckpointSaved>& checkpoints() const { return checkpoints_; }
  const std::optional<RunFinished>& finished() const { return finished_; }
  /// @brief The budget in force (from the run start, then every acknowledged command).
  const Budget& budget() const { return budget_; }
  bool paused() const { return paused_; }
  /// @brief The current phase (from the last snapshot or phase change).
  std::optional<Phase> phase() const;
  /// @brief The architecture now: the fixed ODBB once fixed (or the final one), else the mask
  /// of the last step.
  std::vector<BranchMask> currentMask() const;
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
  void updated();

 private:
  void applyOne(const Event& e, int& first_new_step, bool& epochs_changed, bool& phase_changed);

  bool has_info_ = false;
  RunInfo info_;
  std::vector<StepSnapshot> steps_;
  std::vector<EpochSummary> epochs_;
  std::vector<PhaseChange> phases_;
  std::vector<CommandAck> commands_;
  std::vector<CheckpointSaved> checkpoints_;
  std::optional<RunFinished> finished_;
  Budget budget_;
  bool paused_ = false;
};

/// @brief Writes the training curves (one row per snapshot) as CSV, atomically. Returns an
/// error message, empty on success.
QString writeCurvesCsv(const RunModel& model, const QString& path);
/// @brief Writes α and σ(α) of every (snapshot, layer, branch) as CSV, atomically.
QString writeAlphaCsv(const RunModel& model, const QString& path);

}  // namespace repnas::ui
