// repnas-studio: the RepNAS Studio desktop application.

#include <QApplication>
#include <QIcon>

#include "repnas/runtime.h"
#include "repnas_ui/main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName("RepNAS");
  QApplication::setApplicationName("RepNAS Studio");
  QApplication::setApplicationVersion(QString::fromStdString(repnas::version()));
  QApplication::setDesktopFileName("org.repnas.Studio");
  QApplication::setWindowIcon(QIcon(":/repnas/icon.svg"));
  repnas::setComputeThreads(0);
  repnas::ui::MainWindow window;
  window.show();
  return app.exec();
}
