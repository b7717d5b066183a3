#pragma once
/// @file export_dialog.h
/// @brief Fold, verify and export a finished run (repnas::exportRun on a worker thread) and
/// show the verification report.

#include <QDialog>

#include <memory>
#include <optional>
#include <atomic>
#include <memory>
#include <thread>

#include "repnas/export.h"

class QCheckBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTextBrowser;

namespace repnas::ui {

class ExportDialog : public QDialog {
  Q_OBJECT
 public:
  explicit ExportDialog(const QString& run_dir, QWidget* parent = nullptr);
  ~ExportDialog() override;

  QCheckBox* onnxCheck() const { return onnx_; }
  QCheckBox* torchscriptCheck() const { return torchscript_; }
  QCheckBox* specCheck() const { return spec_; }
  QLineEdit* folderEdit() const { return folder_; }
  QSpinBox* verifyImagesBox() const { return verify_images_; }
  QPushButton* exportButton() const { return export_; }
  QTextBrowser* reportView() const { return report_view_; }
  /// @brief Stops the verification (nothing is written).
  QPushButton* cancelButton() const { return cancel_; }
  /// @brief Opens the export folder in the desktop's file manager (after a written export).
  QPushButton* openFolderButton() const { return open_folder_; }
  bool isWorking() const { return working_; }
  /// @brief The last result (or the error message of a failed export).
  const std::optional<ExportResult>& result() const { return result_; }
  QString error() const { return error_; }

 public Q_SLOTS:
  void startExport();
  void cancelExport();

 Q_SIGNALS:
  void exportFinished(bool exported);

 private:
  void showResult();

  QString run_dir_;
  QCheckBox* onnx_;
  QCheckBox* torchscript_;
  QCheckBox* spec_;
  QCheckBox* force_;
  QLineEdit* folder_;
  QSpinBox* verify_images_;
  QPushButton* export_;
  QProgressBar* busy_;
  QTextBrowser* report_view_;
  QPushButton* cancel_;
  QPushButton* open_folder_;
  std::shared_ptr<std::atomic<bool>> cancel_flag_;
  std::thread worker_;
  bool working_ = false;
  std::optional<ExportResult> result_;
  QString error_;
};

}  // namespace repnas::ui
