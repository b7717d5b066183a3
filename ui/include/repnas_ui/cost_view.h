#pragma once
/// @file cost_view.h
/// @brief The cost heatmap beside the importance heatmap (issue 17): what each (layer, branch)
/// costs to train on this machine — forward + backward ms per step, or the MiB its forward
/// keeps for the backward — from the run's costs.json (measured by the engine when a search
/// starts, or by `repnas costs`). The shown step's mask is outlined and its predicted step cost
/// stands beside the budget's cost limits.

#include <QWidget>

#include <functional>
#include <optional>

#include "repnas/costs.h"

class QComboBox;
class QCPColorMap;
class QCPColorScale;
class QCPItemRect;
class QCPItemText;
class QCustomPlot;
class QLabel;

namespace repnas::ui {

class RunModel;
class RedrawThrottle;

class CostView : public QWidget {
  Q_OBJECT
 public:
  /// `run_folder` tells the folder of the run the model shows (where costs.json is).
  CostView(RunModel* model, std::function<QString()> run_folder, QWidget* parent = nullptr);

  /// @brief Reads the run folder's costs.json again (the view does on every run start).
  void reload();
  bool hasCosts() const { return costs_.has_value(); }
  /// @brief The number a cell shows (ms or MiB), NaN where the layer has no such branch.
  double cellValue(int layer, int branch) const;
  /// @brief Whether the cell is outlined as part of the last step's mask.
  bool cellKept(int layer, int branch) const;
  /// @brief The quantity shown: 0 ms per step, 1 MiB.
  QComboBox* quantityBox() const { return quantity_; }
  QCustomPlot* heatmap() const { return heatmap_; }
  /// @brief Where the table comes from and what the shown mask costs, or why there is none.
  QLabel* summaryLabel() const { return summary_; }

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  void rebuild();
  void draw();

  RunModel* model_;
  std::function<QString()> run_folder_;
  std::optional<TrainingCosts> costs_;
  QString problem_;  ///< why there is no table
  QComboBox* quantity_;
  QCustomPlot* heatmap_;
  QCPColorMap* map_ = nullptr;
  QCPColorScale* scale_ = nullptr;
  std::vector<QCPItemRect*> marks_;
  std::vector<QCPItemText*> texts_;
  std::vector<bool> kept_;
  QLabel* summary_;
  int layers_ = 0;
  bool dirty_ = false;
  RedrawThrottle* throttle_ = nullptr;
};

}  // namespace repnas::ui
