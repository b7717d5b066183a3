// repnas-studio: the RepNAS Studio desktop application.

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QIcon>
#include <QSettings>

#include "repnas/runtime.h"
#include "repnas_ui/main_window.h"

namespace {

/// Settings of releases before the reverse-DNS id (~/.config/RepNAS/RepNAS Studio.conf) move
/// to the new place once, so recent runs and the window layout survive the update.
void migrateOldSettings() {
  QSettings current;
  if (!current.allKeys().isEmpty()) return;
  QSettings old(QSettings::NativeFormat, QSettings::UserScope, "RepNAS", "RepNAS Studio");
  if (!QFileInfo::exists(old.fileName())) return;
  for (const auto& key : old.allKeys()) current.setValue(key, old.value(key));
}

}  // namespace

int main(int argc, char** argv) {
  repnas::reuseFreedMemory();  // before any thread starts (see runtime.h)
  QApplication app(argc, argv);
  // The application id REPNAS_APP_ID (org.repnas.Studio) names the desktop file, the AppStream
  // component, the icon and the settings folder (~/.config/org.repnas.Studio/repnas-studio.conf).
  QApplication::setOrganizationName(REPNAS_APP_ID);
  QApplication::setOrganizationDomain("repnas.org");
  QApplication::setApplicationName("repnas-studio");
  QApplication::setApplicationDisplayName("RepNAS Studio");
  QApplication::setApplicationVersion(QString::fromStdString(repnas::version()));
  QApplication::setDesktopFileName(REPNAS_APP_ID);
  QIcon icon(":/repnas/icon.svg");
  for (int size : {16, 32, 48, 64, 128, 256})
    icon.addFile(QString(":/repnas/icon-%1.png").arg(size), QSize(size, size));
  QApplication::setWindowIcon(icon);

  QCommandLineParser parser;
  parser.setApplicationDescription(
      "RepNAS Studio: search, inspect, fuse and export re-parameterizing blocks.\n"
      "The headless command line is repnas (see repnas --help).");
  parser.addHelpOption();
  parser.addVersionOption();
  QCommandLineOption monitor({"m", "monitor"}, "Follow RUN_DIR's events.jsonl as it grows (a run "
                                               "that repnas search writes).");
  parser.addOption(monitor);
  parser.addPositionalArgument("RUN_DIR", "A run folder to open (replays its event log).", "[RUN_DIR]");
  parser.process(app);

  migrateOldSettings();
  repnas::setComputeThreads(0);
  repnas::ui::MainWindow window;
  window.show();
  if (!parser.positionalArguments().isEmpty())
    window.openRun(QDir(parser.positionalArguments().first()).absolutePath(), parser.isSet(monitor));
  return app.exec();
}
