#include "repnas_ui/plot_util.h"

#include <QEvent>
#include <QHelpEvent>
#include <QMouseEvent>
#include <QToolTip>

#include <qcustomplot.h>

#include <cmath>
#include <limits>

#include "widgets/ui_util.h"

namespace repnas::ui {

void placeLegendBelow(QCustomPlot* plot) {
  auto* legend = plot->legend;
  if (auto* inset = plot->axisRect()->insetLayout(); inset->take(legend)) inset->simplify();
  auto* layout = plot->plotLayout();
  const int row = layout->rowCount();
  layout->addElement(row, 0, legend);
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  legend->setWrap(4);
  legend->setMargins(QMargins(4, 0, 4, 2));
  legend->setBorderPen(Qt::NoPen);
  layout->setRowStretchFactor(row, 0.001);  // only as tall as its entries
  legend->setVisible(true);
}

void syncLegendRow(QCustomPlot* plot) {
  auto* legend = plot->legend;
  auto* layout = plot->plotLayout();
  const bool in_layout = legend->layout() == layout;
  if (legend->itemCount() == 0 && in_layout) {
    layout->take(legend);
    layout->simplify();
    legend->setVisible(false);
  } else if (legend->itemCount() > 0 && !in_layout) {
    const int row = layout->rowCount();
    layout->addElement(row, 0, legend);
    layout->setRowStretchFactor(row, 0.001);
    legend->setVisible(true);
  }
}

void applyPlotPalette(QCustomPlot* plot) {
  const QPalette pal = plot->palette();
  const QColor base = pal.color(QPalette::Base), ink = pal.color(QPalette::Text);
  QColor grid = ink;
  grid.setAlpha(45);
  plot->setBackground(base);
  for (auto* rect : plot->axisRects()) {
    rect->setBackground(base);
    for (auto* axis : rect->axes()) {
      axis->setBasePen(QPen(ink, 1));
      axis->setTickPen(QPen(ink, 1));
      axis->setSubTickPen(QPen(ink, 1));
      axis->setTickLabelColor(ink);
      axis->setLabelColor(ink);
      axis->grid()->setPen(QPen(grid, 1, Qt::DotLine));
      axis->grid()->setZeroLinePen(QPen(grid, 1));
    }
  }
  plot->legend->setBrush(base);
  plot->legend->setTextColor(ink);
  for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
    if (auto* title = qobject_cast<QCPTextElement*>(plot->plotLayout()->elementAt(i)))
      title->setTextColor(ink);
}

bool exportPlotImages(QCustomPlot* plot, const QString& path_base, const QString& heading) {
  auto* layout = plot->plotLayout();
  layout->insertRow(0);
  auto* title = new QCPTextElement(plot, heading, QFont("sans", 10, QFont::Bold));
  title->setTextColor(plot->palette().color(QPalette::Text));
  layout->addElement(0, 0, title);
  layout->setRowStretchFactor(0, 0.001);
  const int w = std::max(640, plot->width()), h = std::max(420, plot->height());
  const bool ok = plot->savePng(path_base + ".png", w, h) && plot->savePdf(path_base + ".pdf", w, h);
  layout->remove(title);
  layout->simplify();
  plot->replot();
  return ok;
}

QString formatValue(double v) {
  if (!std::isfinite(v)) return QString::number(v);
  const double a = std::abs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e6)) return QString::number(v, 'e', 3);
  return QString::number(v, 'f', a >= 100 ? 1 : a >= 1 ? 3 : 4);
}

PlotInteraction::PlotInteraction(QCustomPlot* plot, std::function<QString(double)> x_text)
    : QObject(plot), plot_(plot), x_text_(std::move(x_text)) {
  setObjectName("plotInteraction");
  plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot->installEventFilter(this);
  applyPlotPalette(plot);
}

PlotInteraction* PlotInteraction::of(QCustomPlot* plot) {
  return plot->findChild<PlotInteraction*>("plotInteraction", Qt::FindDirectChildrenOnly);
}

QString PlotInteraction::textAt(const QPointF& pos) const {
  constexpr double kNear = 24;  // pixels
  const QCPGraph* best = nullptr;
  double best_d = kNear * kNear, best_x = 0, best_y = 0;
  for (int i = 0; i < plot_->graphCount(); ++i) {
    const QCPGraph* g = plot_->graph(i);
    if (!g->visible() || g->data()->isEmpty()) continue;
    const auto* kx = g->keyAxis();
    const auto* vy = g->valueAxis();
    const double k0 = kx->pixelToCoord(pos.x() - kNear), k1 = kx->pixelToCoord(pos.x() + kNear);
    auto it = g->data()->findBegin(std::min(k0, k1));
    const auto end = g->data()->findEnd(std::max(k0, k1));
    for (; it != end; ++it) {
      if (!std::isfinite(it->value)) continue;
      const double dx = kx->coordToPixel(it->key) - pos.x(), dy = vy->coordToPixel(it->value) - pos.y();
      const double d = dx * dx + dy * dy;
      if (d < best_d) best_d = d, best = g, best_x = it->key, best_y = it->value;
    }
  }
  if (!best) return {};
  return QStringLiteral("%1\n%2: %3").arg(best->name(), x_text_ ? x_text_(best_x) : QString::number(best_x),
                                          formatValue(best_y));
}

void PlotInteraction::resetView() {
  user_view_ = false;
  plot_->rescaleAxes();
  plot_->replot();
}

bool PlotInteraction::eventFilter(QObject* watched, QEvent* event) {
  if (watched != plot_) return false;
  switch (event->type()) {
    case QEvent::ToolTip: {
      const auto* help = static_cast<QHelpEvent*>(event);
      const QString text = textAt(help->pos());
      if (text.isEmpty()) return false;  // the plot's own description
      QToolTip::showText(help->globalPos(), text, plot_);
      return true;
    }
    case QEvent::Wheel: user_view_ = true; break;
    case QEvent::MouseMove:
      if (static_cast<QMouseEvent*>(event)->buttons() & Qt::LeftButton) user_view_ = true;
      break;
    case QEvent::MouseButtonDblClick: resetView(); return true;
    case QEvent::PaletteChange:
      applyPlotPalette(plot_);
      plot_->replot();
      break;
    default: break;
  }
  return false;
}

QCPColorMap* makeLayerBranchHeatmap(QCustomPlot* plot, int gradient, QCPColorScale** scale) {
  auto* map = new QCPColorMap(plot->xAxis, plot->yAxis);
  map->setInterpolate(false);  // discrete cells
  map->setTightBoundary(false);
  auto* s = new QCPColorScale(plot);
  plot->plotLayout()->addElement(0, 1, s);
  s->setType(QCPAxis::atRight);
  map->setColorScale(s);
  map->setGradient(QCPColorGradient(static_cast<QCPColorGradient::GradientPreset>(gradient)));
  auto* margins = new QCPMarginGroup(plot);
  plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  s->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  plot->yAxis->setRangeReversed(true);
  plot->xAxis->setLabel(QObject::tr("branch kind"));
  plot->yAxis->setLabel(QObject::tr("layer"));
  *scale = s;
  return map;
}

void setLayerBranchGrid(QCustomPlot* plot, QCPColorMap* map, int kernel_size, const std::vector<QString>& row_labels) {
  const int rows = std::max(1, static_cast<int>(row_labels.size()));
  map->data()->setSize(kNumBranchKinds, rows);
  map->data()->setRange(QCPRange(0, kNumBranchKinds - 1), QCPRange(0, rows - 1));
  map->data()->fill(std::nan(""));
  QSharedPointer<QCPAxisTickerText> xt(new QCPAxisTickerText);
  for (int b = 0; b < kNumBranchKinds; ++b) xt->addTick(b, branchLabel(b, kernel_size));
  plot->xAxis->setTicker(xt);
  QSharedPointer<QCPAxisTickerText> yt(new QCPAxisTickerText);
  for (size_t l = 0; l < row_labels.size(); ++l) yt->addTick(static_cast<double>(l), row_labels[l]);
  plot->yAxis->setTicker(yt);
  plot->xAxis->setRange(-0.5, kNumBranchKinds - 0.5);
  plot->yAxis->setRange(-0.5, rows - 0.5);
}

QCPItemRect* addCellOutline(QCustomPlot* plot, int layer, int branch, double half, const QPen& pen) {
  auto* rect = new QCPItemRect(plot);
  rect->topLeft->setCoords(branch - half, layer - half);
  rect->bottomRight->setCoords(branch + half, layer + half);
  rect->setPen(pen);
  rect->setBrush(Qt::NoBrush);
  rect->setVisible(false);
  return rect;
}

QCPItemText* addCellText(QCustomPlot* plot, int layer, int branch) {
  auto* text = new QCPItemText(plot);
  text->position->setCoords(branch, layer);
  text->setFont(QFont(plot->font().family(), 8));
  return text;
}

}  // namespace repnas::ui
