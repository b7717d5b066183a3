// Renders resources/org.repnas.Studio.svg to the PNG sizes in resources/icons (committed, so
// that building needs no SVG tools). Run after changing the SVG:
//   g++ -std=c++17 -fPIC scripts/render_icons.cpp -o /tmp/render_icons $(pkg-config --cflags --libs Qt6Gui)
//   QT_QPA_PLATFORM=offscreen /tmp/render_icons resources/org.repnas.Studio.svg resources/icons
// (needs Qt's SVG icon plugin, Debian package libqt6svg6).
#include <QGuiApplication>
#include <QIcon>
#include <QPixmap>
#include <QDir>
int main(int argc, char** argv) {
  QGuiApplication app(argc, argv);
  QIcon icon(argv[1]);
  for (int s : {16, 24, 32, 48, 64, 128, 256, 512}) {
    QDir().mkpath(QString("%1/%2x%2/apps").arg(argv[2]).arg(s));
    if (!icon.pixmap(s, s).save(QString("%1/%2x%2/apps/org.repnas.Studio.png").arg(argv[2]).arg(s))) return 1;
  }
  return 0;
}
