// RepNAS Studio as a user sees it (issue 14): the state shown is the engine's, bad input gets
// its real reason where the user looks, plots can be read and queried, words and layout are
// right. Offscreen, on tiny synthetic IDX data; each check would fail without its fix.
#include <QtTest>

#include <QAction>
#include <QApplication>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QDockWidget>
#include <QScrollArea>
#include <QScrollBar>
#include <QSignalSpy>
#include <QSettings>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include "repnas/export.h"
#include <QTimer>
#include <QUndoStack>
#include <qcustomplot.h>

#include <algorithm>
#include <fstream>

#include "repnas/budget.h"
#include "repnas/comparison.h"
#include "repnas/costs.h"
#include "repnas/engine.h"
#include "repnas/hant.h"
#include "repnas_ui/block_inspector.h"
#include "repnas_ui/budget_editor.h"
#include "repnas_ui/comparison_view.h"
#include "repnas_ui/curves_view.h"
#include "repnas_ui/explainer_view.h"
#include "repnas_ui/export_dialog.h"
#include "repnas_ui/importance_view.h"
#include "repnas_ui/main_window.h"
#include "repnas_ui/plot_util.h"
#include "repnas_ui/run_model.h"
#include "repnas_ui/run_sources.h"
#include "repnas_ui/setup_panel.h"
#include "repnas_ui/trials_view.h"
#include "studio_test_util.h"
#include "synthetic_data.h"

using namespace repnas;

namespace {

RunConfig tinyConfig(const QString& data_dir) {
  return testing::tinySearchConfig(data_dir, 1, 3, 1, 3);  // 5 epochs: 100 steps
}

using testing::saveShot;

/// Runs `c` in `dir` to its end with its event log, as `repnas search` does.
void runToCompletion(const RunConfig& c, const QString& dir) {
  try {
    Engine engine(c, dir.toStdString());
    EventLogWriter log((dir + "/events.jsonl").toStdString(), false);
    engine.addObserver(&log);
    const auto r = engine.run();
    QVERIFY2(r.status == "completed", r.message.c_str());
  } catch (const std::exception& e) {
    QFAIL(e.what());
  }
}

/// Clicks the button labelled `text` of the next message box, as a person would.
void answerNextMessageBox(const QString& text) {
  auto* timer = new QTimer;
  timer->setInterval(50);
  QObject::connect(timer, &QTimer::timeout, [timer, text] {
    for (auto* w : QApplication::topLevelWidgets()) {
      auto* box = qobject_cast<QMessageBox*>(w);
      if (!box || !box->isVisible()) continue;
      for (auto* b : box->buttons())
        if (b->text().remove('&') == text) {
          timer->stop();
          timer->deleteLater();
          b->click();
          return;
        }
    }
  });
  timer->start();
}

QMenu* menuTitled(QMainWindow& window, const QString& title) {
  for (auto* m : window.findChildren<QMenu*>())
    if (m->title().remove('&') == title) return m;
  return nullptr;
}

/// The pixel position of a graph's data point.
QPointF pixelOf(const QCPGraph* g, int index) {
  const auto it = g->data()->at(index);
  return {g->keyAxis()->coordToPixel(it->key), g->valueAxis()->coordToPixel(it->value)};
}

}  // namespace

class TestGuiState : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  QString data_;
  QString finished_run_;

 private Q_SLOTS:
  void initTestCase() {
    QCoreApplication::setOrganizationName("RepNAS-tests");
    QCoreApplication::setApplicationName("test_gui_state");
    QSettings().clear();
    QVERIFY(tmp_.isValid());
    data_ = tmp_.filePath("data");
    QDir().mkpath(data_);
    testing::writeIdxDataset(data_.toStdString(), 640, 200);
    // A finished search to replay.
    finished_run_ = tmp_.filePath("finished");
    QDir().mkpath(finished_run_);
    try {
      Engine engine(tinyConfig(data_), finished_run_.toStdString());
      EventLogWriter log((finished_run_ + "/events.jsonl").toStdString(), false);
      engine.addObserver(&log);
      QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
    } catch (const std::exception& e) {
      QFAIL(e.what());
    }
  }

  // Items 1, 2, 4, 5, 6: the budget panel, the progress bar, the heatmap and the engine's
  // answers follow the engine through running, paused, stopped, resumed, fixed and completed.
  void theStateShownIsTheEnginesState() {
    ui::MainWindow window;
    window.resize(1490, 860);
    window.show();
    auto config = tinyConfig(data_);
    config.search_epochs = 6;  // time for the edits before the fix
    window.setupPanel()->setConfig(config);
    const QString run_dir = tmp_.filePath("live");
    window.setupPanel()->setOutputDir(run_dir);
    auto* model = window.model();
    auto* editor = window.budgetEditor();
    QVERIFY(window.startRun());
    QTRY_VERIFY_WITH_TIMEOUT(model->steps().size() >= 3, 60000);
    // Running, before any edit: the panel says so (it said "No search is running").
    QTRY_VERIFY2(editor->statusLabel()->text().startsWith("Search running"), qPrintable(editor->statusLabel()->text()));
    QVERIFY(editor->isEditable());

    window.pauseRun();
    QTRY_VERIFY_WITH_TIMEOUT(model->paused(), 20000);
    QTest::qWait(150);
    window.runner()->drain();
    const int64_t done = model->stepsDone();
    // Paused: no stale ETA or speed.
    QTRY_VERIFY(window.progressBar()->text().contains("paused"));
    QVERIFY2(!window.progressBar()->text().contains("ETA") && !window.progressBar()->text().contains("img/s"),
             qPrintable(window.progressBar()->text()));
    QVERIFY(editor->statusLabel()->text().startsWith("Paused"));

    // Two clicks on one pin cell before the engine answers: auto → keep → drop, and the undo
    // stack holds two different edits with the right old values.
    const int branch = static_cast<int>(BranchKind::OneByOneAvg);
    const size_t acks = model->commands().size();
    editor->cyclePin(1, branch);
    editor->cyclePin(1, branch);
    QCOMPARE(editor->pendingEdits(), 2);
    QCOMPARE(editor->expectedBudget().pins[1][branch], Pin::Drop);
    QCOMPARE(window.undoStack()->count(), 2);
    QVERIFY2(window.undoStack()->text(0).contains("auto → keep"), qPrintable(window.undoStack()->text(0)));
    QVERIFY2(window.undoStack()->text(1).contains("keep → drop"), qPrintable(window.undoStack()->text(1)));
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 2, 10000);
    QCOMPARE(model->budget().pins[1][branch], Pin::Drop);
    QCOMPARE(editor->pendingEdits(), 0);
    // Undo twice: back to auto through keep.
    window.undoStack()->undo();
    window.undoStack()->undo();
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 4, 10000);
    QCOMPARE(model->budget().pins[1][branch], Pin::Auto);

    // One step number on screen: heatmap, status bar and engine answers.
    const QString step = ui::stepText(done);
    QTRY_VERIFY2(window.importanceView()->stepLabel()->text().startsWith(step + " "),
                 qPrintable(window.importanceView()->stepLabel()->text()));
    QVERIFY2(window.progressBar()->text().contains(step + "/"), qPrintable(window.progressBar()->text()));
    const QString last_answer = editor->log()->item(editor->log()->count() - 1)->text();
    QVERIFY2(last_answer.startsWith("after " + step + ":"), qPrintable(last_answer));
    // In the run's branch names (3x3 …), as everywhere else.
    editor->requestPin(1, BranchKind::OneByOneKxK, Pin::Keep);
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 5, 10000);
    const QString pin_answer = editor->log()->item(editor->log()->count() - 1)->text();
    QVERIFY2(pin_answer.contains("1x1-3x3") && !pin_answer.contains("KxK"), qPrintable(pin_answer));
    editor->requestPin(1, BranchKind::OneByOneKxK, Pin::Auto);
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 6, 10000);

    // The undo stack is a view of the engine's journal (undone edits on its redo side).
    QCOMPARE(window.undoStack()->count(), static_cast<int>(model->journal().entries.size()));
    QCOMPARE(window.undoStack()->index(), model->journal().index);
    // A slider drag sends each value it passes; the engine's
    // journal and the undo stack keep one entry for the drag, its answers are one log line,
    // and one undo takes the whole drag back.
    const int k_before = model->budget().k;
    const int entries_before = window.undoStack()->count();
    const int log_lines = editor->log()->count();
    auto* slider = editor->kSlider();
    slider->setSliderDown(true);
    for (int k : {k_before + 1, k_before + 2, k_before + 3}) slider->setValue(k);
    slider->setSliderDown(false);
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 9, 10000);
    QCOMPARE(model->budget().k, k_before + 3);
    QCOMPARE(static_cast<int>(model->journal().entries.size()), entries_before + 1);
    QCOMPARE(QString::fromStdString(model->journal().entries.back()),
             QString("budget k %1 → %2").arg(k_before).arg(k_before + 3));
    QCOMPARE(window.undoStack()->count(), entries_before + 1);
    QCOMPARE(window.undoStack()->undoText(), QString("budget k %1 → %2").arg(k_before).arg(k_before + 3));
    QCOMPARE(editor->log()->count(), log_lines + 1);
    saveShot(window, "gui_state_after_drag");
    window.undoStack()->undo();
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 10, 10000);
    QCOMPARE(model->budget().k, k_before);
    QCOMPARE(model->journal().index, entries_before);
    const auto journal_at_stop = model->journal();

    // The inspector, read once and then hidden, is marked stale by a newer checkpoint.
    window.tabs()->setCurrentWidget(window.blockInspector());
    window.continueRun();
    QTRY_VERIFY_WITH_TIMEOUT(window.blockInspector()->inspection().has_value(), 60000);
    window.tabs()->setCurrentWidget(window.importanceView());
    window.stopRun();
    QTRY_VERIFY_WITH_TIMEOUT(!window.runner()->isRunning(), 60000);
    QVERIFY(window.blockInspector()->isStale());
    QVERIFY2(window.blockInspector()->messageLabel()->text().startsWith("Stale"),
             qPrintable(window.blockInspector()->messageLabel()->text()));
    // Stopped: says so (it said "replayed or monitored"), and where to resume.
    QVERIFY2(editor->statusLabel()->text().startsWith("The run stopped after step"),
             qPrintable(editor->statusLabel()->text()));
    QCOMPARE(window.statusKind(), ui::MainWindow::StatusKind::Success);

    // Resumed: running again (it said "The run has ended (stopped)").
    QVERIFY(window.resumeRun());
    QTRY_VERIFY_WITH_TIMEOUT(model->hasRun() && model->info().resumed && !model->finished(), 30000);
    // The resumed run keeps its history: the undo stack shows the journal it saved.
    QVERIFY(model->info().journal == journal_at_stop);
    QTRY_COMPARE(window.undoStack()->count(), static_cast<int>(journal_at_stop.entries.size()));
    QCOMPARE(window.undoStack()->index(), journal_at_stop.index);
    QTRY_VERIFY2(editor->statusLabel()->text().startsWith("Search running") ||
                     editor->statusLabel()->text().startsWith("The architecture is fixed"),
                 qPrintable(editor->statusLabel()->text()));
    QTRY_VERIFY_WITH_TIMEOUT(!window.runner()->isRunning(), 120000);
    QCOMPARE(model->state(), ui::RunState::Completed);
    QVERIFY2(editor->statusLabel()->text().startsWith("The run completed"), qPrintable(editor->statusLabel()->text()));
    // A successful end is not shown in red.
    QCOMPARE(window.statusKind(), ui::MainWindow::StatusKind::Success);
    QCOMPARE(window.statusLabel()->palette().color(QPalette::WindowText), window.palette().color(QPalette::WindowText));
    // The inspector reads the finished weights when shown: no "(dropped)" on kept branches.
    window.tabs()->setCurrentWidget(window.blockInspector());
    QTRY_VERIFY(!window.blockInspector()->isStale());
    QVERIFY2(window.blockInspector()->messageLabel()->text().startsWith("Weights of the finished run"),
             qPrintable(window.blockInspector()->messageLabel()->text()));
    saveShot(window, "gui_state_completed");
  }

  // Items 3, 7 (engine failures in the window), 9.
  void aFailedStartLeavesNothingAndTheNextStartsClean() {
    QSettings().remove("recentRuns");
    ui::MainWindow window;
    window.resize(1490, 860);
    window.show();
    QVERIFY(window.openRun(finished_run_));
    auto* editor = window.budgetEditor();
    auto* layer_plot = window.importanceView()->layerPlot();
    QVERIFY(layer_plot->graph(0)->dataCount() > 0);
    QVERIFY(editor->log()->count() == 0 || true);  // replayed answers, if any, are the run's

    // A data folder that passed the form's check, then changed before Start.
    const QString data = tmp_.filePath("changing-data");
    QDir().mkpath(data);
    testing::writeIdxDataset(data.toStdString(), 640, 200);
    auto* setup = window.setupPanel();
    setup->setConfig(tinyConfig(data));
    const QString out = tmp_.filePath("never-started");
    setup->setOutputDir(out);
    QTRY_VERIFY(!setup->isCheckingData());
    QVERIFY2(setup->isValid(), qPrintable(setup->problems().empty() ? QString() : setup->problems().begin()->second));
    std::ofstream((data + "/train-images-idx3-ubyte").toStdString(), std::ios::trunc) << "garbage";
    QVERIFY(window.startRun());
    QTRY_VERIFY_WITH_TIMEOUT(!window.runner()->isRunning(), 30000);
    // The reason, where the user looks (it said "the engine ended without a result").
    QCOMPARE(window.statusKind(), ui::MainWindow::StatusKind::Error);
    QVERIFY2(window.statusLabel()->text().contains("train-images-idx3-ubyte"), qPrintable(window.statusLabel()->text()));
    // Nothing left behind: no folder, no recent entry, the same output folder.
    QVERIFY(!QFileInfo::exists(out));
    QVERIFY(!QSettings().value("recentRuns").toStringList().contains(out));
    QCOMPARE(setup->outputDir(), out);
    // Nothing of the replayed run either.
    QCOMPARE(editor->log()->count(), 0);
    QVERIFY(!window.model()->hasRun());
    for (int b = 0; b < kNumBranchKinds; ++b) QCOMPARE(layer_plot->graph(b)->dataCount(), 0);
    QVERIFY(!layer_plot->legend->visible());
    QCOMPARE(layer_plot->xAxis->range().upper, 1.0);
    saveShot(window, "gui_state_failed_start");
    // The empty plot keeps its full width (an empty legend row would clamp it).
    QTRY_VERIFY(layer_plot->axisRect()->outerRect().width() > layer_plot->width() / 2);
    QVERIFY2(window.importanceView()->stepLabel()->text() == "no run", qPrintable(window.importanceView()->stepLabel()->text()));
  }

  // Items 7 and 8: the form reads the data as the engine does.
  void theFormJudgesDataAsTheEngineDoes() {
    ui::SetupPanel setup;
    setup.setConfig(tinyConfig(data_));
    setup.setOutputDir(tmp_.filePath("form-run"));
    QTRY_VERIFY(!setup.isCheckingData());
    QVERIFY(setup.isValid());
    QCOMPARE(setup.dataTrainImages(), int64_t{640});
    // A validation split that leaves nothing to train on: the engine's own words, at the field.
    setup.valSplitBox()->setValue(640);
    QVERIFY(!setup.isValid());
    QVERIFY2(setup.problemAt("val_split").contains("none would be left to train on"), qPrintable(setup.problemAt("val_split")));
    RunConfig c = setup.config();
    QCOMPARE(QString::fromStdString(c.dataProblems(640).front().message), setup.problemAt("val_split"));
    setup.valSplitBox()->setValue(100);
    QVERIFY(setup.isValid());

    // A corrupt file: the reader's reason, naming the file.
    const QString bad = tmp_.filePath("bad-data");
    QDir().mkpath(bad);
    testing::writeIdxDataset(bad.toStdString(), 100, 50);
    std::ofstream((bad + "/t10k-labels-idx1-ubyte").toStdString(), std::ios::trunc) << "xx";
    setup.dataDirEdit()->setText(bad);
    QTRY_VERIFY(!setup.isCheckingData());
    QVERIFY(!setup.isValid());
    QVERIFY2(setup.problemAt("data_dir").contains("t10k-labels-idx1-ubyte"), qPrintable(setup.problemAt("data_dir")));

    // CIFAR-10's official archive layout (a cifar-10-batches-bin folder inside): the CLI reads
    // it, so does the form.
    const QString cifar = tmp_.filePath("cifar");
    QDir().mkpath(cifar + "/cifar-10-batches-bin");
    auto writeBatch = [&](const QString& name, int records) {
      std::ofstream f((cifar + "/cifar-10-batches-bin/" + name).toStdString(), std::ios::binary);
      for (int r = 0; r < records; ++r) {
        f.put(static_cast<char>(r % 10));
        for (int i = 0; i < 3072; ++i) f.put(static_cast<char>((r * 7 + i) % 251));
      }
    };
    for (int i = 1; i <= 5; ++i) writeBatch(QString("data_batch_%1.bin").arg(i), 20);
    writeBatch("test_batch.bin", 20);
    setup.datasetBox()->setCurrentText("cifar10");
    setup.dataDirEdit()->setText(cifar);
    QTRY_VERIFY(!setup.isCheckingData());
    QVERIFY2(setup.problemAt("data_dir").isEmpty(), qPrintable(setup.problemAt("data_dir")));
    QCOMPARE(setup.dataTrainImages(), int64_t{100});
  }

  // Items 10–13: legends beside the data, values on hover, zoom that stays, the x axis, titles.
  void plotsCanBeReadAndQueried() {
    ui::MainWindow window;
    window.resize(1490, 860);
    window.show();
    QVERIFY(window.openRun(finished_run_));
    auto* curves = window.curvesView();
    window.tabs()->setCurrentWidget(curves);
    QTest::qWait(200);
    for (auto* p : curves->plots()) {
      // The legend is laid out under the axis rect, not inside it.
      QCOMPARE(p->legend->layout(), static_cast<QCPLayout*>(p->plotLayout()));
      QVERIFY(!p->legend->outerRect().intersects(p->axisRect()->rect()));
    }
    // k is a dashed step line drawn above "kept".
    QCOMPARE(curves->budgetGraph()->lineStyle(), QCPGraph::lsStepLeft);
    QCOMPARE(curves->budgetGraph()->pen().style(), Qt::DashLine);
    QVERIFY(curves->budgetGraph()->layer() == curves->keptGraph()->layer());
    auto* loss_plot = curves->plots()[0];
    ui::PlotInteraction::of(loss_plot)->resetView();  // all data in view, whatever the throttle did
    // Hover: the nearest point's series, step and value.
    auto* g = curves->lossGraph();
    const int i = g->dataCount() / 2;
    auto* interaction = ui::PlotInteraction::of(loss_plot);
    QVERIFY(interaction);
    const QString hover = interaction->textAt(pixelOf(g, i));
    QVERIFY2(hover.startsWith(g->name() + "\n") && hover.contains(ui::stepText(std::llround(g->data()->at(i)->key))) &&
                 hover.contains(ui::formatValue(g->data()->at(i)->value)),
             qPrintable(hover));
    QVERIFY(interaction->textAt(QPointF(-100, -100)).isEmpty());
    // Zoom with the wheel: the view stays while new points come; a double-click resets it.
    // (Redraws are throttled, more so after a busy GUI: start from the view a reset gives.)
    interaction->resetView();
    loss_plot->replot(QCustomPlot::rpImmediateRefresh);  // pixel positions as on screen now
    const auto full = loss_plot->xAxis->range();
    QWheelEvent wheel(pixelOf(g, i), loss_plot->mapToGlobal(pixelOf(g, i)), {}, {0, 240}, Qt::NoButton, Qt::NoModifier,
                      Qt::NoScrollPhase, false);
    QApplication::sendEvent(loss_plot, &wheel);
    QVERIFY(loss_plot->xAxis->range().size() < full.size());
    QVERIFY(interaction->userView());
    QSignalSpy redrawn(loss_plot, &QCustomPlot::afterReplot);
    curves->setSmoothing(0.5);  // redraws every curve (throttled)
    QTRY_VERIFY_WITH_TIMEOUT(redrawn.count() > 0, 5000);
    QVERIFY(loss_plot->xAxis->range().size() < full.size());
    QTest::mouseDClick(loss_plot, Qt::LeftButton, {}, pixelOf(g, i).toPoint());
    QTest::qWait(100);
    QCOMPARE(loss_plot->xAxis->range().upper, full.upper);

    // The x axis: epochs and wall time.
    const auto& model = *window.model();
    curves->setXAxis(ui::XAxis::Epoch);
    QCOMPARE(g->data()->at(g->dataCount() - 1)->key,
             static_cast<double>(model.stepsDone()) / model.info().steps_per_epoch);
    QCOMPARE(loss_plot->xAxis->label(), QString("epoch"));
    curves->setXAxis(ui::XAxis::WallTime);
    const auto& steps = model.steps();
    QVERIFY(steps.back().wall_time > steps.front().wall_time);
    QCOMPARE(g->data()->at(g->dataCount() - 1)->key - g->data()->at(0)->key,
             steps.back().wall_time - steps.front().wall_time);
    curves->setXAxis(ui::XAxis::Step);

    // The α plot zooms and pans, hovers, and marks the step the history slider shows.
    auto* heat = window.importanceView();
    window.tabs()->setCurrentWidget(heat);
    heat->selectLayer(2);
    QTest::qWait(200);
    auto* alpha_plot = heat->layerPlot();
    QVERIFY(alpha_plot->interactions().testFlag(QCP::iRangeZoom));
    QVERIFY(alpha_plot->interactions().testFlag(QCP::iRangeDrag));
    heat->stepSlider()->setValue(10);
    QCOMPARE(heat->shownStepLine()->point1->key(), static_cast<double>(steps[10].step + 1));
    QVERIFY(heat->shownStepLine()->visible());
    // The heatmap cell under the cursor: layer, branch, α, σ(α), kept and why.
    const QString cell = heat->cellText(2, static_cast<int>(BranchKind::KxK));
    QVERIFY2(cell.contains("3x3") && cell.contains("α = ") && cell.contains("σ(α) = ") &&
                 (cell.contains("kept") || cell.contains("dropped") || cell.contains("trained")),
             qPrintable(cell));

    // Exported images carry the run's name and step above the plot (the heatmap has no title
    // row of its own: its top rows are blank without the heading).
    const QString plots = tmp_.filePath("plots");
    QCOMPARE(window.exportPlots(plots), QString());
    QImage image(plots + "/importance.png");
    QVERIFY(!image.isNull());
    const QColor background = image.pixelColor(2, 2);
    int ink = 0;
    for (int y = 0; y < 18; ++y)
      for (int x = 0; x < image.width(); ++x)
        if (image.pixelColor(x, y) != background) ++ink;
    QVERIFY2(ink > 50, qPrintable(QString::number(ink)));
    // And the plot on screen is back as it was.
    QCOMPARE(heat->heatmap()->plotLayout()->rowCount(), 1);
  }

  // Items 14–17: words and layout.
  // Issue 16: a GDAS run is chosen in the form and its own numbers (validation loss and
  // accuracy of each α step) are plotted without code for GDAS in the views.
  void aGdasRunShowsItsOwnNumbers() {
    const QString dir = tmp_.filePath("gdas");
    QDir().mkpath(dir);
    auto c = testing::tinySearchConfig(data_, 1, 1, 1, 1);
    c.mode = "gdas";
    c.val_split = 128;  // 512 training images: 16 steps per epoch
    runToCompletion(c, dir);
    if (QTest::currentTestFailed()) return;
    ui::MainWindow window;
    window.resize(1490, 860);
    window.show();
    QVERIFY(window.setupPanel()->modeBox()->findText("gdas") >= 0);
    QVERIFY(window.openRun(dir));
    auto* curves = window.curvesView();
    window.tabs()->setCurrentWidget(curves);
    QTest::qWait(200);
    const auto& steps = window.model()->steps();
    int search_steps = 0;
    for (const auto& st : steps) search_steps += st.phase == Phase::Search;
    QVERIFY(search_steps > 0);
    for (const char* name : {"val_loss", "val_batch_accuracy"}) {
      auto* g = curves->metricGraph(name);
      QVERIFY2(g, name);
      QCOMPARE(g->dataCount(), search_steps);  // one α step per search step
      QCOMPARE(g->name(), QString(name));
      for (int i = 0; i < g->dataCount(); ++i) QVERIFY(std::isfinite(g->data()->at(i)->value));
    }
    QVERIFY(!curves->metricGraph("tau"));  // τ is on the search plot
    QVERIFY(curves->agreementGraph()->dataCount() > 0);
    // The picture as a person sees it once the throttled redraw has run (on a loaded machine
    // it may not have yet): every plot showing all its data.
    for (auto* p : curves->plots()) {
      ui::PlotInteraction::of(p)->resetView();
      p->replot(QCustomPlot::rpImmediateRefresh);
    }
    saveShot(window, "gdas_curves");
  }

  // RENA (issue 18): every child the controller evaluated is a point of the Trials tab,
  // feasible or over the training-time limit (drawn), the Pareto front is the front of those
  // points; hovering names the mask, clicking selects it, and it can be trained from scratch.
  // The heatmap's colours are the controller's keep probabilities.
  void aRenaRunShowsItsTrials() {
    const QString dir = tmp_.filePath("rena");
    QDir().mkpath(dir);
    auto c = testing::tinySearchConfig(data_, 1, 1, 1, 1);
    c.mode = "rena";
    c.val_split = 128;  // 512 training images: 16 steps per epoch
    c.rena_update_every = 4;
    c.rena_children = 6;
    c.rena_bn_batches = 1;
    c.rena_val_batches = 2;
    // A limit half the random masks of k meet: the predicted ms of the engine's own table (a
    // cache of this test's own, which the engine then reads: no other program rewrites it).
    qputenv("XDG_CACHE_HOME", QFile::encodeName(tmp_.filePath("rena-cache")));
    CostRequest request;
    request.backbone = backboneFor(c, 1, 12, 12, 10);
    request.batch = c.batch_size;
    request.threads = c.threads;
    const auto table = trainingCostTable(cachedTrainingCosts(request, defaultCostCachePath(request), false));
    std::vector<double> ms;
    const auto budget = searchBudget(c, request.backbone);
    for (int i = 0; i < 41; ++i) ms.push_back(table.msOf(randomBranches(budget, 300 + i)));
    std::nth_element(ms.begin(), ms.begin() + 20, ms.end());
    c.rena_limit_ms = ms[20];
    runToCompletion(c, dir);
    if (QTest::currentTestFailed()) return;
    ui::MainWindow window;
    window.resize(1490, 860);
    window.show();
    QVERIFY(window.setupPanel()->modeBox()->findText("rena") >= 0);
    QVERIFY(window.openRun(dir));
    auto* view = window.trialsView();
    window.tabs()->setCurrentWidget(view);
    QTest::qWait(200);
    const auto& trials = window.model()->trials();
    const auto ms_of = [](const Trial& t) {
      for (const auto& [name, v] : t.resources)
        if (name == "train_ms") return v;
      return std::nan("");
    };
    QCOMPARE(int(trials.size()), 4 * 6);  // 16 search steps: 4 updates of 6 children
    int feasible = 0;
    for (const auto& t : trials) {
      feasible += t.feasible;
      QCOMPARE(t.feasible, ms_of(t) <= c.rena_limit_ms);
    }
    QVERIFY(view->resourceBox()->currentData().toString() == "train_ms");
    auto* plot = view->plot();
    QTRY_COMPARE_WITH_TIMEOUT(plot->graph(0)->dataCount(), feasible, 10000);  // the throttled redraw
    plot->replot(QCustomPlot::rpImmediateRefresh);
    QCOMPARE(plot->graph(1)->dataCount(), int(trials.size()) - feasible);
    // The front: no trial has at most its ms and more accuracy.
    const auto& front = view->paretoFront();
    QVERIFY(!front.empty());
    for (size_t i = 0; i < trials.size(); ++i) {
      const double x = ms_of(trials[i]), y = trials[i].val_accuracy;
      bool dominated = false;
      for (const auto& o : trials)
        dominated |= (ms_of(o) <= x && o.val_accuracy > y) || (ms_of(o) < x && o.val_accuracy >= y);
      const bool on = std::find(front.begin(), front.end(), int(i)) != front.end();
      if (on) QVERIFY2(!dominated, qPrintable(QString("trial %1 on the front is dominated").arg(i)));
      if (!dominated) QVERIFY2(on || std::any_of(front.begin(), front.end(), [&](int f) {
                                 return ms_of(trials[f]) == x && trials[f].val_accuracy == y;
                               }), qPrintable(QString("trial %1 belongs on the front").arg(i)));
    }
    QVERIFY2(view->summaryLabel()->text().contains(QString("%1 within the limits").arg(feasible)),
             qPrintable(view->summaryLabel()->text()));
    QVERIFY(view->summaryLabel()->text().contains("at most"));
    // Hover and click a point, as a person would.
    const int pick = front.front();
    const QPoint at(int(plot->xAxis->coordToPixel(ms_of(trials[pick]))),
                    int(plot->yAxis->coordToPixel(100 * trials[pick].val_accuracy)));
    QCOMPARE(view->trialAt(at), pick);
    QVERIFY(view->trialText(pick).contains(QString("trial %1").arg(trials[pick].index)));
    QVERIFY(!view->retrainButton()->isEnabled());
    QTest::mouseClick(plot, Qt::LeftButton, {}, at);
    QCOMPARE(view->selectedTrial(), pick);
    QVERIFY(view->retrainButton()->isEnabled());
    QVERIFY(view->detailLabel()->text().contains(QString("trial %1").arg(trials[pick].index)));
    saveShot(window, "rena_trials");
    view->retrainButton()->click();
    const auto set_up = window.setupPanel()->config();
    QCOMPARE(QString::fromStdString(set_up.mode), QString("odbb"));
    QVERIFY(set_up.mask.layers == trials[pick].mask);
    QCOMPARE(set_up.val_split, int64_t(0));
    QVERIFY(QString::fromStdString(set_up.mask_source).startsWith(QString("trial %1").arg(trials[pick].index)));
    // The heatmap says what its colours are.
    QCOMPARE(window.importanceView()->importanceName(), QString("keep probability"));
    QCOMPARE(window.importanceView()->layerPlot()->yAxis->label(), QString("keep probability"));
    window.tabs()->setCurrentWidget(window.importanceView());
    saveShot(window, "rena_importance");
    // The controller's numbers are curves, from its first update on (search steps only).
    int with_reward = 0;
    for (const auto& st : window.model()->steps())
      for (const auto& [name, v] : st.metrics) with_reward += name == "reward_mean";
    QCOMPARE(with_reward, 16 - 3);  // updates after search steps 4, 8, 12, 16
    for (const char* name : {"reward_mean", "policy_entropy", "reward_baseline"}) {
      auto* g = window.curvesView()->metricGraph(name);
      QVERIFY2(g, name);
      QCOMPARE(g->dataCount(), with_reward);
    }
  }

  // Runs side by side (issue 19): three runs in the Compare tab. The overlaid curves are the
  // runs' own numbers, one colour per run; the diff heatmap is the masks' difference; the
  // scatter's points are the runs and RENA's children; the configuration diff names what differs.
  void threeRunsSideBySide() {
    const QString root = tmp_.filePath("compare");
    for (const char* mode : {"search", "gdas", "rena"}) {
      auto c = testing::tinySearchConfig(data_, 3, 1, 1, 3);
      c.mode = mode;
      c.val_split = 128;
      c.rena_update_every = 4;
      c.rena_children = 6;
      c.rena_bn_batches = 1;
      c.rena_val_batches = 2;
      QDir().mkpath(root + "/" + mode);
      runToCompletion(c, root + "/" + mode);
      if (QTest::currentTestFailed()) return;
    }
    ui::MainWindow window;
    window.resize(1490, 860);
    window.show();
    QVERIFY(window.addRunsToCompare(root));
    auto* view = window.comparisonView();
    QCOMPARE(view->runCount(), 3);
    QCOMPARE(window.tabs()->currentWidget(), static_cast<QWidget*>(view));
    QVERIFY(window.addRunsToCompare(root));  // the same runs again: not added twice
    QCOMPARE(view->runCount(), 3);
    // Each run's events, read here from its own file.
    struct Logged {
      std::vector<double> loss;
      std::vector<BranchMask> mask;
      double test = -1;
      std::vector<double> trial_accuracy;
    };
    std::vector<Logged> logged(3);
    for (int i = 0; i < 3; ++i) {
      std::ifstream in((view->row(i).dir + "/events.jsonl").toStdString());
      for (std::string line; std::getline(in, line);) {
        const auto e = eventFromJson(line);
        if (const auto* s = std::get_if<StepSnapshot>(&e)) logged[i].loss.push_back(s->loss);
        if (const auto* f = std::get_if<RunFinished>(&e)) {
          logged[i].mask = f->mask;
          logged[i].test = 100 * f->test_accuracy.value_or(-1);
        }
        if (const auto* t = std::get_if<Trial>(&e)) logged[i].trial_accuracy.push_back(100 * t->val_accuracy);
      }
    }
    // The catalogue: a row per run with its strategy and accuracy; the filter narrows it.
    QCOMPARE(view->table()->rowCount(), 3);
    for (int i = 0; i < 3; ++i) {
      QCOMPARE(*view->row(i).test_accuracy, logged[i].test);
      QCOMPARE(view->row(i).status, QString("completed"));
      QCOMPARE(view->row(i).branches, countBranches(logged[i].mask));
    }
    view->filterEdit()->setText("gdas");
    int visible = 0;
    for (int r = 0; r < view->table()->rowCount(); ++r) visible += !view->table()->isRowHidden(r);
    QCOMPARE(visible, 1);
    view->filterEdit()->clear();
    // Overlaid loss, unsmoothed: three series, each the run's own losses in the run's colour.
    view->smoothingSlider()->setValue(0);
    QVERIFY(view->setMetric("loss"));
    auto* curves = view->curvesPlot();
    QCOMPARE(curves->graphCount(), 3);
    for (int g = 0; g < 3; ++g) {
      const auto* graph = curves->graph(g);
      QCOMPARE(graph->name(), view->row(g).label);
      QCOMPARE(graph->pen().color(), ui::comparisonColour(g));
      QCOMPARE(graph->dataCount(), int(logged[g].loss.size()));
      for (int j = 0; j < graph->dataCount(); ++j) QCOMPARE(graph->data()->at(j)->value, logged[g].loss[j]);
    }
    QVERIFY(view->metrics().contains("reward_mean"));  // RENA's own numbers are metrics too
    view->plotTabs()->setCurrentIndex(0);
    saveShot(window, "compare_curves");
    // The architecture diff: +1 where A keeps a branch B does not, −1 the other way.
    view->plotTabs()->setCurrentIndex(1);
    view->diffBoxA()->setCurrentIndex(0);
    view->diffBoxB()->setCurrentIndex(2);
    const auto& a = logged[0].mask;
    const auto& b = logged[2].mask;
    QCOMPARE(int(a.size()), 8);
    int distance = 0;
    for (int l = 0; l < 8; ++l)
      for (int k = 0; k < kNumBranchKinds; ++k) {
        QCOMPARE(view->diffMap()->data()->cell(k, l), double(int(a[l][k]) - int(b[l][k])));
        distance += a[l][k] != b[l][k];
      }
    QVERIFY2(view->diffSummary()->text().contains(QString("Hamming distance of %1").arg(distance)),
             qPrintable(view->diffSummary()->text()));
    saveShot(window, "compare_diff");
    // The configuration diff: the strategy differs (the seed does not).
    view->plotTabs()->setCurrentIndex(2);
    QStringList keys;
    for (int r = 0; r < view->configTable()->rowCount(); ++r) keys << view->configTable()->verticalHeaderItem(r)->text();
    QVERIFY(keys.contains("strategy"));
    QVERIFY(!keys.contains("seed"));
    // Accuracy against cost: one point per run at its test accuracy, RENA's children, the front.
    view->plotTabs()->setCurrentIndex(3);
    auto* scatter = view->scatterPlot();
    for (int g = 0; g < 3; ++g) {
      QCOMPARE(scatter->graph(g)->dataCount(), 1);
      QCOMPARE(scatter->graph(g)->data()->at(0)->value, logged[g].test);
    }
    std::vector<double> children;
    for (const auto& l : logged) children.insert(children.end(), l.trial_accuracy.begin(), l.trial_accuracy.end());
    QVERIFY(!children.empty());
    std::vector<double> drawn;
    for (int j = 0; j < scatter->graph(3)->dataCount(); ++j) drawn.push_back(scatter->graph(3)->data()->at(j)->value);
    std::sort(children.begin(), children.end());
    std::sort(drawn.begin(), drawn.end());
    QCOMPARE(drawn, children);
    QVERIFY(!view->paretoRuns().empty());
    saveShot(window, "compare_scatter");
    // The table and the plots exported.
    const QString csv = tmp_.filePath("compare.csv");
    QCOMPARE(view->writeTableCsv(csv), QString());
    QFile f(csv);
    QVERIFY(f.open(QIODevice::ReadOnly));
    QCOMPARE(f.readAll().count('\n'), 4);
    QVERIFY(view->exportCurrentPlot(tmp_.filePath("compare-scatter")));
    QVERIFY(QFile::exists(tmp_.filePath("compare-scatter.png")) && QFile::exists(tmp_.filePath("compare-scatter.pdf")));
    // A folder without runs is refused, naming it.
    QDir().mkpath(tmp_.filePath("empty"));
    QCOMPARE(view->addPath(tmp_.filePath("empty")).contains("no run folder"), true);
    // A trial kept as its summary, configuration and weights only (the repository's protocol
    // runs): listed from its summary, its mask from its weights.
    auto c = testing::tinySearchConfig(data_, 2, 1, 0, 4);
    c.mode = "odbb";
    c.mask.kind = MaskSetting::Kind::Random;
    const QString kept = tmp_.filePath("kept/protocol-seed4/random1");
    const auto outcome = runTrial(c, kept.toStdString());
    QVERIFY(QFile::remove(kept + "/events.jsonl"));
    QVERIFY(QFile::remove(kept + "/checkpoint.pt"));
    QCOMPARE(view->addPath(kept), QString());
    QCOMPARE(view->runCount(), 4);
    const auto row = view->row(3);
    QCOMPARE(row.status, QString("completed"));
    QCOMPARE(row.label, QString("seed4/random1"));
    QCOMPARE(row.group, QString("random"));
    QCOMPARE(*row.test_accuracy, 100 * outcome.test_accuracy);
    QVERIFY(row.mask == outcome.mask);
    QCOMPARE(row.branches, outcome.branches);

    // HANT's result (on the RepNAS run as its teacher) on the inference axis: its budgets,
    // teacher and student where hant.json puts them, and every run at its backbone's folded
    // latency, the teacher's (every branch subset folds to the same convolutions).
    HantOptions h;
    h.run_dir = (root + "/search").toStdString();
    h.out_dir = tmp_.filePath("hant-out").toStdString();
    h.speedup = 1.3;
    h.sweep = {1.2, 2.0};
    h.distill_steps = 20;
    h.finetune_steps = 4;
    h.latency_repeats = 2;
    h.fit_students = 6;
    h.throughput_batch = 8;
    h.batch = 32;
    h.val_images = 64;
    const auto hr = runHant(h);
    auto* axes = qobject_cast<QStandardItemModel*>(view->scatterAxisBox()->model());
    QVERIFY(axes && !axes->item(1)->isEnabled());  // no HANT result yet: no inference axis
    QCOMPARE(view->addPath(tmp_.filePath("hant-out")), QString());
    QVERIFY(axes->item(1)->isEnabled());
    QCOMPARE(view->runCount(), 4);
    QCOMPARE(int(view->hantResults().size()), 1);
    QCOMPARE(view->addPath(tmp_.filePath("hant-out")), QString());  // not added twice
    QCOMPARE(int(view->hantResults().size()), 1);
    view->scatterAxisBox()->setCurrentIndex(1);
    std::map<QString, QCPGraph*> graphs;
    for (int g = 0; g < scatter->graphCount(); ++g) graphs[scatter->graph(g)->name()] = scatter->graph(g);
    for (int i = 0; i < 4; ++i) {
      auto* g = graphs.at(view->row(i).label);
      QCOMPARE(g->data()->at(0)->key, hr.teacher_ms);
      QCOMPARE(g->data()->at(0)->value, *view->row(i).test_accuracy);
    }
    const auto* student = graphs.at("hant-out: student");
    QCOMPARE(student->data()->at(0)->key, hr.chosen.normalized_ms);
    QCOMPARE(student->data()->at(0)->value, 100 * hr.student_test);
    const auto* teacher = graphs.at("hant-out: teacher");
    QCOMPARE(teacher->data()->at(0)->key, hr.teacher_ms);
    QCOMPARE(teacher->data()->at(0)->value, 100 * hr.teacher_test);
    const auto* budgets = graphs.at("hant-out: budgets (validation, distilled)");
    QCOMPARE(budgets->dataCount(), 2);
    std::vector<std::pair<double, double>> want, got;
    for (const auto& p : hr.sweep) want.emplace_back(p.normalized_ms, 100 * p.val_accuracy);
    for (int j = 0; j < 2; ++j) got.emplace_back(budgets->data()->at(j)->key, budgets->data()->at(j)->value);
    std::sort(want.begin(), want.end());
    QCOMPARE(got, want);
    QVERIFY(graphs.count("Pareto front (runs and students)"));
    QVERIFY(scatter->xAxis->label().startsWith("inference ms per image"));
    saveShot(window, "compare_hant");
    view->scatterAxisBox()->setCurrentIndex(0);
    QVERIFY(!scatter->xAxis->label().startsWith("inference"));
  }

  void wordsAndLayoutAreRight() {
    ui::MainWindow window;
    window.resize(1490, 860);
    window.show();
    QVERIFY(window.openRun(finished_run_));
    auto* editor = window.budgetEditor();
    // "Global &k:" is a mnemonic for the spin box, not a literal ampersand.
    bool found = false;
    for (auto* label : editor->findChildren<QLabel*>())
      if (label->text() == "Global &k:") found = label->buddy() == editor->kSpin();
    QVERIFY(found);
    // Paths: the full path in the tool tip.
    auto* setup = window.setupPanel();
    setup->dataDirEdit()->setText(data_);
    QCOMPARE(setup->dataDirEdit()->toolTip(), data_);
    // One set of branch names: the run's K everywhere.
    QCOMPARE(editor->pinsTable()->horizontalHeaderItem(static_cast<int>(BranchKind::KxK))->text(), QString("3x3"));
    QCOMPARE(editor->pinsTable()->horizontalHeaderItem(static_cast<int>(BranchKind::OneByOneKxK))->text(),
             QString("1x1-3x3"));
    QCOMPARE(window.importanceView()->layerPlot()->graph(static_cast<int>(BranchKind::KxK))->name(), QString("3x3"));
    // The pins table has no horizontal scroll bar once a "keep" is shown.
    editor->pinsTable()->item(0, 0)->setText("keep");
    QTest::qWait(100);
    QVERIFY(!editor->pinsTable()->horizontalScrollBar()->isVisible());
    // The README names the menu's shortcut of the teaching tab.
    QAction* teaching = nullptr;
    for (auto* a : menuTitled(window, "View")->actions())
      if (a->text() == "Re-parameterization") teaching = a;
    QVERIFY(teaching);
    QFile readme(REPNAS_SOURCE_DIR "/README.md");
    QVERIFY(readme.open(QIODevice::ReadOnly));
    const QString keys = teaching->shortcut().toString();  // e.g. "Alt+Shift+5"
    QVERIFY2(QString(readme.readAll()).contains("*Re-parameterization* tab (" + keys + ")"), qPrintable(keys));
    // Help: the shortcuts list (from the menus) and the user guide.
    window.showShortcuts();
    QVERIFY(window.shortcutsRows() >= 10);
    QVERIFY(!ui::MainWindow::userGuidePath().isEmpty());
    window.showUserGuide();
    auto* guide = window.findChild<QTextBrowser*>("userGuideText");
    QVERIFY(guide);
    QVERIFY(guide->toPlainText().contains("A short user guide"));
    saveShot(window, "gui_state_words");
  }

  // Item 18: closing asks; the next start offers the last run; Recent runs shows statuses.
  void closingAsksAndTheNextStartOffersTheRun() {
    const QString run_dir = tmp_.filePath("close-run");
    {
      ui::MainWindow window;
      window.show();
      window.setupPanel()->setConfig(tinyConfig(data_));
      window.setupPanel()->setOutputDir(run_dir);
      QVERIFY(window.startRun());
      QTRY_VERIFY_WITH_TIMEOUT(window.model()->steps().size() >= 3, 60000);
      answerNextMessageBox("Cancel");
      QVERIFY(!window.close());
      QVERIFY(window.runner()->isRunning());
      answerNextMessageBox("Stop and save");
      QVERIFY(window.close());
      QVERIFY(!window.runner()->isRunning());
      QCOMPARE(QString::fromStdString(window.model()->finished()->status), QString("stopped"));
    }
    ui::MainWindow next;
    next.show();
    QVERIFY(next.noticeBar()->isVisible());
    QVERIFY2(next.noticeBar()->findChild<QLabel*>()->text().contains(run_dir) &&
                 next.noticeBar()->findChild<QLabel*>()->text().contains("stopped after step"),
             qPrintable(next.noticeBar()->findChild<QLabel*>()->text()));
    next.noticeButton()->click();
    QCOMPARE(next.runDir(), run_dir);
    QVERIFY(!next.noticeBar()->isVisible());
    auto* recent = menuTitled(next, "Recent runs");
    QVERIFY(recent);
    QVERIFY2(recent->actions().first()->text().contains("stopped after step"), qPrintable(recent->actions().first()->text()));
  }

  // Item 19: every key in the form; a run opened and started again has its configuration.
  void theFormKeepsEveryKey() {
    ui::SetupPanel setup;
    const RunConfig run = loadRunConfig(finished_run_.toStdString());
    setup.setConfig(run);
    QCOMPARE(configToJson(setup.config()), configToJson(run));
    QCOMPARE(setup.advancedTable()->rowCount(), static_cast<int>(configKeyHelp().size()));
    int row = -1;
    for (int r = 0; r < setup.advancedTable()->rowCount(); ++r)
      if (setup.advancedTable()->item(r, 0)->text() == "test_limit") row = r;
    QVERIFY(row >= 0);
    setup.advancedTable()->item(row, 1)->setText("77");
    QCOMPARE(setup.config().test_limit, int64_t{77});
    QCOMPARE(setup.advancedTable()->item(row, 1)->text(), QString("77"));
  }

  // Items 23, 24: a layer with no searchable branch is called out; the export dialog shows file
  // sizes, opens the folder, and cancels its verification.
  void exportSaysWhatItWritesAndCanBeCancelled() {
    // An ODBB whose last layer kept only its identity.
    auto config = tinyConfig(data_);
    config.mode = "odbb";
    config.epochs = 1;
    config.mask.kind = MaskSetting::Kind::Given;
    std::vector<BranchMask> layers(8, BranchMask().set(static_cast<int>(BranchKind::KxK)));
    layers[7] = BranchMask();
    config.mask.layers = layers;
    const QString run = tmp_.filePath("odbb-identity-only");
    QDir().mkpath(run);
    {
      Engine engine(config, run.toStdString());
      EventLogWriter log((run + "/events.jsonl").toStdString(), false);
      engine.addObserver(&log);
      const auto fin = engine.run();
      QVERIFY2(fin.status == "completed", fin.message.c_str());
    }
    ui::MainWindow window;
    window.resize(1490, 860);
    window.show();
    QVERIFY(window.openRun(run));
    window.importanceView()->selectLayer(7);
    window.tabs()->setCurrentWidget(window.blockInspector());
    QTRY_VERIFY(window.blockInspector()->inspection().has_value() && window.blockInspector()->layer() == 7);
    QVERIFY2(window.blockInspector()->messageLabel()->text().contains("kept no searchable branch"),
             qPrintable(window.blockInspector()->messageLabel()->text()));

    ui::ExportDialog dialog(run);
    dialog.folderEdit()->setText(tmp_.filePath("odbb-export"));
    dialog.show();
    // Cancel at once: nothing is written.
    dialog.startExport();
    QVERIFY(dialog.cancelButton()->isVisible());
    dialog.cancelButton()->click();
    QTRY_VERIFY_WITH_TIMEOUT(!dialog.isWorking(), 60000);
    QVERIFY(dialog.result() && dialog.result()->cancelled);
    QVERIFY(!QFileInfo::exists(tmp_.filePath("odbb-export/model.onnx")));
    QVERIFY(!dialog.openFolderButton()->isEnabled());
    // Export: sizes, the note, the folder button.
    dialog.startExport();
    QTRY_VERIFY_WITH_TIMEOUT(!dialog.isWorking(), 60000);
    QVERIFY2(dialog.result() && dialog.result()->exported, qPrintable(dialog.error()));
    const QString report = dialog.reportView()->toPlainText();
    QVERIFY2(report.contains("KiB") && report.contains("kept no searchable branch") && report.contains("L7"),
             qPrintable(report));
    QCOMPARE(dialog.result()->report.notes.size(), size_t{1});
    QVERIFY(dialog.openFolderButton()->isEnabled());
    saveShot(dialog, "gui_state_export");
  }

  // Item 21 (in part): at the default size the teaching tab gets the window's width — the side
  // panels step aside while it shows, and come back after.
  void theTeachingTabGetsTheWidth() {
    ui::MainWindow window;
    window.resize(1490, 860);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.noticeBar()->hide();  // the offer to reopen an earlier test's run
    auto* setup_dock = window.findChild<QDockWidget*>("setupDock");
    auto* budget_dock = window.findChild<QDockWidget*>("budgetDock");
    QVERIFY(setup_dock->isVisible() && budget_dock->isVisible());
    window.tabs()->setCurrentWidget(window.explainerView());
    QTest::qWait(100);
    QVERIFY(!setup_dock->isVisible() && !budget_dock->isVisible());
    QVERIFY(window.explainerView()->width() > 1400);
    auto* scroll = window.explainerView()->findChild<QScrollArea*>();
    QVERIFY(scroll);
    // Each step, as a person sees it: entirely visible without scrolling — step 1 (every BN of
    // the block, seven boxes), the merge (step 4) and the sum (step 6), which were cut or off
    // screen.
    for (int step = 0; step < 6; ++step) {
      window.explainerView()->setPage(step);
      QTest::qWait(150);
      QVERIFY2(!scroll->horizontalScrollBar()->isVisible(), qPrintable(QString::number(step + 1)));
      QVERIFY2(!scroll->verticalScrollBar()->isVisible(),
               qPrintable(QString("step %1: %2 > %3").arg(step + 1).arg(scroll->widget()->height())
                              .arg(scroll->viewport()->height())));
      // The branch diagram before → after (item 22) shows the step's own forms.
      auto* diagram = scroll->widget()->findChild<QWidget*>("foldDiagram");
      QVERIFY(diagram);
      const auto& forms = window.explainerView()->steps()[static_cast<size_t>(step)];
      QCOMPARE(diagram->property("after").toStringList().size(), static_cast<int>(forms.after.size()));
      QCOMPARE(diagram->property("after").toStringList().back(), QString::fromStdString(forms.after.back()));
      QCOMPARE(diagram->property("before").toStringList().front(), QString::fromStdString(forms.before.front()));
      // Step 4 pictures the sliding window over the BN-and-pad border.
      auto* window_picture = scroll->widget()->findChild<QWidget*>("padWindowPicture");
      QCOMPARE(window_picture != nullptr, step == 3);
      if (window_picture) QCOMPARE(window_picture->property("kernelSize").toInt(), 3);
      // Every item has a colour legend with its own scale (the largest |value| it shows).
      const auto legends = scroll->widget()->findChildren<QWidget*>("kernelColourLegend");
      QCOMPARE(legends.size(), static_cast<int>(forms.items.size()));
      for (auto* legend : legends)  // nothing cut at the right edge of its box or of the page
        QVERIFY2(legend->mapTo(scroll->viewport(), QPoint(legend->width(), 0)).x() <= scroll->viewport()->width() &&
                     legend->mapTo(legend->parentWidget(), QPoint(legend->width(), 0)).x() <= legend->parentWidget()->width(),
                 qPrintable(QString("step %1").arg(step + 1)));
      if (!forms.items.empty()) {
        double largest = 0;
        for (const auto* list : {&forms.items[0].inputs, &forms.items[0].outputs})
          for (const auto& m : *list)
            for (double v : m.values) largest = std::max(largest, std::abs(v));
        QCOMPARE(legends[0]->property("scale").toDouble(), largest > 0 ? largest : 1.0);
      }
      saveShot(window, QString("gui_state_teaching_step%1").arg(step + 1));
    }
    window.tabs()->setCurrentWidget(window.importanceView());
    QTest::qWait(50);
    QVERIFY(setup_dock->isVisible() && budget_dock->isVisible());
  }

  // Item 20: a dark palette reaches the plots.
  void aDarkThemeKeepsPlotsReadable() {
    ui::MainWindow window;
    window.resize(1490, 860);
    window.show();
    QVERIFY(window.openRun(finished_run_));
    window.setTheme("dark");
    QTest::qWait(200);
    auto* plot = window.curvesView()->plots()[0];
    window.tabs()->setCurrentWidget(window.curvesView());
    QTest::qWait(200);
    QVERIFY(plot->xAxis->tickLabelColor().lightness() > 180);
    const QImage shot = plot->grab().toImage();
    QVERIFY(shot.pixelColor(3, shot.height() / 2).lightness() < 60);
    saveShot(window, "gui_state_dark");
    // Every field follows the theme (an error outline set before the change must not bring
    // back the light palette when it goes).
    for (auto* edit : {window.setupPanel()->outputEdit(), window.setupPanel()->dataDirEdit()})
      QVERIFY(edit->palette().color(QPalette::Base).lightness() < 60);
    window.setTheme("system");
    QTest::qWait(100);
    QVERIFY(plot->xAxis->tickLabelColor().lightness() < 120);
  }
};

QTEST_MAIN(TestGuiState)
#include "test_gui_state.moc"
