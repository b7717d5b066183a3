#pragma once
/// @file block_inspector.h
/// @brief The selected layer's block: a diagram of its branches (kept and dropped, with σ(α))
/// and, for one output/input channel pair, each branch's kernels before folding, its KxK
/// equivalent after, and the fused kernel. Numbers come from repnas::inspectRunBlock.

#include <QWidget>

#include <optional>
#include <vector>

#include "repnas/inspect.h"

class QGridLayout;
class QLabel;
class QPushButton;
class QSpinBox;

namespace repnas::ui {

class RunModel;

/// @brief A small annotated heatmap of one kernel slice (diverging colours, numbers in cells).
class KernelHeatmap : public QWidget {
  Q_OBJECT
 public:
  explicit KernelHeatmap(QWidget* parent = nullptr);
  void setKernel(const QString& title, int rows, int cols, const std::vector<double>& values,
                 double scale, std::optional<double> bias = std::nullopt);
  const std::vector<double>& values() const { return values_; }
  /// @brief Side of one cell in pixels (46 by default; smaller to fit a page).
  void setCellSize(int pixels);
  int cellSize() const { return cell_; }
  QSize sizeHint() const override;

 protected:
  void paintEvent(QPaintEvent*) override;

 private:
  QString title_;
  int rows_ = 0, cols_ = 0;
  std::vector<double> values_;
  double scale_ = 1;
  int cell_ = 46;
  std::optional<double> bias_;
};

/// @brief The block's branches as boxes between input and sum.
class BlockDiagram : public QWidget {
  Q_OBJECT
 public:
  explicit BlockDiagram(QWidget* parent = nullptr);
  struct Box {
    QString name;
    bool present = false;
    bool kept = false;
    double sigma = -1;  ///< < 0: unknown
    QString importance = QStringLiteral("σ(α)");  ///< what `sigma` is ("keep p" for RENA)
  };
  void setBlock(const QString& title, const std::vector<Box>& boxes, bool identity);
  QSize sizeHint() const override { return {560, 260}; }

 protected:
  void paintEvent(QPaintEvent*) override;

 private:
  QString title_;
  std::vector<Box> boxes_;
  bool identity_ = false;
};

class BlockInspector : public QWidget {
  Q_OBJECT
 public:
  explicit BlockInspector(RunModel* model, QWidget* parent = nullptr);
  /// @brief The run folder whose weights are read.
  void setRunDir(const QString& dir);
  /// @brief The inspection shown (empty before the first successful load).
  const std::optional<BlockInspection>& inspection() const { return inspection_; }
  /// @brief Whether newer weights exist than those shown (read when the tab is shown).
  bool isStale() const { return stale_; }
  int layer() const { return layer_; }
  /// @brief The fused-kernel heatmap (last row).
  KernelHeatmap* fusedHeatmap() const { return fused_; }
  QLabel* messageLabel() const { return message_; }

 public Q_SLOTS:
  void setLayer(int layer);
  /// @brief Reads the newest weights (weights.pt, else the last checkpoint).
  void reload();

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  void updateDiagram();
  void showKernels();

  RunModel* model_;
  QString run_dir_;
  int layer_ = 0;
  std::optional<BlockInspection> inspection_;
  bool stale_ = false;
  BlockDiagram* diagram_;
  QSpinBox* out_channel_;
  QSpinBox* in_channel_;
  QPushButton* reload_;
  QLabel* message_;
  QWidget* kernels_;
  QGridLayout* kernel_grid_;
  KernelHeatmap* fused_ = nullptr;
};

}  // namespace repnas::ui
