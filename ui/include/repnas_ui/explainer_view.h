#pragma once
/// @file explainer_view.h
/// @brief The "Re-parameterization" teaching view: one block (a demo block or a layer of the
/// open run) folded in six steps with its real numbers, a proof on a real image, and the two
/// counter-examples. Every number comes from repnas::ReparamExplainer (core).

#include <QMargins>
#include <QTimer>
#include <QWidget>

#include <memory>
#include <optional>
#include <vector>

#include "repnas/explain.h"

class QButtonGroup;
class QCheckBox;
class QComboBox;
class QLabel;
class QListWidget;
class QPushButton;
class QScrollArea;
class QSpinBox;
class QUndoStack;
class QVBoxLayout;

namespace repnas::ui {

class KernelHeatmap;

/// @brief A single-channel image drawn with nearest-neighbour cells and a caption.
class ImageMap : public QWidget {
  Q_OBJECT
 public:
  enum class Palette { Gray, Diverging, Heat };
  static constexpr int kSide = 160;  ///< the image's side in pixels
  explicit ImageMap(QWidget* parent = nullptr);
  /// @brief `scale`: |value| mapped to full colour (Diverging, Heat); `border`: the rows and
  /// columns on each side (left, top, right, bottom) inside which a dashed frame is drawn
  /// (all 0: none).
  void setImage(const QString& caption, const ExplainImage& image, Palette palette, double scale,
                const QString& footer, QMargins border = {});
  const ExplainImage& image() const { return image_; }
  QSize sizeHint() const override;

 protected:
  void paintEvent(QPaintEvent*) override;

 private:
  QString caption_, footer_;
  ExplainImage image_;
  Palette palette_ = Palette::Gray;
  double scale_ = 1;
  QMargins border_;
};

class ExplainerView : public QWidget {
  Q_OBJECT
 public:
  /// Pages: the six steps, then the proof, then the counter-examples.
  enum Page { kProofPage = 6, kBreakPage = 7, kPageCount = 8 };

  explicit ExplainerView(QWidget* parent = nullptr);
  ~ExplainerView() override;

  /// @brief The run whose layers can be explained (empty: none).
  void setRunDir(const QString& dir);
  /// @brief The data set the proof's sample image comes from.
  void setDataset(const QString& name, const QString& dir);

  /// @brief Explain the demo block (default). Undoable.
  void useDemo();
  /// @brief Explain layer `layer` of the run; false (and a message) when it cannot be read.
  bool useRunLayer(int layer);
  bool isDemo() const;

  int page() const;
  /// @brief The core's steps for the current channel pair (what the step pages show).
  const std::vector<ExplainStep>& steps() const { return steps_; }
  /// @brief The last proof computed (proof and counter-example pages).
  const std::optional<ProofResult>& proof() const { return proof_; }
  /// @brief The kernel heatmaps of the current page, in reading order.
  QList<KernelHeatmap*> pageHeatmaps() const;
  /// @brief The image maps of the current page (input, multi-branch, folded, difference).
  QList<ImageMap*> pageImages() const;
  /// @brief The current page's text (kernels and formulas, or the proof's numbers).
  QString pageText() const;
  QLabel* messageLabel() const { return message_; }
  QLabel* summaryLabel() const { return summary_; }
  QCheckBox* zeroPaddingBox() const { return zero_padding_; }
  QCheckBox* batchStatisticsBox() const { return batch_stats_; }
  QCheckBox* branchBox(int kind) const { return branch_boxes_[kind]; }  ///< kNumBranchKinds = identity
  QSpinBox* sampleSpin() const { return sample_; }
  QComboBox* demoKernelBox() const { return demo_kernel_; }
  QUndoStack* undoStack() const { return undo_; }

 public Q_SLOTS:
  void setPage(int page);
  void setChannels(int out_channel, int in_channel);
  /// @brief Follows the run's selected layer when a run layer is shown.
  void setRunLayer(int layer);
  /// @brief Demo: a user-typed value (undoable). False with a message when refused.
  bool setValue(const QString& tensor, int index, double value);
  /// @brief Demo: new random weights and statistics (undoable).
  void randomize(int seed);
  /// @brief Writes the current page as PNG or PDF (by suffix). Empty string or the error.
  QString exportPage(const QString& path);
  /// @brief Every page as PNG, all pages in one PDF, and everything as text, into `dir`.
  QString exportAll(const QString& dir);
  void copyText();

 Q_SIGNALS:
  void changed();

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  int proofColumns() const;
  struct DemoState;
  DemoState demoState() const;
  void applyDemoState(const DemoState& state);
  void pushDemoEdit(const QString& text, const DemoState& before);
  void onBranchToggled();
  void editValues();
  void refresh();
  void rebuildPage();
  void buildStepPage(const ExplainStep& step);
  void buildProofPage(bool broken);
  bool ensureSample(QString* error);
  void syncControls();

  std::unique_ptr<ReparamExplainer> ex_;
  std::vector<ExplainStep> steps_;
  std::optional<ProofResult> proof_;
  std::optional<SampleImage> sample_image_;
  QString sample_key_;
  QString run_dir_, dataset_name_ = QStringLiteral("fashion-mnist"), dataset_dir_;
  int run_layer_ = 0;
  int out_channel_ = 0, in_channel_ = 0;
  bool syncing_ = false;
  int proof_columns_ = 0;
  QTimer relayout_;     ///< rebuilds a step page after a resize

  QUndoStack* undo_;
  QComboBox* source_;
  QSpinBox* layer_;
  QSpinBox* demo_channels_;
  QComboBox* demo_kernel_;
  QSpinBox* seed_;
  QPushButton* randomize_;
  QPushButton* edit_values_;
  std::vector<QCheckBox*> branch_boxes_;
  QSpinBox* out_spin_;
  QSpinBox* in_spin_;
  QSpinBox* sample_;
  QListWidget* pages_;
  QScrollArea* scroll_;
  QWidget* content_ = nullptr;
  QLabel* message_;
  QLabel* summary_ = nullptr;
  QCheckBox* zero_padding_;
  QCheckBox* batch_stats_;
};

}  // namespace repnas::ui
