#include "repnas_ui/main_window.h"

#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDesktopServices>
#include <QDialog>
#include <QDialogButtonBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QPainter>
#include <QPushButton>
#include <QTableWidget>
#include <QTextBrowser>
#include <QUrl>
#include <QVBoxLayout>
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
#include "repnas/run_folder.h"
#include "repnas/runtime.h"
#include "repnas_ui/block_inspector.h"
#include "repnas_ui/budget_editor.h"
#include "repnas_ui/comparison_view.h"
#include "repnas_ui/curves_view.h"
#include "repnas_ui/explainer_view.h"
#include "repnas_ui/export_dialog.h"
#include "repnas_ui/fusion_check_panel.h"
#include "repnas_ui/cost_view.h"
#include "repnas_ui/hant_dialog.h"
#include "repnas_ui/importance_view.h"
#include "repnas_ui/run_model.h"
#include "repnas_ui/run_sources.h"
#include "repnas_ui/setup_panel.h"
#include "repnas_ui/trials_view.h"
#include "repnas_ui/plot_util.h"
#include "widgets/ui_util.h"

namespace repnas::ui {
namespace {

QString formatDuration(double seconds) {
  const qint64 s = static_cast<qint64>(seconds + 0.5);
  return s >= 3600 ? QStringLiteral("%1:%2:%3").arg(s / 3600).arg(s / 60 % 60, 2, 10, QChar('0')).arg(s % 60, 2, 10, QChar('0'))
                   : QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
}

/// The status bar's message: one line, elided in the middle when it does not fit (the full
/// text in the tool tip), so that it never runs over the progress bar beside it.
class StatusLabel : public QLabel {
 public:
  StatusLabel() {
    setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    setMinimumWidth(80);
  }

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    p.setPen(palette().color(foregroundRole()));
    const auto r = contentsRect();
    p.drawText(r, Qt::AlignVCenter | Qt::AlignLeft, fontMetrics().elidedText(text(), Qt::ElideMiddle, r.width()));
  }
};

/// What a run folder's log says about it, from its last lines: "completed, test 92.01%",
/// "stopped after step 1200", "no result yet, step 300" (running, or interrupted).
QString runFolderStatus(const QString& dir) {
  QFile file(QString::fromStdString(RunFolder(dir.toStdString()).events()));
  if (!file.open(QIODevice::ReadOnly)) return QObject::tr("missing");
  const qint64 tail = 256 * 1024;  // a step line is a few kB; the log can be large
  if (file.size() > tail) file.seek(file.size() - tail);
  const QList<QByteArray> lines = file.readAll().split('\n');
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (it->trimmed().isEmpty()) continue;
    try {
      const Event e = eventFromJson(it->toStdString());
      if (const auto* f = std::get_if<RunFinished>(&e)) {
        if (f->status == "completed")
          return f->test_accuracy ? QObject::tr("completed, test %1%").arg(100 * *f->test_accuracy, 0, 'f', 2)
                                  : QObject::tr("completed");
        return QObject::tr("%1 after %2").arg(qs(f->status), stepText(f->step));
      }
      if (const auto* st = std::get_if<StepSnapshot>(&e)) return QObject::tr("no result yet, %1").arg(stepText(st->step + 1));
    } catch (const std::exception&) {
      // a partial first line of the tail, or a damaged line: look further back
    }
  }
  return QObject::tr("no steps");
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
  costs_view_ = new CostView(model_, [this] { return run_dir_; });
  tabs_->addTab(costs_view_, tr("Co&sts"));
  tabs_->setTabToolTip(tabs_->indexOf(costs_view_),
                       tr("What each branch costs to train on this machine, measured: the units of a cost budget."));
  trials_view_ = new TrialsView(model_);
  tabs_->addTab(trials_view_, tr("&Trials"));
  tabs_->setTabToolTip(tabs_->indexOf(trials_view_),
                       tr("The networks a RENA search evaluated: accuracy against a resource, the "
                          "limit, the Pareto front; select one to train it from scratch."));
  connect(trials_view_, &TrialsView::retrainRequested, this, &MainWindow::setUpTrialRetraining);
  tabs_->addTab(curves_, tr("&Curves"));
  tabs_->addTab(inspector_, tr("Block i&nspector"));
  tabs_->addTab(fusion_panel_, tr("Fusion chec&k"));
  comparison_ = new ComparisonView;
  tabs_->addTab(comparison_, tr("Co&mpare"));
  tabs_->setTabToolTip(tabs_->indexOf(comparison_),
                       tr("Runs side by side: a catalogue, overlaid curves, architecture and configuration "
                          "diffs, accuracy against cost."));
  explainer_ = new ExplainerView;
  tabs_->addTab(explainer_, tr("Re-&parameterization"));
  tabs_->setTabToolTip(tabs_->indexOf(explainer_),
                       tr("How a multi-branch block becomes one convolution, step by step, with real numbers."));
  // A bar above the tabs for offers that must not interrupt (reopen the last run).
  notice_ = new QWidget;
  notice_->setObjectName("noticeBar");
  notice_->setAutoFillBackground(true);
  notice_text_ = new QLabel;
  notice_text_->setWordWrap(true);
  notice_action_ = new QPushButton;
  auto* dismiss = new QPushButton(tr("Dismiss"));
  auto* notice_row = new QHBoxLayout(notice_);
  notice_row->setContentsMargins(8, 4, 8, 4);
  notice_row->addWidget(notice_text_, 1);
  notice_row->addWidget(notice_action_);
  notice_row->addWidget(dismiss);
  notice_->hide();
  connect(dismiss, &QPushButton::clicked, notice_, &QWidget::hide);
  auto* centre = new QWidget;
  auto* centre_layout = new QVBoxLayout(centre);
  centre_layout->setContentsMargins(0, 0, 0, 0);
  centre_layout->setSpacing(0);
  centre_layout->addWidget(notice_);
  centre_layout->addWidget(tabs_, 1);
  setCentralWidget(centre);

  progress_ = new QProgressBar;
  progress_->setMinimumWidth(420);
  progress_->setTextVisible(true);
  progress_->setFormat(tr("no run"));
  progress_->setValue(0);
  status_ = new StatusLabel;
  status_->setObjectName("statusMessage");
  setStatus(tr("Ready: set up a run and press Start, or open a run folder."));
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
  // The teaching tab needs the width: the side panels step aside while it is shown and come
  // back as they were when another tab is chosen.
  connect(tabs_, &QTabWidget::currentChanged, this, [this](int) {
    const bool teaching = tabs_->currentWidget() == explainer_;
    if (teaching && hidden_for_teaching_.empty()) {
      for (auto* dock : findChildren<QDockWidget*>())
        if (dock->isVisible() && !dock->isFloating()) {
          hidden_for_teaching_.push_back(dock);
          dock->hide();
        }
    } else if (!teaching) {
      for (auto* dock : hidden_for_teaching_) dock->show();
      hidden_for_teaching_.clear();
    }
  });
  // A run started here enters Recent runs once it has really started (its first event).
  connect(model_, &RunModel::runStarted, this, [this] {
    if (model_->source() == RunSource::Engine && !run_dir_.isEmpty()) addRecent(run_dir_);
  });
  connect(runner_, &EngineRunner::finished, this, &MainWindow::onEngineFinished);
  connect(budget_, &BudgetEditor::answered, this, [this](bool ok, const QString& cmd, const QString& why) {
    statusBar()->showMessage(ok ? tr("Engine applied: %1").arg(cmd) : tr("Engine refused %1: %2").arg(cmd, why), 8000);
  });
  connect(follower_, &EventLogFollower::problem, this,
          [this](const QString& m) { statusBar()->showMessage(m, 8000); });
  connect(model_, &RunModel::eventRejected, this,
          [this](const QString& m) { statusBar()->showMessage(m, 8000); });
  connect(follower_, &EventLogFollower::runFinished, this, [this] { updateProgress(); });

  QSettings settings;
  if (!restoreGeometry(settings.value("mainWindow/geometry").toByteArray())) resize(1400, 860);
  restoreState(settings.value("mainWindow/state").toByteArray());
  updateActions();
  offerLastRun();
}

void MainWindow::offerLastRun() {
  const QString last = QSettings().value("lastRun").toString();
  if (last.isEmpty() || !RunFolder(last.toStdString()).hasEvents()) return;
  notice_text_->setText(tr("Last session's run: %1 (%2).").arg(last, runFolderStatus(last)));
  notice_action_->setText(tr("&Reopen it"));
  notice_action_->disconnect();
  connect(notice_action_, &QPushButton::clicked, this, [this, last] {
    notice_->hide();
    openRun(last, false);
  });
  notice_->show();
}

void MainWindow::setStatus(const QString& text, StatusKind kind) {
  status_->setText(text);
  status_->setToolTip(text);
  setInk(status_, kind == StatusKind::Error ? Ink::Error : Ink::Normal);
  status_kind_ = kind;
  status_->update();
}

void MainWindow::onEngineFinished(const QString& st, const QString& msg) {
  setup_->setLocked(false);
  const bool started = model_->hasRun();
  if (st == "failed") {
    setStatus(tr("Run failed: %1").arg(msg), StatusKind::Error);
    if (!started) {
      // It never started: leave no trace (no folder, no recent entry, the same output folder).
      if (created_run_dir_) QDir(run_dir_).removeRecursively();
      const QString failed_dir = run_dir_;
      model_->clear();
      undo_->clear();
      run_dir_.clear();
      inspector_->setRunDir({});
      explainer_->setRunDir({});
      setStatus(tr("The run did not start: %1").arg(msg), StatusKind::Error);
      if (QApplication::platformName() != "offscreen")
        QMessageBox::warning(this, tr("The run did not start"), tr("%1\n\n(%2)").arg(msg, failed_dir));
      updateProgress();
      updateActions();
      return;
    }
    if (QApplication::platformName() != "offscreen") QMessageBox::warning(this, tr("Run failed"), msg);
  } else {
    setStatus(tr("Run %1: %2").arg(st, msg), StatusKind::Success);
  }
  // The next Start must not write into this run's folder: propose a fresh one beside it.
  if (QDir::cleanPath(setup_->outputDir()) == QDir::cleanPath(run_dir_)) {
    QString next;
    const QString base = QDir::cleanPath(run_dir_);
    for (int n = 2; next.isEmpty() || QFileInfo::exists(next); ++n) next = base + "-" + QString::number(n);
    setup_->setOutputDir(next);
  }
  updateProgress();
  updateActions();
  if (quit_when_done_) close();
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
  auto* compare = file->addAction(tr("A&dd runs to compare…"), this, [this] {
    const auto dir = QFileDialog::getExistingDirectory(this, tr("Add runs to compare: a run, a folder of runs, or a comparison"));
    if (!dir.isEmpty()) addRunsToCompare(dir);
  });
  compare->setToolTip(tr("Add a run folder, the runs below a folder, or a `repnas compare` folder's trials "
                         "to the Compare tab."));
  recent_menu_ = file->addMenu(tr("&Recent runs"));
  rebuildRecentMenu();
  file->addSeparator();
  resume_run_ = file->addAction(tr("Resume run from &checkpoint"), this, &MainWindow::resumeRun);
  resume_run_->setToolTip(tr("Continue the open run from its checkpoint in this window."));
  export_ = file->addAction(tr("&Fuse and export…"), this, &MainWindow::exportModel);
  hant_ = file->addAction(tr("&Accelerate for this machine (HANT)…"), this, &MainWindow::openHant);
  hant_->setToolTip(tr("Replace each layer's conv by faster operations under a latency budget, distilled from "
                       "this run (a finished run)."));
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

  // Theme: the desktop's palette (Qt's), or a light or dark one; every plot follows it.
  view->addSeparator();
  auto* theme = view->addMenu(tr("&Theme"));
  auto* themes = new QActionGroup(this);
  const QString current = QSettings().value("theme", "system").toString();
  for (const auto& [key, label] : std::vector<std::pair<QString, QString>>{
           {"system", tr("&Desktop (system palette)")}, {"light", tr("&Light")}, {"dark", tr("Dar&k")}}) {
    auto* a = theme->addAction(label, this, [this, key = key] { setTheme(key); });
    a->setCheckable(true);
    a->setChecked(key == current);
    a->setData(key);
    themes->addAction(a);
  }
  if (current != "system") setTheme(current);

  auto* help = menuBar()->addMenu(tr("&Help"));
  auto* guide = help->addAction(tr("&User guide"), this, &MainWindow::showUserGuide);
  guide->setShortcut(QKeySequence::HelpContents);
  help->addAction(tr("&Keyboard shortcuts"), this, &MainWindow::showShortcuts);
  help->addSeparator();
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
  const RunFolder folder(run_dir_.toStdString());
  const bool has_checkpoint = !run_dir_.isEmpty() && folder.hasCheckpoint();
  const bool finished_ok = model_->finished() && model_->finished()->status == "completed";
  resume_run_->setEnabled(!running && has_checkpoint && !finished_ok && !follower_->isFollowing());
  export_->setEnabled(!running && !run_dir_.isEmpty() && folder.hasWeights());
  hant_->setEnabled(export_->isEnabled());
  // A search that has fixed its mask (a completed run, or a checkpoint after the fix).
  const bool fixed = model_->hasRun() && model_->isSearch() &&
                     (finished_ok || model_->phase() == std::optional<Phase>(Phase::Fixed));
  retrain_->setEnabled(!running && !run_dir_.isEmpty() && fixed);
}

bool MainWindow::setUpRetraining() {
  return setUpTraining([this] { return retrainConfig(run_dir_.toStdString()); }, run_dir_ + "-retrained");
}

bool MainWindow::setUpTrialRetraining(int index) {
  const auto& trials = model_->trials();
  if (index < 0 || index >= static_cast<int>(trials.size())) return false;
  const auto& t = trials[index];
  return setUpTraining(
      [&] {
        return trialRetrainConfig(run_dir_.toStdString(), t.mask,
                                  "trial " + std::to_string(t.index) + " (update " + std::to_string(t.update) + ")");
      },
      run_dir_ + "-trial" + QString::number(t.index));
}

bool MainWindow::setUpTraining(const std::function<RunConfig()>& make_config, const QString& out_dir) {
  try {
    const auto config = make_config();
    setup_->setConfig(config);
    setup_->setOutputDir(out_dir);
    setStatus(tr("Set up: %1 from scratch. Press Start.").arg(qs(config.mask_source)));
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
    text = tr("%1 · epoch %2/%3 · %4/%5")
               .arg(qs(phaseName(s.phase)))
               .arg(s.epoch + 1)
               .arg(info.epochs)
               .arg(stepText(done))
               .arg(info.total_steps);
    // Paused: no speed and no ETA (they would be the last ones measured, not the truth).
    text += model_->paused() ? tr(" · paused")
                             : tr(" · ETA %1 · %2 img/s")
                                   .arg(formatDuration(per_step * (info.total_steps - done)))
                                   .arg(s.images_per_second, 0, 'f', 0);
  } else {
    text = tr("%1/%2").arg(stepText(done)).arg(info.total_steps);
    if (model_->paused()) text += tr(" · paused");
  }
  if (model_->finished())
    text = tr("%1 · %2/%3").arg(qs(model_->finished()->status), stepText(done)).arg(info.total_steps);
  progress_->setFormat(text);
  if (runner_->isRunning())
    setStatus(model_->paused() ? tr("Paused: %1").arg(run_dir_) : tr("Running: %1").arg(run_dir_));
  else if (follower_->isFollowing() && !model_->finished())
    setStatus(tr("Monitoring %1").arg(run_dir_));
  else if (model_->finished()) {
    const auto& f = *model_->finished();
    setStatus(tr("%1: %2%3")
                  .arg(qs(f.status), qs(f.message))
                  .arg(f.test_accuracy ? tr(" (test accuracy %1%)").arg(100 * *f.test_accuracy, 0, 'f', 2) : QString()),
              f.status == "failed" ? StatusKind::Error : StatusKind::Success);
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
  notice_->hide();
  created_run_dir_ = !QFileInfo::exists(dir);
  model_->clear();
  undo_->clear();
  try {
    runner_->start(setup_->config(), dir, false);
  } catch (const std::exception& e) {
    if (created_run_dir_) QDir(dir).removeRecursively();
    run_dir_.clear();
    inspector_->setRunDir({});
    explainer_->setRunDir({});
    showError(tr("Cannot start the run"), qs(e.what()));
    updateActions();
    return false;
  }
  run_dir_ = dir;
  model_->setSource(RunSource::Engine);
  inspector_->setRunDir(dir);
  explainer_->setRunDir(dir);
  QSettings().setValue("lastRun", dir);
  setup_->setLocked(true);
  setStatus(tr("Starting: %1").arg(dir));
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
  notice_->hide();
  run_dir_ = follower_->runDir();
  model_->setSource(follow ? RunSource::Monitor : RunSource::Replay);
  inspector_->setRunDir(run_dir_);
  explainer_->setRunDir(run_dir_);
  QSettings().setValue("lastRun", run_dir_);
  // Show the run's configuration in the form (read-only meaning: a new run starts from it).
  try {
    auto config = loadRunConfig(run_dir_.toStdString());
    setup_->setConfig(config);
  } catch (const std::exception&) {
    // A run being monitored may not have written its config yet.
  }
  setup_->setOutputDir(run_dir_ + "-new");
  addRecent(run_dir_);
  setStatus(follow ? tr("Monitoring %1").arg(run_dir_) : tr("Opened %1").arg(run_dir_));
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
  model_->setSource(RunSource::Engine);
  created_run_dir_ = false;
  undo_->clear();
  setup_->setLocked(true);
  setStatus(tr("Resuming: %1").arg(run_dir_));
  updateActions();
  return true;
}

void MainWindow::pauseRun() { runner_->post(Command::pause()); }
void MainWindow::continueRun() { runner_->post(Command::resume()); }
void MainWindow::stopRun() {
  if (runner_->post(Command::stop()) >= 0) setStatus(tr("Stopping: saving a checkpoint…"));
}

void MainWindow::openHant() {
  if (run_dir_.isEmpty()) return;
  auto* dialog = new HantDialog(run_dir_, this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->show();
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
  const char* names[] = {"loss", "accuracy", "learning-rates", "budget-speed", "search-noise"};
  for (size_t i = 0; i < curves_->plots().size() && i < std::size(names); ++i)
    plots.push_back({names[i], curves_->plots()[i]});
  // Each image says which run and which step it shows.
  const int shown = importance_->shownSnapshot();
  const QString run_name = run_dir_.isEmpty() ? tr("no run") : QFileInfo(run_dir_).fileName();
  for (const auto& [name, plot] : plots) {
    const bool heatmap_step = plot == importance_->heatmap() && shown >= 0;
    const QString heading = tr("%1 · %2 · %3")
                                .arg(run_name, name,
                                     stepText(heatmap_step ? model_->steps()[shown].step + 1 : model_->stepsDone()));
    if (!exportPlotImages(plot, d.filePath(name), heading)) return tr("cannot write %1 in %2").arg(name, dir);
  }
  if (comparison_->runCount() > 0) {
    // The comparison's plots and table too.
    const int tab = comparison_->plotTabs()->currentIndex();
    const char* comparison_names[] = {"compare-curves", "compare-architecture-diff", nullptr, "compare-accuracy-vs-cost"};
    for (int t = 0; t < 4; ++t) {
      if (!comparison_names[t]) continue;
      comparison_->plotTabs()->setCurrentIndex(t);
      if (!comparison_->exportCurrentPlot(d.filePath(comparison_names[t])))
        return tr("cannot write %1 in %2").arg(comparison_names[t], dir);
    }
    comparison_->plotTabs()->setCurrentIndex(tab);
    const auto error = comparison_->writeTableCsv(d.filePath("compare-runs.csv"));
    if (!error.isEmpty()) return error;
  }
  auto error = writeCurvesCsv(*model_, d.filePath("curves.csv"));
  if (error.isEmpty()) error = writeAlphaCsv(*model_, d.filePath("alpha.csv"));
  return error;
}

bool MainWindow::addRunsToCompare(const QString& path) {
  const auto error = comparison_->addPath(path);
  if (!error.isEmpty()) {
    showError(tr("Add runs to compare"), error);
    return false;
  }
  tabs_->setCurrentWidget(comparison_);
  setStatus(tr("%n run(s) in the comparison", "", comparison_->runCount()));
  return true;
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
    recent_menu_->addAction(tr("%1 — %2").arg(dir, runFolderStatus(dir)), this, [this, dir] { openRun(dir, false); });
  recent_menu_->setEnabled(!list.isEmpty());
}

void MainWindow::showError(const QString& title, const QString& message) {
  setStatus(message, StatusKind::Error);
  if (QApplication::platformName() != "offscreen") QMessageBox::warning(this, title, message);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (runner_->isRunning() && !quit_when_done_) {
    QMessageBox ask(QMessageBox::Question, tr("A run is in progress"),
                    tr("%1 is running (%2).").arg(run_dir_, stepText(model_->stepsDone())), QMessageBox::NoButton, this);
    ask.setObjectName("closeDuringRun");
    ask.setInformativeText(tr("Stop it and save a checkpoint (File → Resume run from checkpoint "
                              "continues it later), or keep it running without the window: the run "
                              "finishes in the background and the program ends with it (File → "
                              "Monitor run… in another window shows it meanwhile)."));
    auto* stop = ask.addButton(tr("&Stop and save"), QMessageBox::AcceptRole);
    auto* keep = ask.addButton(tr("&Keep running"), QMessageBox::ActionRole);
    ask.addButton(QMessageBox::Cancel);
    ask.setDefaultButton(stop);
    ask.exec();
    if (ask.clickedButton() == keep) {
      quit_when_done_ = true;
      saveWindowState();
      hide();
      event->ignore();
      return;
    }
    if (ask.clickedButton() != stop) {
      event->ignore();
      return;
    }
    setStatus(tr("Stopping the run: saving a checkpoint…"));
    if (!runner_->stopAndWait(120000)) {
      event->ignore();
      showError(tr("Close"), tr("The run did not stop within two minutes; try again."));
      return;
    }
  }
  follower_->close();
  fusion_panel_->cancel();
  saveWindowState();
  event->accept();
}

void MainWindow::setTheme(const QString& theme) {
  static const QPalette desktop = QApplication::palette();  // as the platform gave it
  QPalette p = desktop;
  if (theme == "light") {
    p = QPalette(QColor("#efefef"));
    p.setColor(QPalette::Base, Qt::white);
    p.setColor(QPalette::Text, QColor("#202020"));
  } else if (theme == "dark") {
    p = QPalette(QColor("#353535"));
    p.setColor(QPalette::Window, QColor("#2b2b2b"));
    p.setColor(QPalette::WindowText, QColor("#e6e6e6"));
    p.setColor(QPalette::Base, QColor("#1e1e1e"));
    p.setColor(QPalette::AlternateBase, QColor("#2a2a2a"));
    p.setColor(QPalette::Text, QColor("#e6e6e6"));
    p.setColor(QPalette::Button, QColor("#3a3a3a"));
    p.setColor(QPalette::ButtonText, QColor("#e6e6e6"));
    p.setColor(QPalette::ToolTipBase, QColor("#2b2b2b"));
    p.setColor(QPalette::ToolTipText, QColor("#e6e6e6"));
    p.setColor(QPalette::Highlight, QColor("#3d7ab8"));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::Disabled, QPalette::Text, QColor("#808080"));
    p.setColor(QPalette::Disabled, QPalette::WindowText, QColor("#808080"));
    p.setColor(QPalette::Disabled, QPalette::ButtonText, QColor("#808080"));
  }
  QApplication::setPalette(p);
  QSettings().setValue("theme", theme);
}

void MainWindow::saveWindowState() {
  QSettings settings;
  settings.setValue("mainWindow/geometry", saveGeometry());
  settings.setValue("mainWindow/state", saveState());
}

void MainWindow::showShortcuts() {
  QDialog dialog(this);
  dialog.setObjectName("shortcutsDialog");
  dialog.setWindowTitle(tr("Keyboard shortcuts"));
  auto* table = new QTableWidget(0, 2);
  table->setObjectName("shortcutsTable");
  table->setHorizontalHeaderLabels({tr("Action"), tr("Keys")});
  table->verticalHeader()->hide();
  table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  // From the menus themselves, so the list cannot disagree with them.
  for (auto* menu_action : menuBar()->actions()) {
    if (!menu_action->menu()) continue;
    const QString menu_name = menu_action->text().remove('&');
    for (auto* a : menu_action->menu()->actions()) {
      if (a->isSeparator() || a->shortcut().isEmpty()) continue;
      const int row = table->rowCount();
      table->insertRow(row);
      table->setItem(row, 0, new QTableWidgetItem(menu_name + " → " + a->text().remove('&')));
      table->setItem(row, 1, new QTableWidgetItem(a->shortcut().toString(QKeySequence::NativeText)));
    }
  }
  auto add = [&](const QString& what, const QString& keys) {
    const int row = table->rowCount();
    table->insertRow(row);
    table->setItem(row, 0, new QTableWidgetItem(what));
    table->setItem(row, 1, new QTableWidgetItem(keys));
  };
  add(tr("Importance heatmap → cycle a cell's pin"), tr("Right-click, or Ctrl+click"));
  add(tr("Any plot → reset zoom"), tr("Double-click"));
  add(tr("Any plot → zoom / pan"), tr("Wheel / drag"));
  table->resizeColumnsToContents();
  table->horizontalHeader()->setStretchLastSection(true);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
  connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  auto* layout = new QVBoxLayout(&dialog);
  layout->addWidget(table);
  layout->addWidget(buttons);
  dialog.resize(560, 520);
  shortcuts_rows_ = table->rowCount();
  if (QApplication::platformName() == "offscreen") return;  // tests read shortcutsRows()
  dialog.exec();
}

QString MainWindow::userGuidePath() {
  // Installed with the package, or the source tree's when run from a build folder.
  const QStringList candidates = {
      QCoreApplication::applicationDirPath() + "/../share/doc/repnas-studio/README.md",
      "/usr/share/doc/repnas-studio/README.md", QStringLiteral(REPNAS_SOURCE_README)};
  for (const auto& c : candidates)
    if (QFileInfo::exists(c)) return QFileInfo(c).canonicalFilePath();
  return {};
}

void MainWindow::showUserGuide() {
  const QString path = userGuidePath();
  QFile file(path);
  if (path.isEmpty() || !file.open(QIODevice::ReadOnly)) {
    showError(tr("User guide"), tr("The user guide (README.md) is not installed."));
    return;
  }
  auto* dialog = new QDialog(this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->setObjectName("userGuide");
  dialog->setWindowTitle(tr("RepNAS Studio — user guide"));
  auto* browser = new QTextBrowser;
  browser->setObjectName("userGuideText");
  browser->setOpenExternalLinks(true);
  browser->setSearchPaths({QFileInfo(path).absolutePath()});  // its screenshots
  browser->setMarkdown(QString::fromUtf8(file.readAll()));
  // Straight to the studio's guide.
  if (browser->find(tr("A short user guide"))) browser->ensureCursorVisible();
  auto* layout = new QVBoxLayout(dialog);
  layout->addWidget(browser);
  dialog->resize(900, 700);
  dialog->show();
}

}  // namespace repnas::ui
