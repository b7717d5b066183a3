#include "repnas_ui/hant_dialog.h"

#include <QDesktopServices>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QUrl>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <sstream>

#include "repnas_ui/plot_util.h"
#include "widgets/ui_util.h"

namespace repnas::ui {

HantDialog::HantDialog(const QString& run_dir, QWidget* parent) : QDialog(parent), run_dir_(run_dir) {
  setWindowTitle(tr("Accelerate for this machine (HANT) — %1").arg(QDir(run_dir).dirName()));
  speedup_ = new QDoubleSpinBox;
  speedup_->setObjectName("hantSpeedup");
  speedup_->setRange(1.01, 20);
  speedup_->setSingleStep(0.25);
  speedup_->setValue(1.5);
  speedup_->setSuffix(tr("× faster"));
  speedup_->setToolTip(tr("The latency budget: the teacher's latency (batch 1, measured here) divided by this."));
  curve_ = new QLineEdit("1.25,1.5,2,3");
  curve_->setObjectName("hantCurve");
  curve_->setToolTip(tr("Speed-ups of the curve, each solved from the same phase 1 (not fine-tuned); empty: none."));
  distill_ = new QSpinBox;
  distill_->setRange(0, 100000);
  distill_->setValue(400);
  distill_->setToolTip(tr("Phase 1: steps that train every alternative of every layer on the teacher's features."));
  fit_students_ = new QSpinBox;
  fit_students_->setRange(0, 100000);
  fit_students_->setValue(HantOptions{}.fit_students);
  fit_students_->setToolTip(tr("Random students measured on this machine to fit the latency model (0: single swaps only)."));
  finetune_ = new QSpinBox;
  finetune_->setRange(0, 100000);
  finetune_->setValue(400);
  finetune_->setToolTip(tr("Distillation steps of the chosen student."));
  folder_ = new QLineEdit(QDir(run_dir).filePath("hant"));
  folder_->setToolTip(tr("Receives hant.json and the student, exported and verified: student.onnx, student.pt "
                         "(TorchScript), student.json + student.safetensors."));
  run_ = new QPushButton(tr("&Run HANT"));
  run_->setDefault(true);
  cancel_ = new QPushButton(tr("&Cancel"));
  cancel_->hide();
  progress_ = new QProgressBar;
  progress_->setRange(0, 100);
  progress_->hide();
  stage_ = new QLabel(tr("The teacher is this run's folded network. Every layer gets real inference-time "
                         "alternatives, distilled from it; their latency is measured on this machine and "
                         "an integer program picks one per layer under the budget."));
  stage_->setWordWrap(true);
  summary_ = new QLabel;
  summary_->setObjectName("hantSummary");
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  plot_ = new QCustomPlot;
  plot_->setObjectName("hantCurvePlot");
  plot_->setMinimumSize(460, 260);
  plot_->xAxis->setLabel(tr("speed-up over the teacher (measured, batch 1)"));
  plot_->yAxis->setLabel(tr("validation accuracy %"));
  plot_->legend->setVisible(true);
  placeLegendBelow(plot_);
  auto* knapsack = plot_->addGraph();
  knapsack->setName(tr("knapsack under the budget"));
  knapsack->setPen(QPen(QColor("#1f77b4"), 2));
  knapsack->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 7));
  auto* uniform = plot_->addGraph();
  uniform->setName(tr("every layer one operation"));
  uniform->setLineStyle(QCPGraph::lsNone);
  uniform->setPen(QPen(QColor("#d62728")));
  uniform->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCross, 8));
  auto* chosen = plot_->addGraph();
  chosen->setName(tr("the fine-tuned student"));
  chosen->setLineStyle(QCPGraph::lsNone);
  chosen->setPen(QPen(QColor("#2ca02c")));
  chosen->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssStar, 12));
  applyPlotPalette(plot_);
  new PlotInteraction(plot_, [](double x) { return QObject::tr("%1× faster").arg(x, 0, 'f', 2); });
  table_ = new QTableWidget(0, 4);
  table_->setObjectName("hantLayers");
  table_->setHorizontalHeaderLabels({tr("layer"), tr("operation"), tr("latency change ms"), tr("loss change")});
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  table_->verticalHeader()->hide();
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  resolve_ = new QDoubleSpinBox;
  resolve_->setObjectName("hantResolve");
  resolve_->setRange(1.0, 20);
  resolve_->setSingleStep(0.25);
  resolve_->setValue(1.5);
  resolve_->setSuffix(tr("×"));
  resolve_->setEnabled(false);
  resolve_->setToolTip(tr("Another speed-up on the curve: solved at once from the same phase 1 (predicted; not "
                          "fine-tuned — run again with it to get its student)."));
  resolve_->setKeyboardTracking(false);
  use_budget_ = new QPushButton(tr("Fine-tune and &export this one"));
  use_budget_->setObjectName("hantUseBudget");
  use_budget_->setEnabled(false);
  use_budget_->setToolTip(tr("Runs HANT again with this speed-up as the budget (phase 1 again): its student is "
                             "fine-tuned, verified and exported into the folder."));
  open_folder_ = new QPushButton(tr("&Open the folder"));
  open_folder_->setObjectName("hantOpenFolder");
  open_folder_->hide();

  auto* form = new QFormLayout;
  form->addRow(tr("Budget:"), speedup_);
  form->addRow(tr("Curve:"), curve_);
  form->addRow(tr("Distillation steps:"), distill_);
  form->addRow(tr("Latency students:"), fit_students_);
  form->addRow(tr("Fine-tuning steps:"), finetune_);
  form->addRow(tr("Folder:"), folder_);
  auto* run_row = new QHBoxLayout;
  run_row->addWidget(run_);
  run_row->addWidget(cancel_);
  run_row->addWidget(progress_, 1);
  auto* resolve_row = new QHBoxLayout;
  resolve_row->addWidget(new QLabel(tr("Choose on the curve:")));
  resolve_row->addWidget(resolve_);
  resolve_row->addWidget(use_budget_);
  resolve_row->addStretch(1);
  resolve_row->addWidget(open_folder_);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addLayout(run_row);
  layout->addWidget(stage_);
  layout->addWidget(plot_, 2);
  layout->addLayout(resolve_row);
  layout->addWidget(table_, 2);
  layout->addWidget(summary_);
  layout->addWidget(buttons);
  connect(run_, &QPushButton::clicked, this, &HantDialog::startHant);
  connect(cancel_, &QPushButton::clicked, this, &HantDialog::cancelHant);
  connect(resolve_, &QDoubleSpinBox::valueChanged, this, [this] { resolve(); });
  connect(use_budget_, &QPushButton::clicked, this, [this] {
    speedup_->setValue(resolve_->value());
    startHant();
  });
  connect(open_folder_, &QPushButton::clicked, this,
          [this] { QDesktopServices::openUrl(QUrl::fromLocalFile(folder_->text().trimmed())); });
  resize(760, 860);
}

HantDialog::~HantDialog() {
  if (cancel_flag_) cancel_flag_->store(true);
  if (worker_.joinable()) worker_.join();
}

void HantDialog::startHant() {
  if (working_) return;
  HantOptions o;
  o.run_dir = run_dir_.toStdString();
  o.out_dir = folder_->text().trimmed().toStdString();
  o.speedup = speedup_->value();
  o.distill_steps = distill_->value();
  o.fit_students = fit_students_->value();
  o.finetune_steps = finetune_->value();
  std::stringstream in(curve_->text().trimmed().toStdString());
  for (std::string item; std::getline(in, item, ',');) {
    bool ok = false;
    const double v = QString::fromStdString(item).trimmed().toDouble(&ok);
    if (!ok || !(v > 0)) {
      stage_->setText(tr("The curve's speed-ups must be numbers > 0 separated by commas: '%1'").arg(qs(item)));
      setInk(stage_, Ink::Error);
      return;
    }
    o.sweep.push_back(v);
  }
  if (o.out_dir.empty()) {
    stage_->setText(tr("Choose a folder for the results."));
    setInk(stage_, Ink::Error);
    return;
  }
  cancel_flag_ = std::make_shared<std::atomic<bool>>(false);
  o.cancelled = [flag = cancel_flag_] { return flag->load(); };
  working_ = true;
  run_->setEnabled(false);
  resolve_->setEnabled(false);
  use_budget_->setEnabled(false);
  open_folder_->hide();
  cancel_->show();
  cancel_->setEnabled(true);
  progress_->show();
  progress_->setValue(0);
  setInk(stage_, Ink::Normal);
  stage_->setText(tr("Starting…"));
  result_.reset();
  error_.clear();
  if (worker_.joinable()) worker_.join();
  QPointer<HantDialog> self(this);
  worker_ = std::thread([self, o] {
    std::optional<HantResult> result;
    QString error;
    try {
      result = runHant(o, [self](const std::string& stage, double f) {
        QMetaObject::invokeMethod(self, [self, stage, f] {
          if (!self) return;
          self->stage_->setText(qs(stage));
          self->progress_->setValue(static_cast<int>(100 * f));
        }, Qt::QueuedConnection);
      });
    } catch (const std::exception& e) {
      error = qs(e.what());
    }
    QMetaObject::invokeMethod(self, [self, result, error] {
      if (!self) return;
      self->result_ = result;
      self->error_ = error;
      self->showResult();
    }, Qt::QueuedConnection);
  });
}

void HantDialog::cancelHant() {
  if (!working_ || !cancel_flag_) return;
  cancel_flag_->store(true);
  cancel_->setEnabled(false);
  stage_->setText(tr("Cancelling…"));
}

void HantDialog::showResult() {
  working_ = false;
  run_->setEnabled(true);
  cancel_->hide();
  progress_->hide();
  if (!result_) {
    stage_->setText(tr("HANT failed: %1").arg(error_));
    setInk(stage_, Ink::Error);
    Q_EMIT hantFinished(false);
    return;
  }
  const auto& r = *result_;
  stage_->setText(tr("Done in %1 s: %2/hant.json").arg(r.seconds, 0, 'f', 0).arg(folder_->text()));
  // The curve: measured speed-up (each against the teacher measured beside it) and accuracy.
  auto fill = [](QCPGraph* g, const std::vector<HantPoint>& points) {
    QVector<double> x, y;
    for (const auto& p : points) {
      if (!(p.measured_ms > 0)) continue;
      x << p.teacher_measured_ms / p.measured_ms;
      y << 100 * p.val_accuracy;
    }
    g->setData(x, y);
  };
  fill(plot_->graph(0), r.sweep);
  fill(plot_->graph(1), r.uniform);
  fill(plot_->graph(2), r.chosen.choice.empty() ? std::vector<HantPoint>{} : std::vector<HantPoint>{r.chosen});
  plot_->clearItems();
  for (const auto& p : r.uniform) {
    if (!(p.measured_ms > 0) || p.choice.size() < 2) continue;
    auto* label = new QCPItemText(plot_);
    label->position->setCoords(p.teacher_measured_ms / p.measured_ms, 100 * p.val_accuracy);
    label->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
    label->setText(qs(hantOpName(p.choice[1])));
    label->setFont(QFont(font().family(), 7));
  }
  plot_->rescaleAxes();
  plot_->xAxis->scaleRange(1.1);
  plot_->yAxis->scaleRange(1.1);
  plot_->replot();
  if (!r.chosen.choice.empty()) {
    QStringList files;
    for (const auto& f : r.exported) files << QFileInfo(qs(f)).fileName();
    summary_->setText(tr("Teacher: %1 ms per image, validation %2%, test %3%. Student (budget %4 ms = the teacher / %5): "
                         "predicted %6 ms, measured %7 ms beside the teacher's %8 (%9× faster; %10), validation "
                         "%11% (%12% before fine-tuning; the state kept: step %15 of %16), test %13%. CBC: %14 s.")
                          .arg(r.teacher_ms, 0, 'f', 3)
                          .arg(100 * r.teacher_val, 0, 'f', 2)
                          .arg(100 * r.teacher_test, 0, 'f', 2)
                          .arg(r.budget_ms, 0, 'f', 3)
                          .arg(speedup_->value(), 0, 'f', 2)
                          .arg(r.chosen.predicted_ms, 0, 'f', 3)
                          .arg(r.chosen.measured_ms, 0, 'f', 3)
                          .arg(r.chosen.teacher_measured_ms, 0, 'f', 3)
                          .arg(r.chosen.teacher_measured_ms / r.chosen.measured_ms, 0, 'f', 2)
                          .arg(r.chosen.meets_budget ? tr("under the budget") : tr("over the budget"))
                          .arg(100 * r.student_val, 0, 'f', 2)
                          .arg(100 * r.student_val_before, 0, 'f', 2)
                          .arg(100 * r.student_test, 0, 'f', 2)
                          .arg(r.chosen.solve_seconds, 0, 'f', 3)
                          .arg(r.student_best_step)
                          .arg(r.student_best_step > 0 ? tr("%1 at learning rate %2").arg(finetune_->value()).arg(r.student_best_lr)
                                                       : QString::number(finetune_->value())) +
                      tr(" Exported (its files reproduce it: max error %1 on %2 validation images): %3.")
                          .arg(r.export_check.max_abs_err, 0, 'g', 2)
                          .arg(r.export_check.images)
                          .arg(files.join(", ")));
    open_folder_->setVisible(!r.exported.empty());
    showChoice(r.chosen.choice, tr("the fine-tuned student"));
  }
  resolve_->setEnabled(true);
  use_budget_->setEnabled(true);
  Q_EMIT hantFinished(true);
}

void HantDialog::resolve() {
  if (!result_ || working_) return;
  try {
    const auto p = solveHantBudget(*result_, result_->teacher_ms / resolve_->value());
    showChoice(p.choice, tr("%1×: predicted %2 ms").arg(resolve_->value(), 0, 'f', 2).arg(p.predicted_ms, 0, 'f', 3));
    setInk(stage_, Ink::Normal);
  } catch (const std::exception& e) {
    stage_->setText(qs(e.what()));
    setInk(stage_, Ink::Error);
  }
}

void HantDialog::showChoice(const std::vector<HantOp>& choice, const QString& what) {
  shown_ = choice;
  const auto& r = *result_;
  table_->setRowCount(static_cast<int>(choice.size()));
  for (int l = 0; l < static_cast<int>(choice.size()); ++l) {
    const auto& c = r.layers[l][static_cast<int>(choice[l])];
    const QStringList cells = {QString::number(l), qs(hantOpName(choice[l])), QString::number(c.latency_ms, 'f', 3),
                               QString::number(c.score, 'f', 4)};
    for (int col = 0; col < cells.size(); ++col) {
      auto* item = table_->item(l, col);
      if (!item) {
        item = new QTableWidgetItem;
        table_->setItem(l, col, item);
      }
      item->setText(cells[col]);
    }
  }
  table_->setToolTip(tr("Which operation each layer gets: %1").arg(what));
}

}  // namespace repnas::ui
