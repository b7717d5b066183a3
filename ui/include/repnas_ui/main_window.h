#pragma once
/// @file main_window.h
/// @brief The RepNAS Studio main window: setup, live views, budget editor, inspector, export.

#include <QMainWindow>

#include <functional>
#include <vector>

#include "repnas/config.h"

class QAction;
class QLabel;
class QMenu;
class QProgressBar;
class QPushButton;
class QTabWidget;
class QUndoStack;

namespace repnas::ui {

class BlockInspector;
class BudgetEditor;
class ComparisonView;
class CurvesView;
class EngineRunner;
class EventLogFollower;
class ExplainerView;
class FusionCheckPanel;
class CostView;
class ImportanceView;
class RunModel;
class SetupPanel;
class TrialsView;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  RunModel* model() const { return model_; }
  EngineRunner* runner() const { return runner_; }
  EventLogFollower* follower() const { return follower_; }
  SetupPanel* setupPanel() const { return setup_; }
  ImportanceView* importanceView() const { return importance_; }
  CostView* costView() const { return costs_view_; }
  TrialsView* trialsView() const { return trials_view_; }
  CurvesView* curvesView() const { return curves_; }
  BudgetEditor* budgetEditor() const { return budget_; }
  BlockInspector* blockInspector() const { return inspector_; }
  FusionCheckPanel* fusionCheckPanel() const { return fusion_panel_; }
  ExplainerView* explainerView() const { return explainer_; }
  ComparisonView* comparisonView() const { return comparison_; }
  QUndoStack* undoStack() const { return undo_; }
  QTabWidget* tabs() const { return tabs_; }
  QProgressBar* progressBar() const { return progress_; }
  QLabel* statusLabel() const { return status_; }
  QAction* startAction() const { return start_; }
  QAction* pauseAction() const { return pause_; }
  QAction* resumeAction() const { return resume_; }
  QAction* stopAction() const { return stop_; }
  QAction* retrainAction() const { return retrain_; }
  /// @brief How the status bar's message is shown: neutral, success, or an error (red).
  enum class StatusKind { Info, Success, Error };
  StatusKind statusKind() const { return status_kind_; }
  /// @brief The bar above the tabs that offers to reopen the last run.
  QWidget* noticeBar() const { return notice_; }
  QPushButton* noticeButton() const { return notice_action_; }
  /// @brief Rows of the last Help → Keyboard shortcuts list.
  int shortcutsRows() const { return shortcuts_rows_; }
  /// @brief The README that Help → User guide shows (empty when not found).
  static QString userGuidePath();
  /// @brief The run folder shown (live, replayed or monitored).
  QString runDir() const { return run_dir_; }

 public Q_SLOTS:
  /// @brief Starts the run the setup panel describes.
  bool startRun();
  /// @brief Sets the setup panel up to train the open search's ODBB from scratch (mode odbb).
  bool setUpRetraining();
  /// @brief The same for trial `index` of the open search (RENA's children; the search need
  /// not have fixed).
  bool setUpTrialRetraining(int index);
  /// @brief Opens a run folder: replays its log; `follow` keeps reading it as it grows.
  bool openRun(const QString& dir, bool follow = false);
  /// @brief Adds the runs `path` names to the Compare tab (a run, a folder of runs, a
  /// comparison folder) and shows it; its error shown when there are none.
  bool addRunsToCompare(const QString& path);
  /// @brief Resumes the open run from its checkpoint, in this process.
  bool resumeRun();
  void pauseRun();
  void continueRun();
  void stopRun();
  /// @brief Opens the fuse-and-export dialog for the open run.
  void exportModel();
  /// @brief Opens the HANT dialog on the run (a finished one).
  void openHant();
  void showShortcuts();
  /// @brief "system" (the desktop's palette), "light" or "dark"; remembered.
  void setTheme(const QString& theme);
  void showUserGuide();
  /// @brief Writes every plot as PNG and PDF and the curves and α history as CSV into `dir`.
  QString exportPlots(const QString& dir);

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  /// The setup panel set to the configuration `make_config` gives (a retraining), writing to
  /// `out_dir`; its error shown when it throws.
  bool setUpTraining(const std::function<RunConfig()>& make_config, const QString& out_dir);
  void buildMenus();
  void updateActions();
  void updateProgress();
  void addRecent(const QString& dir);
  void rebuildRecentMenu();
  void showError(const QString& title, const QString& message);
  void setStatus(const QString& text, StatusKind kind = StatusKind::Info);
  void onEngineFinished(const QString& status, const QString& message);
  void offerLastRun();
  void saveWindowState();

  RunModel* model_;
  EngineRunner* runner_;
  EventLogFollower* follower_;
  QUndoStack* undo_;
  SetupPanel* setup_;
  ImportanceView* importance_;
  CostView* costs_view_;
  TrialsView* trials_view_;
  CurvesView* curves_;
  BudgetEditor* budget_;
  BlockInspector* inspector_;
  FusionCheckPanel* fusion_panel_;
  ExplainerView* explainer_;
  ComparisonView* comparison_;
  QTabWidget* tabs_;
  QProgressBar* progress_;
  QLabel* status_;
  QAction* start_ = nullptr;
  QAction* pause_ = nullptr;
  QAction* resume_ = nullptr;
  QAction* stop_ = nullptr;
  QAction* resume_run_ = nullptr;
  QAction* export_ = nullptr;
  QAction* hant_ = nullptr;
  QAction* retrain_ = nullptr;
  QMenu* recent_menu_ = nullptr;
  QString run_dir_;
  QWidget* notice_ = nullptr;
  QLabel* notice_text_ = nullptr;
  QPushButton* notice_action_ = nullptr;
  StatusKind status_kind_ = StatusKind::Info;
  bool created_run_dir_ = false;  ///< the running start made its folder
  bool quit_when_done_ = false;   ///< "Keep running" on close: the window is gone
  int shortcuts_rows_ = 0;
  std::vector<QWidget*> hidden_for_teaching_;  ///< docks hidden while the teaching tab shows
};

}  // namespace repnas::ui
