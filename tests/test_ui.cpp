// The main window offscreen: run the fusion check from the GUI and check what a person sees.
#include <QtTest>

#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QTableWidget>
#include <qcustomplot.h>

#include "repnas/budget.h"
#include "repnas/events.h"
#include "repnas/fusion_check.h"
#include "repnas_ui/fusion_check_panel.h"
#include "repnas_ui/main_window.h"
#include "repnas_ui/run_model.h"
#include "repnas_ui/run_sources.h"

using namespace repnas;

namespace {

/// The start of a search on a two-layer network, as its event log would say.
RunInfo twoLayerRunInfo() {
  RunInfo info;
  info.mode = "search";
  info.backbone = "tiny";
  for (int l = 0; l < 2; ++l) info.layers.push_back({l, BlockSpec{}, true, "L" + std::to_string(l)});
  info.dataset = {"fashion-mnist", "/data", 60000, 10000, 1, 28, 28, 10, {}};
  info.steps_per_epoch = 10;
  info.total_steps = 20;
  info.epochs = 2;
  info.budget = defaultBudget({true, true}, 0.5);
  return info;
}

/// A step of that network: every branch running, α = 0.
StepSnapshot twoLayerStep() {
  StepSnapshot step;
  step.alpha.assign(12, 0.f);
  step.sigma.assign(12, 0.5f);
  step.mask.assign(2, allBranches());
  return step;
}

}  // namespace

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

  // Issue #15: a one-line run_started whose budget has layer_max [] segfaulted the window; a
  // 100 MB line cost 1.5 GB. Now each bad line is skipped and reported, and the rest shows.
  void hostileEventLogIsSkippedLineByLineAndTheRestShows() {
    const RunInfo info = twoLayerRunInfo();
    const StepSnapshot good = twoLayerStep();
    StepSnapshot foreign = good;  // a step of a 3-layer network
    foreign.alpha.assign(18, 0.f);
    foreign.sigma.assign(18, 0.5f);
    foreign.mask.assign(3, allBranches());
    std::string bad_budget = eventToJson(info);
    const auto at = bad_budget.find("\"layer_max\":[");
    QVERIFY(at != std::string::npos);
    bad_budget.replace(at, bad_budget.find(']', at) - at + 1, "\"layer_max\":[]");
    const QString path = QDir(QDir::tempPath()).filePath("test_ui_hostile_events.jsonl");
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(QByteArray::fromStdString(bad_budget + "\n"));                 // refused where parsed
    f.write(QByteArray::fromStdString(eventToJson(info) + "\n"));
    f.write(QByteArray::fromStdString(eventToJson(foreign) + "\n"));       // does not fit the run
    f.write(QByteArray(int(kMaxEventLineBytes) + 10, 'x') + "\n");       // oversized: skipped
    f.write(QByteArray::fromStdString(eventToJson(good) + "\n"));
    f.close();

    ui::MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QSignalSpy problems(window.follower(), &ui::EventLogFollower::problem);
    QSignalSpy rejected(window.model(), &ui::RunModel::eventRejected);
    QVERIFY(window.follower()->open(path, /*follow=*/false).isEmpty());
    QStringList said;
    for (const auto& p : problems) said << p.at(0).toString().left(160);
    QVERIFY2(window.follower()->badLines() == 2, qPrintable(said.join(" | ")));
    QCOMPARE(problems.count(), 2);
    QVERIFY(problems.at(0).at(0).toString().contains("layer_max"));
    QVERIFY(problems.at(1).at(0).toString().contains("line 4"));
    QCOMPARE(rejected.count(), 1);
    QCOMPARE(window.model()->steps().size(), size_t(1));  // the good step
    QCoreApplication::processEvents();
    QVERIFY(!window.grab().isNull());
    QFile::remove(path);
  }

  // Issue #15: an unfinished last line was buffered whole and kept growing. Followed across
  // polls, a line that is still being written is joined when it ends; one that grows past the
  // line limit is reported once and skipped up to its end, and what follows shows.
  void growingUnfinishedLastLineIsJoinedOrSkippedAcrossPolls() {
    const RunInfo info = twoLayerRunInfo();
    const StepSnapshot step = twoLayerStep();
    const QString path = QDir(QDir::tempPath()).filePath("test_ui_growing_events.jsonl");
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    auto append = [&](const QByteArray& bytes) {
      QVERIFY(f.write(bytes) == bytes.size());
      QVERIFY(f.flush());
    };
    append(QByteArray::fromStdString(eventToJson(info) + "\n"));
    const auto line = QByteArray::fromStdString(eventToJson(step));
    append(line.left(line.size() / 2));  // a step half written when the GUI reads

    ui::MainWindow window;
    QSignalSpy problems(window.follower(), &ui::EventLogFollower::problem);
    QVERIFY(window.follower()->open(path, /*follow=*/false).isEmpty());
    QCOMPARE(window.model()->steps().size(), size_t(0));
    append(line.mid(line.size() / 2) + "\n");
    window.follower()->poll();
    QCOMPARE(window.model()->steps().size(), size_t(1));  // joined across the two reads
    QCOMPARE(problems.count(), 0);

    // A line that keeps growing without an end, in pieces below the limit each.
    const QByteArray piece(int(kMaxEventLineBytes / 3), 'x');
    for (int i = 0; i < 8; ++i) {
      append(piece);
      window.follower()->poll();
    }
    QCOMPARE(problems.count(), 1);  // reported once, when it passed the limit
    QVERIFY(problems.at(0).at(0).toString().contains("line 3"));
    QVERIFY(problems.at(0).at(0).toString().contains("longer than"));
    append("\n" + line + "\n");
    window.follower()->poll();
    QCOMPARE(window.follower()->badLines(), 1);
    QCOMPARE(window.model()->steps().size(), size_t(2));  // the step after it shows
    f.close();
    QFile::remove(path);
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
