#pragma once
/// @file importance_view.h
/// @brief The importance heatmap (layers × branch kinds, colour σ(α), kept branches outlined,
/// pins marked), a step slider that replays history, and the selected layer's α trajectories.

#include <QWidget>

#include <vector>

class QCheckBox;
class QCPColorMap;
class QCPColorScale;
class QCPItemRect;
class QCPItemStraightLine;
class QCPItemText;
class QCustomPlot;
class QLabel;
class QSlider;

namespace repnas {
struct StrategyInfo;
}

namespace repnas::ui {

class RunModel;
class RedrawThrottle;

class ImportanceView : public QWidget {
  Q_OBJECT
 public:
  explicit ImportanceView(RunModel* model, QWidget* parent = nullptr);

  /// @brief The colour scale's range (0..1, or the shown σ(α)'s own with Auto range).
  std::pair<double, double> colourRange() const;
  /// @brief σ(α) shown in cell (layer, branch) now.
  double cellValue(int layer, int branch) const;
  /// @brief Whether the cell is drawn as kept (the sampled mask of the shown step).
  bool cellKept(int layer, int branch) const;
  /// @brief Whether the cell is outlined as "top-k if fixed now" (noise-free top-k of α).
  bool cellInTopK(int layer, int branch) const;
  QCheckBox* autoRangeBox() const { return auto_range_; }
  QCheckBox* sampledMaskBox() const { return show_sampled_; }
  QCheckBox* topKBox() const { return show_topk_; }
  /// @brief What the colour scale says: "σ(α)" on 0..1, or the zoomed range and factor.
  QString scaleLabel() const;
  /// @brief What the colours are: "σ(α)" (RepNAS, GDAS) or "keep probability" (RENA).
  QString importanceName() const;
  /// @brief Index into model->steps() of the snapshot shown (-1: none).
  int shownSnapshot() const { return shown_; }
  int selectedLayer() const { return selected_layer_; }
  QCustomPlot* heatmap() const { return heatmap_; }
  QCustomPlot* layerPlot() const { return layer_plot_; }
  QSlider* stepSlider() const { return slider_; }
  QLabel* stepLabel() const { return step_label_; }
  /// @brief The dashed line on the α plot at the step the heatmap shows.
  QCPItemStraightLine* shownStepLine() const { return shown_line_; }
  /// @brief What hovering a cell shows: layer, branch, α, σ(α), kept or not, and why.
  QString cellText(int layer, int branch) const;
  /// @brief The cell under a widget position of the heatmap, or {-1, -1}.
  std::pair<int, int> cellAt(const QPointF& pos) const;

 public Q_SLOTS:
  void selectLayer(int layer);
  /// @brief Shows snapshot `index` (leaves live mode unless it is the last).
  void showSnapshot(int index);

 Q_SIGNALS:
  void layerSelected(int layer);
  /// @brief A cell was clicked with the right button or Ctrl: the user wants to cycle its pin.
  void pinCycleRequested(int layer, int branch);

 protected:
  void showEvent(QShowEvent* event) override;
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  const StrategyInfo* strategy() const;
  void rebuildAxes();
  void drawSnapshot();
  void drawLabels();
  void rebuildLayerPlot();
  void appendLayerPlot(int first, int count);
  void onStepsAppended(int first, int count);

  RunModel* model_;
  QCustomPlot* heatmap_;
  QCPColorMap* map_ = nullptr;
  QCPColorScale* scale_ = nullptr;
  std::vector<QCPItemRect*> kept_marks_;
  std::vector<QCPItemRect*> topk_marks_;
  std::vector<QCPItemText*> cell_texts_;
  QSlider* slider_;
  QCheckBox* live_;
  QCheckBox* auto_range_;
  QCheckBox* show_sampled_;
  QCheckBox* show_topk_;
  QLabel* step_label_;
  QCustomPlot* layer_plot_;
  QLabel* layer_label_;
  QCPItemStraightLine* shown_line_ = nullptr;
  int shown_ = -1;
  int selected_layer_ = 0;
  int layers_ = 0;
  std::vector<double> values_;  // [layers × 6] shown
  std::vector<bool> kept_;
  std::vector<bool> topk_;
  bool dirty_ = false;
  RedrawThrottle* throttle_ = nullptr;
};

}  // namespace repnas::ui
