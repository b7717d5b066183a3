#include "repnas_ui/trials_view.h"

#include "repnas/comparison.h"
#include "repnas/config.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QPushButton>
#include <QToolTip>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

#include "repnas_ui/plot_util.h"
#include "repnas_ui/run_model.h"
#include "widgets/ui_util.h"

namespace repnas::ui {
namespace {

/// The resources a trial carries, as the user reads them.
QString resourceLabel(const QString& name) {
  if (name == "train_ms") return QObject::tr("training ms per step (predicted)");
  if (name == "train_mb") return QObject::tr("training MiB (predicted)");
  if (name == "params") return QObject::tr("parameters during training");
  if (name == "intensity") return QObject::tr("folded FLOPs per byte");
  return name;
}

std::optional<double> resourceOf(const Trial& t, const std::string& name) {
  for (const auto& [n, v] : t.resources)
    if (n == name) return v;
  return std::nullopt;
}

}  // namespace

std::vector<int> TrialsView::paretoFrontOf(const std::vector<QPointF>& points) {
  std::vector<double> x, y;
  for (const auto& p : points) x.push_back(p.x()), y.push_back(p.y());
  std::vector<int> front;
  for (size_t i : repnas::paretoFront(x, y)) front.push_back(static_cast<int>(i));
  return front;
}

TrialsView::TrialsView(RunModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  resource_ = new QComboBox;
  resource_->setObjectName("trialResource");
  resource_->setToolTip(tr("The resource on the x axis: what each evaluated network costs, from "
                           "the run's measured cost model and its shapes."));
  plot_ = new QCustomPlot;
  plot_->setObjectName("trialsPlot");
  plot_->setMinimumSize(420, 280);
  plot_->setToolTip(tr("Every network the strategy evaluated with the shared weights: validation "
                       "accuracy against the chosen resource. Hover a point for its mask, click "
                       "it to select it."));
  plot_->yAxis->setLabel(tr("validation accuracy % (shared weights)"));
  plot_->legend->setVisible(true);
  plot_->legend->setFont(QFont("sans", 8));
  auto scatter = [this](const QString& name, QCPScatterStyle style, const QColor& colour) {
    auto* g = plot_->addGraph();
    g->setName(name);
    g->setLineStyle(QCPGraph::lsNone);
    g->setPen(QPen(colour, 1.5));
    g->setScatterStyle(style);
    return g;
  };
  feasible_ = scatter(tr("within the limits"), QCPScatterStyle(QCPScatterStyle::ssDisc, 5), QColor(31, 119, 180, 150));
  infeasible_ = scatter(tr("over a limit"), QCPScatterStyle(QCPScatterStyle::ssCross, 6), QColor("#d62728"));
  front_graph_ = plot_->addGraph();
  front_graph_->setName(tr("Pareto front"));
  front_graph_->setPen(QPen(QColor("#2ca02c"), 2));
  front_graph_->setLineStyle(QCPGraph::lsStepLeft);
  front_graph_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor("#2ca02c"), 2), Qt::NoBrush, 9));
  selected_graph_ = scatter(tr("selected"), QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor("#ff7f0e"), 2.5), Qt::NoBrush, 14),
                            QColor("#ff7f0e"));
  limit_line_ = new QCPItemStraightLine(plot_);
  limit_line_->setPen(QPen(QColor("#7f7f7f"), 1.5, Qt::DashLine));
  limit_line_->setVisible(false);
  placeLegendBelow(plot_);
  applyPlotPalette(plot_);
  plot_->installEventFilter(this);

  summary_ = new QLabel;
  summary_->setObjectName("trialsSummary");
  summary_->setWordWrap(true);
  detail_ = new QLabel;
  detail_->setObjectName("trialDetail");
  detail_->setWordWrap(true);
  detail_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  retrain_ = new QPushButton(tr("Train this one from &scratch"));
  retrain_->setObjectName("trainTrial");
  retrain_->setToolTip(tr("Set up a run that trains the selected trial's mask from new weights, "
                          "as the baselines train (the protocol's retraining)."));
  retrain_->setEnabled(false);

  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("x axis:")));
  row->addWidget(resource_);
  row->addStretch(1);
  auto* bottom = new QHBoxLayout;
  bottom->addWidget(detail_, 1);
  bottom->addWidget(retrain_, 0, Qt::AlignTop);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(row);
  layout->addWidget(plot_, 1);
  layout->addWidget(summary_);
  layout->addLayout(bottom);

  throttle_ = new RedrawThrottle([this] { draw(); }, this);
  connect(resource_, &QComboBox::currentIndexChanged, this, [this] { draw(); });
  connect(retrain_, &QPushButton::clicked, this, [this] {
    if (selected_ >= 0) Q_EMIT retrainRequested(selected_);
  });
  connect(model_, &RunModel::reset, this, [this] {
    selected_ = -1;
    rebuildResources();
    draw();
  });
  connect(model_, &RunModel::runStarted, this, [this] {
    readLimits();
    draw();
  });
  connect(model_, &RunModel::trialsChanged, this, [this] {
    if (selected_ >= static_cast<int>(model_->trials().size())) selected_ = -1;
    if (resource_->count() == 0) rebuildResources();
    throttle_->request();
  });
  readLimits();
  rebuildResources();
  draw();
}

void TrialsView::rebuildResources() {
  const QString current = resource_->currentData().toString();
  resource_->blockSignals(true);
  resource_->clear();
  if (!model_->trials().empty()) {
    // RENA's resources in the order of their importance to a user (the event log stores
    // them by name), then any other a strategy reports.
    QStringList names;
    for (const auto& [name, value] : model_->trials().front().resources) names << qs(name);
    QStringList order;
    for (const char* known : {"train_ms", "train_mb", "params", "intensity"})
      if (names.contains(known)) order << known;
    for (const auto& n : names)
      if (!order.contains(n)) order << n;
    for (const auto& n : order) resource_->addItem(resourceLabel(n), n);
  }
  const int keep = resource_->findData(current);
  resource_->setCurrentIndex(keep >= 0 ? keep : 0);
  resource_->blockSignals(false);
}

void TrialsView::readLimits() {
  limits_.clear();
  if (!model_->hasRun()) return;
  try {
    const auto c = configFromJson(model_->info().config_json);
    for (const auto& [name, v] : {std::pair<const char*, double>{"train_ms", c.rena_limit_ms}, {"train_mb", c.rena_limit_mb},
                                  {"params", c.rena_limit_params}, {"intensity", c.rena_min_intensity}})
      if (v > 0) limits_[name] = v;
  } catch (const std::exception&) {
    // A run whose configuration this program cannot read has no limits to draw.
  }
}

std::optional<double> TrialsView::limitOf(const QString& resource, bool* lower) const {
  *lower = resource == "intensity";
  const auto it = limits_.find(resource);
  return it == limits_.end() ? std::nullopt : std::optional<double>(it->second);
}

void TrialsView::draw() {
  const auto& trials = model_->trials();
  const QString resource = resource_->currentData().toString();
  const std::string name = resource.toStdString();
  points_.assign(trials.size(), QPointF(NAN, NAN));
  QVector<double> fx, fy, ix, iy;
  std::vector<QPointF> valid;
  std::vector<int> valid_index;
  int feasible = 0, best = -1;
  for (size_t i = 0; i < trials.size(); ++i) {
    const auto& t = trials[i];
    const auto r = resourceOf(t, name);
    if (!r) continue;
    const QPointF p(*r, 100 * t.val_accuracy);
    points_[i] = p;
    valid.push_back(p);
    valid_index.push_back(static_cast<int>(i));
    (t.feasible ? fx : ix).push_back(p.x());
    (t.feasible ? fy : iy).push_back(p.y());
    if (t.feasible) {
      ++feasible;
      if (best < 0 || t.val_accuracy > trials[best].val_accuracy) best = static_cast<int>(i);
    }
  }
  feasible_->setData(fx, fy);
  infeasible_->setData(ix, iy);
  front_.clear();
  QVector<double> px, py;
  for (int k : paretoFrontOf(valid)) {
    front_.push_back(valid_index[k]);
    px.push_back(valid[k].x());
    py.push_back(valid[k].y());
  }
  front_graph_->setData(px, py);
  QVector<double> sx, sy;
  if (selected_ >= 0 && !std::isnan(points_[selected_].x())) {
    sx.push_back(points_[selected_].x());
    sy.push_back(points_[selected_].y());
  }
  selected_graph_->setData(sx, sy);
  bool lower = false;
  const auto limit = limitOf(resource, &lower);
  limit_line_->setVisible(limit.has_value());
  if (limit) {
    limit_line_->point1->setCoords(*limit, 0);
    limit_line_->point2->setCoords(*limit, 1);
  }
  plot_->xAxis->setLabel(resourceLabel(resource));
  if (!valid.empty()) {
    double lo = INFINITY, hi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (const auto& p : valid) {
      lo = std::min(lo, p.x());
      hi = std::max(hi, p.x());
      ylo = std::min(ylo, p.y());
      yhi = std::max(yhi, p.y());
    }
    if (limit) {
      lo = std::min(lo, *limit);
      hi = std::max(hi, *limit);
    }
    const double xpad = std::max(1e-9, 0.05 * (hi - lo)), ypad = std::max(0.5, 0.05 * (yhi - ylo));
    plot_->xAxis->setRange(lo - xpad, hi + xpad);
    plot_->yAxis->setRange(ylo - ypad, yhi + ypad);
  }
  syncLegendRow(plot_);
  plot_->replot(QCustomPlot::rpQueuedReplot);

  if (!model_->hasRun()) {
    summary_->setText(tr("No run. A RENA search shows every child its controller evaluates here."));
  } else if (trials.empty()) {
    summary_->setText(model_->info().strategy == "RENA"
                          ? tr("No trial yet: the controller evaluates its first children after "
                               "rena_update_every search steps.")
                          : tr("This strategy (%1) evaluates no trials: RENA's children appear here.")
                                .arg(qs(model_->info().strategy.empty() ? model_->info().mode : model_->info().strategy)));
  } else {
    QString text = tr("%1 trials over %2 controller updates; %3 within the limits")
                       .arg(trials.size())
                       .arg(trials.back().update)
                       .arg(feasible);
    if (best >= 0)
      text += tr("; the best of them: trial %1, %2%").arg(trials[best].index).arg(100 * trials[best].val_accuracy, 0, 'f', 2);
    if (limit)
      text += tr(". Limit: %1 %2 (dashed)").arg(lower ? tr("at least") : tr("at most")).arg(formatValue(*limit));
    text += tr(". %1 trials on the Pareto front.").arg(front_.size());
    summary_->setText(text);
  }
  showDetail();
}

void TrialsView::selectTrial(int index) {
  selected_ = index >= 0 && index < static_cast<int>(model_->trials().size()) ? index : -1;
  draw();
}

void TrialsView::showDetail() {
  retrain_->setEnabled(selected_ >= 0);
  detail_->setText(selected_ >= 0 ? trialText(selected_)
                                  : tr("Click a point to see the network and train it from scratch."));
}

QString TrialsView::trialText(int index) const {
  const auto& trials = model_->trials();
  if (index < 0 || index >= static_cast<int>(trials.size())) return {};
  const auto& t = trials[index];
  QString text = tr("trial %1 (update %2, %3): validation %4%, reward %5%6%7")
                     .arg(t.index)
                     .arg(t.update)
                     .arg(stepText(t.step + 1))
                     .arg(100 * t.val_accuracy, 0, 'f', 2)
                     .arg(t.reward, 0, 'f', 4)
                     .arg(t.feasible ? QString() : tr(", over a limit"))
                     .arg(t.cached ? tr(", evaluation reused") : QString());
  for (const auto& [name, value] : t.resources) text += QStringLiteral("\n%1: %2").arg(resourceLabel(qs(name)), formatValue(value));
  const int k = model_->kernelSize();
  for (size_t l = 0; l < t.mask.size(); ++l) {
    QStringList kept;
    for (int b = 0; b < kNumBranchKinds; ++b)
      if (t.mask[l].test(b)) kept << branchLabel(b, k);
    const QString label = l < model_->info().layers.size() ? qs(model_->info().layers[l].label) : QString("L%1").arg(l);
    text += QStringLiteral("\n%1: %2").arg(label, kept.isEmpty() ? tr("(identity only)") : kept.join(" + "));
  }
  return text;
}

int TrialsView::trialAt(const QPointF& pos) const {
  int best = -1;
  double best_d = 8 * 8;
  for (size_t i = 0; i < points_.size(); ++i) {
    if (std::isnan(points_[i].x())) continue;
    const double px = plot_->xAxis->coordToPixel(points_[i].x());
    const double py = plot_->yAxis->coordToPixel(points_[i].y());
    const double d = (px - pos.x()) * (px - pos.x()) + (py - pos.y()) * (py - pos.y());
    if (d <= best_d) {
      best_d = d;
      best = static_cast<int>(i);
    }
  }
  return best;
}

bool TrialsView::eventFilter(QObject* watched, QEvent* event) {
  if (watched == plot_) {
    if (event->type() == QEvent::ToolTip) {  // over a point: its mask instead of the plot's tip
      const auto* h = static_cast<QHelpEvent*>(event);
      const int i = trialAt(h->pos());
      if (i >= 0) {
        QToolTip::showText(h->globalPos(), trialText(i), plot_);
        return true;
      }
    } else if (event->type() == QEvent::MouseButtonPress) {
      const auto* m = static_cast<QMouseEvent*>(event);
      const int i = trialAt(m->position());
      if (i >= 0) selectTrial(i);
    }
  }
  return QWidget::eventFilter(watched, event);
}

}  // namespace repnas::ui
