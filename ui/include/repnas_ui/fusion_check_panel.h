#pragma once
/// @file fusion_check_panel.h
/// @brief Runs the engine's fusion equivalence cases on a worker thread and shows the report.

#include <QWidget>

#include <atomic>
#include <memory>
#include <vector>

#include "repnas/fusion_check.h"

class QCustomPlot;
class QLabel;
class QProgressBar;
class QPushButton;
class QTableWidget;

namespace repnas::ui {

/// @brief A table of fusion cases (error, relative error, pass) and a log-scale error plot.
class FusionCheckPanel : public QWidget {
  Q_OBJECT
 public:
  explicit FusionCheckPanel(QWidget* parent = nullptr);
  ~FusionCheckPanel() override;

  /// @brief Results received so far, in case order.
  const std::vector<FusionResult>& results() const { return results_; }
  /// @brief True while the worker runs.
  bool isRunning() const { return running_; }
  QTableWidget* table() const { return table_; }
  QCustomPlot* plot() const { return plot_; }

 public Q_SLOTS:
  /// @brief Starts the standard cases on a worker thread (no-op while running).
  void start();
  /// @brief Asks the worker to stop after the current case.
  void cancel();

 Q_SIGNALS:
  /// @brief Emitted once per case, in the GUI thread.
  void caseFinished(int index, int total);
  /// @brief Emitted when the run ends (all cases, cancelled, or failed with an error).
  void finished(int passed, int failed);

 private:
  void addResult(const FusionResult& r, int index, int total);
  void finish(const QString& error);
  void replot();

  QPushButton* run_button_ = nullptr;
  QPushButton* cancel_button_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* summary_ = nullptr;
  QTableWidget* table_ = nullptr;
  QCustomPlot* plot_ = nullptr;
  std::vector<FusionResult> results_;
  bool running_ = false;
  std::shared_ptr<std::atomic<bool>> cancel_flag_;
};

}  // namespace repnas::ui
