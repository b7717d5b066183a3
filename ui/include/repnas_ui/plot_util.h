#pragma once
/// @file plot_util.h
/// @brief What every plot of the studio does the same way: the legend beside the data,
/// never over it; the values under the cursor; zoom and pan that a new point does not undo,
/// reset by a double-click; colours from the widget's palette (light or dark).

#include <QObject>
#include <QPointF>
#include <QString>

#include <functional>
#include <vector>

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QCPGraph;
class QCPItemRect;
class QCPItemText;
class QPen;

namespace repnas::ui {

/// @brief Moves the plot's legend out of the axis rect into a row under it, laid out in
/// columns, so that it never covers the newest data.
void placeLegendBelow(QCustomPlot* plot);

/// @brief Keeps the legend row only while the legend has entries: an empty legend in the
/// layout would clamp the plot's width (QCustomPlot takes an element's maximum size into its
/// column, and an empty legend's is its margins).
void syncLegendRow(QCustomPlot* plot);

/// @brief Colours of axes, grid, labels, legend and background from the plot's palette
/// (Base for the background, Text for the ink), so a dark desktop theme stays readable.
void applyPlotPalette(QCustomPlot* plot);

/// @brief Hover readout, zoom and pan for a plot of graphs. Owned by the plot.
/// Moving the mouse shows the nearest point of a visible graph (series name, x, value) as a
/// tool tip; dragging pans and the wheel zooms; once the user has zoomed or panned the plot's
/// owner should stop rescaling it (userView()) until a double-click, which resets the view.
/// Re-applies the palette when it changes.
class PlotInteraction : public QObject {
 public:
  /// `x_text` formats an x coordinate ("step 120", "epoch 2.5", "1:05 wall time").
  PlotInteraction(QCustomPlot* plot, std::function<QString(double)> x_text);
  /// @brief What the tool tip says at a widget position (empty when no point is near).
  QString textAt(const QPointF& pos) const;
  /// @brief Whether the user has zoomed or panned since the last reset.
  bool userView() const { return user_view_; }
  /// @brief Back to the automatic view: all data visible.
  void resetView();
  void setXText(std::function<QString(double)> x_text) { x_text_ = std::move(x_text); }

  static PlotInteraction* of(QCustomPlot* plot);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  QCustomPlot* plot_;
  std::function<QString(double)> x_text_;
  bool user_view_ = false;
};

/// @brief Writes the plot as `path_base`.png and .pdf (at least 640×420) with `heading` (run
/// name and step) above it; the plot on screen is unchanged. False when a file cannot be written.
bool exportPlotImages(QCustomPlot* plot, const QString& path_base, const QString& heading);

/// @brief Makes `plot` a layers × branch kinds heatmap: a colour map of discrete cells with
/// `gradient`, its colour scale at the right (returned in `scale`), layer 0 on top, axis labels.
QCPColorMap* makeLayerBranchHeatmap(QCustomPlot* plot, int gradient, QCPColorScale** scale);

/// @brief Lays out a layers × branch kinds heatmap: `map` sized `layers` rows of 6 cells, all
/// NaN; the x ticks the branch names for kernel size K, the y ticks `row_labels`; axis ranges
/// around the cells. (The importance and the cost heatmaps.)
void setLayerBranchGrid(QCustomPlot* plot, QCPColorMap* map, int kernel_size, const std::vector<QString>& row_labels);
/// @brief A hidden outline of cell (layer, branch), `half` of a cell wide each side.
QCPItemRect* addCellOutline(QCustomPlot* plot, int layer, int branch, double half, const QPen& pen);
/// @brief The value text of cell (layer, branch), font size 8.
QCPItemText* addCellText(QCustomPlot* plot, int layer, int branch);

/// @brief Formats a y value with enough digits for its size.
QString formatValue(double v);

}  // namespace repnas::ui
