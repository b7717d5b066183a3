#include "repnas_ui/fusion_check_panel.h"

#include <qcustomplot.h>

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QThread>
#include <QVBoxLayout>

#include <cmath>

namespace repnas::ui {

FusionCheckPanel::FusionCheckPanel(QWidget* parent) : QWidget(parent) {
  run_button_ = new QPushButton(tr("&Run fusion check"), this);
  run_button_->setToolTip(
      tr("Build every standard block with random weights and BatchNorm statistics, fold it into "
         "one KxK convolution, and compare both in eval mode"));
  cancel_button_ = new QPushButton(tr("Cancel"), this);
  cancel_button_->setEnabled(false);
  cancel_button_->setToolTip(tr("Stop after the current case"));
  progress_ = new QProgressBar(this);
  progress_->setToolTip(tr("Cases checked"));
  summary_ = new QLabel(tr("Not run yet"), this);

  table_ = new QTableWidget(0, 4, this);
  table_->setHorizontalHeaderLabels({tr("Case"), tr("Max abs error"), tr("Relative error"),
                                     tr("Result")});
  table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->verticalHeader()->setVisible(false);
  table_->setToolTip(tr("Errors are measured before the block's ReLU; a case passes when "
                        "max abs error <= 1e-5 * max(1, max |y|)"));

  plot_ = new QCustomPlot(this);
  plot_->setMinimumHeight(180);
  plot_->setToolTip(tr("Relative error of every case (log scale); the dashed line is the "
                       "pass threshold for |y| <= 1"));
  plot_->xAxis->setLabel(tr("case"));
  plot_->yAxis->setLabel(tr("relative error"));
  plot_->yAxis->setScaleType(QCPAxis::stLogarithmic);
  plot_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
  plot_->yAxis->setNumberFormat("eb");
  plot_->yAxis->setNumberPrecision(0);
  auto* bars = new QCPBars(plot_->xAxis, plot_->yAxis);
  bars->setName(tr("relative error"));
  bars->setPen(Qt::NoPen);
  bars->setBrush(QColor(52, 101, 164));
  auto* threshold = new QCPItemStraightLine(plot_);
  threshold->point1->setCoords(0, 1e-5);
  threshold->point2->setCoords(1, 1e-5);
  threshold->setPen(QPen(QColor(204, 0, 0), 1, Qt::DashLine));

  auto* buttons = new QHBoxLayout;
  buttons->addWidget(run_button_);
  buttons->addWidget(cancel_button_);
  buttons->addWidget(progress_, 1);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(buttons);
  layout->addWidget(summary_);
  layout->addWidget(plot_, 1);
  layout->addWidget(table_, 2);

  connect(run_button_, &QPushButton::clicked, this, &FusionCheckPanel::start);
  connect(cancel_button_, &QPushButton::clicked, this, &FusionCheckPanel::cancel);
  replot();
}

FusionCheckPanel::~FusionCheckPanel() {
  if (cancel_flag_) cancel_flag_->store(true);
  // The worker owns nothing of ours; it is joined by its QThread below.
  for (auto* t : findChildren<QThread*>()) t->wait();
}

void FusionCheckPanel::start() {
  if (running_) return;
  running_ = true;
  results_.clear();
  table_->setRowCount(0);
  run_button_->setEnabled(false);
  cancel_button_->setEnabled(true);
  summary_->setText(tr("Running…"));
  replot();

  auto cases = standardFusionCases();
  progress_->setRange(0, static_cast<int>(cases.size()));
  progress_->setValue(0);
  cancel_flag_ = std::make_shared<std::atomic<bool>>(false);
  auto cancel = cancel_flag_;
  QThread* worker = QThread::create([this, cases, cancel]() {
    const int total = static_cast<int>(cases.size());
    QString error;
    for (int i = 0; i < total && !cancel->load(); ++i) {
      try {
        const FusionResult r = runFusionCase(cases[i]);
        QMetaObject::invokeMethod(this, [this, r, i, total]() { addResult(r, i, total); },
                                  Qt::QueuedConnection);
      } catch (const std::exception& e) {
        error = QString::fromStdString(e.what());
        break;
      }
    }
    QMetaObject::invokeMethod(this, [this, error]() { finish(error); }, Qt::QueuedConnection);
  });
  worker->setParent(this);
  connect(worker, &QThread::finished, worker, &QObject::deleteLater);
  worker->start();
}

void FusionCheckPanel::cancel() {
  if (cancel_flag_) cancel_flag_->store(true);
}

void FusionCheckPanel::addResult(const FusionResult& r, int index, int total) {
  results_.push_back(r);
  const int row = table_->rowCount();
  table_->insertRow(row);
  auto* name = new QTableWidgetItem(QString::fromStdString(r.name));
  auto* abs_err = new QTableWidgetItem(QString::number(r.max_abs_err, 'e', 2));
  auto* rel_err = new QTableWidgetItem(QString::number(r.rel_err, 'e', 2));
  auto* result = new QTableWidgetItem(r.pass ? tr("pass") : tr("FAIL"));
  result->setForeground(r.pass ? QColor(0, 128, 0) : QColor(204, 0, 0));
  for (auto* item : {abs_err, rel_err}) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  table_->setItem(row, 0, name);
  table_->setItem(row, 1, abs_err);
  table_->setItem(row, 2, rel_err);
  table_->setItem(row, 3, result);
  progress_->setValue(index + 1);
  replot();
  Q_EMIT caseFinished(index, total);
}

void FusionCheckPanel::finish(const QString& error) {
  running_ = false;
  run_button_->setEnabled(true);
  cancel_button_->setEnabled(false);
  int passed = 0;
  for (const auto& r : results_) passed += r.pass ? 1 : 0;
  const int failed = static_cast<int>(results_.size()) - passed;
  if (!error.isEmpty())
    summary_->setText(tr("Error: %1").arg(error));
  else
    summary_->setText(tr("%1 cases: %2 passed, %3 failed").arg(results_.size()).arg(passed).arg(failed));
  Q_EMIT finished(passed, failed);
}

void FusionCheckPanel::replot() {
  auto* bars = qobject_cast<QCPBars*>(plot_->plottable(0));
  QVector<double> keys, values;
  double lowest = 1e-6;
  for (size_t i = 0; i < results_.size(); ++i) {
    // An exact zero has no place on a log axis: draw it at the floor of the axis.
    const double v = std::max(results_[i].rel_err, 1e-12);
    keys.push_back(static_cast<double>(i));
    values.push_back(v);
    lowest = std::min(lowest, v);
  }
  bars->setData(keys, values, /*alreadySorted=*/true);
  plot_->xAxis->setRange(-1, std::max<double>(10, static_cast<double>(results_.size())));
  plot_->yAxis->setRange(std::pow(10.0, std::floor(std::log10(lowest))), 1.0);
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace repnas::ui
