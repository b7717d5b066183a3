#pragma once
/// @file curves_view.h
/// @brief Training curves: loss, batch / epoch / validation / test accuracy, learning rates,
/// budget in force against branches kept, and images/s. Points are appended as they come.

#include <QWidget>

#include <map>
#include <string>
#include <vector>

#include "repnas_ui/run_model.h"

class QCustomPlot;
class QCPGraph;
class QSlider;
class QLabel;
class QComboBox;

namespace repnas::ui {

class RedrawThrottle;

class CurvesView : public QWidget {
  Q_OBJECT
 public:
  explicit CurvesView(RunModel* model, QWidget* parent = nullptr);
  /// @brief The four plots: loss, accuracy, learning rates, budget and speed.
  std::vector<QCustomPlot*> plots() const { return plots_; }
  /// @brief Exponential smoothing factor in [0, 0.99] for the per-step curves.
  double smoothing() const { return smoothing_; }
  void setSmoothing(double s);
  QCPGraph* lossGraph() const { return loss_smooth_; }
  QCPGraph* batchAccuracyGraph() const { return acc_smooth_; }
  QCPGraph* agreementGraph() const { return agreement_; }
  QCPGraph* budgetGraph() const { return budget_; }
  QCPGraph* keptGraph() const { return kept_; }
  /// @brief The graph of the strategy's metric `name` (e.g. GDAS's "val_loss"), or nullptr
  /// while no step has reported it.
  QCPGraph* metricGraph(const std::string& name) const;
  XAxis xAxis() const { return x_axis_; }
  void setXAxis(XAxis axis);
  QComboBox* xAxisBox() const { return x_axis_box_; }

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  void redraw();
  void rebuild();
  void append(int first, int count);
  void rebuildEpochs();

  RunModel* model_;
  std::vector<QCustomPlot*> plots_;
  QCPGraph* loss_raw_;
  QCPGraph* loss_smooth_;
  QCPGraph* acc_smooth_;
  QCPGraph* acc_epoch_;
  QCPGraph* acc_val_;
  QCPGraph* acc_test_;
  QCPGraph* lr_;
  QCPGraph* arch_lr_;
  QCPGraph* budget_;
  QCPGraph* kept_;
  QCPGraph* speed_;
  QCPGraph* noise_;
  QCPGraph* agreement_;
  /// The strategy's own numbers (StepSnapshot::metrics) but τ and α's lr, one graph per name,
  /// made when a step first reports it.
  QCustomPlot* metrics_plot_ = nullptr;
  std::map<std::string, QCPGraph*> metric_graphs_;
  QComboBox* x_axis_box_;
  XAxis x_axis_ = XAxis::Step;
  QSlider* smoothing_slider_;
  QLabel* smoothing_label_;
  double smoothing_ = 0.9;
  double loss_ema_ = 0, acc_ema_ = 0;
  bool ema_started_ = false;
  bool dirty_ = false;
  RedrawThrottle* throttle_ = nullptr;
};

}  // namespace repnas::ui
