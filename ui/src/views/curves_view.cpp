#include "repnas_ui/curves_view.h"

#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QSlider>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include "repnas_ui/plot_util.h"
#include "repnas_ui/run_model.h"
#include "widgets/ui_util.h"

namespace repnas::ui {
namespace {

QCustomPlot* makePlot(const QString& name, const QString& title, const QString& y_label,
                      const QString& tip) {
  auto* p = new QCustomPlot;
  p->setObjectName(name);
  p->setToolTip(tip);
  p->setMinimumSize(280, 200);
  p->plotLayout()->insertRow(0);
  p->plotLayout()->addElement(0, 0, new QCPTextElement(p, title, QFont("sans", 9, QFont::Bold)));
  p->xAxis->setLabel(QObject::tr("step"));
  p->yAxis->setLabel(y_label);
  p->legend->setFont(QFont("sans", 8));
  placeLegendBelow(p);
  return p;
}

QCPGraph* addGraph(QCustomPlot* p, const QString& name, const QColor& color, double width = 1.5,
                   bool right_axis = false) {
  auto* g = right_axis ? p->addGraph(p->xAxis, p->yAxis2) : p->addGraph();
  g->setName(name);
  g->setPen(QPen(color, width));
  return g;
}

void markers(QCPGraph* g) {
  g->setLineStyle(QCPGraph::lsLine);
  g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 6));
}

}  // namespace

CurvesView::CurvesView(RunModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  auto* loss = makePlot("lossPlot", tr("Loss"), tr("cross-entropy"),
                        tr("Training loss per step (faint) and smoothed."));
  loss_raw_ = addGraph(loss, tr("batch"), QColor(31, 119, 180, 70), 1);
  loss_smooth_ = addGraph(loss, tr("smoothed"), QColor("#1f77b4"), 2);
  auto* acc = makePlot("accuracyPlot", tr("Accuracy"), tr("accuracy %"),
                       tr("Batch accuracy (smoothed), epoch training accuracy, validation accuracy "
                          "(when a validation split is held out) and test accuracy at the end of "
                          "phases."));
  acc_smooth_ = addGraph(acc, tr("batch (smoothed)"), QColor("#2ca02c"), 1.5);
  acc_epoch_ = addGraph(acc, tr("train epoch"), QColor("#1f77b4"));
  acc_val_ = addGraph(acc, tr("validation"), QColor("#ff7f0e"));
  acc_test_ = addGraph(acc, tr("test"), QColor("#d62728"));
  for (auto* g : {acc_epoch_, acc_val_, acc_test_}) markers(g);
  auto* lr = makePlot("learningRatePlot", tr("Learning rates"), tr("SGD lr"),
                      tr("SGD learning rate (left) and Adam learning rate of α (right)."));
  lr_ = addGraph(lr, tr("weights (SGD)"), QColor("#1f77b4"));
  arch_lr_ = addGraph(lr, tr("α (Adam)"), QColor("#9467bd"), 1.5, true);
  lr->yAxis2->setVisible(true);
  lr->yAxis2->setLabel(tr("α lr"));
  auto* budget = makePlot("budgetPlot", tr("Budget and speed"), tr("branches"),
                          tr("Budget k in force and branches kept per step (left); training "
                             "images per second (right)."));
  kept_ = addGraph(budget, tr("kept"), QColor("#2ca02c"), 1.5);
  // Drawn after "kept" so that it stays visible where they are equal; a dashed step line,
  // since k changes only when an edit is applied.
  budget_ = addGraph(budget, tr("budget k"), QColor("#d62728"), 2);
  budget_->setPen(QPen(QColor("#d62728"), 2, Qt::DashLine));
  budget_->setLineStyle(QCPGraph::lsStepLeft);
  speed_ = addGraph(budget, tr("images/s"), QColor(127, 127, 127, 140), 1, true);
  budget->yAxis2->setVisible(true);
  budget->yAxis2->setLabel(tr("images/s"));
  auto* search = makePlot("searchPlot", tr("Search: τ and mask agreement"), tr("τ"),
                          tr("τ (left; RepNAS: the scale of the noise on α; GDAS: the Gumbel-softmax "
                             "temperature) and the mask agreement (right): the share of the sampled "
                             "mask that the noise-free top-k of α also keeps. Near 100% at the end "
                             "of the search, the fix keeps what was trained."));
  noise_ = addGraph(search, tr("τ"), QColor("#9467bd"), 1.5);
  agreement_ = addGraph(search, tr("agreement %"), QColor("#17becf"), 1.5, true);
  search->yAxis2->setVisible(true);
  search->yAxis2->setLabel(tr("agreement %"));
  metrics_plot_ = makePlot("strategyPlot", tr("The strategy's numbers"), tr("value"),
                           tr("What the search strategy reports per step beside τ and α's learning "
                              "rate, e.g. GDAS's loss and accuracy on its validation batch."));
  plots_ = {loss, acc, lr, budget, search, metrics_plot_};
  for (auto* p : plots_) new PlotInteraction(p, [this](double x) { return RunModel::xText(x, x_axis_); });

  x_axis_box_ = new QComboBox;
  x_axis_box_->setObjectName("xAxisBox");
  x_axis_box_->addItem(tr("step"), static_cast<int>(XAxis::Step));
  x_axis_box_->addItem(tr("epoch"), static_cast<int>(XAxis::Epoch));
  x_axis_box_->addItem(tr("wall time"), static_cast<int>(XAxis::WallTime));
  x_axis_box_->setToolTip(tr("The x axis of every curve: steps done, epochs done, or wall-clock "
                             "seconds since the run's first step."));
  connect(x_axis_box_, &QComboBox::currentIndexChanged, this,
          [this] { setXAxis(static_cast<XAxis>(x_axis_box_->currentData().toInt())); });

  smoothing_slider_ = new QSlider(Qt::Horizontal);
  smoothing_slider_->setRange(0, 99);
  smoothing_slider_->setValue(90);
  smoothing_slider_->setToolTip(tr("Exponential smoothing of the per-step loss and accuracy."));
  smoothing_label_ = new QLabel;
  auto* row = new QHBoxLayout;
  auto* x_label = new QLabel(tr("&X axis:"));
  x_label->setBuddy(x_axis_box_);
  row->addWidget(x_label);
  row->addWidget(x_axis_box_);
  row->addSpacing(16);
  row->addWidget(new QLabel(tr("Smoothing:")));
  row->addWidget(smoothing_slider_, 1);
  row->addWidget(smoothing_label_);
  auto* grid = new QGridLayout;
  grid->addWidget(loss, 0, 0);
  grid->addWidget(acc, 0, 1);
  grid->addWidget(lr, 1, 0);
  grid->addWidget(budget, 1, 1);
  grid->addWidget(search, 2, 0);
  grid->addWidget(metrics_plot_, 2, 1);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(row);
  layout->addLayout(grid, 1);

  throttle_ = new RedrawThrottle([this] {
    for (auto* p : plots_) {
      if (!PlotInteraction::of(p)->userView()) p->rescaleAxes();  // a zoom stays until double-click
      p->replot(QCustomPlot::rpImmediateRefresh);
    }
  }, this);
  connect(smoothing_slider_, &QSlider::valueChanged, this,
          [this](int v) { setSmoothing(v / 100.0); });
  connect(model_, &RunModel::reset, this, &CurvesView::rebuild);
  connect(model_, &RunModel::stepsAppended, this, [this](int first, int count) {
    if (first == 0) rebuild();
    else append(first, count);
  });
  connect(model_, &RunModel::epochsChanged, this, &CurvesView::rebuildEpochs);
  setSmoothing(0.9);
}

void CurvesView::setSmoothing(double s) {
  smoothing_ = std::clamp(s, 0.0, 0.99);
  smoothing_label_->setText(QString::number(smoothing_, 'f', 2));
  if (smoothing_slider_->value() != static_cast<int>(std::lround(smoothing_ * 100))) {
    smoothing_slider_->blockSignals(true);
    smoothing_slider_->setValue(static_cast<int>(std::lround(smoothing_ * 100)));
    smoothing_slider_->blockSignals(false);
  }
  rebuild();
}

void CurvesView::setXAxis(XAxis axis) {
  x_axis_ = axis;
  const int at = x_axis_box_->findData(static_cast<int>(axis));
  if (at != x_axis_box_->currentIndex()) {
    const QSignalBlocker block(x_axis_box_);
    x_axis_box_->setCurrentIndex(at);
  }
  for (auto* p : plots_) {
    p->xAxis->setLabel(RunModel::axisLabel(axis));
    PlotInteraction::of(p)->resetView();
  }
  rebuild();
}

void CurvesView::rebuild() {
  for (auto* g : {loss_raw_, loss_smooth_, acc_smooth_, lr_, arch_lr_, budget_, kept_, speed_,
                  noise_, agreement_})
    g->data()->clear();
  metrics_plot_->clearGraphs();  // another run may report other numbers
  metric_graphs_.clear();
  ema_started_ = false;
  append(0, static_cast<int>(model_->steps().size()));
  rebuildEpochs();
}

void CurvesView::append(int first, int count) {
  const auto& steps = model_->steps();
  const int end = std::min<int>(first + count, static_cast<int>(steps.size()));
  const int n = std::max(0, end - first);
  QVector<double> x(n), loss(n), loss_s(n), acc_s(n), lr(n), alr(n), k(n), kept(n), ips(n);
  QVector<double> search_x, noise, agreement;  // steps that sampled a mask (warm-up, search)
  for (int i = 0; i < n; ++i) {
    const auto& s = steps[first + i];
    if (!ema_started_) {
      loss_ema_ = s.loss;
      acc_ema_ = s.batch_accuracy;
      ema_started_ = true;
    } else {
      loss_ema_ = smoothing_ * loss_ema_ + (1 - smoothing_) * s.loss;
      acc_ema_ = smoothing_ * acc_ema_ + (1 - smoothing_) * s.batch_accuracy;
    }
    x[i] = model_->x(first + i, x_axis_);
    loss[i] = s.loss;
    loss_s[i] = loss_ema_;
    acc_s[i] = 100 * acc_ema_;
    lr[i] = s.lr;
    alr[i] = s.arch_lr;
    k[i] = s.budget_k;
    kept[i] = countBranches(s.mask);
    ips[i] = s.images_per_second;
    for (const auto& [name, value] : s.metrics) {
      if (name == "tau" || name == "arch_lr") continue;  // plotted with the search and the lrs
      auto& graph = metric_graphs_[name];
      if (!graph) {
        static const QColor palette[] = {"#d62728", "#ff7f0e", "#2ca02c", "#8c564b", "#e377c2", "#7f7f7f"};
        graph = addGraph(metrics_plot_, QString::fromStdString(name),
                         palette[(metric_graphs_.size() - 1) % std::size(palette)], 1.5);
      }
      graph->addData(x[i], value);
    }
    if (!s.topk_mask.empty()) {
      search_x.push_back(x[i]);
      noise.push_back(s.noise_scale);
      agreement.push_back(100 * s.mask_agreement);
    }
  }
  noise_->addData(search_x, noise, true);
  agreement_->addData(search_x, agreement, true);
  loss_raw_->addData(x, loss, true);
  loss_smooth_->addData(x, loss_s, true);
  acc_smooth_->addData(x, acc_s, true);
  lr_->addData(x, lr, true);
  arch_lr_->addData(x, alr, true);
  budget_->addData(x, k, true);
  kept_->addData(x, kept, true);
  speed_->addData(x, ips, true);
  redraw();
}

QCPGraph* CurvesView::metricGraph(const std::string& name) const {
  const auto it = metric_graphs_.find(name);
  return it == metric_graphs_.end() ? nullptr : it->second;
}

void CurvesView::redraw() {
  // Hidden plots are not drawn (drawing competes with the training threads for the CPU);
  // they catch up when shown.
  if (!isVisible()) {
    dirty_ = true;
    return;
  }
  dirty_ = false;
  throttle_->request();
}

void CurvesView::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (dirty_) redraw();
}

void CurvesView::rebuildEpochs() {
  for (auto* g : {acc_epoch_, acc_val_, acc_test_}) g->data()->clear();
  for (const auto& e : model_->epochs()) {
    const double x = model_->xAtStep(e.step + 1, x_axis_);
    acc_epoch_->addData(x, 100 * e.train_accuracy);
    if (e.val_accuracy) acc_val_->addData(x, 100 * *e.val_accuracy);
    if (e.test_accuracy) acc_test_->addData(x, 100 * *e.test_accuracy);
  }
  redraw();
}

}  // namespace repnas::ui
