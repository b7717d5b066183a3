#pragma once
/// @file comparison_view.h
/// @brief Runs side by side (issue 19): a catalogue of run folders (finished, monitored while
/// another process writes them, or a `repnas compare` folder's trials) in a sortable, filterable
/// table; their curves overlaid, one colour per run in every view; two runs' architectures and
/// their difference per (layer, branch); how often a group of runs keeps each branch; the
/// configuration keys that differ; accuracy against training cost, or against inference latency
/// with HANT's results, with the Pareto front. Every number comes from the runs' own files
/// (events.jsonl, trial.json, config.json, costs.json, hant.json).

#include <QColor>
#include <QString>
#include <QWidget>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "repnas/branch_kind.h"
#include "repnas/comparison.h"
#include "repnas_ui/run_model.h"

class QComboBox;
class QCPColorMap;
class QCPItemText;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QSlider;
class QTableWidget;
class QTabWidget;

namespace repnas::ui {

class EventLogFollower;

class ComparisonView : public QWidget {
  Q_OBJECT
 public:
  explicit ComparisonView(QWidget* parent = nullptr);
  ~ComparisonView() override;

  /// @brief Adds the runs `path` names: a run folder, a comparison folder's trials, or the run
  /// folders below a folder; a run already in the catalogue is not added twice. Returns an
  /// error message (naming the path), or empty.
  QString addPath(const QString& path);
  /// @brief Removes run `index` (catalogue order); clear() removes all.
  void removeRun(int index);
  void clear();
  int runCount() const { return static_cast<int>(runs_.size()); }

  /// @brief What the catalogue knows of run `index`.
  struct RunRow {
    QString dir, label, group, strategy, status;
    std::optional<double> test_accuracy;  ///< %
    double wall_seconds = 0;              ///< Σ epoch seconds
    int branches = 0;
    std::optional<double> train_ms;       ///< the mask's measured training ms per step
    std::vector<BranchMask> mask;
    QColor colour;
  };
  RunRow row(int index) const;
  const RunModel& model(int index) const;

  QTableWidget* table() const { return table_; }
  QLineEdit* filterEdit() const { return filter_; }
  QTabWidget* plotTabs() const { return tabs_; }
  QCustomPlot* curvesPlot() const { return curves_; }
  QComboBox* metricBox() const { return metric_; }
  QComboBox* xAxisBox() const { return x_axis_; }
  QSlider* smoothingSlider() const { return smoothing_; }
  QComboBox* diffBoxA() const { return diff_a_; }
  QComboBox* diffBoxB() const { return diff_b_; }
  QCustomPlot* diffPlot() const { return diff_plot_; }
  /// @brief Cell (layer, branch): +1 kept by A only, −1 by B only, 0 the same in both.
  QCPColorMap* diffMap() const { return diff_map_; }
  QLabel* diffSummary() const { return diff_summary_; }
  QComboBox* frequencyGroupBox() const { return frequency_group_; }
  QCustomPlot* frequencyPlot() const { return frequency_plot_; }
  QCPColorMap* frequencyMap() const { return frequency_map_; }
  QTableWidget* configTable() const { return config_table_; }
  QCustomPlot* scatterPlot() const { return scatter_; }
  /// @brief The scatter's cost axis: 0 training ms per step of the mask (or branches kept),
  /// 1 inference ms per image (HANT's results; the runs at their backbone's folded latency).
  QComboBox* scatterAxisBox() const { return scatter_axis_; }
  /// @brief The HANT results added (hant.json folders: `repnas hant --out`, a comparison's
  /// HANT trials), drawn on the inference axis.
  const std::vector<HantSummary>& hantResults() const { return hant_; }
  /// @brief The runs on the scatter's Pareto front (catalogue indices), by increasing cost.
  const std::vector<int>& paretoRuns() const { return pareto_; }

  /// @brief The metrics the curves can show (names as the combo box lists them).
  QStringList metrics() const;
  /// @brief Shows `metric` (one of metrics()); false when there is no such metric.
  bool setMetric(const QString& metric);
  /// @brief Writes the catalogue table as CSV (atomically); an error message, or empty.
  QString writeTableCsv(const QString& path) const;
  /// @brief Writes the plot of the current plot tab as path_base.png and .pdf.
  bool exportCurrentPlot(const QString& path_base) const;

 Q_SIGNALS:
  /// @brief The catalogue changed (runs added, removed, or a followed run moved on).
  void catalogueChanged();

 private:
  struct Run;
  void rebuildTable();
  void redrawCurves();
  void redrawDiff();
  void redrawFrequency();
  void redrawConfig();
  void redrawScatter();
  void redrawAll();
  void refreshCombos();
  void applyFilter();
  std::vector<int> selectedRuns() const;
  void addRun(const QString& dir);

  std::vector<std::unique_ptr<Run>> runs_;
  QTableWidget* table_;
  QLineEdit* filter_;
  QTabWidget* tabs_;
  QCustomPlot* curves_;
  QComboBox* metric_;
  QComboBox* x_axis_;
  QSlider* smoothing_;
  QComboBox* diff_a_;
  QComboBox* diff_b_;
  QCustomPlot* diff_plot_;
  QCPColorMap* diff_map_ = nullptr;
  std::vector<QCPItemText*> diff_texts_;
  QLabel* diff_summary_;
  QComboBox* frequency_group_;
  QCustomPlot* frequency_plot_;
  QCPColorMap* frequency_map_ = nullptr;
  QTableWidget* config_table_;
  QCustomPlot* scatter_;
  QComboBox* scatter_axis_;
  std::vector<HantSummary> hant_;
  QLabel* hint_;
  std::vector<int> pareto_;
  bool rebuilding_ = false;
};

/// @brief The colour of run `index` in every view of the comparison (ten distinct colours, then
/// the same ten again).
QColor comparisonColour(int index);

}  // namespace repnas::ui
