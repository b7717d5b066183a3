#pragma once
/// @file budget_editor.h
/// @brief Edits the branch budget of a running search: global k (spin box + slider) or any
/// count, cost limits in measured training ms per step and MiB, per-layer minimum and maximum,
/// and per-(layer, branch) pins. Every edit is an engine command; the
/// engine keeps the history (its journal, command_journal.h) and the undo stack is a view of
/// it: undo and redo are engine commands too. The engine's answers are shown.

#include <QWidget>

#include <functional>
#include <utility>
#include <vector>

#include "repnas/events.h"
#include "repnas_ui/run_model.h"

class QCheckBox;
class QDoubleSpinBox;
class QLabel;
class QListWidget;
class QSlider;
class QSpinBox;
class QTableWidget;
class QUndoStack;

namespace repnas::ui {


class BudgetEditor : public QWidget {
  Q_OBJECT
 public:
  /// `post` sends a command to the engine and returns its id (-1 when no engine runs).
  BudgetEditor(RunModel* model, QUndoStack* undo, std::function<int64_t(const Command&)> post,
               QWidget* parent = nullptr);

  /// @brief Requests a change as the user would (pushes an undoable command).
  /// `merge`: edits of one drag share it (one undo step).
  void requestBudget(int k, int64_t merge = 0);
  void requestLayerLimits(int layer, int min, int max);
  void requestPin(int layer, BranchKind branch, Pin pin);
  /// @brief Cost limits in measured training ms per step and MiB (0: none; -1: unchanged).
  void requestCostLimits(double max_ms, double max_mb);
  /// @brief Whether exactly k branches are kept (false: any number, the cost limits bind).
  void requestCountLimited(bool limited);
  /// @brief auto → keep → drop → auto for one cell.
  void cyclePin(int layer, int branch);
  /// @brief Whether edits reach an engine now: an engine in this process runs the model's run
  /// and the engine's rule (budgetEditRefusal) accepts budget edits in its state.
  bool isEditable() const;
  /// @brief The budget in force once the engine has answered every edit sent so far (the
  /// acknowledged budget with the unanswered edits applied): what the panel shows, and what
  /// the next edit changes.
  Budget expectedBudget() const;
  /// @brief Edits sent and not answered yet.
  int pendingEdits() const { return static_cast<int>(pending_.size()); }
  /// @brief What the status line says for the run's state (when no edit answer is shown).
  QString stateText() const;

  QSpinBox* kSpin() const { return k_spin_; }
  QSlider* kSlider() const { return k_slider_; }
  QCheckBox* countBox() const { return count_box_; }
  QDoubleSpinBox* msSpin() const { return ms_spin_; }
  QDoubleSpinBox* mbSpin() const { return mb_spin_; }
  QTableWidget* limitsTable() const { return limits_; }
  QTableWidget* pinsTable() const { return pins_; }
  QLabel* statusLabel() const { return status_; }
  QListWidget* log() const { return log_; }

 Q_SIGNALS:
  /// @brief The engine answered an edit (accepted or refused with `reason`).
  void answered(bool accepted, const QString& command, const QString& reason);

 private:
  /// Makes the undo stack show the engine's journal moved on by the unanswered commands.
  void reconcileUndoStack();
  void refresh();
  void onAck(const CommandAck& ack);
  void push(const Command& edit);
  void rebuildLog();
  void showState();
  void addLogLine(const CommandAck& ack);
  QString commandText(const CommandAck& ack) const;
  /// Sends through post_ and remembers the edit until its answer comes.
  int64_t send(const Command& c);

  RunModel* model_;
  QUndoStack* undo_;
  std::function<int64_t(const Command&)> post_;
  std::function<int64_t(const Command&)> post_through_;
  std::function<QString(const std::string&)> display_;  ///< an engine text in the run's names
  bool replaying_ = false;     ///< rebuilding the undo stack: its entries send nothing
  int64_t drags_ = 0;          ///< slider drags so far (each its merge id)
  int64_t drag_merge_ = 0;     ///< the merge id of the current drag
  int64_t last_log_merge_ = 0; ///< the merge id of the last answer logged
  QSpinBox* k_spin_;
  QSlider* k_slider_;
  QCheckBox* count_box_;
  QDoubleSpinBox* ms_spin_;
  QDoubleSpinBox* mb_spin_;
  int last_k_ = 0;  ///< the k to restore when the count is limited again
  QTableWidget* limits_;
  QTableWidget* pins_;
  QLabel* status_;
  QListWidget* log_;
  std::vector<std::pair<int64_t, Command>> pending_;  ///< sent, not acknowledged, in order
  bool refreshing_ = false;
  RunSource source_shown_ = RunSource::None;
  RunState state_shown_ = RunState::None;
};

}  // namespace repnas::ui
