#pragma once
// The pieces the explainer's pages are built from (page_widgets.cpp). Private to the ui library.

#include <QGroupBox>
#include <QLabel>
#include <QString>
#include <QStringList>
#include <QWidget>

#include <vector>

#include "repnas/explain.h"

namespace repnas::ui {
class KernelHeatmap;
namespace explainer {

/// The title of page `page` (the six steps, the proof, the counter-example).
QString pageTitle(int page);

/// The block's branches before and after step `step`, side by side: what the step changes is
/// outlined (object name "foldDiagram").
QWidget* foldDiagram(const QStringList& before, const QStringList& after, int step);
/// The 1x1 stage's output padded by BN-and-pad under a KxK window (step 4).
QWidget* padWindowPicture(int kernel_size);
/// The colour scale of an item's kernels, ±scale.
QWidget* colourLegend(double scale, bool upright);

/// One matrix as an annotated heatmap; colours scaled within the item.
KernelHeatmap* heatmapFor(const ExplainMatrix& m, double scale, int cell = 46);
/// The largest |value| of an item's matrices (1 when all are 0).
double itemScale(const ExplainItem& item);
/// A word-wrapped, selectable label (monospace for formulas).
QLabel* textLabel(const QString& text, bool mono = false);
/// Rows of item boxes, in order, each row as many boxes as fit `width` at their own widths
/// (shelf packing: a wide item takes the room of two narrow ones).
std::vector<std::vector<QGroupBox*>> packStepItems(const std::vector<QGroupBox*>& boxes, int width,
                                                   int spacing);

constexpr int kItemSpacing = 12;
constexpr int kMinItemWidth = 300;  ///< an item box: room for its arithmetic in a few lines

}  // namespace explainer
}  // namespace repnas::ui
