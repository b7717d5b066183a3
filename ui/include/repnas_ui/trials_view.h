#pragma once
/// @file trials_view.h
/// @brief The networks a strategy evaluated while searching (RENA's children, issue 18), live:
/// validation accuracy against a chosen resource, feasible and over-limit trials apart, the
/// resource's limit drawn, the Pareto front (less resource, more accuracy) highlighted; hovering
/// a point shows its mask, clicking selects it, and the selected trial can be trained from
/// scratch. Every number comes from the run's trial events.

#include <QPointF>
#include <QWidget>

#include <map>
#include <optional>
#include <vector>

class QComboBox;
class QCPGraph;
class QCPItemStraightLine;
class QCustomPlot;
class QLabel;
class QPushButton;

namespace repnas::ui {

class RunModel;
class RedrawThrottle;

class TrialsView : public QWidget {
  Q_OBJECT
 public:
  explicit TrialsView(RunModel* model, QWidget* parent = nullptr);

  QComboBox* resourceBox() const { return resource_; }
  QCustomPlot* plot() const { return plot_; }
  /// @brief How many trials, feasible, the best feasible one, the limit; or why there are none.
  QLabel* summaryLabel() const { return summary_; }
  /// @brief The selected trial's numbers and mask.
  QLabel* detailLabel() const { return detail_; }
  QPushButton* retrainButton() const { return retrain_; }
  /// @brief The selected trial (index into RunModel::trials()), or -1.
  int selectedTrial() const { return selected_; }
  void selectTrial(int index);
  /// @brief The trial under widget position `pos` of the plot (within 8 pixels), or -1.
  int trialAt(const QPointF& pos) const;
  /// @brief What the tool tip says for trial `index`: its numbers and kept branches per layer.
  QString trialText(int index) const;
  /// @brief The trials of the Pareto front on the shown resource (no other trial has at most
  /// its resource and more accuracy, or less resource and as much), by increasing resource.
  const std::vector<int>& paretoFront() const { return front_; }

  /// @brief Indices of the points on the front of (x smaller, y larger), by increasing x.
  static std::vector<int> paretoFrontOf(const std::vector<QPointF>& points);

 Q_SIGNALS:
  /// @brief The user asked to train trial `index` from scratch.
  void retrainRequested(int index);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void rebuildResources();
  void draw();
  void showDetail();
  std::optional<double> limitOf(const QString& resource, bool* lower) const;
  void readLimits();

  RunModel* model_;
  QComboBox* resource_;
  QCustomPlot* plot_;
  QCPGraph* feasible_ = nullptr;
  QCPGraph* infeasible_ = nullptr;
  QCPGraph* front_graph_ = nullptr;
  QCPGraph* selected_graph_ = nullptr;
  QCPItemStraightLine* limit_line_ = nullptr;
  QLabel* summary_;
  QLabel* detail_;
  QPushButton* retrain_;
  std::vector<int> front_;
  std::vector<QPointF> points_;  ///< per trial: (resource, accuracy %)
  int selected_ = -1;
  /// The run's resource limits by resource name (read from its configuration once per run);
  /// `intensity` is a lower limit.
  std::map<QString, double> limits_;
  RedrawThrottle* throttle_ = nullptr;
};

}  // namespace repnas::ui
