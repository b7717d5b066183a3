#include "repnas_ui/importance_view.h"

#include "repnas/strategy_info.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QSlider>
#include <QSplitter>
#include <QToolTip>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include "repnas_ui/plot_util.h"
#include "repnas_ui/run_model.h"
#include "widgets/ui_util.h"

namespace repnas::ui {
namespace {

const QColor kBranchColors[kNumBranchKinds] = {QColor("#1f77b4"), QColor("#ff7f0e"), QColor("#2ca02c"),
                                               QColor("#d62728"), QColor("#9467bd"), QColor("#8c564b")};

}  // namespace

ImportanceView::ImportanceView(RunModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  heatmap_ = new QCustomPlot;
  heatmap_->setObjectName("importanceHeatmap");
  heatmap_->setToolTip(tr("σ(α) per layer and branch kind on a fixed 0–1 scale. Cyan outline: the "
                          "branches the shown step trained (its noisy sample); dashed white: the "
                          "top-k of α without noise, what the fix would keep now.\nClick a row to "
                          "inspect the layer; right-click (or Ctrl+click) a cell to cycle its pin: "
                          "auto → keep → drop."));
  heatmap_->setMinimumHeight(260);
  map_ = makeLayerBranchHeatmap(heatmap_, QCPColorGradient::gpThermal, &scale_);
  scale_->axis()->setLabel(QStringLiteral("σ(α)"));
  map_->setDataRange(QCPRange(0, 1));

  slider_ = new QSlider(Qt::Horizontal);
  slider_->setToolTip(tr("Replay: the step whose σ(α) and mask the heatmap shows."));
  slider_->setEnabled(false);
  live_ = new QCheckBox(tr("&Live"));
  live_->setChecked(true);
  live_->setToolTip(tr("Follow the newest step."));
  auto_range_ = new QCheckBox(tr("&Zoom colours"));
  auto_range_->setChecked(false);
  auto_range_->setToolTip(tr("Zoom the colour scale onto the smallest to the largest σ(α) of the "
                             "shown step, with as many digits as tell them apart; the scale then "
                             "says by how much it is zoomed. Off: the fixed range 0 to 1, where "
                             "equal colours mean equal importance."));
  connect(auto_range_, &QCheckBox::toggled, this, [this] { drawSnapshot(); });
  show_sampled_ = new QCheckBox(tr("S&ampled"));
  show_sampled_->setChecked(true);
  show_sampled_->setToolTip(tr("Outline (cyan) the branches the shown step trained: its noisy top-k."));
  show_topk_ = new QCheckBox(tr("Top-&k now"));
  show_topk_->setChecked(true);
  show_topk_->setToolTip(tr("Outline (dashed white) the top-k of α without noise under the budget: "
                            "what the fix would keep if it came now."));
  for (auto* box : {show_sampled_, show_topk_})
    connect(box, &QCheckBox::toggled, this, [this] { drawSnapshot(); });
  step_label_ = new QLabel(tr("no steps yet"));
  auto* slider_row = new QHBoxLayout;
  slider_row->addWidget(new QLabel(tr("Step:")));
  slider_row->addWidget(slider_, 1);
  slider_row->addWidget(live_);
  auto* display_row = new QHBoxLayout;  // what the cells show
  display_row->addWidget(new QLabel(tr("Outline:")));
  display_row->addWidget(show_sampled_);
  display_row->addWidget(show_topk_);
  display_row->addSpacing(12);
  display_row->addWidget(auto_range_);
  display_row->addStretch(1);

  layer_plot_ = new QCustomPlot;
  layer_plot_->setObjectName("layerAlphaPlot");
  layer_plot_->setToolTip(tr("α of the selected layer's branches over the steps."));
  layer_plot_->xAxis->setLabel(tr("step"));
  layer_plot_->yAxis->setLabel(QStringLiteral("α"));
  layer_plot_->legend->setFont(QFont(font().family(), 8));
  placeLegendBelow(layer_plot_);
  layer_plot_->legend->setWrap(kNumBranchKinds);
  for (int b = 0; b < kNumBranchKinds; ++b) {
    auto* g = layer_plot_->addGraph();
    g->setName(branchLabel(b, 3));
    g->setPen(QPen(kBranchColors[b], 1.5));
  }
  // Zoom, pan, values under the cursor; the step the heatmap shows as a vertical line.
  new PlotInteraction(layer_plot_, [](double x) { return RunModel::xText(x, XAxis::Step); });
  shown_line_ = new QCPItemStraightLine(layer_plot_);
  shown_line_->setPen(QPen(QColor(127, 127, 127), 1, Qt::DashLine));
  shown_line_->setVisible(false);
  applyPlotPalette(heatmap_);
  heatmap_->installEventFilter(this);
  layer_label_ = new QLabel;
  layer_label_->setWordWrap(true);

  auto* top = new QWidget;
  auto* top_layout = new QVBoxLayout(top);
  top_layout->setContentsMargins(0, 0, 0, 0);
  top_layout->addWidget(heatmap_, 1);
  top_layout->addLayout(slider_row);
  top_layout->addLayout(display_row);
  step_label_->setWordWrap(true);
  top_layout->addWidget(step_label_);
  auto* bottom = new QWidget;
  auto* bottom_layout = new QVBoxLayout(bottom);
  bottom_layout->setContentsMargins(0, 0, 0, 0);
  bottom_layout->addWidget(layer_label_);
  bottom_layout->addWidget(layer_plot_, 1);
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(top);
  split->addWidget(bottom);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  split->setSizes({520, 300});
  layer_plot_->setMinimumHeight(180);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);

  throttle_ = new RedrawThrottle([this] {
    drawLabels();
    heatmap_->replot(QCustomPlot::rpImmediateRefresh);
    if (!PlotInteraction::of(layer_plot_)->userView()) layer_plot_->rescaleAxes();
    layer_plot_->replot(QCustomPlot::rpImmediateRefresh);
  }, this);
  connect(model_, &RunModel::reset, this, [this] {
    // A new run (or a failed start) starts clean: no old axes, legend or step.
    shown_ = -1;
    rebuildAxes();
    rebuildLayerPlot();
    PlotInteraction::of(layer_plot_)->resetView();
    if (model_->steps().empty()) {
      layer_plot_->xAxis->setRange(0, 1);
      layer_plot_->yAxis->setRange(-1, 1);
    }
    drawSnapshot();
    drawLabels();  // at once: a failed start must not leave the last run's step on screen
  });
  connect(model_, &RunModel::runStarted, this, [this] {
    const auto* s = strategy();
    layer_plot_->yAxis->setLabel(s && s->importance_is_probability ? importanceName() : QStringLiteral("α"));
    rebuildAxes();
    drawSnapshot();
  });
  connect(model_, &RunModel::stepsAppended, this, &ImportanceView::onStepsAppended);
  connect(model_, &RunModel::updated, this, [this] {
    // Budget and pins may have changed without new steps.
    if (model_->steps().empty()) drawSnapshot();
  });
  connect(slider_, &QSlider::valueChanged, this, [this](int v) {
    if (v != shown_) showSnapshot(v);
  });
  connect(live_, &QCheckBox::toggled, this, [this](bool on) {
    if (on && !model_->steps().empty()) showSnapshot(static_cast<int>(model_->steps().size()) - 1);
  });
  connect(heatmap_, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    const auto [layer, branch] = cellAt(e->position());
    if (layer < 0) return;
    if (e->button() == Qt::RightButton || (e->modifiers() & Qt::ControlModifier))
      Q_EMIT pinCycleRequested(layer, branch);
    else
      selectLayer(layer);
  });
  rebuildAxes();
}

std::pair<int, int> ImportanceView::cellAt(const QPointF& pos) const {
  if (layers_ == 0) return {-1, -1};
  const double x = heatmap_->xAxis->pixelToCoord(pos.x());
  const double y = heatmap_->yAxis->pixelToCoord(pos.y());
  const int branch = static_cast<int>(std::lround(x));
  const int layer = static_cast<int>(std::lround(y));
  if (branch < 0 || branch >= kNumBranchKinds || layer < 0 || layer >= layers_) return {-1, -1};
  return {layer, branch};
}

void ImportanceView::rebuildAxes() {
  layers_ = model_->layers();
  for (auto* item : kept_marks_) heatmap_->removeItem(item);
  for (auto* item : topk_marks_) heatmap_->removeItem(item);
  topk_marks_.clear();
  for (auto* item : cell_texts_) heatmap_->removeItem(item);
  kept_marks_.clear();
  cell_texts_.clear();
  std::vector<QString> rows;
  for (int l = 0; l < layers_; ++l) {
    const auto& info = model_->info().layers[l];
    rows.push_back(qs(info.label) + (info.has_identity ? QStringLiteral(" +id") : QString()));
  }
  setLayerBranchGrid(heatmap_, map_, model_->kernelSize(), rows);
  for (int l = 0; l < layers_; ++l)
    for (int b = 0; b < kNumBranchKinds; ++b) {
      kept_marks_.push_back(addCellOutline(heatmap_, l, b, 0.42, QPen(QColor("#00c8ff"), 3)));
      topk_marks_.push_back(addCellOutline(heatmap_, l, b, 0.32, QPen(Qt::white, 2, Qt::DashLine)));
      auto* text = addCellText(heatmap_, l, b);
      text->setColor(Qt::white);
      cell_texts_.push_back(text);
    }
  values_.assign(static_cast<size_t>(layers_) * kNumBranchKinds, std::nan(""));
  kept_.assign(values_.size(), false);
  topk_.assign(values_.size(), false);
  heatmap_->replot(QCustomPlot::rpQueuedReplot);
}

void ImportanceView::onStepsAppended(int first, int count) {
  const int n = static_cast<int>(model_->steps().size());
  slider_->blockSignals(true);
  slider_->setRange(0, std::max(0, n - 1));
  slider_->setEnabled(n > 0);
  slider_->blockSignals(false);
  if (first == 0) rebuildLayerPlot();
  else appendLayerPlot(first, count);
  if (live_->isChecked() || shown_ < 0) showSnapshot(n - 1);
}

void ImportanceView::showSnapshot(int index) {
  const int n = static_cast<int>(model_->steps().size());
  if (n == 0) return;
  index = std::clamp(index, 0, n - 1);
  shown_ = index;
  if (index != n - 1 && live_->isChecked()) {
    live_->blockSignals(true);
    live_->setChecked(false);
    live_->blockSignals(false);
  }
  slider_->blockSignals(true);
  slider_->setValue(index);
  slider_->blockSignals(false);
  drawSnapshot();
}

void ImportanceView::drawSnapshot() {
  const auto& steps = model_->steps();
  const bool have = shown_ >= 0 && shown_ < static_cast<int>(steps.size());
  const auto& pins = model_->budget().pins;
  for (int l = 0; l < layers_; ++l)
    for (int b = 0; b < kNumBranchKinds; ++b) {
      const size_t i = static_cast<size_t>(l) * kNumBranchKinds + b;
      const bool present = model_->info().layers[l].block.branches.test(b);
      double v = std::nan("");
      bool kept = false, topk = false;
      if (have && present) {
        const auto& s = steps[shown_];
        v = i < s.sigma.size() ? s.sigma[i] : std::nan("");
        kept = l < static_cast<int>(s.mask.size()) && s.mask[l].test(b);
        topk = l < static_cast<int>(s.topk_mask.size()) && s.topk_mask[l].test(b);
      } else if (!have && present && model_->hasRun()) {
        const auto& a = model_->info().alpha;
        if (i < a.size()) v = strategy() ? strategy()->shownImportance(a[i]) : 1.0 / (1.0 + std::exp(-a[i]));
      }
      values_[i] = v;
      kept_[i] = kept;
      topk_[i] = topk;
      map_->data()->setCell(b, l, v);
      kept_marks_[i]->setVisible(kept && show_sampled_->isChecked());
      topk_marks_[i]->setVisible(topk && show_topk_->isChecked());
    }
  // Colour range and digits: fixed 0..1, or the shown values' own range.
  double lo = 0, hi = 1;
  if (auto_range_->isChecked()) {
    lo = INFINITY;
    hi = -INFINITY;
    for (double v : values_)
      if (!std::isnan(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (hi - lo < 1e-6) lo -= 5e-7, hi += 5e-7;
  }
  map_->setDataRange(QCPRange(lo, hi));
  shown_line_->setVisible(have);
  if (have) {
    const double x = static_cast<double>(steps[shown_].step + 1);
    shown_line_->point1->setCoords(x, 0);
    shown_line_->point2->setCoords(x, 1);
  }
  scale_->axis()->setLabel(scaleLabel());
  const int digits = std::clamp(static_cast<int>(std::ceil(-std::log10(hi - lo))) + 1, 2, 6);
  for (int l = 0; l < layers_; ++l)
    for (int b = 0; b < kNumBranchKinds; ++b) {
      const size_t i = static_cast<size_t>(l) * kNumBranchKinds + b;
      const double v = values_[i];
      const bool present = model_->info().layers[l].block.branches.test(b);
      QString text = std::isnan(v) ? (present ? QString() : QStringLiteral("—"))
                                   : QString::number(v, 'f', digits);
      if (l < static_cast<int>(pins.size())) {
        if (pins[l][b] == Pin::Keep) text += QStringLiteral(" ⊕");
        if (pins[l][b] == Pin::Drop) text += QStringLiteral(" ⊘");
      }
      cell_texts_[i]->setText(text);
      cell_texts_[i]->setColor(std::isnan(v) ? Qt::gray : ((v - lo) / (hi - lo) > 0.6 ? Qt::black : Qt::white));
    }
  if (isVisible()) throttle_->request();
  else dirty_ = true;
}

void ImportanceView::drawLabels() {
  const auto& steps = model_->steps();
  const bool have = shown_ >= 0 && shown_ < static_cast<int>(steps.size());
  if (have) {
    const auto& s = steps[shown_];
    QString text = tr("step %1 · epoch %2 · %3 · k=%4 · %5 kept")
                       .arg(s.step + 1)
                       .arg(s.epoch + 1)
                       .arg(qs(phaseName(s.phase)))
                       .arg(s.budget_k)
                       .arg(countBranches(s.mask));
    if (!s.topk_mask.empty())
      text += tr(" · τ %1 · agreement %2%").arg(s.noise_scale, 0, 'f', 2).arg(100 * s.mask_agreement, 0, 'f', 0);
    step_label_->setText(text);
  } else {
    step_label_->setText(model_->hasRun() ? tr("no steps yet") : tr("no run"));
  }
  // The selected layer's kept set.
  if (selected_layer_ < layers_) {
    const auto& info = model_->info().layers[selected_layer_];
    QString kept_text = have ? qs(withKernelSizeNames(maskName(steps[shown_].mask[selected_layer_]), model_->kernelSize()))
                             : tr("(no step yet)");
    layer_label_->setText(tr("<b>%1</b>%2 — kept at the shown step: %3")
                              .arg(qs(info.label), info.has_identity ? tr(" (+ identity)") : QString(),
                                   kept_text));
  } else {
    layer_label_->setText(tr("Click a heatmap row to see that layer's α over the steps."));
  }
}

void ImportanceView::selectLayer(int layer) {
  if (layer < 0 || (layers_ > 0 && layer >= layers_)) return;
  selected_layer_ = layer;
  rebuildLayerPlot();
  drawSnapshot();
  drawLabels();  // at once: the label must name the layer the plot now shows
  Q_EMIT layerSelected(layer);
}

void ImportanceView::rebuildLayerPlot() {
  for (int b = 0; b < kNumBranchKinds; ++b) {
    auto* g = layer_plot_->graph(b);
    g->data()->clear();
    g->setName(branchLabel(b, model_->kernelSize()));
    const bool present = selected_layer_ < layers_ &&
                         model_->info().layers[selected_layer_].block.branches.test(b);
    g->setVisible(present);
    g->removeFromLegend();
    if (present) g->addToLegend();
  }
  syncLegendRow(layer_plot_);
  appendLayerPlot(0, static_cast<int>(model_->steps().size()));
}

void ImportanceView::appendLayerPlot(int first, int count) {
  const auto& steps = model_->steps();
  if (selected_layer_ >= layers_) return;
  for (int b = 0; b < kNumBranchKinds; ++b) {
    auto* g = layer_plot_->graph(b);
    if (!g->visible()) continue;
    QVector<double> keys, values;
    keys.reserve(count);
    values.reserve(count);
    for (int i = first; i < first + count && i < static_cast<int>(steps.size()); ++i) {
      const size_t idx = static_cast<size_t>(selected_layer_) * kNumBranchKinds + b;
      if (idx >= steps[i].alpha.size()) continue;
      keys.push_back(static_cast<double>(steps[i].step + 1));
      values.push_back(steps[i].alpha[idx]);
    }
    g->addData(keys, values, true);
  }
  if (!isVisible()) {
    dirty_ = true;
    return;
  }
  throttle_->request();
}

void ImportanceView::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (dirty_) {
    dirty_ = false;
    drawSnapshot();
    throttle_->request();
  }
}

std::pair<double, double> ImportanceView::colourRange() const {
  return {map_->dataRange().lower, map_->dataRange().upper};
}

double ImportanceView::cellValue(int layer, int branch) const {
  const size_t i = static_cast<size_t>(layer) * kNumBranchKinds + branch;
  return i < values_.size() ? values_[i] : std::nan("");
}

bool ImportanceView::cellInTopK(int layer, int branch) const {
  const size_t i = static_cast<size_t>(layer) * kNumBranchKinds + branch;
  return i < topk_.size() && topk_[i];
}

const StrategyInfo* ImportanceView::strategy() const {
  return model_->hasRun() ? findStrategy(model_->info().mode) : nullptr;
}

QString ImportanceView::importanceName() const {
  const auto* s = strategy();
  return s && s->importance_is_probability ? tr("keep probability") : QStringLiteral("σ(α)");
}

QString ImportanceView::scaleLabel() const {
  const auto range = map_->dataRange();
  if (!auto_range_->isChecked()) return importanceName();
  const double span = std::max(range.upper - range.lower, 1e-12);
  return tr("%1, zoomed ×%2: %3–%4")
      .arg(importanceName())
      .arg(1.0 / span, 0, 'g', 3)
      .arg(range.lower, 0, 'g', 4)
      .arg(range.upper, 0, 'g', 4);
}

QString ImportanceView::cellText(int layer, int branch) const {
  if (layer < 0 || layer >= layers_ || branch < 0 || branch >= kNumBranchKinds) return {};
  const auto& info = model_->info().layers[layer];
  const QString name = tr("%1 · %2").arg(qs(info.label), branchLabel(branch, model_->kernelSize()));
  if (!info.block.branches.test(branch)) return tr("%1\nnot in this layer's block").arg(name);
  const auto& steps = model_->steps();
  const bool have = shown_ >= 0 && shown_ < static_cast<int>(steps.size());
  const size_t i = static_cast<size_t>(layer) * kNumBranchKinds + branch;
  double alpha = std::nan("");
  if (have && i < steps[shown_].alpha.size()) alpha = steps[shown_].alpha[i];
  else if (!have && i < model_->info().alpha.size()) alpha = model_->info().alpha[i];
  const auto* strategy_info = strategy();
  QString text = strategy_info && strategy_info->importance_is_probability
                     ? tr("%1\nkeep probability = %2 (after one swap of the controller from its best network)")
                           .arg(name, formatValue(alpha))
                     : tr("%1\nα = %2, σ(α) = %3").arg(name, formatValue(alpha), formatValue(1 / (1 + std::exp(-alpha))));
  if (!have) return text + tr("\nno step yet");
  const auto& s = steps[shown_];
  const bool kept = cellKept(layer, branch), topk = cellInTopK(layer, branch);
  const auto& pins = model_->budget().pins;
  const Pin pin = layer < static_cast<int>(pins.size()) ? pins[layer][branch] : Pin::Auto;
  QString why;
  if (pin == Pin::Keep) why = tr("kept: pinned keep");
  else if (pin == Pin::Drop) why = tr("dropped: pinned drop");
  else if (s.phase == Phase::Fixed || s.phase == Phase::Train)
    why = kept ? tr("kept: in the fixed architecture") : tr("dropped: not in the fixed architecture");
  else if (s.phase == Phase::Warmup)
    why = kept ? tr("trained this step: warm-up samples random k-subsets (α frozen)")
               : tr("not trained this step: warm-up samples random k-subsets (α frozen)");
  else if (kept && topk) why = tr("kept: among the top-k of α (the noise agrees)");
  else if (kept) why = tr("kept this step by the noise: not in the top-k of α");
  else if (topk) why = tr("dropped this step by the noise: in the top-k of α");
  else why = tr("dropped: below the top-k of α");
  return tr("%1\n%2 (%3)").arg(text, why, stepText(s.step + 1));
}

bool ImportanceView::eventFilter(QObject* watched, QEvent* event) {
  if (watched == heatmap_ && event->type() == QEvent::ToolTip) {
    const auto* help = static_cast<QHelpEvent*>(event);
    const auto [layer, branch] = cellAt(help->pos());
    if (layer < 0) return false;  // the heatmap's own description
    QToolTip::showText(help->globalPos(), cellText(layer, branch), heatmap_);
    return true;
  }
  if (watched == heatmap_ && event->type() == QEvent::PaletteChange) applyPlotPalette(heatmap_);
  return QWidget::eventFilter(watched, event);
}

bool ImportanceView::cellKept(int layer, int branch) const {
  const size_t i = static_cast<size_t>(layer) * kNumBranchKinds + branch;
  return i < kept_.size() && kept_[i];
}

}  // namespace repnas::ui
