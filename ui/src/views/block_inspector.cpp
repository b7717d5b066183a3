#include "repnas_ui/block_inspector.h"

#include "repnas/strategy_info.h"

#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QVBoxLayout>

#include <cmath>

#include "repnas_ui/run_model.h"
#include "widgets/ui_util.h"

namespace repnas::ui {

// ------------------------------------------------------------------ KernelHeatmap

KernelHeatmap::KernelHeatmap(QWidget* parent) : QWidget(parent) {
  setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);
}

void KernelHeatmap::setKernel(const QString& title, int rows, int cols,
                              const std::vector<double>& values, double scale,
                              std::optional<double> bias) {
  title_ = title;
  rows_ = rows;
  cols_ = cols;
  values_ = values;
  scale_ = scale > 0 ? scale : 1;
  bias_ = bias;
  setFixedSize(sizeHint());
  updateGeometry();
  update();
}

void KernelHeatmap::setCellSize(int pixels) {
  cell_ = std::max(20, pixels);
  setFixedSize(sizeHint());
  updateGeometry();
  update();
}

QSize KernelHeatmap::sizeHint() const {
  const int cell = cell_;
  // As wide as the cells, the title (8 pt) and the bias line need.
  QFont f = font();
  f.setPointSizeF(8);
  const QFontMetrics fm(f);
  int text = fm.horizontalAdvance(title_);
  if (bias_) text = std::max(text, fm.horizontalAdvance(tr("bias %1").arg(*bias_, 0, 'g', 4)));
  return {std::max(cols_ * cell + 8, text + 8), rows_ * cell + 44};
}

void KernelHeatmap::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  const int cell = cell_;
  QFont f = font();
  f.setPointSizeF(8);
  p.setFont(f);
  p.drawText(QRect(0, 0, width(), 16), Qt::AlignLeft | Qt::AlignVCenter, title_);
  const int x0 = 4, y0 = 18;
  for (int r = 0; r < rows_; ++r)
    for (int c = 0; c < cols_; ++c) {
      const size_t i = static_cast<size_t>(r) * cols_ + c;
      const double v = i < values_.size() ? values_[i] : 0;
      // Diverging: blue (negative) — white (0) — red (positive), |v| relative to the scale.
      const double t = std::clamp(std::abs(v) / scale_, 0.0, 1.0);
      const QColor color = v >= 0 ? QColor::fromRgbF(1, 1 - 0.75 * t, 1 - 0.8 * t)
                                  : QColor::fromRgbF(1 - 0.8 * t, 1 - 0.6 * t, 1);
      const QRect rect(x0 + c * cell, y0 + r * cell, cell - 2, cell - 2);
      p.fillRect(rect, color);
      p.setPen(QColor(90, 90, 90));
      p.drawRect(rect);
      p.setPen(Qt::black);
      // Three significant digits; a smaller font when they do not fit the cell (e.g. -0.000318).
      const QString text = QString::number(v, 'g', 3);
      if (p.fontMetrics().horizontalAdvance(text) > rect.width() - 4) {
        QFont small = f;
        small.setPointSizeF(f.pointSizeF() * (rect.width() - 4) / p.fontMetrics().horizontalAdvance(text));
        p.setFont(small);
        p.drawText(rect, Qt::AlignCenter, text);
        p.setFont(f);
      } else {
        p.drawText(rect, Qt::AlignCenter, text);
      }
    }
  if (bias_) {
    p.drawText(QRect(0, y0 + rows_ * cell, width(), 22), Qt::AlignLeft | Qt::AlignVCenter,
               tr("bias %1").arg(*bias_, 0, 'g', 4));
  }
}

// ------------------------------------------------------------------ BlockDiagram

BlockDiagram::BlockDiagram(QWidget* parent) : QWidget(parent) {
  setMinimumHeight(250);
  setToolTip(tr("The block's branches: filled boxes are kept, dashed boxes dropped; σ(α) of "
                "the latest step below each name."));
}

void BlockDiagram::setBlock(const QString& title, const std::vector<Box>& boxes, bool identity) {
  title_ = title;
  boxes_ = boxes;
  identity_ = identity;
  update();
}

void BlockDiagram::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  p.fillRect(rect(), palette().base());
  p.drawText(QRect(8, 4, width() - 16, 18), Qt::AlignLeft, title_);
  std::vector<Box> shown;
  for (const auto& b : boxes_)
    if (b.present) shown.push_back(b);
  if (identity_) shown.push_back({QStringLiteral("identity (BN)"), true, true, -1});
  if (shown.empty()) return;
  const int n = static_cast<int>(shown.size());
  const int top = 30, h = height() - top - 10;
  const QRect input(8, top + h / 2 - 16, 60, 32), sum(width() - 130, top + h / 2 - 16, 50, 32),
      relu(width() - 70, top + h / 2 - 16, 60, 32);
  p.setPen(QPen(Qt::black, 1.2));
  p.drawRoundedRect(input, 4, 4);
  p.drawText(input, Qt::AlignCenter, tr("input"));
  p.drawEllipse(sum);
  p.drawText(sum, Qt::AlignCenter, QStringLiteral("Σ"));
  p.drawRoundedRect(relu, 4, 4);
  p.drawText(relu, Qt::AlignCenter, tr("ReLU"));
  p.drawLine(sum.right(), sum.center().y(), relu.left(), relu.center().y());
  const int bw = std::min(220, sum.left() - input.right() - 80);
  const int bx = (input.right() + sum.left()) / 2 - bw / 2;
  const int bh = std::min(40, h / n - 6);
  for (int i = 0; i < n; ++i) {
    const auto& b = shown[i];
    const int y = top + i * (h / n) + (h / n - bh) / 2;
    const QRect box(bx, y, bw, bh);
    QPen pen(b.kept ? QColor("#1e8449") : QColor(150, 150, 150), b.kept ? 2 : 1,
             b.kept ? Qt::SolidLine : Qt::DashLine);
    p.setPen(pen);
    p.drawLine(input.right(), input.center().y(), box.left(), box.center().y());
    p.drawLine(box.right(), box.center().y(), sum.left(), sum.center().y());
    p.fillRect(box, b.kept ? QColor("#d5f5e3") : palette().base().color());
    p.drawRect(box);
    p.setPen(b.kept ? Qt::black : QColor(130, 130, 130));
    const QString text = b.sigma >= 0 ? tr("%1   %2 = %3").arg(b.name, b.importance).arg(b.sigma, 0, 'f', 4) : b.name;
    p.drawText(box, Qt::AlignCenter, text);
  }
}

// ------------------------------------------------------------------ BlockInspector

BlockInspector::BlockInspector(RunModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  diagram_ = new BlockDiagram;
  out_channel_ = new QSpinBox;
  out_channel_->setToolTip(tr("Output channel of the kernel slice shown."));
  in_channel_ = new QSpinBox;
  in_channel_->setToolTip(tr("Input channel (within its group) of the kernel slice shown."));
  reload_ = new QPushButton(tr("&Reload weights"));
  reload_->setToolTip(tr("Read the newest weights: weights.pt of a finished run, else the last "
                         "checkpoint (written at every epoch end)."));
  message_ = new QLabel;
  message_->setWordWrap(true);
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Output channel:")));
  controls->addWidget(out_channel_);
  controls->addWidget(new QLabel(tr("Input channel:")));
  controls->addWidget(in_channel_);
  controls->addWidget(reload_);
  controls->addStretch(1);
  kernels_ = new QWidget;
  kernel_grid_ = new QGridLayout(kernels_);
  auto* scroll = new QScrollArea;
  scroll->setWidget(kernels_);
  scroll->setWidgetResizable(true);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(diagram_);
  layout->addLayout(controls);
  layout->addWidget(message_);
  layout->addWidget(scroll, 1);

  connect(reload_, &QPushButton::clicked, this, &BlockInspector::reload);
  connect(out_channel_, &QSpinBox::valueChanged, this, &BlockInspector::showKernels);
  connect(in_channel_, &QSpinBox::valueChanged, this, &BlockInspector::showKernels);
  connect(model_, &RunModel::updated, this, [this] {
    if (isVisible()) updateDiagram();
  });
  connect(model_, &RunModel::reset, this, [this] { inspection_.reset(); showKernels(); });
  // Newer weights (a checkpoint, or the finished run's weights.pt): read now when shown, else
  // marked stale and read when the tab is shown.
  auto newer = [this] {
    if (run_dir_.isEmpty()) return;
    if (isVisible()) {
      reload();
      return;
    }
    stale_ = true;
    if (inspection_) {
      message_->setText(tr("Stale: newer weights exist (%1); they are read when this tab is shown.")
                            .arg(stepText(model_->stepsDone())));
      setInk(message_, Ink::Muted);
    }
  };
  connect(model_, &RunModel::checkpointSaved, this, newer);
  connect(model_, &RunModel::runFinished, this, newer);
  showKernels();
}

void BlockInspector::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  updateDiagram();
  if (stale_ || (!inspection_ && !run_dir_.isEmpty())) reload();
}

void BlockInspector::setRunDir(const QString& dir) {
  run_dir_ = dir;
  inspection_.reset();
  showKernels();
}

void BlockInspector::setLayer(int layer) {
  layer_ = layer;
  updateDiagram();
  if (inspection_ || isVisible()) reload();
}

void BlockInspector::updateDiagram() {
  if (!model_->hasRun() || layer_ >= model_->layers()) {
    diagram_->setBlock(tr("No run"), {}, false);
    return;
  }
  const auto& info = model_->info().layers[layer_];
  const auto mask = model_->currentMask();
  const auto& steps = model_->steps();
  std::vector<BlockDiagram::Box> boxes;
  for (int b = 0; b < kNumBranchKinds; ++b) {
    BlockDiagram::Box box;
    box.name = qs(branchDisplayName(static_cast<BranchKind>(b), info.block.kernel_size));
    box.present = info.block.branches.test(b);
    box.kept = layer_ < static_cast<int>(mask.size()) && mask[layer_].test(b);
    const size_t i = static_cast<size_t>(layer_) * kNumBranchKinds + b;
    if (model_->isSearch() && !steps.empty() && i < steps.back().sigma.size()) {
      box.sigma = steps.back().sigma[i];
      const auto* strategy = findStrategy(model_->info().mode);
      if (strategy && strategy->importance_is_probability) box.importance = tr("keep p");
    }
    boxes.push_back(box);
  }
  diagram_->setBlock(tr("Layer %1: %2").arg(layer_).arg(qs(info.label)), boxes, info.has_identity);
}

void BlockInspector::reload() {
  stale_ = false;
  if (run_dir_.isEmpty()) {
    message_->setText(tr("No run folder."));
    return;
  }
  try {
    const auto mask = model_->currentMask();
    const BranchMask* kept = layer_ < static_cast<int>(mask.size()) ? &mask[layer_] : nullptr;
    inspection_ = inspectRunBlock(run_dir_.toStdString(), layer_, kept);
    QString text = inspection_->complete
                       ? tr("Weights of the finished run (%1).").arg(qs(inspection_->source))
                       : tr("Weights of the checkpoint after %1 (%2).")
                             .arg(stepText(inspection_->step))
                             .arg(qs(inspection_->source));
    if (inspection_->kept.none()) {
      // Identity + BN only: still a dense KxK conv once folded (often the widest layer).
      const auto& shape = inspection_->fused.shape;
      const int64_t n = shape[0] * shape[1] * shape[2] * shape[3] + shape[0];  // weights + bias
      text += tr("\nThis layer kept no searchable branch (identity + BN only), yet it is exported as "
                 "a dense %1x%2 conv: %3 parameters.").arg(shape[2]).arg(shape[3]).arg(n);
    }
    message_->setText(text);
    setInk(message_, Ink::Normal);
  } catch (const std::exception& e) {
    inspection_.reset();
    message_->setText(qs(e.what()));
    setInk(message_, Ink::Error);
  }
  showKernels();
}

void BlockInspector::showKernels() {
  while (auto* item = kernel_grid_->takeAt(0)) {
    delete item->widget();
    delete item;
  }
  fused_ = nullptr;
  if (!inspection_) return;
  const auto& ins = *inspection_;
  for (auto* box : {out_channel_, in_channel_}) box->blockSignals(true);
  out_channel_->setRange(0, static_cast<int>(ins.fused.shape[0]) - 1);
  in_channel_->setRange(0, static_cast<int>(ins.fused.shape[1]) - 1);
  for (auto* box : {out_channel_, in_channel_}) box->blockSignals(false);
  const int o = out_channel_->value(), i = in_channel_->value();
  // One colour scale for all heatmaps of this slice, so that sizes compare.
  double scale = 0;
  auto extend = [&](const KernelData& k) {
    for (double v : k.slice(o, std::min<int64_t>(i, k.shape[1] - 1))) scale = std::max(scale, std::abs(v));
  };
  for (const auto& b : ins.branches) extend(b.folded);
  extend(ins.fused);
  int row = 0;
  kernel_grid_->addWidget(new QLabel(tr("<b>branch</b>")), row, 0);
  kernel_grid_->addWidget(new QLabel(tr("<b>before folding</b> (its own kernels, BN not applied)")), row, 1);
  kernel_grid_->addWidget(new QLabel(tr("<b>after folding</b> (KxK equivalent, BN folded)")), row, 2);
  ++row;
  for (const auto& b : ins.branches) {
    auto* name = new QLabel(tr("%1%2").arg(qs(b.name), b.kept ? tr("\n(kept)") : tr("\n(dropped)")));
    kernel_grid_->addWidget(name, row, 0);
    auto* raw_row = new QWidget;
    auto* raw_layout = new QHBoxLayout(raw_row);
    raw_layout->setContentsMargins(0, 0, 0, 0);
    for (const auto& k : b.raw) {
      // A 1x1 first stage maps input channel i to intermediate channels; show its [o', i] entry
      // for o' = o when it exists, so that the numbers are a real slice of that kernel.
      const int64_t ko = std::min<int64_t>(o, k.shape[0] - 1);
      const int64_t ki = std::min<int64_t>(i, k.shape[1] - 1);
      auto* h = new KernelHeatmap;
      h->setKernel(tr("%1 [%2, %3]").arg(qs(k.name)).arg(ko).arg(ki), static_cast<int>(k.shape[2]),
                   static_cast<int>(k.shape[3]), k.slice(ko, ki), scale);
      raw_layout->addWidget(h);
    }
    if (b.raw.empty()) raw_layout->addWidget(new QLabel(tr("BatchNorm only")));
    raw_layout->addStretch(1);
    kernel_grid_->addWidget(raw_row, row, 1);
    auto* folded = new KernelHeatmap;
    folded->setKernel(tr("%1 [%2, %3]").arg(qs(b.folded.name)).arg(o).arg(i),
                      static_cast<int>(b.folded.shape[2]), static_cast<int>(b.folded.shape[3]),
                      b.folded.slice(o, i), scale,
                      o < static_cast<int>(b.folded.bias.size()) ? std::optional<double>(b.folded.bias[o])
                                                                 : std::nullopt);
    kernel_grid_->addWidget(folded, row, 2);
    ++row;
  }
  kernel_grid_->addWidget(new QLabel(tr("<b>fused</b>\nΣ kept + identity")), row, 0);
  fused_ = new KernelHeatmap;
  fused_->setObjectName("fusedKernel");
  fused_->setKernel(tr("fused KxK [%1, %2]").arg(o).arg(i), static_cast<int>(ins.fused.shape[2]),
                    static_cast<int>(ins.fused.shape[3]), ins.fused.slice(o, i), scale,
                    o < static_cast<int>(ins.fused.bias.size()) ? std::optional<double>(ins.fused.bias[o])
                                                                : std::nullopt);
  kernel_grid_->addWidget(fused_, row, 2);
  kernel_grid_->setColumnStretch(1, 1);
  kernel_grid_->activate();  // sizes now, not at the next event-loop turn
}

}  // namespace repnas::ui
