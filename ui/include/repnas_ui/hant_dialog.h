#pragma once
/// @file hant_dialog.h
/// @brief HANT on a finished run (repnas::runHant on a worker thread, issue 17): the options,
/// the progress of each stage, the speed-up / accuracy curve of the knapsack's choices beside
/// every layer taking one operation, and which operation each layer gets; a speed-up on the
/// curve is solved again at once from the same phase 1 (solveHantBudget); the budget's student
/// is exported (ONNX, TorchScript, spec) into the folder.

#include <QDialog>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include "repnas/hant.h"

class QCustomPlot;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace repnas::ui {

class HantDialog : public QDialog {
  Q_OBJECT
 public:
  explicit HantDialog(const QString& run_dir, QWidget* parent = nullptr);
  ~HantDialog() override;

  QDoubleSpinBox* speedupBox() const { return speedup_; }
  QLineEdit* curveEdit() const { return curve_; }
  QSpinBox* distillStepsBox() const { return distill_; }
  QSpinBox* fitStudentsBox() const { return fit_students_; }
  QSpinBox* finetuneStepsBox() const { return finetune_; }
  QLineEdit* folderEdit() const { return folder_; }
  QPushButton* runButton() const { return run_; }
  QPushButton* cancelButton() const { return cancel_; }
  QLabel* stageLabel() const { return stage_; }
  QLabel* summaryLabel() const { return summary_; }
  QCustomPlot* curvePlot() const { return plot_; }
  QTableWidget* layersTable() const { return table_; }
  /// @brief A speed-up to solve again from the finished phase 1 (no fine-tuning, predicted).
  QDoubleSpinBox* resolveBox() const { return resolve_; }
  /// @brief Runs HANT again with resolveBox()'s speed-up as the budget: its student fine-tuned and exported.
  QPushButton* useBudgetButton() const { return use_budget_; }
  /// @brief Opens the folder the student was exported to (shown once it was).
  QPushButton* openFolderButton() const { return open_folder_; }
  bool isWorking() const { return working_; }
  const std::optional<HantResult>& result() const { return result_; }
  QString error() const { return error_; }
  /// @brief The choice the table shows (the fine-tuned student's, or a re-solved one).
  const std::vector<HantOp>& shownChoice() const { return shown_; }

 public Q_SLOTS:
  void startHant();
  void cancelHant();
  /// @brief Solves the speed-up of resolveBox() from the result and shows its choice.
  void resolve();

 Q_SIGNALS:
  void hantFinished(bool ok);

 private:
  void showResult();
  void showChoice(const std::vector<HantOp>& choice, const QString& what);

  QString run_dir_;
  QDoubleSpinBox* speedup_;
  QLineEdit* curve_;
  QSpinBox* distill_;
  QSpinBox* fit_students_;
  QSpinBox* finetune_;
  QLineEdit* folder_;
  QPushButton* run_;
  QPushButton* cancel_;
  QProgressBar* progress_;
  QLabel* stage_;
  QLabel* summary_;
  QCustomPlot* plot_;
  QTableWidget* table_;
  QDoubleSpinBox* resolve_;
  QPushButton* use_budget_;
  QPushButton* open_folder_;
  std::shared_ptr<std::atomic<bool>> cancel_flag_;
  std::thread worker_;
  bool working_ = false;
  std::optional<HantResult> result_;
  QString error_;
  std::vector<HantOp> shown_;
};

}  // namespace repnas::ui
