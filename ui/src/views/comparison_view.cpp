#include "repnas_ui/comparison_view.h"

#include "repnas/budget.h"
#include "repnas/comparison.h"
#include "repnas/config.h"
#include "repnas/costs.h"
#include "repnas/run_folder.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QSaveFile>
#include <QSlider>
#include <QSignalBlocker>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextStream>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "repnas_ui/plot_util.h"
#include "repnas_ui/run_sources.h"
#include "widgets/ui_util.h"

namespace repnas::ui {

QColor comparisonColour(int index) {
  static const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  index = std::max(0, index);
  if (index < 10) return QColor(kColours[index]);
  // Then hues a golden angle apart, at three levels of saturation and value.
  const int hue = static_cast<int>(std::fmod(index * 137.508, 360.0));
  const int level = (index / 10) % 3;
  return QColor::fromHsv(hue, 200 - 40 * level, 210 - 35 * level);
}

namespace {

std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

QString statusText(RunState s) {
  switch (s) {
    case RunState::None: return QObject::tr("no events");
    case RunState::Starting: return QObject::tr("starting");
    case RunState::Running: return QObject::tr("running");
    case RunState::Paused: return QObject::tr("paused");
    case RunState::Completed: return QObject::tr("completed");
    case RunState::Stopped: return QObject::tr("stopped");
    case RunState::Failed: return QObject::tr("failed");
    case RunState::Interrupted: return QObject::tr("interrupted");
  }
  return {};
}

/// A table cell that shows a number (or a dash) and sorts by it.
class NumberItem : public QTableWidgetItem {
 public:
  NumberItem(std::optional<double> v, int decimals) {
    setData(Qt::DisplayRole, v ? QString::number(*v, 'f', decimals) : QString::fromUtf8("–"));
    setData(Qt::UserRole, v ? *v : -1e300);
    setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  }
  bool operator<(const QTableWidgetItem& other) const override {
    return data(Qt::UserRole).toDouble() < other.data(Qt::UserRole).toDouble();
  }
};

// The metrics every run's events carry, then the strategies' own (StepSnapshot::metrics).
const char* kLoss = "loss";
const char* kBatchAccuracy = "batch accuracy %";
const char* kValAccuracy = "validation accuracy % (per epoch)";
const char* kTestAccuracy = "test accuracy % (end of a phase)";
const char* kImagesPerSecond = "images/s";
const char* kAgreement = "mask agreement";
const char* kBranches = "branches kept";

/// The run's group: its trial folder's name without a trailing number (random3 → random), or
/// its strategy when it is not a comparison's trial.
QString groupOf(const QString& dir, const std::string& strategy) {
  const QString name = QFileInfo(dir).fileName();
  if (!QFileInfo(dir).dir().dirName().startsWith("protocol-seed")) return qs(strategy);
  QString g = name;
  while (!g.isEmpty() && g.back().isDigit()) g.chop(1);
  return g.isEmpty() ? name : g;
}

/// A plot of one series per run: its legend in a row below the data, the palette's colours.
QCustomPlot* makeRunsPlot(const char* name) {
  auto* plot = new QCustomPlot;
  plot->setObjectName(name);
  plot->setMinimumSize(420, 240);
  plot->legend->setVisible(true);
  plot->legend->setFont(QFont("sans", 8));
  placeLegendBelow(plot);
  applyPlotPalette(plot);
  return plot;
}

}  // namespace

/// One run of the catalogue: its files as read, and its events in a model of its own (followed
/// while the run has no result).
struct ComparisonView::Run {
  QString dir, label, group;
  std::string config_json, strategy;
  std::optional<TrialOutcome> summary;
  std::optional<BranchCostTable> costs;
  RunModel model;
  std::unique_ptr<EventLogFollower> follower;

  std::vector<BranchMask> mask() const {
    if (model.finished() && !model.finished()->mask.empty()) return model.finished()->mask;
    if (summary && !summary->mask.empty()) return summary->mask;
    return model.hasRun() ? model.currentMask() : std::vector<BranchMask>{};
  }
};

ComparisonView::ComparisonView(QWidget* parent) : QWidget(parent) {
  hint_ = new QLabel(tr("Add run folders to compare: a run, a folder of runs, or a `repnas compare` "
                        "folder (File ▸ Add runs to compare…). Runs still being written are followed."));
  hint_->setObjectName("comparisonHint");
  hint_->setWordWrap(true);
  filter_ = new QLineEdit;
  filter_->setObjectName("comparisonFilter");
  filter_->setPlaceholderText(tr("Filter runs: a name, strategy or status, or a setting such as seed=2"));
  filter_->setClearButtonEnabled(true);
  connect(filter_, &QLineEdit::textChanged, this, [this] { applyFilter(); });

  table_ = new QTableWidget(0, 8);
  table_->setObjectName("comparisonTable");
  table_->setHorizontalHeaderLabels({tr("Run"), tr("Strategy"), tr("Settings that differ"), tr("Status"),
                                     tr("Test acc %"), tr("Wall s"), tr("Branches"), tr("Train ms/step")});
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setSectionResizeMode(2, QHeaderView::Stretch);
  table_->verticalHeader()->hide();
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSortingEnabled(true);
  table_->setToolTip(tr("One row per run; click a header to sort. Select rows to narrow the configuration "
                        "diff; the colour is the run's in every plot."));
  connect(table_, &QTableWidget::itemSelectionChanged, this, [this] {
    if (!rebuilding_) redrawConfig();
  });

  // Curves.
  metric_ = new QComboBox;
  metric_->setObjectName("comparisonMetric");
  x_axis_ = new QComboBox;
  x_axis_->setObjectName("comparisonXAxis");
  for (auto axis : {XAxis::Step, XAxis::Epoch, XAxis::WallTime}) x_axis_->addItem(RunModel::axisLabel(axis), int(axis));
  smoothing_ = new QSlider(Qt::Horizontal);
  smoothing_->setObjectName("comparisonSmoothing");
  smoothing_->setRange(0, 99);
  smoothing_->setValue(60);
  smoothing_->setToolTip(tr("Exponential smoothing of the per-step metrics (0: raw)."));
  curves_ = makeRunsPlot("comparisonCurves");
  new PlotInteraction(curves_, [this](double x) { return RunModel::xText(x, XAxis(x_axis_->currentData().toInt())); });
  connect(metric_, &QComboBox::currentTextChanged, this, [this] { redrawCurves(); });
  connect(x_axis_, &QComboBox::currentIndexChanged, this, [this] {
    PlotInteraction::of(curves_)->resetView();
    redrawCurves();
  });
  connect(smoothing_, &QSlider::valueChanged, this, [this] { redrawCurves(); });
  auto* curves_page = new QWidget;
  auto* curves_row = new QHBoxLayout;
  curves_row->addWidget(new QLabel(tr("Metric:")));
  curves_row->addWidget(metric_, 1);
  curves_row->addWidget(new QLabel(tr("x axis:")));
  curves_row->addWidget(x_axis_);
  curves_row->addWidget(new QLabel(tr("Smoothing:")));
  curves_row->addWidget(smoothing_);
  auto* curves_layout = new QVBoxLayout(curves_page);
  curves_layout->addLayout(curves_row);
  curves_layout->addWidget(curves_, 1);

  // Architecture diff, and keep frequency over a group.
  diff_a_ = new QComboBox;
  diff_a_->setObjectName("diffRunA");
  diff_b_ = new QComboBox;
  diff_b_->setObjectName("diffRunB");
  diff_plot_ = new QCustomPlot;
  diff_plot_->setObjectName("diffPlot");
  diff_plot_->setMinimumSize(300, 240);
  QCPColorScale* diff_scale = nullptr;
  diff_map_ = makeLayerBranchHeatmap(diff_plot_, QCPColorGradient::gpPolar, &diff_scale);
  diff_map_->setDataRange(QCPRange(-1, 1));
  diff_scale->axis()->setLabel(tr("kept by B only (−1) … A only (+1)"));
  applyPlotPalette(diff_plot_);
  diff_summary_ = new QLabel;
  diff_summary_->setObjectName("diffSummary");
  diff_summary_->setWordWrap(true);
  frequency_group_ = new QComboBox;
  frequency_group_->setObjectName("frequencyGroup");
  frequency_plot_ = new QCustomPlot;
  frequency_plot_->setObjectName("frequencyPlot");
  frequency_plot_->setMinimumSize(300, 240);
  QCPColorScale* frequency_scale = nullptr;
  frequency_map_ = makeLayerBranchHeatmap(frequency_plot_, QCPColorGradient::gpThermal, &frequency_scale);
  frequency_map_->setDataRange(QCPRange(0, 1));
  frequency_scale->axis()->setLabel(tr("fraction of the group's runs keeping it"));
  applyPlotPalette(frequency_plot_);
  connect(diff_a_, &QComboBox::currentIndexChanged, this, [this] {
    if (!rebuilding_) redrawDiff();
  });
  connect(diff_b_, &QComboBox::currentIndexChanged, this, [this] {
    if (!rebuilding_) redrawDiff();
  });
  connect(frequency_group_, &QComboBox::currentIndexChanged, this, [this] {
    if (!rebuilding_) redrawFrequency();
  });
  auto* diff_page = new QWidget;
  auto* diff_row = new QHBoxLayout;
  diff_row->addWidget(new QLabel(tr("A:")));
  diff_row->addWidget(diff_a_, 1);
  diff_row->addWidget(new QLabel(tr("B:")));
  diff_row->addWidget(diff_b_, 1);
  auto* diff_left = new QVBoxLayout;
  diff_left->addLayout(diff_row);
  diff_left->addWidget(diff_plot_, 1);
  diff_left->addWidget(diff_summary_);
  auto* frequency_column = new QVBoxLayout;
  auto* frequency_row = new QHBoxLayout;
  frequency_row->addWidget(new QLabel(tr("Keep frequency of:")));
  frequency_row->addWidget(frequency_group_, 1);
  frequency_column->addLayout(frequency_row);
  frequency_column->addWidget(frequency_plot_, 1);
  auto* diff_layout = new QHBoxLayout(diff_page);
  diff_layout->addLayout(diff_left, 1);
  diff_layout->addLayout(frequency_column, 1);

  // Configuration diff.
  config_table_ = new QTableWidget;
  config_table_->setObjectName("configDiff");
  config_table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  config_table_->setToolTip(tr("The configuration keys whose values differ between the selected runs (all runs "
                               "when none is selected)."));

  // Accuracy against cost.
  scatter_ = makeRunsPlot("comparisonScatter");
  new PlotInteraction(scatter_, [](double x) { return QObject::tr("%1").arg(formatValue(x)); });
  scatter_axis_ = new QComboBox;
  scatter_axis_->setObjectName("comparisonScatterAxis");
  scatter_axis_->addItem(tr("training ms per step"));
  scatter_axis_->addItem(tr("inference ms per image (HANT)"));
  scatter_axis_->setToolTip(tr("Training: what the mask costs per step on this machine (its cost table). Inference: "
                               "HANT's students and their teachers as measured by `repnas hant`; every branch subset "
                               "folds to the same convolutions, so a run sits at its backbone's folded latency."));
  connect(scatter_axis_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    PlotInteraction::of(scatter_)->resetView();
    redrawScatter();
  });
  auto* scatter_page = new QWidget;
  auto* scatter_layout = new QVBoxLayout(scatter_page);
  scatter_layout->setContentsMargins(0, 0, 0, 0);
  auto* scatter_row = new QHBoxLayout;
  scatter_row->addWidget(new QLabel(tr("Cost:")));
  scatter_row->addWidget(scatter_axis_);
  scatter_row->addStretch(1);
  scatter_layout->addLayout(scatter_row);
  scatter_layout->addWidget(scatter_, 1);

  tabs_ = new QTabWidget;
  tabs_->setObjectName("comparisonTabs");
  tabs_->addTab(curves_page, tr("Curves"));
  tabs_->addTab(diff_page, tr("Architecture diff"));
  tabs_->addTab(config_table_, tr("Configuration diff"));
  tabs_->addTab(scatter_page, tr("Accuracy vs cost"));

  auto* top = new QWidget;
  auto* top_layout = new QVBoxLayout(top);
  top_layout->setContentsMargins(0, 0, 0, 0);
  top_layout->addWidget(hint_);
  top_layout->addWidget(filter_);
  top_layout->addWidget(table_, 1);
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(top);
  split->addWidget(tabs_);
  split->setStretchFactor(0, 2);
  split->setStretchFactor(1, 3);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(split);
  redrawAll();
}

ComparisonView::~ComparisonView() = default;

QString ComparisonView::addPath(const QString& path) {
  std::vector<std::string> dirs;
  try {
    dirs = findRunFolders(path.toStdString());
  } catch (const std::exception& e) {
    return tr("%1: %2").arg(path, QString::fromUtf8(e.what()));
  }
  std::vector<std::string> hant_dirs;
  try {
    hant_dirs = findHantFolders(path.toStdString());
  } catch (const std::exception&) {
    hant_dirs.clear();  // the runs' error above names the problem
  }
  if (dirs.empty() && hant_dirs.empty())
    return tr("%1: no run folder there (no config.json, or hant.json, in it or below it)").arg(path);
  for (const auto& d : dirs) addRun(qs(d));
  for (const auto& d : hant_dirs) {
    const auto abs = QFileInfo(qs(d)).absoluteFilePath().toStdString();
    const bool known = std::any_of(hant_.begin(), hant_.end(), [&](const HantSummary& h) { return h.dir == abs; });
    if (known) continue;
    if (auto s = readHantSummary(abs)) hant_.push_back(*s);
  }
  if (runs_.empty() && !hant_.empty()) scatter_axis_->setCurrentIndex(1);
  refreshCombos();
  redrawAll();
  emit catalogueChanged();
  return {};
}

void ComparisonView::addRun(const QString& dir_in) {
  const QString dir = QFileInfo(dir_in).absoluteFilePath();
  for (const auto& r : runs_)
    if (r->dir == dir) return;
  auto run = std::make_unique<Run>();
  run->dir = dir;
  const RunFolder folder(dir.toStdString());
  // The configuration read through the format's versions (an old run's keys as today's, with
  // the values that keep its behaviour), so that only real differences show.
  std::optional<RunConfig> config;
  try {
    config = loadRunConfig(dir.toStdString());
    run->config_json = configToJson(*config);
  } catch (const std::exception&) {
    run->config_json = readText(folder.config());
  }
  run->strategy = configValueText(run->config_json, "strategy");
  if (run->strategy.empty()) run->strategy = configValueText(run->config_json, "mode");
  run->summary = readTrialSummary(dir.toStdString());
  // What its branches cost to train: the run's own table, else this machine's cached one.
  try {
    if (folder.hasCosts()) run->costs = trainingCostTable(trainingCostsFromJson(readText(folder.costs())));
  } catch (const std::exception&) {
    run->costs.reset();
  }
  if (!run->costs && config)
    if (const auto cached = cachedTrainingCostsFor(*config)) run->costs = trainingCostTable(*cached);
  const QFileInfo info(dir);
  const bool in_comparison = info.dir().dirName().startsWith("protocol-seed");
  run->label = in_comparison ? info.dir().dirName().replace("protocol-", "") + "/" + info.fileName() : info.fileName();
  run->group = groupOf(dir, run->strategy);
  if (folder.hasEvents()) {
    run->follower = std::make_unique<EventLogFollower>(&run->model);
    // Followed while it has no result: another process may be writing it.
    const bool follow = !run->summary;
    run->follower->open(dir, follow);
    if (run->model.finished()) run->follower->close();
    connect(&run->model, &RunModel::updated, this, [this, model = &run->model] {
      if (rebuilding_) return;
      if (model->source() == RunSource::Monitor) {
        rebuildTable();
        redrawCurves();
        redrawScatter();
        emit catalogueChanged();
      }
    });
  }
  runs_.push_back(std::move(run));
}

void ComparisonView::removeRun(int index) {
  if (index < 0 || index >= runCount()) return;
  runs_.erase(runs_.begin() + index);
  refreshCombos();
  redrawAll();
  emit catalogueChanged();
}

void ComparisonView::clear() {
  runs_.clear();
  hant_.clear();
  refreshCombos();
  redrawAll();
  emit catalogueChanged();
}

const RunModel& ComparisonView::model(int index) const { return runs_.at(index)->model; }

ComparisonView::RunRow ComparisonView::row(int index) const {
  const auto& r = *runs_.at(index);
  RunRow out;
  out.dir = r.dir;
  out.label = r.label;
  out.group = r.group;
  out.strategy = qs(r.strategy);
  out.colour = comparisonColour(index);
  out.mask = r.mask();
  out.branches = !out.mask.empty() ? countBranches(out.mask) : r.summary ? r.summary->branches : 0;
  if (r.model.hasRun()) {
    out.status = statusText(r.model.state());
    for (const auto& e : r.model.epochs()) out.wall_seconds += e.seconds;
    if (r.model.finished() && r.model.finished()->test_accuracy) out.test_accuracy = 100 * *r.model.finished()->test_accuracy;
  } else if (r.summary) {
    out.status = qs(r.summary->status);
  } else {
    out.status = tr("no events");
  }
  if (!out.test_accuracy && r.summary) out.test_accuracy = 100 * r.summary->test_accuracy;
  if (out.wall_seconds == 0 && r.summary) out.wall_seconds = r.summary->epoch_seconds;
  if (r.costs && !out.mask.empty() && r.costs->ms.size() == out.mask.size()) out.train_ms = r.costs->msOf(out.mask);
  return out;
}

std::vector<int> ComparisonView::selectedRuns() const {
  std::set<int> rows;
  for (const auto* item : table_->selectedItems()) rows.insert(table_->item(item->row(), 0)->data(Qt::UserRole + 1).toInt());
  return {rows.begin(), rows.end()};
}

void ComparisonView::rebuildTable() {
  rebuilding_ = true;
  const auto selected = selectedRuns();
  table_->setSortingEnabled(false);
  table_->setRowCount(runCount());
  std::vector<std::string> configs;
  for (const auto& r : runs_) configs.push_back(r->config_json);
  auto keys = differingConfigKeys(configs);
  // What tells runs apart, not what every trial of a comparison sets differently anyway.
  keys.erase(std::remove_if(keys.begin(), keys.end(), [](const std::string& k) {
               return k == "strategy" || k == "mask" || k == "mask_source" || k == "data_dir";
             }),
             keys.end());
  for (int i = 0; i < runCount(); ++i) {
    const auto r = row(i);
    auto* name = new QTableWidgetItem(r.label);
    name->setData(Qt::UserRole + 1, i);
    name->setToolTip(r.dir);
    QPixmap swatch(12, 12);
    swatch.fill(r.colour);
    name->setIcon(QIcon(swatch));
    table_->setItem(i, 0, name);
    table_->setItem(i, 1, new QTableWidgetItem(r.strategy));
    QStringList settings;
    for (const auto& k : keys)
      if (configKeyApplies(runs_[i]->config_json, k)) settings << qs(k) + "=" + qs(configValueText(runs_[i]->config_json, k));
    auto* differ = new QTableWidgetItem(settings.join("  "));
    differ->setToolTip(settings.join("\n"));
    table_->setItem(i, 2, differ);
    table_->setItem(i, 3, new QTableWidgetItem(r.status));
    table_->setItem(i, 4, new NumberItem(r.test_accuracy, 2));
    table_->setItem(i, 5, new NumberItem(r.wall_seconds, 0));
    table_->setItem(i, 6, new NumberItem(double(r.branches), 0));
    table_->setItem(i, 7, new NumberItem(r.train_ms, 2));
  }
  table_->setSortingEnabled(true);
  for (int row = 0; row < table_->rowCount(); ++row)
    if (std::count(selected.begin(), selected.end(), table_->item(row, 0)->data(Qt::UserRole + 1).toInt()))
      table_->selectRow(row);
  rebuilding_ = false;
  applyFilter();
  hint_->setVisible(runs_.empty());
}

void ComparisonView::applyFilter() {
  // A word matches the run's name, strategy or status; "key=value" (e.g. seed=2) one of the
  // settings that differ.
  const QString f = filter_->text().trimmed();
  const bool setting = f.contains('=');
  for (int row = 0; row < table_->rowCount(); ++row) {
    bool match = f.isEmpty();
    for (int c : {0, 1, 2, 3})
      if (!match && (c == 2) == setting)
        match = table_->item(row, c) && table_->item(row, c)->text().contains(f, Qt::CaseInsensitive);
    table_->setRowHidden(row, !match);
  }
}

QStringList ComparisonView::metrics() const {
  QStringList out = {kLoss, kBatchAccuracy, kValAccuracy, kTestAccuracy, kImagesPerSecond, kAgreement, kBranches};
  std::set<std::string> own;
  for (const auto& r : runs_)
    for (const auto& s : r->model.steps())
      for (const auto& [name, v] : s.metrics) own.insert(name);
  for (const auto& n : own) out << qs(n);
  return out;
}

bool ComparisonView::setMetric(const QString& metric) {
  const int i = metric_->findText(metric);
  if (i < 0) return false;
  metric_->setCurrentIndex(i);
  return true;
}

void ComparisonView::refreshCombos() {
  rebuilding_ = true;
  const QString metric = metric_->currentText();
  metric_->clear();
  metric_->addItems(metrics());
  metric_->setCurrentIndex(std::max(0, metric_->findText(metric)));
  auto refill = [&](QComboBox* box, int fallback) {
    const QString dir = box->currentData().toString();
    box->clear();
    for (int i = 0; i < runCount(); ++i) {
      QPixmap swatch(12, 12);
      swatch.fill(comparisonColour(i));
      box->addItem(QIcon(swatch), runs_[i]->label, runs_[i]->dir);
    }
    const int at = box->findData(dir);
    box->setCurrentIndex(at >= 0 ? at : std::min(fallback, runCount() - 1));
  };
  refill(diff_a_, 0);
  refill(diff_b_, 1);
  const QString group = frequency_group_->currentText();
  frequency_group_->clear();
  std::set<QString> groups;
  for (const auto& r : runs_) groups.insert(r->group);
  for (const auto& g : groups) frequency_group_->addItem(g);
  frequency_group_->setCurrentIndex(std::max(0, frequency_group_->findText(group)));
  rebuilding_ = false;
}

void ComparisonView::redrawAll() {
  rebuildTable();
  redrawCurves();
  redrawDiff();
  redrawFrequency();
  redrawConfig();
  redrawScatter();
}

void ComparisonView::redrawCurves() {
  if (rebuilding_) return;
  curves_->clearGraphs();
  const QString metric = metric_->currentText();
  const auto axis = XAxis(x_axis_->currentData().toInt());
  const double smoothing = smoothing_->value() / 100.0;
  for (int i = 0; i < runCount(); ++i) {
    const auto& m = runs_[i]->model;
    QVector<double> xs, ys;
    const bool per_epoch = metric == kValAccuracy || metric == kTestAccuracy;
    if (per_epoch) {
      for (const auto& e : m.epochs()) {
        const auto v = metric == kValAccuracy ? e.val_accuracy : e.test_accuracy;
        if (!v) continue;
        xs << m.xAtStep(e.step + 1, axis);
        ys << 100 * *v;
      }
    } else {
      double ema = 0;
      bool started = false;
      for (int s = 0; s < static_cast<int>(m.steps().size()); ++s) {
        const auto& snap = m.steps()[s];
        std::optional<double> v;
        if (metric == kLoss) v = snap.loss;
        else if (metric == kBatchAccuracy) v = 100 * snap.batch_accuracy;
        else if (metric == kImagesPerSecond) v = snap.images_per_second;
        else if (metric == kAgreement) v = snap.mask_agreement;
        else if (metric == kBranches) v = countBranches(snap.mask);
        else
          for (const auto& [name, value] : snap.metrics)
            if (qs(name) == metric) v = value;
        if (!v || !std::isfinite(*v)) continue;
        ema = started ? smoothing * ema + (1 - smoothing) * *v : *v;
        started = true;
        xs << m.x(s, axis);
        ys << (metric == kBranches ? *v : ema);
      }
    }
    if (xs.isEmpty()) continue;
    auto* g = curves_->addGraph();
    g->setName(runs_[i]->label);
    g->setPen(QPen(comparisonColour(i), 1.6));
    if (per_epoch) g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    g->setData(xs, ys, /*alreadySorted=*/true);
  }
  curves_->xAxis->setLabel(RunModel::axisLabel(axis));
  curves_->yAxis->setLabel(metric);
  // Past a dozen runs the legend would take the plot's room: the table's swatches name them.
  if (curves_->graphCount() > 12)
    for (int g = 0; g < curves_->graphCount(); ++g) curves_->graph(g)->removeFromLegend();
  syncLegendRow(curves_);
  if (!PlotInteraction::of(curves_)->userView()) curves_->rescaleAxes();
  curves_->replot();
}

void ComparisonView::redrawDiff() {
  const int a = diff_a_->currentIndex(), b = diff_b_->currentIndex();
  const bool ok = a >= 0 && b >= 0 && a < runCount() && b < runCount();
  const auto mask_a = ok ? runs_[a]->mask() : std::vector<BranchMask>{};
  const auto mask_b = ok ? runs_[b]->mask() : std::vector<BranchMask>{};
  if (!ok || mask_a.empty() || mask_a.size() != mask_b.size()) {
    for (auto* t : diff_texts_) diff_plot_->removeItem(t);
    diff_texts_.clear();
    diff_map_->data()->clear();
    diff_summary_->setText(runCount() < 2 ? tr("Add two runs to compare their architectures.")
                                          : tr("The two runs' architectures cannot be compared (%1 and %2 layers).")
                                                .arg(mask_a.size())
                                                .arg(mask_b.size()));
    diff_plot_->replot();
    return;
  }
  const int layers = static_cast<int>(mask_a.size());
  std::vector<QString> labels;
  for (int l = 0; l < layers; ++l) labels.push_back(tr("L%1").arg(l));
  const int kernel = runs_[a]->model.hasRun() ? runs_[a]->model.kernelSize() : 3;
  setLayerBranchGrid(diff_plot_, diff_map_, kernel, labels);
  // Each cell says who keeps it: A, B or both (blank: neither).
  for (auto* t : diff_texts_) diff_plot_->removeItem(t);
  diff_texts_.clear();
  int only_a = 0, only_b = 0, both = 0;
  for (int l = 0; l < layers; ++l)
    for (int k = 0; k < kNumBranchKinds; ++k) {
      const int v = int(mask_a[l][k]) - int(mask_b[l][k]);
      diff_map_->data()->setCell(k, l, v);
      if (mask_a[l][k] || mask_b[l][k]) {
        auto* text = addCellText(diff_plot_, l, k);
        text->setText(v > 0 ? "A" : v < 0 ? "B" : tr("both"));
        text->setColor(v == 0 ? QColor(Qt::white) : QColor(Qt::black));
        diff_texts_.push_back(text);
      }
      only_a += v > 0;
      only_b += v < 0;
      both += mask_a[l][k] && mask_b[l][k];
    }
  diff_summary_->setText(tr("%1 branches kept by both; %2 by %3 only (+1), %4 by %5 only (−1): a Hamming distance of %6.")
                             .arg(both)
                             .arg(only_a)
                             .arg(runs_[a]->label)
                             .arg(only_b)
                             .arg(runs_[b]->label)
                             .arg(only_a + only_b));
  diff_plot_->replot();
}

void ComparisonView::redrawFrequency() {
  std::vector<std::vector<BranchMask>> masks;
  int kernel = 3;
  for (const auto& r : runs_)
    if (r->group == frequency_group_->currentText()) {
      auto m = r->mask();
      if (m.empty() || (!masks.empty() && m.size() != masks.front().size())) continue;
      masks.push_back(std::move(m));
      if (r->model.hasRun()) kernel = r->model.kernelSize();
    }
  if (masks.empty()) {
    frequency_map_->data()->clear();
    frequency_plot_->replot();
    return;
  }
  const auto freq = keepFrequency(masks);
  std::vector<QString> labels;
  for (size_t l = 0; l < freq.size(); ++l) labels.push_back(tr("L%1").arg(l));
  setLayerBranchGrid(frequency_plot_, frequency_map_, kernel, labels);
  for (size_t l = 0; l < freq.size(); ++l)
    for (int k = 0; k < kNumBranchKinds; ++k) frequency_map_->data()->setCell(k, int(l), freq[l][k]);
  frequency_plot_->xAxis->setLabel((masks.size() == 1 ? tr("1 run of %1") : tr("%1 runs of %2").arg(masks.size())).arg(frequency_group_->currentText()));
  frequency_plot_->replot();
}

void ComparisonView::redrawConfig() {
  auto chosen = selectedRuns();
  if (chosen.size() < 2) {
    chosen.clear();
    for (int i = 0; i < runCount(); ++i) chosen.push_back(i);
  }
  std::vector<std::string> configs;
  for (int i : chosen) configs.push_back(runs_[i]->config_json);
  const auto keys = differingConfigKeys(configs);
  config_table_->clear();
  config_table_->setColumnCount(static_cast<int>(chosen.size()));
  config_table_->setRowCount(static_cast<int>(keys.size()));
  QStringList headers, rows;
  for (int i : chosen) headers << runs_[i]->label;
  for (const auto& k : keys) rows << qs(k);
  config_table_->setHorizontalHeaderLabels(headers);
  config_table_->setVerticalHeaderLabels(rows);
  for (size_t r = 0; r < keys.size(); ++r)
    for (size_t c = 0; c < chosen.size(); ++c)
      config_table_->setItem(int(r), int(c), new QTableWidgetItem(qs(configValueText(configs[c], keys[r]))));
  config_table_->resizeColumnsToContents();
}

namespace {

/// A HANT result's name in the legend: "seed1/hant" in a comparison, else its folder's name.
QString hantLabel(const HantSummary& h) {
  const QFileInfo info(qs(h.dir));
  const QString parent = info.dir().dirName();
  return parent.startsWith("protocol-seed") ? QString(parent).replace("protocol-", "") + "/" + info.fileName()
                                            : info.fileName();
}

}  // namespace

void ComparisonView::redrawScatter() {
  if (rebuilding_) return;
  scatter_->clearGraphs();
  scatter_->clearItems();
  // The inference axis needs a HANT result (its teachers' latency places the runs too).
  if (auto* axes = qobject_cast<QStandardItemModel*>(scatter_axis_->model())) axes->item(1)->setEnabled(!hant_.empty());
  if (hant_.empty() && scatter_axis_->currentIndex() == 1) {
    const QSignalBlocker quiet(scatter_axis_);
    scatter_axis_->setCurrentIndex(0);
  }
  const bool inference = scatter_axis_->currentIndex() == 1;
  // Training: ms per step of the mask when every run has its cost table, else branches kept.
  // Inference: HANT measured each teacher; every branch subset folds to the same convolutions,
  // so a run sits at the mean teacher latency of its backbone (absent without a HANT result).
  bool all_costs = runCount() > 0;
  std::vector<RunRow> rows;
  for (int i = 0; i < runCount(); ++i) {
    rows.push_back(row(i));
    all_costs &= rows.back().train_ms.has_value() || !rows.back().test_accuracy;
  }
  std::map<std::string, std::vector<double>> teacher_ms;
  for (const auto& h : hant_)
    if (!h.backbone.empty()) teacher_ms[h.backbone].push_back(h.teacher_ms);
  auto runX = [&](int i) -> std::optional<double> {
    const auto& r = rows[i];
    if (!inference) {
      if (all_costs && !r.train_ms) return std::nullopt;
      return all_costs ? *r.train_ms : r.branches;
    }
    std::string backbone = configValueText(runs_[i]->config_json, "backbone");
    if (backbone.size() >= 2 && backbone.front() == '"') backbone = backbone.substr(1, backbone.size() - 2);
    const auto it = teacher_ms.find(backbone);
    if (it == teacher_ms.end()) return std::nullopt;
    return meanStd(it->second).first;
  };
  std::vector<double> cost, accuracy;
  std::vector<int> index;  // catalogue index; -1: a HANT student
  std::vector<QCPGraph*> runs_on_plot;
  auto point = [&](const QString& name, const QCPScatterStyle& style, const QVector<double>& x, const QVector<double>& y) {
    auto* g = scatter_->addGraph();
    g->setName(name);
    g->setLineStyle(QCPGraph::lsNone);
    g->setScatterStyle(style);
    g->setData(x, y);
    return g;
  };
  auto filled = [](QCPScatterStyle::ScatterShape shape, const QColor& colour, double size) {
    return QCPScatterStyle(shape, QPen(colour), colour, size);
  };
  for (int i = 0; i < runCount(); ++i) {
    const auto& r = rows[i];
    const auto x = runX(i);
    if (!r.test_accuracy || !x) continue;
    runs_on_plot.push_back(point(r.label, filled(QCPScatterStyle::ssDisc, r.colour, 8), {*x}, {*r.test_accuracy}));
    cost.push_back(*x);
    accuracy.push_back(*r.test_accuracy);
    index.push_back(i);
  }
  if (!inference) {
    // RENA's children: validation accuracy with the shared weights, at their training cost.
    QVector<double> tx, ty;
    for (int i = 0; i < runCount(); ++i)
      for (const auto& t : runs_[i]->model.trials()) {
        std::optional<double> ms;
        for (const auto& [n, v] : t.resources)
          if (n == "train_ms") ms = v;
        if (!all_costs) ms = countBranches(t.mask);
        if (ms) tx << *ms, ty << 100 * t.val_accuracy;
      }
    if (!tx.isEmpty())
      point(tr("searched networks (validation, shared weights)"),
            QCPScatterStyle(QCPScatterStyle::ssCross, QColor(127, 127, 127, 160), 5), tx, ty);
  } else {
    // HANT: each result's budgets (distilled students, validation), its teacher and its student.
    for (size_t h = 0; h < hant_.size(); ++h) {
      const auto& r = hant_[h];
      const QColor colour = comparisonColour(runCount() + static_cast<int>(h));
      const QString label = hantLabel(r);
      QVector<double> sx, sy;
      for (const auto& [ms, val] : r.sweep) sx << ms, sy << 100 * val;
      if (!sx.isEmpty())
        point(tr("%1: budgets (validation, distilled)").arg(label), QCPScatterStyle(QCPScatterStyle::ssCross, colour, 7), sx, sy);
      point(tr("%1: teacher").arg(label), filled(QCPScatterStyle::ssDiamond, colour, 9), {r.teacher_ms}, {100 * r.teacher_test});
      if (r.student_ms && r.student_test) {
        point(tr("%1: student").arg(label), filled(QCPScatterStyle::ssTriangle, colour, 9), {*r.student_ms},
              {100 * *r.student_test});
        cost.push_back(*r.student_ms);
        accuracy.push_back(100 * *r.student_test);
        index.push_back(-1);
      }
    }
  }
  const auto front = paretoFront(cost, accuracy);
  pareto_.clear();
  QVector<double> fx, fy;
  for (size_t f : front) {
    if (index[f] >= 0) pareto_.push_back(index[f]);
    fx << cost[f];
    fy << accuracy[f];
  }
  if (!fx.isEmpty()) {
    auto* g = scatter_->addGraph();
    g->setName(inference ? tr("Pareto front (runs and students)") : tr("Pareto front (runs)"));
    g->setPen(QPen(palette().color(QPalette::Text), 1.2, Qt::DashLine));
    g->setLineStyle(QCPGraph::lsStepLeft);
    g->setData(fx, fy, true);
  }
  scatter_->xAxis->setLabel(inference ? tr("inference ms per image (measured by HANT; runs at their backbone's folded latency)")
                            : all_costs ? tr("training ms per step of the network (measured cost table)")
                                        : tr("branches kept"));
  scatter_->yAxis->setLabel(tr("test accuracy %"));
  if (runs_on_plot.size() > 12)
    for (auto* g : runs_on_plot) g->removeFromLegend();
  syncLegendRow(scatter_);
  if (!PlotInteraction::of(scatter_)->userView()) {
    scatter_->rescaleAxes();
    const auto xr = scatter_->xAxis->range(), yr = scatter_->yAxis->range();
    const double xpad = inference ? 0.1 * std::max(xr.size(), 0.1) : 0.05 * xr.size() + 0.5;
    scatter_->xAxis->setRange(xr.lower - xpad, xr.upper + xpad);
    scatter_->yAxis->setRange(yr.lower - 0.05 * yr.size() - 0.5, yr.upper + 0.05 * yr.size() + 0.5);
  }
  scatter_->replot();
}

QString ComparisonView::writeTableCsv(const QString& path) const {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly | QIODevice::Text)) return tr("cannot write %1: %2").arg(path, file.errorString());
  QTextStream out(&file);
  auto quoted = [](QString s) { return "\"" + s.replace("\"", "\"\"") + "\""; };
  out << "run,dir,group,strategy,status,test_accuracy,wall_seconds,branches,train_ms_per_step\n";
  for (int i = 0; i < runCount(); ++i) {
    const auto r = row(i);
    out << quoted(r.label) << ',' << quoted(r.dir) << ',' << quoted(r.group) << ',' << quoted(r.strategy) << ','
        << quoted(r.status) << ',' << (r.test_accuracy ? QString::number(*r.test_accuracy, 'g', 9) : QString()) << ','
        << QString::number(r.wall_seconds, 'g', 9) << ',' << r.branches << ','
        << (r.train_ms ? QString::number(*r.train_ms, 'g', 9) : QString()) << '\n';
  }
  out.flush();
  if (!file.commit()) return tr("cannot write %1: %2").arg(path, file.errorString());
  return {};
}

bool ComparisonView::exportCurrentPlot(const QString& path_base) const {
  QCustomPlot* plot = nullptr;
  switch (tabs_->currentIndex()) {
    case 0: plot = curves_; break;
    case 1: plot = diff_plot_; break;
    case 3: plot = scatter_; break;
    default: return false;
  }
  return exportPlotImages(plot, path_base, tr("Comparison of %1 runs: %2").arg(runCount()).arg(tabs_->tabText(tabs_->currentIndex())));
}

}  // namespace repnas::ui
