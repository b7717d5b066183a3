#pragma once
/// @file budget_editor.h
/// @brief Edits the branch budget of a running search: global k (spin box + slider), per-layer
/// minimum and maximum, and per-(layer, branch) pins. Every edit is an engine command, pushed
/// on an undo stack; the engine's acknowledgement or refusal is shown.

#include <QWidget>

#include <functional>

#include "repnas/events.h"

class QLabel;
class QListWidget;
class QSlider;
class QSpinBox;
class QTableWidget;
class QUndoStack;

namespace repnas::ui {

class RunModel;

class BudgetEditor : public QWidget {
  Q_OBJECT
 public:
  /// `post` sends a command to the engine and returns its id (-1 when no engine runs).
  BudgetEditor(RunModel* model, QUndoStack* undo, std::function<int64_t(const Command&)> post,
               QWidget* parent = nullptr);

  /// @brief Requests a change as the user would (pushes an undoable command).
  void requestBudget(int k);
  void requestLayerLimits(int layer, int min, int max);
  void requestPin(int layer, BranchKind branch, Pin pin);
  /// @brief auto → keep → drop → auto for one cell.
  void cyclePin(int layer, int branch);
  /// @brief Whether edits reach an engine now (a live search before the fix).
  bool isEditable() const;
  /// @brief Whether an engine in this process runs the model's run (not a replay or monitor).
  void setLive(bool live);

  QSpinBox* kSpin() const { return k_spin_; }
  QSlider* kSlider() const { return k_slider_; }
  QTableWidget* limitsTable() const { return limits_; }
  QTableWidget* pinsTable() const { return pins_; }
  QLabel* statusLabel() const { return status_; }
  QListWidget* log() const { return log_; }

 Q_SIGNALS:
  /// @brief The engine answered an edit (accepted or refused with `reason`).
  void answered(bool accepted, const QString& command, const QString& reason);

 private:
  /// Removes the edit whose command `id` the engine refused from the undo stack.
  void dropRefusedEdit(int64_t id);
  void refresh();
  void onAck(const CommandAck& ack);
  void push(const Command& redo, const Command& undo, const QString& text);

  RunModel* model_;
  QUndoStack* undo_;
  std::function<int64_t(const Command&)> post_;
  QSpinBox* k_spin_;
  QSlider* k_slider_;
  QTableWidget* limits_;
  QTableWidget* pins_;
  QLabel* status_;
  QListWidget* log_;
  bool refreshing_ = false;
  bool live_ = false;
};

}  // namespace repnas::ui
