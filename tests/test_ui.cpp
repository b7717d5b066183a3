// The main window offscreen: run the fusion check from the GUI and check what a person sees.
#include <QtTest>

#include <QSignalSpy>
#include <QTableWidget>
#include <qcustomplot.h>

#include "repnas/fusion_check.h"
#include "repnas_ui/fusion_check_panel.h"
#include "repnas_ui/main_window.h"

using namespace repnas;

class TestUi : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    QCoreApplication::setOrganizationName("RepNAS-tests");
    QCoreApplication::setApplicationName("test_ui");
  }

  void fusionCheckRunsFromTheWindowAndShowsEngineNumbers() {
    ui::MainWindow window;
    window.resize(1100, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    auto* panel = window.fusionCheckPanel();
    QSignalSpy finished(panel, &ui::FusionCheckPanel::finished);
    panel->start();
    QVERIFY(panel->isRunning());
    QVERIFY(finished.wait(300000));
    QCOMPARE(finished.count(), 1);
    const int total = static_cast<int>(standardFusionCases().size());
    QCOMPARE(finished.at(0).at(0).toInt(), total);  // passed
    QCOMPARE(finished.at(0).at(1).toInt(), 0);      // failed

    // Table rows and plotted bars are the engine's results, case by case.
    QCOMPARE(panel->table()->rowCount(), total);
    auto* bars = qobject_cast<QCPBars*>(panel->plot()->plottable(0));
    QVERIFY(bars);
    QCOMPARE(bars->data()->size(), total);
    const auto& results = panel->results();
    for (int i = 0; i < total; ++i) {
      QCOMPARE(panel->table()->item(i, 0)->text(), QString::fromStdString(results[i].name));
      QCOMPARE(panel->table()->item(i, 3)->text(), QString("pass"));
      const double plotted = (bars->data()->constBegin() + i)->value;
      QCOMPARE(plotted, std::max(results[i].rel_err, 1e-12));
    }
    // The results are those the engine gives for the same case.
    const auto again = runFusionCase(standardFusionCases()[5]);
    QCOMPARE(results[5].max_abs_err, again.max_abs_err);

    QCoreApplication::processEvents();
    const QString path = QString(REPNAS_TEST_OUTPUT_DIR) + "/main_window_fusion_check.png";
    QVERIFY(window.grab().save(path));
  }

  void closingDuringARunStopsTheWorker() {
    auto* window = new ui::MainWindow;
    window->show();
    window->fusionCheckPanel()->start();
    QTest::qWait(50);
    QVERIFY(window->close());
    delete window;  // joins the worker: must not hang or crash
  }
};

QTEST_MAIN(TestUi)
#include "test_ui.moc"
