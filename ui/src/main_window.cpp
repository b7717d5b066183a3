#include "repnas_ui/main_window.h"

#include <QApplication>
#include <QCloseEvent>
#include <QDateTime>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QKeySequence>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QSettings>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTextStream>
#include <QToolBar>
#include <QUndoStack>

#include <qcustomplot.h>

#include "repnas/config.h"
#include "repnas/engine.h"
#include "repnas/runtime.h"
#include "repnas_ui/block_inspector.h"
#include "repnas_ui/budget_editor.h"
#include "repnas_ui/curves_view.h"
#include "repnas_ui/explainer_view.h"
#include "repnas_ui/export_dialog.h"
#include "repnas_ui/fusion_check_panel.h"
#include "repnas_ui/importance_view.h"
#include "repnas_ui/run_model.h"
#include "repnas_ui/run_sources.h"
#include "repnas_ui/setup_panel.h"
#include "ui_util.h"

namespace repnas::ui {
namespace {

QString formatDuration(double seconds) {
  const qint64 s = static_cast<qint64>(seconds + 0.5);
  return s >= 3600 ? QStringLiteral("%1:%2:%3").arg(s / 3600).arg(s / 60 % 60, 2, 10, QChar('0')).arg(s % 60, 2, 10, QChar('0'))
                   : QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle(tr("RepNAS Studio"));
  model_ = new RunModel(this);
  runner_ = new EngineRunner(model_, this);
  follower_ = new EventLogFollower(model_, this);
  undo_ = new QUndoStack(this);

  setup_ = new SetupPanel;
  RunConfig defaults;
  setup_->setConfig(defaults);
  const QString base = QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation);
  setup_->setOutputDir(QDir(base.isEmpty() ? QDir::homePath() : base)
                           .filePath("repnas-runs/" + QDateTime::currentDateTime().toString("yyyyMMdd-HHmmss")));
  auto* setup_dock = new QDockWidget(tr("Run setup"), this);
  setup_dock->setObjectName("setupDock");
  setup_dock->setWidget(setup_);
  addDockWidget(Qt::LeftDockWidgetArea, setup_dock);

  budget_ = new BudgetEditor(model_, undo_, [this](const Command& c) { return runner_->post(c); });
  auto* budget_dock = new QDockWidget(tr("Branch budget"), this);
  budget_dock->setObjectName("budgetDock");
  budget_->setMinimumWidth(400);
  budget_dock->setWidget(budget_);
  addDockWidget(Qt::RightDockWidgetArea, budget_dock);

  tabs_ = new QTabWidget;
  importance_ = new ImportanceView(model_);
  curves_ = new CurvesView(model_);
  inspector_ = new BlockInspector(model_);
  fusion_panel_ = new FusionCheckPanel;
  tabs_->addTab(importance_, tr("&Importance"));
  tabs_->addTab(curves_, tr("&Curves"));
  tabs_->addTab(inspector_, tr("Block i&nspector"));
  tabs_->addTab(fusion_panel_, tr("Fusion chec&k"));
  explainer_ = new ExplainerView;
  tabs_->addTab(explainer_, tr("Re-&parameterization"));
  tabs_->setTabToolTip(tabs_->indexOf(explainer_),
                       tr("How a multi-branch block becomes one convolution, step by step, with real numbers."));
  setCentralWidget(tabs_);

  progress_ = new QProgressBar;
  progress_->setMinimumWidth(420);
  progress_->setTextVisible(true);
  progress_->setFormat(tr("no run"));
  progress_->setValue(0);
  status_ = new QLabel(tr("Ready: set up a run and press Start, or open a run folder."));
  statusBar()->addWidget(status_, 1);
  statusBar()->addPermanentWidget(progress_);

  buildMenus();

  connect(setup_, &SetupPanel::startRequested, this, &MainWindow::startRun);
  connect(setup_, &SetupPanel::validityChanged, this, &MainWindow::updateActions);
  connect(importance_, &ImportanceView::layerSelected, inspector_, &BlockInspector::setLayer);
  connect(importance_, &ImportanceView::layerSelected, explainer_, &ExplainerView::setRunLayer);
  // The explainer's proof image comes from the data set in the setup form.
  auto sync_dataset = [this] {
    const auto c = setup_->config();
    explainer_->setDataset(qs(c.dataset), qs(c.data_dir));
  };
  connect(setup_, &SetupPanel::revalidated, this, sync_dataset);
  sync_dataset();
  connect(importance_, &ImportanceView::pinCycleRequested, budget_, &BudgetEditor::cyclePin);
  // The progress text and status change with every batch of events; redrawing them (and the
  // layout they may change) is throttled like the plots.
  auto* progress_throttle = new RedrawThrottle([this] { updateProgress(); }, this);
  connect(model_, &RunModel::updated, this, [this, progress_throttle] {
    progress_throttle->request();
    updateActions();
  });
  connect(tabs_, &QTabWidget::currentChanged, this, [this](int) {
    if (tabs_->currentWidget() == inspector_ && !run_dir_.isEmpty() && !inspector_->inspection())
      inspector_->reload();
  });
  connect(runner_, &EngineRunner::finished, this, [this](const QString& st, const QString& msg) {
    status_->setText(st == "failed" ? tr("Run failed: %1").arg(msg) : tr("Run %1: %2").arg(st, msg));
    status_->setStyleSheet(st == "failed" ? "color: #c0392b;" : QString());
    setup_->setLocked(false);
    // The next Start must not write into this run's folder: propose a fresh one beside it.
    if (QDir::cleanPath(setup_->outputDir()) == QDir::cleanPath(run_dir_)) {
      QString next;
      const QString base = QDir::cleanPath(run_dir_);
      for (int n = 2; next.isEmpty() || QFileInfo::exists(next); ++n) next = base + "-" + QString::number(n);
      setup_->setOutputDir(next);
    }
    budget_->setLive(false);
    updateActions();
  });
  connect(budget_, &BudgetEditor::answered, this, [this](bool ok, const QString& cmd, const QString& why) {
    statusBar()->showMessage(ok ? tr("Engine applied: %1").arg(cmd) : tr("Engine refused %1: %2").arg(cmd, why), 8000);
  });
  connect(follower_, &EventLogFollower::problem, this,
          [this](const QString& m) { statusBar()->showMessage(m, 8000); });

  QSettings settings;
  if (!restoreGeometry(settings.value("mainWindow/geometry").toByteArray())) resize(1400, 860);
  restoreState(settings.value("mainWindow/state").toByteArray());
  updateActions();
}

MainWindow::~MainWindow() = default;

void MainWindow::buildMenus() {
  auto* file = menuBar()->addMenu(tr("&File"));
  auto* open = file->addAction(tr("&Open run…"), this, [this] {
    const auto dir = QFileDialog::getExistingDirectory(this, tr("Open run folder"));
    if (!dir.isEmpty()) openRun(dir, false);
  });
  open->setShortcut(QKeySequence::Open);
  open->setToolTip(tr("Replay a run folder's event log and show its final state."));
  auto* monitor = file->addAction(tr("&Monitor run…"), this, [this] {
    const auto dir = QFileDialog::getExistingDirectory(this, tr("Monitor run folder"));
    if (!dir.isEmpty()) openRun(dir, true);
  });
  monitor->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_M));
  monitor->setToolTip(tr("Follow the events.jsonl of a run that `repnas search` writes, live."));
  recent_menu_ = file->addMenu(tr("&Recent runs"));
  rebuildRecentMenu();
  file->addSeparator();
  resume_run_ = file->addAction(tr("Resume run from &checkpoint"), this, &MainWindow::resumeRun);
  resume_run_->setToolTip(tr("Continue the open run from its checkpoint in this window."));
  export_ = file->addAction(tr("&Fuse and export…"), this, &MainWindow::exportModel);
  export_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
  file->addAction(tr("Export &plots and CSV…"), this, [this] {
    const auto dir = QFileDialog::getExistingDirectory(this, tr("Folder for plots and CSV"));
    if (dir.isEmpty()) return;
    const auto error = exportPlots(dir);
    if (!error.isEmpty()) showError(tr("Export plots"), error);
    else statusBar()->showMessage(tr("Plots and CSV written to %1").arg(dir), 8000);
  });
  file->addSeparator();
  auto* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  auto* edit = menuBar()->addMenu(tr("&Edit"));
  auto* undo = undo_->createUndoAction(this, tr("&Undo"));
  undo->setShortcut(QKeySequence::Undo);
  auto* redo = undo_->createRedoAction(this, tr("&Redo"));
  redo->setShortcut(QKeySequence::Redo);
  edit->addAction(undo);
  edit->addAction(redo);

  auto* run = menuBar()->addMenu(tr("&Run"));
  start_ = run->addAction(tr("&Start"), this, &MainWindow::startRun);
  start_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
  start_->setToolTip(tr("Start the run described in Run setup (Ctrl+Return)."));
  pause_ = run->addAction(tr("&Pause"), this, &MainWindow::pauseRun);
  pause_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
  pause_->setToolTip(tr("Pause between two steps (Ctrl+P)."));
  resume_ = run->addAction(tr("Res&ume"), this, &MainWindow::continueRun);
  resume_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_P));
  resume_->setToolTip(tr("Continue a paused run (Ctrl+Shift+P)."));
  stop_ = run->addAction(tr("S&top"), this, &MainWindow::stopRun);
  stop_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Period));
  stop_->setToolTip(tr("Stop after saving a checkpoint; the run can be resumed (Ctrl+.)."));
  run->addSeparator();
  retrain_ = run->addAction(tr("Train this architecture from &scratch"), this,
                            &MainWindow::setUpRetraining);
  retrain_->setToolTip(tr("Set up a new run that trains the ODBB this search found from new "
                          "weights (mode odbb), with the baselines' schedule: the protocol's test "
                          "of a search, beside random masks of the same budget."));
  run->addAction(tr("Run &fusion check"), fusion_panel_, &FusionCheckPanel::start);

  auto* toolbar = addToolBar(tr("Run"));
  toolbar->setObjectName("runToolbar");
  toolbar->addActions({start_, pause_, resume_, stop_});
  toolbar->addSeparator();
  toolbar->addAction(undo);
  toolbar->addAction(redo);
  toolbar->addSeparator();
  toolbar->addAction(export_);

  auto* view = menuBar()->addMenu(tr("&View"));
  for (auto* dock : findChildren<QDockWidget*>()) view->addAction(dock->toggleViewAction());
  view->addSeparator();
  for (int t = 0; t < tabs_->count(); ++t) {
    auto* a = view->addAction(tabs_->tabText(t).remove('&'), this, [this, t] { tabs_->setCurrentIndex(t); });
    a->setShortcut(QKeySequence(Qt::ALT | Qt::SHIFT | (Qt::Key_1 + t)));
    a->setToolTip(tabs_->tabToolTip(t));
  }

  auto* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About RepNAS Studio"), this, [this] {
    QMessageBox::about(this, tr("About RepNAS Studio"),
                       tr("<b>RepNAS Studio %1</b><br>Search, inspect, fuse and export "
                          "re-parameterizing blocks.<br>LibTorch %2, Qt %3")
                           .arg(qs(repnas::version()), qs(repnas::torchVersion()), qVersion()));
  });
}

void MainWindow::updateActions() {
  const bool running = runner_->isRunning();
  const bool paused = model_->paused();
  start_->setEnabled(!running && setup_->isValid());
  pause_->setEnabled(running && !paused);
  resume_->setEnabled(running && paused);
  stop_->setEnabled(running);
  const bool has_checkpoint = !run_dir_.isEmpty() && QFile::exists(QDir(run_dir_).filePath("checkpoint.pt"));
  const bool finished_ok = model_->finished() && model_->finished()->status == "completed";
  resume_run_->setEnabled(!running && has_checkpoint && !finished_ok && !follower_->isFollowing());
  export_->setEnabled(!running && !run_dir_.isEmpty() && QFile::exists(QDir(run_dir_).filePath("weights.pt")));
  // A search that has fixed its mask (a completed run, or a checkpoint after the fix).
  const bool fixed = model_->hasRun() && model_->info().mode == "search" &&
                     (finished_ok || model_->phase() == std::optional<Phase>(Phase::Fixed));
  retrain_->setEnabled(!running && !run_dir_.isEmpty() && fixed);
}

bool MainWindow::setUpRetraining() {
  try {
    const auto config = retrainConfig(run_dir_.toStdString());
    setup_->setConfig(config);
    setup_->setOutputDir(run_dir_ + "-retrained");
    status_->setText(tr("Set up: %1 from scratch. Press Start.").arg(qs(config.mask_source)));
    return true;
  } catch (const std::exception& e) {
    showError(tr("Train from scratch"), QString::fromStdString(e.what()));
    return false;
  }
}

void MainWindow::updateProgress() {
  if (!model_->hasRun()) {
    progress_->setFormat(tr("no run"));
    progress_->setValue(0);
    return;
  }
  const auto& info = model_->info();
  const int64_t done = model_->stepsDone();
  const int64_t total = std::max<int64_t>(1, info.total_steps);
  progress_->setRange(0, 1000);
  progress_->setValue(static_cast<int>(1000 * done / total));
  QString text;
  if (!model_->steps().empty()) {
    const auto& s = model_->steps().back();
    // ETA from the recent speed (last 50 snapshots).
    const auto& steps = model_->steps();
    const size_t from = steps.size() > 50 ? steps.size() - 50 : 0;
    double ms = 0;
    for (size_t i = from; i < steps.size(); ++i) ms += steps[i].step_ms;
    const double per_step = ms / std::max<size_t>(1, steps.size() - from) / 1000.0;
    text = tr("%1 · epoch %2/%3 · step %4/%5 · ETA %6 · %7 img/s")
               .arg(qs(phaseName(s.phase)))
               .arg(s.epoch + 1)
               .arg(info.epochs)
               .arg(done)
               .arg(info.total_steps)
               .arg(formatDuration(per_step * (info.total_steps - done)))
               .arg(s.images_per_second, 0, 'f', 0);
  } else {
    text = tr("step %1/%2").arg(done).arg(info.total_steps);
  }
  if (model_->paused()) text += tr(" · paused");
  if (model_->finished()) text = tr("%1 · step %2/%3").arg(qs(model_->finished()->status)).arg(done).arg(info.total_steps);
  progress_->setFormat(text);
  if (runner_->isRunning())
    status_->setText(model_->paused() ? tr("Paused: %1").arg(run_dir_) : tr("Running: %1").arg(run_dir_));
  else if (follower_->isFollowing() && !model_->finished())
    status_->setText(tr("Monitoring %1").arg(run_dir_));
  else if (model_->finished()) {
    const auto& f = *model_->finished();
    status_->setText(tr("%1: %2%3")
                         .arg(qs(f.status), qs(f.message))
                         .arg(f.test_accuracy ? tr(" (test accuracy %1%)").arg(100 * *f.test_accuracy, 0, 'f', 2) : QString()));
  }
}

bool MainWindow::startRun() {
  if (runner_->isRunning()) return false;
  if (!setup_->isValid()) {
    showError(tr("Start"), tr("The setup has invalid fields."));
    return false;
  }
  const QString dir = setup_->outputDir();
  follower_->close();
  try {
    model_->clear();
    undo_->clear();
    run_dir_ = dir;
    inspector_->setRunDir(dir);
    explainer_->setRunDir(dir);
    runner_->start(setup_->config(), dir, false);
  } catch (const std::exception& e) {
    showError(tr("Cannot start the run"), qs(e.what()));
    return false;
  }
  setup_->setLocked(true);
  budget_->setLive(true);
  addRecent(dir);
  status_->setText(tr("Running: %1").arg(dir));
  status_->setStyleSheet({});
  updateActions();
  return true;
}

bool MainWindow::openRun(const QString& dir, bool follow) {
  if (runner_->isRunning()) {
    showError(tr("Open run"), tr("Stop the running search first."));
    return false;
  }
  const auto error = follower_->open(dir, follow);
  if (!error.isEmpty()) {
    showError(tr("Open run"), error);
    return false;
  }
  undo_->clear();
  run_dir_ = follower_->runDir();
  inspector_->setRunDir(run_dir_);
  explainer_->setRunDir(run_dir_);
  budget_->setLive(false);
  // Show the run's configuration in the form (read-only meaning: a new run starts from it).
  try {
    auto config = loadRunConfig(run_dir_.toStdString());
    setup_->setConfig(config);
  } catch (const std::exception&) {
    // A run being monitored may not have written its config yet.
  }
  setup_->setOutputDir(run_dir_ + "-new");
  addRecent(run_dir_);
  status_->setText(follow ? tr("Monitoring %1").arg(run_dir_) : tr("Opened %1").arg(run_dir_));
  updateProgress();
  updateActions();
  return true;
}

bool MainWindow::resumeRun() {
  if (runner_->isRunning() || run_dir_.isEmpty()) return false;
  follower_->close();
  try {
    // Resuming reads the saved configuration; only the thread count comes from here.
    RunConfig config;
    config.threads = setup_->config().threads;
    // Replay what happened so far, then let the engine continue the same log.
    follower_->open(run_dir_, false);
    runner_->start(config, run_dir_, true);
  } catch (const std::exception& e) {
    showError(tr("Cannot resume the run"), qs(e.what()));
    return false;
  }
  undo_->clear();
  setup_->setLocked(true);
  budget_->setLive(true);
  updateActions();
  return true;
}

void MainWindow::pauseRun() { runner_->post(Command::pause()); }
void MainWindow::continueRun() { runner_->post(Command::resume()); }
void MainWindow::stopRun() {
  if (runner_->post(Command::stop()) >= 0) status_->setText(tr("Stopping: saving a checkpoint…"));
}

void MainWindow::exportModel() {
  if (run_dir_.isEmpty()) return;
  auto* dialog = new ExportDialog(run_dir_, this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->show();
}

QString MainWindow::exportPlots(const QString& dir) {
  QDir d(dir);
  if (!d.mkpath(".")) return tr("cannot create %1").arg(dir);
  std::vector<std::pair<QString, QCustomPlot*>> plots = {{"importance", importance_->heatmap()},
                                                          {"layer-alpha", importance_->layerPlot()}};
  const char* names[] = {"loss", "accuracy", "learning-rates", "budget-speed"};
  for (size_t i = 0; i < curves_->plots().size(); ++i) plots.push_back({names[i], curves_->plots()[i]});
  for (const auto& [name, plot] : plots) {
    const int w = std::max(640, plot->width()), h = std::max(420, plot->height());
    if (!plot->savePng(d.filePath(name + ".png"), w, h) || !plot->savePdf(d.filePath(name + ".pdf"), w, h))
      return tr("cannot write %1 in %2").arg(name, dir);
  }
  auto error = writeCurvesCsv(*model_, d.filePath("curves.csv"));
  if (error.isEmpty()) error = writeAlphaCsv(*model_, d.filePath("alpha.csv"));
  return error;
}

void MainWindow::addRecent(const QString& dir) {
  QSettings settings;
  auto list = settings.value("recentRuns").toStringList();
  list.removeAll(dir);
  list.prepend(dir);
  while (list.size() > 10) list.removeLast();
  settings.setValue("recentRuns", list);
  rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
  recent_menu_->clear();
  const auto list = QSettings().value("recentRuns").toStringList();
  for (const auto& dir : list)
    recent_menu_->addAction(dir, this, [this, dir] { openRun(dir, false); });
  recent_menu_->setEnabled(!list.isEmpty());
}

void MainWindow::showError(const QString& title, const QString& message) {
  status_->setText(message);
  status_->setStyleSheet("color: #c0392b;");
  if (QApplication::platformName() != "offscreen") QMessageBox::warning(this, title, message);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (runner_->isRunning()) {
    // Stop cleanly: the engine saves a checkpoint, so the run can be resumed later.
    status_->setText(tr("Stopping the run: saving a checkpoint…"));
    if (!runner_->stopAndWait(120000)) {
      event->ignore();
      showError(tr("Close"), tr("The run did not stop within two minutes; try again."));
      return;
    }
  }
  follower_->close();
  fusion_panel_->cancel();
  QSettings settings;
  settings.setValue("mainWindow/geometry", saveGeometry());
  settings.setValue("mainWindow/state", saveState());
  event->accept();
}

}  // namespace repnas::ui
