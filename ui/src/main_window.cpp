#include "repnas_ui/main_window.h"

#include <QCloseEvent>
#include <QKeySequence>
#include <QMenuBar>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QApplication>
#include <QMessageBox>

#include "repnas/runtime.h"
#include "repnas_ui/fusion_check_panel.h"

namespace repnas::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle(tr("RepNAS Studio"));
  auto* tabs = new QTabWidget(this);
  fusion_panel_ = new FusionCheckPanel(tabs);
  tabs->addTab(fusion_panel_, tr("Fusion check"));
  setCentralWidget(tabs);

  auto* file = menuBar()->addMenu(tr("&File"));
  auto* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);
  auto* tools = menuBar()->addMenu(tr("&Tools"));
  auto* run = tools->addAction(tr("Run &fusion check"), fusion_panel_, &FusionCheckPanel::start);
  run->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
  auto* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About RepNAS Studio"), this, [this]() {
    QMessageBox::about(this, tr("About RepNAS Studio"),
                       tr("<b>RepNAS Studio %1</b><br>Search, inspect, fuse and export "
                          "re-parameterizing blocks.<br>LibTorch %2, Qt %3")
                           .arg(QString::fromStdString(repnas::version()),
                                QString::fromStdString(repnas::torchVersion()), qVersion()));
  });

  connect(fusion_panel_, &FusionCheckPanel::finished, this, [this](int passed, int failed) {
    statusBar()->showMessage(tr("Fusion check: %1 passed, %2 failed").arg(passed).arg(failed));
  });
  statusBar()->showMessage(tr("Ready"));

  QSettings settings;
  if (!restoreGeometry(settings.value("mainWindow/geometry").toByteArray())) resize(1000, 720);
  restoreState(settings.value("mainWindow/state").toByteArray());
}

void MainWindow::closeEvent(QCloseEvent* event) {
  fusion_panel_->cancel();
  QSettings settings;
  settings.setValue("mainWindow/geometry", saveGeometry());
  settings.setValue("mainWindow/state", saveState());
  event->accept();
}

}  // namespace repnas::ui
