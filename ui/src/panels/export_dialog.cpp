#include "repnas_ui/export_dialog.h"

#include <QDesktopServices>
#include <QFileInfo>
#include <QLocale>
#include <QUrl>

#include <QCheckBox>
#include <QCloseEvent>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTextBrowser>
#include <QThread>
#include <QVBoxLayout>

#include "widgets/ui_util.h"

namespace repnas::ui {

ExportDialog::ExportDialog(const QString& run_dir, QWidget* parent)
    : QDialog(parent), run_dir_(run_dir) {
  setWindowTitle(tr("Fuse and export — %1").arg(QDir(run_dir).dirName()));
  onnx_ = new QCheckBox(tr("ONNX (opset 13): model.onnx"));
  onnx_->setChecked(true);
  onnx_->setToolTip(tr("One Conv + ReLU per layer; loads in OpenCV dnn, onnx, ONNX Runtime."));
  torchscript_ = new QCheckBox(tr("TorchScript: model.pt"));
  torchscript_->setChecked(true);
  torchscript_->setToolTip(tr("Loads with torch.jit.load / torch::jit::load."));
  spec_ = new QCheckBox(tr("JSON spec + safetensors: model.json"));
  spec_->setChecked(true);
  spec_->setToolTip(tr("The folded layers as JSON, weights in model.safetensors."));
  force_ = new QCheckBox(tr("write even if verification fails"));
  force_->setToolTip(tr("Normally nothing is written when the folded network does not match "
                        "the multi-branch network."));
  folder_ = new QLineEdit(QDir(run_dir).filePath("export"));
  folder_->setToolTip(tr("Folder for the exported files (created if needed)."));
  auto* browse = new QPushButton(tr("…"));
  browse->setToolTip(tr("Choose the export folder"));
  auto* folder_row = new QHBoxLayout;
  folder_row->addWidget(folder_, 1);
  folder_row->addWidget(browse);
  verify_images_ = new QSpinBox;
  verify_images_->setRange(0, 1000000);
  verify_images_->setSpecialValueText(tr("all test images"));
  verify_images_->setToolTip(tr("Test images on which both networks are compared (0: all; at "
                                "least 1,000 are used)."));
  export_ = new QPushButton(tr("&Fold, verify and export"));
  export_->setDefault(true);
  export_->setToolTip(tr("Fold every block, compare on real test images, write the files "
                         "atomically and load each back to check it."));
  busy_ = new QProgressBar;
  busy_->setRange(0, 0);
  busy_->hide();
  cancel_ = new QPushButton(tr("&Cancel verification"));
  cancel_->setToolTip(tr("Stop folding and verifying; nothing is written."));
  cancel_->hide();
  open_folder_ = new QPushButton(tr("&Open folder"));
  open_folder_->setToolTip(tr("Show the exported files in the file manager."));
  open_folder_->setEnabled(false);
  report_view_ = new QTextBrowser;
  report_view_->setObjectName("exportReport");
  report_view_->setMinimumSize(560, 240);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
  buttons->addButton(open_folder_, QDialogButtonBox::ActionRole);

  auto* form = new QFormLayout;
  form->addRow(tr("Formats:"), onnx_);
  form->addRow(QString(), torchscript_);
  form->addRow(QString(), spec_);
  form->addRow(tr("Folder:"), folder_row);
  form->addRow(tr("Verify on:"), verify_images_);
  form->addRow(QString(), force_);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("Run: %1").arg(run_dir)));
  layout->addLayout(form);
  layout->addWidget(export_);
  auto* busy_row = new QHBoxLayout;
  busy_row->addWidget(busy_, 1);
  busy_row->addWidget(cancel_);
  layout->addLayout(busy_row);
  layout->addWidget(report_view_, 1);
  layout->addWidget(buttons);

  connect(browse, &QPushButton::clicked, this, [this] {
    const auto dir = QFileDialog::getExistingDirectory(this, tr("Export folder"), folder_->text());
    if (!dir.isEmpty()) folder_->setText(dir);
  });
  connect(export_, &QPushButton::clicked, this, &ExportDialog::startExport);
  connect(cancel_, &QPushButton::clicked, this, &ExportDialog::cancelExport);
  connect(open_folder_, &QPushButton::clicked, this, [this] {
    QDesktopServices::openUrl(QUrl::fromLocalFile(QDir(folder_->text().trimmed()).absolutePath()));
  });
  connect(buttons, &QDialogButtonBox::rejected, this, [this] {
    if (!working_) reject();
  });
  report_view_->setHtml(tr("<p>Folding replaces each block by one KxK convolution. Before any "
                           "file is written, the folded network is compared with the "
                           "multi-branch network on real test images.</p>"));
}

ExportDialog::~ExportDialog() {
  if (worker_.joinable()) worker_.join();
}

void ExportDialog::startExport() {
  if (working_) return;
  const QDir dir(folder_->text().trimmed());
  if (folder_->text().trimmed().isEmpty() || !QDir().mkpath(dir.absolutePath())) {
    report_view_->setHtml(tr("<p style='color:#c0392b'>Cannot create the folder %1.</p>")
                              .arg(folder_->text().toHtmlEscaped()));
    return;
  }
  ExportRequest request;
  request.run_dir = run_dir_.toStdString();
  if (onnx_->isChecked()) request.onnx_path = dir.filePath("model.onnx").toStdString();
  if (torchscript_->isChecked()) request.torchscript_path = dir.filePath("model.pt").toStdString();
  if (spec_->isChecked()) request.spec_path = dir.filePath("model.json").toStdString();
  request.force = force_->isChecked();
  request.verify_images = verify_images_->value();
  request.threads = QThread::idealThreadCount();
  cancel_flag_ = std::make_shared<std::atomic<bool>>(false);
  request.cancelled = [flag = cancel_flag_] { return flag->load(); };
  working_ = true;
  export_->setEnabled(false);
  open_folder_->setEnabled(false);
  busy_->show();
  cancel_->show();
  cancel_->setEnabled(true);
  result_.reset();
  error_.clear();
  report_view_->setHtml(tr("<p>Folding and verifying…</p>"));
  if (worker_.joinable()) worker_.join();
  QPointer<ExportDialog> self(this);
  worker_ = std::thread([self, request] {
    std::optional<ExportResult> result;
    QString error;
    try {
      result = exportRun(request);
    } catch (const std::exception& e) {
      error = qs(e.what());
    }
    if (!self) return;
    QMetaObject::invokeMethod(self, [self, result, error] {
      if (!self) return;
      self->result_ = result;
      self->error_ = error;
      self->showResult();
    }, Qt::QueuedConnection);
  });
}

void ExportDialog::cancelExport() {
  if (!working_ || !cancel_flag_) return;
  cancel_flag_->store(true);
  cancel_->setEnabled(false);
  report_view_->setHtml(tr("<p>Cancelling…</p>"));
}

void ExportDialog::showResult() {
  working_ = false;
  export_->setEnabled(true);
  busy_->hide();
  cancel_->hide();
  if (!result_) {
    report_view_->setHtml(tr("<p style='color:#c0392b'><b>Export failed:</b> %1</p>").arg(error_.toHtmlEscaped()));
    Q_EMIT exportFinished(false);
    return;
  }
  if (result_->cancelled) {
    report_view_->setHtml(tr("<p><b>Cancelled.</b> Nothing was written.</p>"));
    Q_EMIT exportFinished(false);
    return;
  }
  const auto& r = result_->report;
  QString html;
  html += r.pass ? tr("<h3 style='color:#1e8449'>Verified</h3>")
                 : tr("<h3 style='color:#c0392b'>Not verified</h3>");
  html += "<table cellspacing='4'>";
  auto row = [&](const QString& k, const QString& v) { html += "<tr><td>" + k + "</td><td><b>" + v + "</b></td></tr>"; };
  row(tr("test images compared"), QString::number(r.images));
  row(tr("max |logit difference|"), QString::number(r.max_abs_err, 'e', 3) +
                                        tr(" (tolerance %1)").arg(r.tolerance, 0, 'e', 3));
  row(tr("max relative difference"), QString::number(r.max_rel_err, 'e', 3));
  row(tr("accuracy, multi-branch"), QString::number(100 * r.accuracy_multi_branch, 'f', 2) + " %");
  row(tr("accuracy, folded"), QString::number(100 * r.accuracy_folded, 'f', 2) + " %");
  row(tr("arg-max mismatches"), QString::number(r.prediction_mismatches));
  row(tr("parameters, multi-branch → folded"),
      tr("%1 → %2").arg(r.parameters_multi_branch).arg(r.parameters_folded));
  row(tr("latency (batch %1), multi-branch → folded").arg(r.latency_batch),
      tr("%1 ms → %2 ms (%3× faster)")
          .arg(r.latency_multi_branch_ms, 0, 'f', 3)
          .arg(r.latency_folded_ms, 0, 'f', 3)
          .arg(r.latency_folded_ms > 0 ? r.latency_multi_branch_ms / r.latency_folded_ms : 0, 0, 'f', 2));
  html += "</table>";
  for (const auto& note : r.notes) html += "<p><b>Note:</b> " + qs(note).toHtmlEscaped() + "</p>";
  if (result_->exported) {
    html += tr("<p>Written and re-loaded:</p><ul>");
    for (const auto& f : result_->written)
      html += "<li>" + qs(f).toHtmlEscaped() + " — " + QLocale().formattedDataSize(QFileInfo(qs(f)).size()) + "</li>";
    html += "</ul>";
    open_folder_->setEnabled(true);
  } else {
    html += tr("<p style='color:#c0392b'>Nothing written: %1</p>").arg(qs(result_->message).toHtmlEscaped());
  }
  report_view_->setHtml(html);
  Q_EMIT exportFinished(result_->exported);
}

}  // namespace repnas::ui
