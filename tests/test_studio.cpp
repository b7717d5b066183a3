// RepNAS Studio's main window, offscreen, driving real (tiny) searches on synthetic IDX data:
// what a person sees must be what the engine computed.
#include <QtTest>

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QDir>
#include <QLabel>
#include <QMessageBox>
#include <QTimer>
#include <QLineEdit>
#include <QProgressBar>
#include <QSignalSpy>
#include <QSpinBox>
#include <QToolBar>
#include <QTabBar>
#include <QTabWidget>
#include <QPushButton>
#include <QSlider>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QUndoStack>
#include <qcustomplot.h>

#include <fstream>

#include "repnas/costs.h"
#include "repnas/engine.h"
#include "repnas/export.h"
#include "repnas/inspect.h"
#include "repnas_ui/block_inspector.h"
#include "repnas_ui/budget_editor.h"
#include "repnas_ui/cost_view.h"
#include "repnas_ui/curves_view.h"
#include "repnas_ui/explainer_view.h"
#include "repnas_ui/hant_dialog.h"
#include "repnas_ui/export_dialog.h"
#include "repnas_ui/importance_view.h"
#include "repnas_ui/main_window.h"
#include "repnas_ui/run_model.h"
#include "repnas_ui/run_sources.h"
#include "repnas_ui/setup_panel.h"
#include "studio_test_util.h"
#include "synthetic_data.h"

using namespace repnas;

namespace {

RunConfig tinyConfig(const QString& data_dir, int epochs = 4) {
  // `epochs` in all (1 warm-up, 2 search, the rest fixed), as before fixed_epochs.
  return testing::tinySearchConfig(data_dir, epochs, 2, std::max(0, epochs - 3), 5);
}

using testing::saveShot;

}  // namespace

class TestStudio : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  QString data_;

 private Q_SLOTS:
  void initTestCase() {
    QCoreApplication::setOrganizationName("RepNAS-tests");
    QCoreApplication::setApplicationName("test_studio");
    QVERIFY(tmp_.isValid());
    data_ = tmp_.filePath("data");
    QDir().mkpath(data_);
    testing::writeIdxDataset(data_.toStdString(), 640, 200);
  }

  void setupMarksInvalidFieldsAndGatesStart() {
    ui::MainWindow window;
    auto* setup = window.setupPanel();
    setup->setConfig(tinyConfig(data_));
    setup->setOutputDir(tmp_.filePath("setup-run"));
    QVERIFY2(setup->isValid(), qPrintable(setup->problems().empty() ? QString() : setup->problems().begin()->second));
    QVERIFY(window.startAction()->isEnabled());
    QVERIFY(setup->startButton()->isEnabled());

    // A folder without the IDX files, and a budget above 6 branches x 8 layers.
    setup->dataDirEdit()->setText(tmp_.filePath("nowhere"));
    setup->budgetBox()->setValue(100);
    QVERIFY(!setup->isValid());
    QTRY_VERIFY(!setup->isCheckingData());  // the engine's reader, in a worker thread
    QVERIFY2(setup->problemAt("data_dir").contains("does not exist"), qPrintable(setup->problemAt("data_dir")));
    QVERIFY2(setup->problemAt("budget").contains("k=100 is above"), qPrintable(setup->problemAt("budget")));
    QVERIFY(!window.startAction()->isEnabled());
    QVERIFY(!setup->startButton()->isEnabled());
    auto* error = setup->findChild<QLabel*>("fieldError_budget");
    QVERIFY(error && !error->isHidden());
    QCOMPARE(error->text(), setup->problemAt("budget"));
    window.resize(1400, 900);
    window.show();
    saveShot(window, "studio_setup_invalid");

    setup->budgetBox()->setValue(-1);
    setup->dataDirEdit()->setText(data_);
    QTRY_VERIFY(!setup->isCheckingData());
    QVERIFY(setup->isValid());
    QVERIFY(window.startAction()->isEnabled());
  }

  void liveSearchIsShownSteeredAndUndone() {
    ui::MainWindow window;
    window.resize(1400, 900);
    window.show();
    auto* setup = window.setupPanel();
    auto config = tinyConfig(data_, 6);
    config.search_epochs = 4;  // the fix comes at step 100: room for the edits on a slow machine
    config.fixed_epochs = 1;   // 6 epochs in all, as before fixed_epochs
    setup->setConfig(config);
    const QString run_dir = tmp_.filePath("live-run");
    setup->setOutputDir(run_dir);
    QVERIFY(window.startRun());
    QVERIFY(window.runner()->isRunning());
    auto* model = window.model();
    QTRY_VERIFY_WITH_TIMEOUT(model->steps().size() >= 25, 60000);  // into the search phase

    // Pause: once acknowledged, no step comes until resume.
    window.pauseRun();
    QTRY_VERIFY_WITH_TIMEOUT(model->paused(), 20000);
    QVERIFY(window.resumeAction()->isEnabled());
    QVERIFY(!window.pauseAction()->isEnabled());
    const size_t steps_at_pause = model->steps().size();
    QTest::qWait(300);
    window.runner()->drain();
    QCOMPARE(model->steps().size(), steps_at_pause);
    QVERIFY(window.progressBar()->text().contains("paused"));

    // The heatmap shows σ(α) of the last snapshot, cell by cell, and its mask.
    auto* heat = window.importanceView();
    const auto& last = model->steps().back();
    QCOMPARE(heat->shownSnapshot(), static_cast<int>(model->steps().size()) - 1);
    for (int l = 0; l < model->layers(); ++l)
      for (int b = 0; b < kNumBranchKinds; ++b) {
        QCOMPARE(heat->cellValue(l, b), static_cast<double>(last.sigma[l * kNumBranchKinds + b]));
        QCOMPARE(heat->cellKept(l, b), last.mask[l].test(b));
      }
    // The noise-free top-k outline is the snapshot's top-k mask.
    for (int l = 0; l < model->layers(); ++l)
      for (int b = 0; b < kNumBranchKinds; ++b)
        QCOMPARE(heat->cellInTopK(l, b), last.topk_mask[l].test(b));
    // By default σ(α) is on the fixed scale 0..1, and the scale says so.
    QCOMPARE(heat->colourRange(), std::make_pair(0.0, 1.0));
    QCOMPARE(heat->scaleLabel(), QStringLiteral("σ(α)"));
    heat->autoRangeBox()->setChecked(true);
    QVERIFY2(heat->scaleLabel().contains("zoomed ×"), qPrintable(heat->scaleLabel()));
    // Auto range: the colours span the shown σ(α) from smallest to largest.
    const auto [lo, hi] = heat->colourRange();
    QCOMPARE(lo, static_cast<double>(*std::min_element(last.sigma.begin(), last.sigma.end())));
    QCOMPARE(hi, static_cast<double>(*std::max_element(last.sigma.begin(), last.sigma.end())));
    // The curves hold one point per snapshot; the agreement one per sampled step.
    QCOMPARE(window.curvesView()->lossGraph()->dataCount(), static_cast<int>(model->steps().size()));
    QCOMPARE(window.curvesView()->agreementGraph()->dataCount(), static_cast<int>(model->steps().size()));
    QCOMPARE(window.curvesView()->agreementGraph()->data()->at(window.curvesView()->agreementGraph()->dataCount() - 1)->value,
             100 * last.mask_agreement);
    saveShot(window, "studio_live_search_paused");
    window.tabs()->setCurrentWidget(window.curvesView());
    saveShot(window, "studio_curves_search");
    window.tabs()->setCurrentWidget(window.importanceView());

    // A budget edit reaches the engine (acknowledged), and undo sends the old value back.
    auto* editor = window.budgetEditor();
    QVERIFY(editor->isEditable());
    const int k0 = model->budget().k;
    const size_t acks = model->commands().size();
    editor->kSpin()->setValue(k0 + 3);
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 1, 10000);
    QVERIFY(model->commands().back().accepted);
    QCOMPARE(model->budget().k, k0 + 3);
    QCOMPARE(editor->kSpin()->value(), k0 + 3);
    QCOMPARE(window.undoStack()->count(), 1);
    window.undoStack()->undo();
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 2, 10000);
    QCOMPARE(model->budget().k, k0);
    QCOMPARE(editor->kSpin()->value(), k0);

    // A pin from the heatmap (right click on a cell) and its undo.
    editor->cyclePin(2, static_cast<int>(BranchKind::OneByOneAvg));
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 3, 10000);
    QCOMPARE(model->budget().pins[2][static_cast<int>(BranchKind::OneByOneAvg)], Pin::Keep);

    // An infeasible edit is refused with the engine's reason, and the budget stays.
    editor->kSpin()->setValue(48);
    editor->requestLayerLimits(0, 6, -1);  // 6 in layer 0 is fine alone...
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 5, 10000);
    const int undo_count = window.undoStack()->count();
    editor->requestBudget(3);  // ...but k=3 is below the minimums (6 + 1 per layer without identity)
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 6, 10000);
    QVERIFY(!model->commands().back().accepted);
    // The refused edit is not left on the undo stack: undo goes back to the last applied one.
    QCOMPARE(window.undoStack()->count(), undo_count);
    QVERIFY(window.undoStack()->undoText().contains("layer"));
    QVERIFY2(editor->statusLabel()->text().contains("refused") &&
                 editor->statusLabel()->text().contains("below the sum of per-layer minimums"),
             qPrintable(editor->statusLabel()->text()));
    QCOMPARE(model->budget().k, 48);
    QCOMPARE(editor->kSpin()->value(), 48);
    saveShot(window, "studio_budget_refused");

    window.continueRun();
    QTRY_VERIFY_WITH_TIMEOUT(!model->paused(), 10000);
    QTRY_VERIFY_WITH_TIMEOUT(model->steps().size() > steps_at_pause + 5, 30000);

    // Once the architecture is fixed, undoing an applied edit is refused; the edit is still in
    // force, so it stays on the undo side of the stack.
    QTRY_VERIFY_WITH_TIMEOUT(model->phase() && *model->phase() == Phase::Fixed, 60000);
    const int index = window.undoStack()->index();
    const QString text = window.undoStack()->undoText();
    const size_t acks_before = model->commands().size();
    window.undoStack()->undo();
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks_before + 1, 10000);
    QVERIFY(!model->commands().back().accepted);
    QCOMPARE(window.undoStack()->index(), index);
    QCOMPARE(window.undoStack()->undoText(), text);

    // Every command is in the event log too.
    window.stopRun();
    QTRY_VERIFY_WITH_TIMEOUT(!window.runner()->isRunning(), 60000);
    QVERIFY(model->finished());
    QCOMPARE(QString::fromStdString(model->finished()->status), QString("stopped"));
    QVERIFY(QFile::exists(run_dir + "/checkpoint.pt"));
    std::ifstream log((run_dir + "/events.jsonl").toStdString());
    int logged_acks = 0;
    for (std::string line; std::getline(log, line);)
      if (std::holds_alternative<CommandAck>(eventFromJson(line))) ++logged_acks;
    QCOMPARE(logged_acks, static_cast<int>(model->commands().size()));
    saveShot(window, "studio_stopped");

    // Resume the stopped run in the window; it finishes.
    QVERIFY(window.resumeRun());
    QTRY_VERIFY_WITH_TIMEOUT(!window.runner()->isRunning(), 120000);
    QCOMPARE(QString::fromStdString(model->finished()->status), QString("completed"));
    QCOMPARE(model->stepsDone(), model->info().total_steps);
    saveShot(window, "studio_completed");

    // The inspector reads the finished weights; its fused kernel is the core's.
    window.tabs()->setCurrentWidget(window.blockInspector());
    window.importanceView()->selectLayer(3);
    QTRY_VERIFY(window.blockInspector()->inspection().has_value());
    const auto mask = model->currentMask();
    const auto expected = inspectRunBlock(run_dir.toStdString(), 3, &mask[3]);
    QCOMPARE(window.blockInspector()->inspection()->fused.values, expected.fused.values);
    QCOMPARE(window.blockInspector()->fusedHeatmap()->values(), expected.fused.slice(0, 0));
    saveShot(window, "studio_inspector");

    // Plots to PNG/PDF and curves to CSV.
    const QString plots = tmp_.filePath("plots");
    QCOMPARE(window.exportPlots(plots), QString());
    for (const char* f : {"importance.png", "importance.pdf", "loss.png", "accuracy.pdf", "curves.csv", "alpha.csv"})
      QVERIFY2(QFileInfo(plots + "/" + f).size() > 100, f);
    QFile csv(plots + "/curves.csv");
    QVERIFY(csv.open(QIODevice::ReadOnly));
    QCOMPARE(QString(csv.readAll()).count('\n'), static_cast<int>(model->steps().size()) + 1);
  }

  // The cost budget (issue 17) from the budget editor, and the Costs tab: the run's measured
  // table cell by cell, the shown step's predicted cost beside the limit.
  void costBudgetIsEditedLiveAndTheCostsTabShowsTheTable() {
    ui::MainWindow window;
    window.resize(1400, 860);
    window.show();
    auto config = tinyConfig(data_, 6);
    config.search_epochs = 4;
    config.fixed_epochs = 1;
    window.setupPanel()->setConfig(config);
    const QString run_dir = tmp_.filePath("cost-run");
    window.setupPanel()->setOutputDir(run_dir);
    QVERIFY(window.startRun());
    auto* model = window.model();
    QTRY_VERIFY_WITH_TIMEOUT(model->steps().size() >= 25, 60000);  // into the search phase
    window.pauseRun();
    QTRY_VERIFY_WITH_TIMEOUT(model->paused(), 20000);
    window.runner()->drain();

    // The Costs tab shows the run's costs.json.
    auto* costs = window.costView();
    QVERIFY2(costs->hasCosts(), qPrintable(costs->summaryLabel()->text()));
    std::ifstream in((run_dir + "/costs.json").toStdString());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto table = trainingCostsFromJson(text);
    for (int l = 0; l < model->layers(); ++l)
      for (int b = 0; b < kNumBranchKinds; ++b) {
        QCOMPARE(costs->cellValue(l, b), table.branches[l][b].ms);
        QCOMPARE(costs->cellKept(l, b), model->steps().back().mask[l].test(b));
      }
    costs->quantityBox()->setCurrentIndex(1);
    QCOMPARE(costs->cellValue(1, 2), table.branches[1][2].mb);
    costs->quantityBox()->setCurrentIndex(0);
    const auto cost_table = trainingCostTable(table);
    const double now = cost_table.msOf(model->steps().back().mask);
    QVERIFY2(costs->summaryLabel()->text().contains(QString::number(now, 'f', 1) + " ms per step"),
             qPrintable(costs->summaryLabel()->text()));
    window.tabs()->setCurrentWidget(costs);
    saveShot(window, "studio_costs_tab");

    // A limit the shown mask meets: applied, in the summary, undone.
    auto* editor = window.budgetEditor();
    const size_t acks = model->commands().size();
    const double limit = std::ceil(now * 10) / 10;
    editor->msSpin()->setValue(limit);
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 1, 10000);
    QVERIFY2(model->commands().back().accepted, model->commands().back().reason.c_str());
    QCOMPARE(model->budget().max_ms, limit);
    QTRY_VERIFY(costs->summaryLabel()->text().contains(QString("limit %1 ms").arg(limit, 0, 'f', 1)));
    window.undoStack()->undo();
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 2, 10000);
    QCOMPARE(model->budget().max_ms, 0.0);
    QCOMPARE(editor->msSpin()->value(), 0.0);
    QCOMPARE(editor->msSpin()->text(), QString("none"));
    // Below the least any mask costs: refused with the engine's reason, the spin box back.
    editor->msSpin()->setValue(0.1);  // the least the spin box holds
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 3, 10000);
    QVERIFY(!model->commands().back().accepted);
    QVERIFY2(editor->statusLabel()->text().contains("ms per step <= 0.1 is below"), qPrintable(editor->statusLabel()->text()));
    QCOMPARE(editor->msSpin()->value(), 0.0);
    // A free count without a cost limit is refused; with one it applies and k's controls rest.
    editor->countBox()->setChecked(false);
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 4, 10000);
    QVERIFY(!model->commands().back().accepted);
    QVERIFY(editor->countBox()->isChecked());
    editor->msSpin()->setValue(limit);
    editor->countBox()->setChecked(false);
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 6, 10000);
    QVERIFY(model->commands().back().accepted);
    QCOMPARE(model->budget().k, kAnyCount);
    QVERIFY(!editor->kSpin()->isEnabled() && editor->msSpin()->isEnabled());
    saveShot(window, "studio_cost_budget");

    // The steps after it keep to the limit.
    const size_t before = model->steps().size();
    window.continueRun();
    QTRY_VERIFY_WITH_TIMEOUT(model->steps().size() > before + 4, 30000);
    window.stopRun();
    QTRY_VERIFY_WITH_TIMEOUT(!window.runner()->isRunning(), 60000);
    for (size_t i = before; i < model->steps().size(); ++i)
      QVERIFY2(cost_table.msOf(model->steps()[i].mask) <= limit + 1e-9, qPrintable(QString("step %1").arg(model->steps()[i].step)));
  }

  // HANT from the window (issue 17): the dialog runs it on a finished run, draws the curve of
  // the knapsack's choices and of every layer taking one operation from the result, lists each
  // layer's operation, and solves another speed-up from the same phase 1.
  void hantDialogRunsAndShowsTheCurve() {
    RunConfig c = tinyConfig(data_, 2);
    c.mode = "plain";
    const QString run_dir = tmp_.filePath("hant-teacher");
    {
      Engine engine(c, run_dir.toStdString());
      QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
    }
    ui::HantDialog dialog(run_dir);
    dialog.show();
    dialog.distillStepsBox()->setValue(20);
    dialog.fitStudentsBox()->setValue(10);
    dialog.finetuneStepsBox()->setValue(5);
    dialog.curveEdit()->setText("1.2, 2");
    dialog.folderEdit()->setText(tmp_.filePath("hant-out"));
    QSignalSpy finished(&dialog, &ui::HantDialog::hantFinished);
    dialog.curveEdit()->setText("1.2, fast");  // refused before anything runs
    dialog.startHant();
    QVERIFY(!dialog.isWorking());
    QVERIFY(dialog.stageLabel()->text().contains("numbers > 0"));
    dialog.curveEdit()->setText("1.2, 2");
    dialog.startHant();
    QVERIFY(dialog.isWorking() && !dialog.runButton()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, 180000);
    QVERIFY2(finished.at(0).at(0).toBool(), qPrintable(dialog.error()));
    const auto& r = *dialog.result();
    QCOMPARE(int(r.sweep.size()), 2);
    auto* knapsack = dialog.curvePlot()->graph(0);  // its points sorted by speed-up
    QCOMPARE(knapsack->dataCount(), 2);
    for (const auto& p : r.sweep) {
      bool drawn = false;
      for (int i = 0; i < knapsack->dataCount(); ++i)
        drawn |= knapsack->data()->at(i)->key == p.teacher_measured_ms / p.measured_ms &&
                 knapsack->data()->at(i)->value == 100 * p.val_accuracy;
      QVERIFY(drawn);
    }
    QCOMPARE(dialog.curvePlot()->graph(1)->dataCount(), kNumHantOps);
    QCOMPARE(dialog.curvePlot()->graph(2)->dataCount(), 1);
    QCOMPARE(dialog.layersTable()->rowCount(), 8);
    for (int l = 0; l < 8; ++l)
      QCOMPARE(dialog.layersTable()->item(l, 1)->text(), QString::fromStdString(hantOpName(r.chosen.choice[l])));
    QVERIFY(dialog.summaryLabel()->text().contains(QString::number(r.chosen.predicted_ms, 'f', 3)));
    QVERIFY(QFile::exists(tmp_.filePath("hant-out/hant.json")));
    for (const char* file : {"student.onnx", "student.pt", "student.json", "student.safetensors"})
      QVERIFY2(QFile::exists(tmp_.filePath(QString("hant-out/") + file)), file);
    QVERIFY(dialog.summaryLabel()->text().contains("Exported") && dialog.summaryLabel()->text().contains("student.onnx"));
    QVERIFY(dialog.openFolderButton()->isVisible());
    saveShot(dialog, "studio_hant_dialog");
    // Another speed-up on the curve: the same phase 1 solved again; its student is one click away.
    dialog.resolveBox()->setValue(3.0);
    QVERIFY(dialog.shownChoice() == solveHantBudget(r, r.teacher_ms / 3.0).choice);
    QVERIFY(dialog.useBudgetButton()->isEnabled());
    dialog.useBudgetButton()->click();
    QVERIFY(dialog.isWorking());
    QCOMPARE(dialog.speedupBox()->value(), 3.0);
    QVERIFY(!dialog.useBudgetButton()->isEnabled() && !dialog.openFolderButton()->isVisible());
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 2, 180000);
    QVERIFY2(finished.at(1).at(0).toBool(), qPrintable(dialog.error()));
    QCOMPARE(dialog.result()->budget_ms, dialog.result()->teacher_ms / 3.0);
  }

  void closingDuringASearchStopsItAndLeavesACheckpoint() {
    const QString run_dir = tmp_.filePath("close-run");
    {
      ui::MainWindow window;
      window.show();
      window.setupPanel()->setConfig(tinyConfig(data_, 6));
      window.setupPanel()->setOutputDir(run_dir);
      QVERIFY(window.startRun());
      QTRY_VERIFY_WITH_TIMEOUT(window.model()->steps().size() >= 3, 60000);
      // The window asks; "Stop and save" stops with a checkpoint.
      QTimer::singleShot(300, [] {
        for (auto* w : QApplication::topLevelWidgets())
          if (auto* box = qobject_cast<QMessageBox*>(w); box && box->isVisible())
            for (auto* b : box->buttons())
              if (b->text().remove('&') == "Stop and save") b->click();
      });
      QVERIFY(window.close());
      QVERIFY(!window.runner()->isRunning());
      QCOMPARE(QString::fromStdString(window.model()->finished()->status), QString("stopped"));
    }
    // The checkpoint is valid: the run resumes from it and completes.
    RunConfig threads_only;
    threads_only.threads = 1;
    Engine engine(threads_only, run_dir.toStdString(), /*resume=*/true);
    QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
  }

  void monitorFollowsAGrowingEventLog() {
    // The log of a finished run, fed to a "running" folder a few lines at a time.
    const QString source = tmp_.filePath("live-run/events.jsonl");
    std::ifstream in(source.toStdString());
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    QVERIFY(lines.size() > 20);
    const QString dir = tmp_.filePath("monitored");
    QDir().mkpath(dir);
    std::ofstream out((dir + "/events.jsonl").toStdString());
    ui::MainWindow window;
    window.show();
    QVERIFY(window.openRun(dir, /*follow=*/true));
    QVERIFY(window.follower()->isFollowing());
    auto steps_in = [&](size_t n) {
      size_t count = 0;
      for (size_t i = 0; i < n; ++i)
        if (std::holds_alternative<StepSnapshot>(eventFromJson(lines[i]))) ++count;
      return count;
    };
    out << lines[0] << "\n" << lines[1] << "\n" << lines[2] << "\n";
    out << lines[3].substr(0, 10);  // half a line: not read until complete
    out.flush();
    QTRY_COMPARE_WITH_TIMEOUT(window.model()->steps().size(), steps_in(3), 5000);
    QVERIFY(window.model()->hasRun());
    out << lines[3].substr(10) << "\n";
    for (size_t i = 4; i < 15; ++i) out << lines[i] << "\n";
    out.flush();
    QTRY_COMPARE_WITH_TIMEOUT(window.model()->steps().size(), steps_in(15), 5000);
    QCOMPARE(window.follower()->badLines(), 0);
    QVERIFY(!window.budgetEditor()->isEditable());  // nothing to steer from a monitor
    saveShot(window, "studio_monitor");
    for (size_t i = 15; i < lines.size(); ++i) out << lines[i] << "\n";
    out.flush();
    QTRY_VERIFY_WITH_TIMEOUT(window.model()->finished().has_value(), 5000);
    QCOMPARE(window.model()->steps().size(), steps_in(lines.size()));
  }

  void exportDialogWritesFilesThatLoad() {
    const QString run_dir = tmp_.filePath("close-run");  // completed above
    ui::ExportDialog dialog(run_dir);
    dialog.show();
    QSignalSpy done(&dialog, &ui::ExportDialog::exportFinished);
    dialog.folderEdit()->setText(tmp_.filePath("exported"));
    dialog.startExport();
    QVERIFY(done.wait(120000));
    QVERIFY2(done.at(0).at(0).toBool(), qPrintable(dialog.error() + dialog.reportView()->toPlainText()));
    const auto& r = dialog.result()->report;
    QVERIFY(r.pass);
    // The folded network: one KxK conv + bias per layer and the head (tiny: 8 layers, 10
    // classes). It can hold more parameters than the kept branches (a 1x1 becomes a 3x3).
    int64_t folded_params = 128 * 10 + 10;
    for (auto [in, out] : std::vector<std::pair<int, int>>{{1, 16}, {16, 16}, {16, 32}, {32, 32},
                                                          {32, 64}, {64, 64}, {64, 128}, {128, 128}})
      folded_params += static_cast<int64_t>(out) * in * 9 + out;
    QCOMPARE(r.parameters_folded, folded_params);
    QVERIFY(r.parameters_multi_branch > 0);
    QVERIFY(r.latency_folded_ms > 0 && r.latency_multi_branch_ms > 0);
    const QString text = dialog.reportView()->toPlainText();
    QVERIFY(text.contains("Verified"));
    QVERIFY(text.contains(QString::number(100 * r.accuracy_folded, 'f', 2)));
    DatasetSpec data{"idx", data_.toStdString()};
    for (const char* f : {"model.onnx", "model.pt", "model.json"}) {
      const auto e = evaluateExport(tmp_.filePath(QString("exported/") + f).toStdString(), data);
      QCOMPARE(e.accuracy, r.accuracy_folded);
    }
    saveShot(dialog, "studio_export_dialog");
  }

  void setupShowsTheResolvedArchLrAndRetrainsAFoundArchitecture() {
    ui::MainWindow window;
    window.resize(1490, 860);  // the default size
    window.show();
    auto* setup = window.setupPanel();
    // The default search on Fashion-MNIST: 60000 / 128 = 469 steps, 4 search epochs (the
    // training images as the form's reader counted them).
    setup->setConfig(RunConfig());
    QTRY_COMPARE_WITH_TIMEOUT(setup->archLrResolution(), QStringLiteral("17.5 / 1876 search steps = 0.009328"), 20000);
    setup->valSplitBox()->setValue(10000);
    QVERIFY2(setup->archLrResolution().contains("/ 1564 search steps"), qPrintable(setup->archLrResolution()));
    auto* resolved = setup->findChild<QLabel*>("archLrResolved");
    QVERIFY(resolved && resolved->text() == setup->archLrResolution());
    // GDAS's own α learning rate, over the images its validation split (one sixth) leaves.
    RunConfig gdas;
    gdas.mode = "gdas";
    setup->setConfig(gdas);
    QCOMPARE(setup->archLrResolution(), QStringLiteral("GDAS: 7.35 / 1564 search steps = 0.004699"));

    // A completed search, opened: Run → Train this architecture from scratch sets up odbb.
    const QString search_dir = tmp_.filePath("to-retrain");
    {
      auto c = tinyConfig(data_, 3);
      QDir().mkpath(search_dir);
      Engine engine(c, search_dir.toStdString());
      EventLogWriter log(QDir(search_dir).filePath("events.jsonl").toStdString(), false);
      engine.addObserver(&log);
      QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
    }
    QVERIFY(window.openRun(search_dir));
    QTRY_VERIFY(window.retrainAction()->isEnabled());
    window.retrainAction()->trigger();
    const auto c = setup->config();
    QCOMPARE(QString::fromStdString(c.mode), QString("odbb"));
    QVERIFY(c.mask.kind == MaskSetting::Kind::Given);
    QCOMPARE(countBranches(c.mask.layers), 16);
    QCOMPARE(setup->maskBox()->currentData().toString(), QString("given"));
    QVERIFY(setup->maskBox()->currentText().contains("to-retrain"));
    QVERIFY2(setup->isValid(), qPrintable(setup->problems().empty() ? QString() : setup->problems().begin()->second));
    QCOMPARE(setup->outputDir(), search_dir + "-retrained");
    saveShot(window, "studio_retrain_setup");
    // Random masks for the control: the same form, mask random.
    setup->maskBox()->setCurrentIndex(setup->maskBox()->findData("random"));
    QVERIFY(setup->config().mask.kind == MaskSetting::Kind::Random);
    QVERIFY(setup->isValid());
  }

  void aPersonWithAMouse() {
    // The same session as above, driven only by mouse clicks and keys on the widgets a person
    // sees: Start, Pause, a click on the k slider, a right-click on a heatmap cell, Ctrl+Z,
    // Resume, Stop, then the teaching tab.
    ui::MainWindow window;
    window.resize(1400, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    auto config = tinyConfig(data_, 6);
    config.search_epochs = 4;
    config.fixed_epochs = 1;  // 6 epochs in all, as before fixed_epochs
    window.setupPanel()->setConfig(config);
    window.setupPanel()->setOutputDir(tmp_.filePath("mouse-run"));
    auto* toolbar = window.findChild<QToolBar*>();
    QVERIFY(toolbar);
    auto click = [&](QAction* action) {
      auto* button = toolbar->widgetForAction(action);
      QVERIFY(button && button->isEnabled());
      QTest::mouseClick(button, Qt::LeftButton);
    };
    QTest::mouseClick(window.setupPanel()->startButton(), Qt::LeftButton);
    QVERIFY(window.runner()->isRunning());
    auto* model = window.model();
    QTRY_VERIFY_WITH_TIMEOUT(model->steps().size() >= 25, 60000);
    click(window.pauseAction());
    QTRY_VERIFY_WITH_TIMEOUT(model->paused(), 20000);

    // A click on the slider's groove right of the handle: one page up, one command, one undo step.
    auto* slider = window.budgetEditor()->kSlider();
    const int k0 = model->budget().k;
    const size_t acks = model->commands().size();
    QTest::mouseClick(slider, Qt::LeftButton, {}, QPoint(slider->width() - 4, slider->height() / 2));
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 1, 10000);
    QVERIFY(model->commands().back().accepted);
    QVERIFY(model->budget().k > k0);
    QCOMPARE(window.undoStack()->count(), 1);

    // Right-click on the heatmap cell (layer 1, 1x1): the pin cycles to keep.
    auto* plot = window.importanceView()->heatmap();
    const QPoint cell(static_cast<int>(plot->xAxis->coordToPixel(0)), static_cast<int>(plot->yAxis->coordToPixel(1)));
    QCOMPARE(window.importanceView()->cellAt(cell), std::make_pair(1, 0));
    QTest::mouseClick(plot, Qt::RightButton, {}, cell);
    QTRY_VERIFY_WITH_TIMEOUT(model->commands().size() == acks + 2, 10000);
    QCOMPARE(model->budget().pins[1][0], Pin::Keep);
    // Ctrl+Z undoes the pin, then the k change (shortcuts need the active window, as for a
    // person typing into it).
    window.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&window));
    QTest::keyClick(&window, Qt::Key_Z, Qt::ControlModifier);
    QTRY_VERIFY_WITH_TIMEOUT(model->budget().pins[1][0] == Pin::Auto, 10000);
    QTest::keyClick(&window, Qt::Key_Z, Qt::ControlModifier);
    QTRY_VERIFY_WITH_TIMEOUT(model->budget().k == k0, 10000);

    click(window.resumeAction());
    QTRY_VERIFY_WITH_TIMEOUT(!model->paused(), 10000);
    click(window.stopAction());
    QTRY_VERIFY_WITH_TIMEOUT(!window.runner()->isRunning(), 60000);
    QCOMPARE(QString::fromStdString(model->finished()->status), QString("stopped"));

    // The teaching tab, by its tab, and its Next button.
    auto* bar = window.tabs()->tabBar();
    const int tab = window.tabs()->indexOf(window.explainerView());
    QTest::mouseClick(bar, Qt::LeftButton, {}, bar->tabRect(tab).center());
    QCOMPARE(window.tabs()->currentWidget(), window.explainerView());
    QPushButton* next = nullptr;
    for (auto* b : window.explainerView()->findChildren<QPushButton*>())
      if (b->text().contains("Next")) next = b;
    QVERIFY(next);
    QTest::mouseClick(next, Qt::LeftButton);
    QCOMPARE(window.explainerView()->page(), 1);
  }

  void realFashionMnistTour() {
    // A real search on Fashion-MNIST, for the README's screenshots (about two minutes on two
    // cores): opt-in with REPNAS_SCREENSHOTS=1.
    if (!qEnvironmentVariableIsSet("REPNAS_SCREENSHOTS")) QSKIP("set REPNAS_SCREENSHOTS=1 to run");
    if (!QFileInfo::exists(QString(kDefaultFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
      QSKIP("dataset-fashion-mnist is not installed");
    ui::MainWindow window;
    window.resize(1490, 860);  // the default size, as a user first sees it
    window.show();
    RunConfig config;  // the default search, shortened
    config.epochs = 4;
    config.warmup_epochs = 1;
    config.search_epochs = 2;
    config.fixed_epochs = 1;
    config.train_limit = 12800;
    config.test_limit = 2000;
    config.threads = 2;
    window.setupPanel()->setConfig(config);
    window.setupPanel()->setOutputDir(tmp_.filePath("fmnist-run"));
    QVERIFY(window.startRun());
    auto* model = window.model();
    QTRY_VERIFY_WITH_TIMEOUT(model->steps().size() >= 170, 300000);  // well into the search
    window.pauseRun();
    QTRY_VERIFY_WITH_TIMEOUT(model->paused(), 20000);
    window.importanceView()->selectLayer(3);
    saveShot(window, "fmnist_live_search");
    window.tabs()->setCurrentWidget(window.curvesView());
    saveShot(window, "fmnist_curves");
    window.continueRun();
    QTRY_VERIFY_WITH_TIMEOUT(model->finished().has_value(), 600000);
    QCOMPARE(QString::fromStdString(model->finished()->status), QString("completed"));
    window.tabs()->setCurrentWidget(window.importanceView());
    saveShot(window, "fmnist_completed");
    window.tabs()->setCurrentWidget(window.blockInspector());
    window.blockInspector()->reload();
    saveShot(window, "fmnist_inspector");
    auto* explainer = window.explainerView();
    window.tabs()->setCurrentWidget(explainer);
    QVERIFY(explainer->useRunLayer(3));
    explainer->setPage(ui::ExplainerView::kProofPage);
    QVERIFY(explainer->proof().has_value());
    QVERIFY(explainer->proof()->max_abs_difference < 1e-5 * std::max(1.0, explainer->proof()->max_abs_output));
    saveShot(window, "fmnist_explain_layer");
  }
};

QTEST_MAIN(TestStudio)
#include "test_studio.moc"
