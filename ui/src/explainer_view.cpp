#include "repnas_ui/explainer_view.h"

#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QResizeEvent>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QPushButton>
#include <QSaveFile>
#include <QScrollArea>
#include <QSpinBox>
#include <QTableWidget>
#include <QTextStream>
#include <QUndoCommand>
#include <QUndoStack>
#include <QVBoxLayout>

#include <cmath>
#include <functional>

#include "repnas_ui/block_inspector.h"
#include "ui_util.h"

namespace repnas::ui {

// ------------------------------------------------------------------ ImageMap

ImageMap::ImageMap(QWidget* parent) : QWidget(parent) {
  setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);
}

void ImageMap::setImage(const QString& caption, const ExplainImage& image, Palette palette,
                        double scale, const QString& footer, QMargins border) {
  caption_ = caption;
  image_ = image;
  palette_ = palette;
  scale_ = scale > 0 ? scale : 1;
  footer_ = footer;
  border_ = border;
  setFixedSize(sizeHint());
  update();
}

QSize ImageMap::sizeHint() const { return {kSide + 8, kSide + 48}; }

void ImageMap::paintEvent(QPaintEvent*) {
  QPainter p(this);
  QFont f = font();
  f.setPointSizeF(8);
  p.setFont(f);
  p.drawText(QRect(0, 0, width(), 16), Qt::AlignLeft | Qt::AlignVCenter, caption_);
  if (image_.height <= 0 || image_.width <= 0) return;
  QImage img(image_.width, image_.height, QImage::Format_RGB32);
  double lo = 0, hi = 1;
  if (palette_ == Palette::Gray && !image_.values.empty()) {
    lo = *std::min_element(image_.values.begin(), image_.values.end());
    hi = *std::max_element(image_.values.begin(), image_.values.end());
    if (hi <= lo) hi = lo + 1;
  }
  for (int y = 0; y < image_.height; ++y)
    for (int x = 0; x < image_.width; ++x) {
      const double v = image_.values[static_cast<size_t>(y) * image_.width + x];
      QColor c;
      if (palette_ == Palette::Gray) {
        const int g = static_cast<int>(255 * std::clamp((v - lo) / (hi - lo), 0.0, 1.0));
        c = QColor(g, g, g);
      } else if (palette_ == Palette::Diverging) {
        const double t = std::clamp(std::abs(v) / scale_, 0.0, 1.0);
        c = v >= 0 ? QColor::fromRgbF(1, 1 - 0.8 * t, 1 - 0.85 * t) : QColor::fromRgbF(1 - 0.85 * t, 1 - 0.6 * t, 1);
      } else {  // Heat: white → orange → dark red
        const double t = std::clamp(std::abs(v) / scale_, 0.0, 1.0);
        c = QColor::fromRgbF(1 - 0.45 * t * t, 1 - 0.95 * t, 1 - t);
      }
      img.setPixel(x, y, c.rgb());
    }
  const int side = width() - 8;
  const double cell = static_cast<double>(side) / std::max(image_.width, image_.height);
  const QRectF target(4, 18, cell * image_.width, cell * image_.height);
  p.drawImage(target, img);  // no smoothing: one cell per value
  p.setPen(QColor(90, 90, 90));
  p.drawRect(target);
  if (!border_.isNull()) {
    QPen pen(QColor(0, 100, 0), 1, Qt::DashLine);
    p.setPen(pen);
    p.drawRect(target.adjusted(border_.left() * cell, border_.top() * cell, -border_.right() * cell,
                               -border_.bottom() * cell));
  }
  p.setPen(palette().text().color());
  p.drawText(QRect(0, static_cast<int>(target.bottom()) + 2, width(), 28), Qt::AlignLeft | Qt::TextWordWrap, footer_);
}

// ------------------------------------------------------------------ helpers

namespace {

QString pageTitle(int page) {
  static const char* const titles[] = {"1  Fold BN into conv", "2  Pad to KxK",
                                       "3  Average pooling", "4  Merge 1x1 → KxK",
                                       "5  Identity",        "6  Sum",
                                       "Proof",              "Break it"};
  return QObject::tr(titles[page]);
}

/// The block's branches before and after a step, side by side: what the step changes is
/// outlined. Each column: input → one box per branch → Σ.
class FoldDiagram : public QWidget {
 public:
  FoldDiagram(const QStringList& before, const QStringList& after, int step) : before_(before), after_(after), step_(step) {
    setObjectName("foldDiagram");
    setProperty("before", before);
    setProperty("after", after);
    setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);
    setToolTip(QObject::tr("The block before and after step %1: the boxes this step changes are outlined in orange.").arg(step));
  }
  QSize sizeHint() const override {
    const int rows = static_cast<int>(std::max(before_.size(), after_.size()));
    return {2 * columnWidth() + 2 * kNode + kGap + 16, 20 + rows * (kBox + kRowGap) + 4};
  }

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    p.setFont(smallFont());
    const QColor ink = palette().color(QPalette::WindowText);
    const int w = columnWidth();
    auto column = [&](int x, const QStringList& forms, const QStringList& other, const QString& title) {
      p.setPen(ink);
      p.drawText(QRect(x, 0, w + 2 * kNode, 16), Qt::AlignCenter, title);
      const int top = 20, rows = static_cast<int>(forms.size());
      const int mid = top + rows * (kBox + kRowGap) / 2;
      const QPoint in(x + 4, mid), sum(x + 2 * kNode + w - 4, mid);
      for (int r = 0; r < rows; ++r) {
        const QRect box(x + kNode, top + r * (kBox + kRowGap), w, kBox);
        p.setPen(QPen(QColor(150, 150, 150), 1));
        p.drawLine(in, QPoint(box.left(), box.center().y()));
        p.drawLine(QPoint(box.right(), box.center().y()), sum);
        const bool changed = r >= other.size() || other[r] != forms[r] || other.size() != forms.size();
        p.setPen(QPen(changed ? QColor("#e67e22") : QColor(150, 150, 150), changed ? 2 : 1));
        p.setBrush(changed ? QBrush(QColor(230, 126, 34, 40)) : QBrush(Qt::NoBrush));
        p.drawRoundedRect(box, 4, 4);
        p.setPen(ink);
        p.drawText(box.adjusted(6, 0, -6, 0), Qt::AlignVCenter | Qt::AlignLeft, forms[r]);
      }
      p.setBrush(Qt::NoBrush);
      p.setPen(ink);
      p.drawText(QRect(in.x() - 4, mid - 8, 12, 16), Qt::AlignCenter, QStringLiteral("x"));
      p.drawText(QRect(sum.x() - 6, mid - 8, 14, 16), Qt::AlignCenter, QStringLiteral("Σ"));
    };
    column(0, before_, after_, QObject::tr("before step %1").arg(step_));
    p.setPen(ink);
    const int x2 = w + 2 * kNode + kGap;
    p.drawText(QRect(w + 2 * kNode, 0, kGap, height()), Qt::AlignCenter, QStringLiteral("⟹"));
    column(x2, after_, before_, QObject::tr("after step %1").arg(step_));
  }

 private:
  static constexpr int kBox = 17, kRowGap = 2, kNode = 16, kGap = 28;
  QFont smallFont() const {
    QFont f = font();
    f.setPointSizeF(8);
    return f;
  }
  int columnWidth() const {
    const QFontMetrics fm(smallFont());
    int w = 80;
    for (const auto* list : {&before_, &after_})
      for (const auto& t : *list) w = std::max(w, fm.horizontalAdvance(t) + 14);
    return w;
  }
  QStringList before_, after_;
  int step_;
};

/// Why step 4 is exact at the border: the 1x1 stage's output y, padded by BN-and-pad with b1
/// (not zeros), and the KxK window of the second conv at the corner. Every tap of the window
/// reads y or b1, and F2·(F1·x + b1) summed over the taps is the merged kernel plus the bias
/// term Σ F2·b1 everywhere — at the border too.
class PadWindowPicture : public QWidget {
 public:
  explicit PadWindowPicture(int kernel_size) : k_(kernel_size) {
    setObjectName("padWindowPicture");
    setProperty("kernelSize", kernel_size);
    setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);
    setToolTip(QObject::tr("The 1x1 stage's output padded by BN-and-pad: its border holds b1 (what "
                           "BN gives for a zero input), not 0. The %1x%1 window at the corner reads "
                           "b1 on its border taps, exactly what the merged bias Σ F2·b1 assumes; "
                           "with zero padding those taps would read 0 and the fold would be wrong "
                           "at the border (see Break it).").arg(kernel_size));
  }
  QSize sizeHint() const override { return {side() * kCell + 8, side() * kCell + 24}; }

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    QFont f = font();
    f.setPointSizeF(7);
    p.setFont(f);
    const int pad = k_ / 2, n = side();
    const QColor ink = palette().color(QPalette::WindowText);
    for (int r = 0; r < n; ++r)
      for (int c = 0; c < n; ++c) {
        const bool border = r < pad || c < pad || r >= n - pad || c >= n - pad;
        const QRect cell(4 + c * kCell, 4 + r * kCell, kCell - 1, kCell - 1);
        p.fillRect(cell, border ? QColor("#fdebd0") : QColor("#eaf2f8"));
        p.setPen(QColor(160, 160, 160));
        p.drawRect(cell);
        p.setPen(QColor(60, 60, 60));
        p.drawText(cell, Qt::AlignCenter, border ? QStringLiteral("b1") : QStringLiteral("y"));
      }
    // The window of the second conv at the top-left output position.
    p.setPen(QPen(QColor("#c0392b"), 2));
    p.setBrush(Qt::NoBrush);
    p.drawRect(QRect(4, 4, k_ * kCell - 1, k_ * kCell - 1));
    p.setPen(ink);
    p.drawText(QRect(0, n * kCell + 6, width(), 16), Qt::AlignCenter,
               QObject::tr("%1x%1 window at the corner").arg(k_));
  }

 private:
  static constexpr int kCell = 20;
  int side() const { return k_ / 2 * 2 + 4; }  // a 4x4 interior shown with its border
  int k_;
};

/// What the kernel colours mean for one item: −s (blue) … 0 (white) … +s (red), s the item's
/// largest |value|, with the heatmaps' own colour function. Horizontal beside large kernels,
/// upright (narrower) beside small ones.
class ColourLegend : public QWidget {
 public:
  ColourLegend(double scale, bool upright) : scale_(scale), upright_(upright) {
    setObjectName("kernelColourLegend");
    setProperty("scale", scale);
    if (upright) setFixedSize(54, 76);
    else setFixedSize(150, 40);
    setToolTip(QObject::tr("Colour of a kernel value v: blue for v < 0, red for v > 0, the deeper the "
                           "closer |v| is to %1, the largest |v| of this item.").arg(scale, 0, 'g', 3));
  }

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    const QRect bar = upright_ ? QRect(4, 4, 12, height() - 8) : QRect(4, 4, width() - 8, 12);
    const int length = upright_ ? bar.height() : bar.width();
    for (int x = 0; x < length; ++x) {
      // −1 … 1 from left to right, or from the bottom up.
      const double v = upright_ ? 1 - 2.0 * x / std::max(1, length - 1) : 2.0 * x / std::max(1, length - 1) - 1;
      const double t = std::abs(v);
      p.setPen(v >= 0 ? QColor::fromRgbF(1, 1 - 0.75 * t, 1 - 0.8 * t) : QColor::fromRgbF(1 - 0.8 * t, 1 - 0.6 * t, 1));
      if (upright_) p.drawLine(bar.left(), bar.top() + x, bar.right(), bar.top() + x);
      else p.drawLine(bar.left() + x, bar.top(), bar.left() + x, bar.bottom());
    }
    p.setPen(QColor(90, 90, 90));
    p.drawRect(bar);
    QFont f = font();
    f.setPointSizeF(7.5);
    p.setFont(f);
    p.setPen(palette().color(QPalette::WindowText));
    const QString low = QString::number(-scale_, 'g', 3), high = QString::number(scale_, 'g', 3);
    if (upright_) {
      const QRect labels(bar.right() + 4, 0, width() - bar.right() - 4, height());
      p.drawText(labels, Qt::AlignLeft | Qt::AlignTop, high);
      p.drawText(labels, Qt::AlignLeft | Qt::AlignVCenter, QStringLiteral("0"));
      p.drawText(labels, Qt::AlignLeft | Qt::AlignBottom, low);
      return;
    }
    const QRect labels(0, bar.bottom() + 2, width(), 16);
    p.drawText(labels, Qt::AlignLeft | Qt::AlignVCenter, low);
    p.drawText(labels, Qt::AlignHCenter | Qt::AlignVCenter, QStringLiteral("0"));
    p.drawText(labels, Qt::AlignRight | Qt::AlignVCenter, high);
  }

 private:
  double scale_;
  bool upright_;
};

/// One matrix as an annotated heatmap; colours scaled within the item.
KernelHeatmap* heatmapFor(const ExplainMatrix& m, double scale, int cell = 46) {
  auto* h = new KernelHeatmap;
  h->setCellSize(cell);
  h->setKernel(qs(m.caption), m.rows, m.cols, m.values, scale,
               m.has_bias ? std::optional<double>(m.bias) : std::nullopt);
  h->setToolTip(qs(m.caption));
  return h;
}

double itemScale(const ExplainItem& item) {
  double s = 0;
  for (const auto* list : {&item.inputs, &item.outputs})
    for (const auto& m : *list)
      for (double v : m.values) s = std::max(s, std::abs(v));
  return s > 0 ? s : 1;
}

QLabel* textLabel(const QString& text, bool mono = false) {
  auto* l = new QLabel(text);
  l->setWordWrap(true);
  l->setTextInteractionFlags(Qt::TextSelectableByMouse);
  if (mono) {
    QFont f(QStringLiteral("monospace"));
    f.setStyleHint(QFont::TypeWriter);
    l->setFont(f);
  }
  return l;
}


/// An undo step that restores one whole demo state or another.
class DemoEdit : public QUndoCommand {
 public:
  DemoEdit(const QString& text, std::function<void()> undo, std::function<void()> redo)
      : QUndoCommand(text), undo_(std::move(undo)), redo_(std::move(redo)) {}
  void undo() override { undo_(); }
  void redo() override {
    if (first_) {
      first_ = false;  // already applied when pushed
      return;
    }
    redo_();
  }

 private:
  std::function<void()> undo_, redo_;
  bool first_ = true;
};

/// Rows of item boxes, in order, each row as many boxes as fit `width` at their own widths
/// (shelf packing: a wide item takes the room of two narrow ones).
std::vector<std::vector<QGroupBox*>> packStepItems(const std::vector<QGroupBox*>& boxes, int width,
                                                   int spacing) {
  std::vector<std::vector<QGroupBox*>> rows;
  int used = 0;
  for (auto* box : boxes) {
    const int w = box->width();
    if (rows.empty() || used + spacing + w > width) {
      rows.emplace_back();
      used = w;
    } else {
      used += spacing + w;
    }
    rows.back().push_back(box);
  }
  return rows;
}

constexpr int kItemSpacing = 12;
constexpr int kMinItemWidth = 300;  ///< an item box: room for its arithmetic in a few lines

}  // namespace

// ------------------------------------------------------------------ ExplainerView

/// Everything that defines the demo block (edits are undone by restoring one).
struct ExplainerView::DemoState {
  ReparamExplainer::DemoOptions options;
  std::vector<ExplainTensor> tensors;
};

ExplainerView::ExplainerView(QWidget* parent) : QWidget(parent) {
  relayout_.setSingleShot(true);
  relayout_.setInterval(40);
  connect(&relayout_, &QTimer::timeout, this, [this] {
    if (page() < kProofPage) rebuildPage();
  });
  ex_ = std::make_unique<ReparamExplainer>(ReparamExplainer::demo({}));
  undo_ = new QUndoStack(this);

  source_ = new QComboBox;
  source_->addItem(tr("Demo block"));
  source_->addItem(tr("Layer of the open run"));
  source_->setToolTip(tr("Explain a small demo block with random or typed weights, or a layer of "
                         "the run that is open (its trained weights, or the last checkpoint)."));
  layer_ = new QSpinBox;
  layer_->setPrefix(tr("layer "));
  layer_->setToolTip(tr("Which layer of the run to explain (also follows the layer selected in "
                        "the importance heatmap)."));
  demo_channels_ = new QSpinBox;
  demo_channels_->setRange(1, 4);
  demo_channels_->setValue(2);
  demo_channels_->setSuffix(tr(" channels"));
  demo_channels_->setToolTip(tr("Input and output channels of the demo block."));
  demo_kernel_ = new QComboBox;
  demo_kernel_->addItem(tr("K = 3"), 3);
  demo_kernel_->addItem(tr("K = 5"), 5);
  demo_kernel_->setToolTip(tr("Kernel size K of the demo block."));
  seed_ = new QSpinBox;
  seed_->setRange(1, 9999);
  seed_->setPrefix(tr("seed "));
  seed_->setToolTip(tr("Seed of the demo block's random weights and BatchNorm statistics."));
  randomize_ = new QPushButton(tr("&Randomise"));
  randomize_->setToolTip(tr("Draw new random weights and BatchNorm statistics with this seed (undoable)."));
  edit_values_ = new QPushButton(tr("&Edit values…"));
  edit_values_->setToolTip(tr("Type the demo block's weights and BatchNorm statistics yourself (undoable)."));
  auto* undo_button = new QPushButton(tr("Undo"));
  undo_button->setToolTip(tr("Undo the last change to the demo block."));
  auto* redo_button = new QPushButton(tr("Redo"));
  redo_button->setToolTip(tr("Redo the change undone last."));
  connect(undo_button, &QPushButton::clicked, undo_, &QUndoStack::undo);
  connect(redo_button, &QPushButton::clicked, undo_, &QUndoStack::redo);
  connect(undo_, &QUndoStack::canUndoChanged, undo_button, &QWidget::setEnabled);
  connect(undo_, &QUndoStack::canRedoChanged, redo_button, &QWidget::setEnabled);
  undo_button->setEnabled(false);
  redo_button->setEnabled(false);
  auto* top = new QHBoxLayout;
  for (QWidget* w : std::initializer_list<QWidget*>{source_, layer_, demo_channels_, demo_kernel_, seed_, randomize_,
                                                    edit_values_, undo_button, redo_button})
    top->addWidget(w);
  top->addStretch();

  auto* branches = new QHBoxLayout;
  branches->addWidget(new QLabel(tr("Branches:")));
  for (int k = 0; k <= kNumBranchKinds; ++k) {
    auto* box = new QCheckBox(k < kNumBranchKinds ? qs(branchDisplayName(static_cast<BranchKind>(k), 3))
                                                  : tr("identity"));
    box->setChecked(true);
    box->setToolTip(k < kNumBranchKinds ? tr("Include this branch in the block (demo) or in the fold (run layer).")
                                        : tr("The identity-BN branch (needs stride 1 and as many outputs as inputs)."));
    connect(box, &QCheckBox::toggled, this, [this] { onBranchToggled(); });
    branch_boxes_.push_back(box);
    branches->addWidget(box);
  }
  branches->addStretch();
  out_spin_ = new QSpinBox;
  out_spin_->setPrefix(tr("out channel "));
  out_spin_->setToolTip(tr("Output channel o of the kernel slice F[o, i] shown in every step."));
  in_spin_ = new QSpinBox;
  in_spin_->setPrefix(tr("in channel "));
  in_spin_->setToolTip(tr("Input channel i of the kernel slice F[o, i] shown in every step."));
  sample_ = new QSpinBox;
  sample_->setRange(0, 9999);
  sample_->setPrefix(tr("test image "));
  sample_->setToolTip(tr("Which test image of the data set the proof runs on."));

  pages_ = new QListWidget;
  for (int p = 0; p < kPageCount; ++p) pages_->addItem(pageTitle(p));
  pages_->setFixedWidth(140);
  pages_->setToolTip(tr("The six folding steps, the proof on a real image, and what breaks it."));
  auto* prev = new QPushButton(tr("◀ &Previous"));
  auto* next = new QPushButton(tr("&Next ▶"));
  prev->setToolTip(tr("Previous step"));
  next->setToolTip(tr("Next step"));
  connect(prev, &QPushButton::clicked, this, [this] { setPage(std::max(0, page() - 1)); });
  connect(next, &QPushButton::clicked, this, [this] { setPage(std::min(kPageCount - 1, page() + 1)); });
  // Under the pages, what every page shows: the kernel slice (and the proof's test image), so
  // that the steps get the page's whole height.
  auto* left = new QVBoxLayout;
  left->addWidget(pages_, 1);
  left->addWidget(new QLabel(tr("Kernel slice:")));
  for (auto* spin : {out_spin_, in_spin_, sample_}) {
    spin->setFixedWidth(140);
    left->addWidget(spin);
  }
  auto* nav = new QHBoxLayout;
  nav->addWidget(prev);
  nav->addWidget(next);
  left->addLayout(nav);

  zero_padding_ = new QCheckBox(tr("Pad with &zeros instead of BN-and-pad"));
  zero_padding_->setToolTip(tr("The two-stage branches pad their first stage's output with 0 instead of "
                               "β − μγ/σ: the folded conv no longer matches on the border."));
  batch_stats_ = new QCheckBox(tr("Run the block with &batch statistics (training mode)"));
  batch_stats_->setToolTip(tr("BatchNorm normalises with this input's own mean and variance, while "
                              "the fold uses the running statistics."));
  connect(zero_padding_, &QCheckBox::toggled, this, [this] { rebuildPage(); });
  connect(batch_stats_, &QCheckBox::toggled, this, [this] { rebuildPage(); });

  scroll_ = new QScrollArea;
  scroll_->setWidgetResizable(true);
  message_ = new QLabel;
  message_->setWordWrap(true);
  message_->setStyleSheet("color: #c0392b;");
  message_->hide();

  auto* export_png = new QPushButton(tr("Export &PNG…"));
  export_png->setToolTip(tr("Save this page as a PNG image (for slides)."));
  auto* export_pdf = new QPushButton(tr("Export P&DF…"));
  export_pdf->setToolTip(tr("Save this page as a PDF page (vector text)."));
  auto* export_all = new QPushButton(tr("Export &all pages…"));
  export_all->setToolTip(tr("Every page as PNG, all pages in one PDF, and the numbers as text, into a folder."));
  auto* copy = new QPushButton(tr("&Copy as text"));
  copy->setToolTip(tr("Copy this page's kernels and formulas (or the proof's numbers) as plain text."));
  auto report = [this](const QString& error) {
    message_->setText(error);
    message_->setVisible(!error.isEmpty());
  };
  connect(export_png, &QPushButton::clicked, this, [this, report] {
    const auto path = QFileDialog::getSaveFileName(this, tr("Export page as PNG"), "reparam.png", "PNG (*.png)");
    if (!path.isEmpty()) report(exportPage(path.endsWith(".png") ? path : path + ".png"));
  });
  connect(export_pdf, &QPushButton::clicked, this, [this, report] {
    const auto path = QFileDialog::getSaveFileName(this, tr("Export page as PDF"), "reparam.pdf", "PDF (*.pdf)");
    if (!path.isEmpty()) report(exportPage(path.endsWith(".pdf") ? path : path + ".pdf"));
  });
  connect(export_all, &QPushButton::clicked, this, [this, report] {
    const auto dir = QFileDialog::getExistingDirectory(this, tr("Export every page into"));
    if (!dir.isEmpty()) report(exportAll(dir));
  });
  connect(copy, &QPushButton::clicked, this, &ExplainerView::copyText);
  auto* breaks = new QHBoxLayout;
  breaks->addWidget(zero_padding_);
  breaks->addWidget(batch_stats_);
  breaks->addStretch();
  auto* bottom = new QHBoxLayout;
  bottom->addStretch();
  for (auto* b : {export_png, export_pdf, export_all, copy}) bottom->addWidget(b);

  auto* right = new QVBoxLayout;
  right->addWidget(message_);
  right->addLayout(breaks);
  right->addWidget(scroll_, 1);
  right->addLayout(bottom);
  auto* body = new QHBoxLayout;
  body->addLayout(left);
  body->addLayout(right, 1);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(top);
  layout->addLayout(branches);
  layout->addLayout(body, 1);

  connect(pages_, &QListWidget::currentRowChanged, this, [this](int) { rebuildPage(); });
  connect(source_, &QComboBox::activated, this, [this](int index) {
    if (index == 0) useDemo();
    else useRunLayer(layer_->value());
  });
  connect(layer_, &QSpinBox::valueChanged, this, [this](int l) {
    if (!syncing_ && !isDemo()) useRunLayer(l);
  });
  connect(demo_channels_, &QSpinBox::valueChanged, this, [this](int channels) {
    if (syncing_ || !isDemo()) return;
    const auto before = demoState();
    auto options = before.options;
    options.channels = channels;
    ex_ = std::make_unique<ReparamExplainer>(ReparamExplainer::demo(options));
    pushDemoEdit(tr("demo channels %1").arg(channels), before);
  });
  connect(demo_kernel_, &QComboBox::currentIndexChanged, this, [this] {
    if (syncing_ || !isDemo()) return;
    const auto before = demoState();
    auto options = before.options;
    options.kernel_size = demo_kernel_->currentData().toInt();
    ex_ = std::make_unique<ReparamExplainer>(ReparamExplainer::demo(options));
    pushDemoEdit(tr("demo K = %1").arg(options.kernel_size), before);
  });
  connect(randomize_, &QPushButton::clicked, this, [this] { randomize(seed_->value()); });
  connect(edit_values_, &QPushButton::clicked, this, &ExplainerView::editValues);
  connect(out_spin_, &QSpinBox::valueChanged, this, [this](int o) {
    if (!syncing_) setChannels(o, in_channel_);
  });
  connect(in_spin_, &QSpinBox::valueChanged, this, [this](int i) {
    if (!syncing_) setChannels(out_channel_, i);
  });
  connect(sample_, &QSpinBox::valueChanged, this, [this] {
    if (page() >= kProofPage) rebuildPage();
  });
  pages_->setCurrentRow(0);
  refresh();
}

ExplainerView::~ExplainerView() = default;

bool ExplainerView::isDemo() const { return ex_->isDemo(); }
int ExplainerView::page() const { return std::max(0, pages_->currentRow()); }

void ExplainerView::setPage(int page) { pages_->setCurrentRow(std::clamp(page, 0, kPageCount - 1)); }

void ExplainerView::setRunDir(const QString& dir) {
  run_dir_ = dir;
  if (!isDemo()) useRunLayer(run_layer_);
  syncControls();
}

void ExplainerView::setDataset(const QString& name, const QString& dir) {
  if (name == dataset_name_ && dir == dataset_dir_) return;
  dataset_name_ = name;
  dataset_dir_ = dir;
  if (page() >= kProofPage) rebuildPage();
}

ExplainerView::DemoState ExplainerView::demoState() const {
  DemoState s;
  if (ex_->isDemo()) {
    s.options.channels = ex_->spec().in_channels;
    s.options.kernel_size = ex_->spec().kernel_size;
    s.options.branches = ex_->spec().branches;
    s.options.identity = ex_->spec().identity;
    s.options.seed = ex_->seed();
    s.tensors = ex_->tensors();
  }
  return s;
}

void ExplainerView::applyDemoState(const DemoState& s) {
  auto ex = std::make_unique<ReparamExplainer>(ReparamExplainer::demo(s.options));
  for (const auto& t : s.tensors)
    for (size_t k = 0; k < t.values.size(); ++k) ex->setValue(t.name, static_cast<int64_t>(k), t.values[k]);
  ex_ = std::move(ex);
  syncing_ = true;
  seed_->setValue(static_cast<int>(s.options.seed));
  syncing_ = false;
  refresh();
}

void ExplainerView::pushDemoEdit(const QString& text, const DemoState& before) {
  const auto after = demoState();
  undo_->push(new DemoEdit(text, [this, before] { applyDemoState(before); },
                           [this, after] { applyDemoState(after); }));
  refresh();
}

void ExplainerView::useDemo() {
  if (isDemo()) return refresh();
  // Undo covers the edits of one block; switching blocks starts afresh.
  undo_->clear();
  ex_ = std::make_unique<ReparamExplainer>(ReparamExplainer::demo({}));
  refresh();
}

bool ExplainerView::useRunLayer(int layer) {
  if (run_dir_.isEmpty()) {
    message_->setText(tr("No run is open: start or open a run to explain its layers."));
    message_->show();
    syncControls();
    return false;
  }
  try {
    auto ex = std::make_unique<ReparamExplainer>(ReparamExplainer::fromRun(run_dir_.toStdString(), layer));
    ex_ = std::move(ex);
    undo_->clear();  // the demo block's edits do not apply to a run's layer
    run_layer_ = layer;
    message_->hide();
  } catch (const std::exception& e) {
    message_->setText(tr("Cannot explain layer %1 of %2: %3").arg(layer).arg(run_dir_, qs(e.what())));
    message_->show();
    syncControls();
    return false;
  }
  refresh();
  return true;
}

void ExplainerView::setRunLayer(int layer) {
  run_layer_ = layer;
  if (!isDemo()) useRunLayer(layer);
}

void ExplainerView::setChannels(int out_channel, int in_channel) {
  out_channel_ = out_channel;
  in_channel_ = in_channel;
  refresh();
}

bool ExplainerView::setValue(const QString& tensor, int index, double value) {
  if (!isDemo()) return false;
  const auto before = demoState();
  try {
    ex_->setValue(tensor.toStdString(), index, value);
  } catch (const std::exception& e) {
    message_->setText(qs(e.what()));
    message_->show();
    return false;
  }
  message_->hide();
  pushDemoEdit(tr("%1[%2] = %3").arg(tensor).arg(index).arg(value), before);
  return true;
}

void ExplainerView::randomize(int seed) {
  if (!isDemo()) return;
  const auto before = demoState();
  syncing_ = true;
  seed_->setValue(seed);
  syncing_ = false;
  ex_->randomize(static_cast<uint64_t>(seed));
  pushDemoEdit(tr("randomise (seed %1)").arg(seed), before);
}

void ExplainerView::onBranchToggled() {
  if (syncing_) return;
  BranchMask mask;
  for (int k = 0; k < kNumBranchKinds; ++k) mask.set(k, branch_boxes_[k]->isChecked());
  if (isDemo()) {
    const auto before = demoState();
    ex_->setDemoBranches(mask, branch_boxes_[kNumBranchKinds]->isChecked());
    pushDemoEdit(tr("branches %1").arg(qs(withKernelSizeNames(maskName(mask), ex_->spec().kernel_size))), before);
  } else {
    ex_->setActive(mask & ex_->spec().branches);
    refresh();
  }
}

void ExplainerView::editValues() {
  if (!isDemo()) return;
  QDialog dialog(this);
  dialog.setWindowTitle(tr("Demo block values"));
  auto* table = new QTableWidget(&dialog);
  table->setColumnCount(3);
  table->setHorizontalHeaderLabels({tr("tensor"), tr("index"), tr("value")});
  table->horizontalHeader()->setStretchLastSection(true);
  const auto tensors = ex_->tensors();
  int rows = 0;
  for (const auto& t : tensors) rows += static_cast<int>(t.values.size());
  table->setRowCount(rows);
  int r = 0;
  for (const auto& t : tensors)
    for (size_t k = 0; k < t.values.size(); ++k, ++r) {
      auto* name = new QTableWidgetItem(qs(t.name));
      name->setFlags(name->flags() & ~Qt::ItemIsEditable);
      auto* index = new QTableWidgetItem(QString::number(k));
      index->setFlags(index->flags() & ~Qt::ItemIsEditable);
      table->setItem(r, 0, name);
      table->setItem(r, 1, index);
      table->setItem(r, 2, new QTableWidgetItem(QString::number(t.values[k], 'g', 6)));
    }
  table->resizeColumnsToContents();
  connect(table, &QTableWidget::itemChanged, this, [this, table](QTableWidgetItem* item) {
    if (item->column() != 2) return;
    bool ok = false;
    const double v = item->text().toDouble(&ok);
    const auto name = table->item(item->row(), 0)->text();
    const int index = table->item(item->row(), 1)->text().toInt();
    if (!ok || !setValue(name, index, v)) {
      QSignalBlocker block(table);
      item->setBackground(QColor("#f5b7b1"));
      item->setToolTip(ok ? message_->text() : tr("not a number"));
    } else {
      item->setBackground(QBrush());
      item->setToolTip({});
    }
  });
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, &dialog);
  connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  auto* layout = new QVBoxLayout(&dialog);
  layout->addWidget(new QLabel(tr("Double-click a value to type a new one; the steps update at once. "
                                  "Running variances must be positive.")));
  layout->addWidget(table);
  layout->addWidget(buttons);
  dialog.resize(520, 600);
  dialog.exec();
}

void ExplainerView::syncControls() {
  syncing_ = true;
  const auto& spec = ex_->spec();
  source_->setCurrentIndex(isDemo() ? 0 : 1);
  source_->setItemData(1, run_dir_.isEmpty() ? QVariant(0) : QVariant(), Qt::UserRole - 1);
  layer_->setVisible(!isDemo());
  layer_->setRange(0, std::max(0, ex_->layers() - 1));
  layer_->setValue(run_layer_);
  demo_channels_->setVisible(isDemo());
  demo_channels_->setValue(spec.in_channels);
  demo_kernel_->setVisible(isDemo());
  demo_kernel_->setCurrentIndex(demo_kernel_->findData(spec.kernel_size));
  seed_->setVisible(isDemo());
  randomize_->setVisible(isDemo());
  edit_values_->setVisible(isDemo());
  for (int k = 0; k < kNumBranchKinds; ++k) {
    branch_boxes_[k]->setText(qs(branchDisplayName(static_cast<BranchKind>(k), spec.kernel_size)));
    // Demo: which branches the block has. Run layer: which of its branches are folded.
    branch_boxes_[k]->setEnabled(isDemo() || spec.branches.test(k));
    branch_boxes_[k]->setChecked(isDemo() ? spec.branches.test(k) : ex_->active().test(k));
  }
  branch_boxes_[kNumBranchKinds]->setEnabled(isDemo());
  branch_boxes_[kNumBranchKinds]->setChecked(spec.hasIdentityBranch());
  out_spin_->setRange(0, spec.out_channels - 1);
  in_spin_->setRange(0, spec.in_channels / spec.groups - 1);
  out_channel_ = std::min(out_channel_, spec.out_channels - 1);
  in_channel_ = std::min(in_channel_, spec.in_channels / spec.groups - 1);
  out_spin_->setValue(out_channel_);
  in_spin_->setValue(in_channel_);
  syncing_ = false;
}

void ExplainerView::refresh() {
  syncControls();
  try {
    steps_ = ex_->steps(out_channel_, in_channel_);
  } catch (const std::exception& e) {
    steps_.clear();
    message_->setText(qs(e.what()));
    message_->show();
  }
  rebuildPage();
  Q_EMIT changed();
}

bool ExplainerView::ensureSample(QString* error) {
  const QString key = dataset_name_ + "|" + dataset_dir_ + "|" + QString::number(sample_->value());
  if (sample_image_ && key == sample_key_) return true;
  try {
    sample_image_ = loadSampleImage({dataset_name_.toStdString(), dataset_dir_.toStdString()}, sample_->value());
    sample_key_ = key;
    return true;
  } catch (const std::exception& e) {
    sample_image_.reset();
    *error = tr("The proof needs a real image, and none could be read: %1").arg(qs(e.what()));
    return false;
  }
}

void ExplainerView::rebuildPage() {
  content_ = new QWidget;
  content_->setObjectName("explainerPage");
  content_->setAutoFillBackground(true);
  summary_ = nullptr;
  const int p = page();
  zero_padding_->setVisible(p == kBreakPage);
  batch_stats_->setVisible(p == kBreakPage);
  sample_->setVisible(p >= kProofPage);
  if (p < kProofPage) {
    proof_.reset();
    if (p < static_cast<int>(steps_.size())) buildStepPage(steps_[p]);
  } else {
    buildProofPage(p == kBreakPage);
  }
  scroll_->setWidget(content_);  // deletes the previous page
}

void ExplainerView::buildStepPage(const ExplainStep& step) {
  auto* layout = new QVBoxLayout(content_);
  // The header: title, formula, block and notes, with the branch diagram before → after beside.
  auto* header = new QHBoxLayout;
  auto* text = new QVBoxLayout;
  auto* title = new QLabel(tr("<h2>Step %1: %2</h2>").arg(step.number).arg(qs(step.title).toHtmlEscaped()));
  text->addWidget(title);
  auto* formula = textLabel(qs(step.formula), true);
  formula->setStyleSheet("background: #fdf2e9; color: #1b1b1b; border: 1px solid #e59866; padding: 6px;");
  text->addWidget(formula);
  text->addWidget(textLabel(tr("Block: %1. Kernel slice F[o = %2, i = %3].")
                                .arg(qs(ex_->label()))
                                .arg(out_channel_)
                                .arg(in_channel_)));
  for (const auto& n : step.notes) {
    auto* l = textLabel(qs(n));
    l->setStyleSheet("color: #566573; font-style: italic;");
    text->addWidget(l);
  }
  text->addStretch();
  header->addLayout(text, 1);
  // Step 4: why BN-and-pad makes the merge exact at the border.
  if (step.number == 4 && !step.items.empty()) header->addWidget(new PadWindowPicture(ex_->spec().kernel_size), 0, Qt::AlignTop);
  QStringList before, after;
  for (const auto& f : step.before) before << qs(f);
  for (const auto& f : step.after) after << qs(f);
  header->addWidget(new FoldDiagram(before, after, step.number), 0, Qt::AlignTop);
  layout->addLayout(header);
  // A step must fit the page as a person sees it: the items packed side by side in rows (each
  // as wide as it needs), and the kernel cells smaller (down to 24 px) until the page needs no
  // scrolling.
  const int available_height = scroll_->viewport()->height();
  const int available_width = scroll_->viewport()->width() - 24;
  // Wrapped labels: the height they take at the page's width, not at their preferred one.
  const int header_height = header->hasHeightForWidth() ? header->heightForWidth(available_width)
                                                        : header->sizeHint().height();
  std::vector<QGroupBox*> boxes;
  std::vector<std::vector<QGroupBox*>> rows;
  // Builds the items with `cell`-pixel kernel cells and packs them; true when the page fits.
  auto build = [&](int cell) {
    for (auto* box : boxes) delete box;
    boxes.clear();
    bool too_wide = false;
    for (const auto& item : step.items) {
      const bool small = cell <= 30;
      auto* box = new QGroupBox(qs(item.caption));
      auto* v = new QVBoxLayout(box);
      if (small) {  // many items: the arithmetic's lines closer together
        v->setSpacing(2);
        v->setContentsMargins(8, 6, 8, 6);
      }
      auto* row = new QHBoxLayout;
      const double scale = itemScale(item);
      for (const auto& m : item.inputs) row->addWidget(heatmapFor(m, scale, cell), 0, Qt::AlignTop);
      if (!item.outputs.empty()) {
        auto* arrow = new QLabel(QStringLiteral("→"));
        QFont f = arrow->font();
        f.setPointSize(f.pointSize() * 2);
        arrow->setFont(f);
        row->addWidget(arrow);
      }
      for (const auto& m : item.outputs) row->addWidget(heatmapFor(m, scale, cell), 0, Qt::AlignTop);
      row->addSpacing(small ? 6 : 12);
      row->addWidget(new ColourLegend(scale, /*upright=*/small), 0, Qt::AlignVCenter);
      row->addStretch();
      v->addLayout(row);
      for (const auto& line : item.lines) {
        auto* l = textLabel(qs(line), true);
        if (small) {
          QFont f = l->font();
          f.setPointSizeF(f.pointSizeF() * 0.85);
          l->setFont(f);
        }
        v->addWidget(l);
      }
      // As wide as its kernels (at least kMinItemWidth): the arithmetic wraps below them.
      const auto margins = v->contentsMargins();
      const int kernels_width = row->sizeHint().width() + margins.left() + margins.right();
      too_wide |= kernels_width > available_width;
      box->setFixedWidth(std::min(available_width, std::max(kMinItemWidth, kernels_width)));
      boxes.push_back(box);
    }
    rows = packStepItems(boxes, available_width, kItemSpacing);
    int height = header_height + layout->spacing();
    for (const auto& r : rows) {
      int row_height = 0;
      for (auto* box : r) row_height = std::max(row_height, box->heightForWidth(box->width()));
      height += row_height + kItemSpacing;
    }
    return height <= available_height && !too_wide;
  };
  bool fits = false;
  for (const int cell : {46, 40, 34, 30, 27, 24})
    if ((fits = build(cell))) break;
  if (!fits) build(46);  // it scrolls anyway: at the readable size
  for (const auto& r : rows) {
    auto* shelf = new QHBoxLayout;
    shelf->setSpacing(kItemSpacing);
    for (auto* box : r) shelf->addWidget(box, 0, Qt::AlignTop);
    shelf->addStretch();
    layout->addLayout(shelf);
  }
  layout->addStretch();
}

void ExplainerView::buildProofPage(bool broken) {
  auto* layout = new QVBoxLayout(content_);
  layout->addWidget(new QLabel(broken ? tr("<h2>Break it: what folding relies on</h2>")
                                      : tr("<h2>Proof: the block and its folded conv on a real image</h2>")));
  ProofOptions options;
  options.out_channel = out_channel_;
  options.in_channel = std::min(in_channel_, ex_->spec().in_channels - 1);
  options.zero_padding = broken && zero_padding_->isChecked();
  options.batch_statistics = broken && batch_stats_->isChecked();
  QString error;
  if (!ensureSample(&error)) {
    proof_.reset();
    auto* l = textLabel(error);
    l->setStyleSheet("color: #c0392b;");
    layout->addWidget(l);
    layout->addStretch();
    return;
  }
  try {
    proof_ = ex_->prove(sample_image_->image, sample_image_->channels, sample_image_->source, options);
  } catch (const std::exception& e) {
    proof_.reset();
    layout->addWidget(textLabel(tr("The proof failed: %1").arg(qs(e.what()))));
    layout->addStretch();
    return;
  }
  const auto& r = *proof_;
  layout->addWidget(textLabel(tr("Block: %1. Input: %2.").arg(qs(ex_->label()), qs(r.input_source))));
  if (broken) {
    layout->addWidget(textLabel(
        tr("Two things make the fold exact. <b>BN-and-pad</b>: the 1x1-KxK and 1x1-AVG branches pad "
           "their first stage's output with β − μγ/σ (what BN gives for a zero input), because the "
           "folded conv sees that value through its bias on the border too; padding with zeros breaks "
           "the border. <b>Running statistics</b>: the fold uses BN's running mean and variance; in "
           "training mode BN uses each batch's own, so the folded conv only equals the block in eval "
           "mode. Tick a box below to break one of them.")));
    const bool two_stage = ex_->active().test(static_cast<int>(BranchKind::OneByOneKxK)) ||
                           ex_->active().test(static_cast<int>(BranchKind::OneByOneAvg));
    if (options.zero_padding && !two_stage)
      layout->addWidget(textLabel(tr("This block has no active 1x1-KxK or 1x1-AVG branch, so the "
                                     "padding value does not matter here: turn one on.")));
  }
  const double scale = std::max(r.multi_branch.maxAbs(), r.folded.maxAbs());
  const double dmax = r.difference.maxAbs();
  // Four maps in a row when the page is wide enough, else two by two.
  auto* row = new QGridLayout;
  const int columns = proofColumns();
  proof_columns_ = columns;
  int placed = 0;
  auto add = [&](const ExplainImage& img, ImageMap::Palette pal, double s, const QString& footer,
                 QMargins border) {
    auto* m = new ImageMap;
    m->setImage(qs(img.caption), img, pal, s, footer, border);
    row->addWidget(m, placed / columns, placed % columns, Qt::AlignTop | Qt::AlignLeft);
    ++placed;
  };
  add(r.input, ImageMap::Palette::Gray, 1, tr("%1×%2").arg(r.input.height).arg(r.input.width), {});
  add(r.multi_branch, ImageMap::Palette::Diverging, scale, tr("Σ of the branches, before ReLU"), {});
  add(r.folded, ImageMap::Palette::Diverging, scale, tr("one %1×%1 conv + bias").arg(ex_->spec().kernel_size), {});
  add(r.difference, ImageMap::Palette::Heat, dmax > 0 ? dmax : 1,
      tr("max %1 in this channel; dashed: border").arg(dmax, 0, 'g', 3),
      QMargins(r.border_left, r.border_top, r.border_right, r.border_bottom));
  row->setColumnStretch(columns, 1);
  layout->addLayout(row);
  const double tolerance = 1e-5 * std::max(1.0, r.max_abs_output);
  const bool exact = r.max_abs_difference <= tolerance;
  summary_ = textLabel(
      tr("max |multi-branch − folded| over all %1 output channels = <b>%2</b> (outputs up to %3): %4<br>"
         "on the border (up to %5 px wide): %6 · inside: %7")
          .arg(ex_->spec().out_channels)
          .arg(r.max_abs_difference, 0, 'g', 3)
          .arg(r.max_abs_output, 0, 'g', 3)
          .arg(exact ? tr("equal up to float32 rounding") : tr("<b>they differ</b>"))
          .arg(r.borderWidth())
          .arg(r.border_max, 0, 'g', 3)
          .arg(r.interior_max, 0, 'g', 3));
  summary_->setTextFormat(Qt::RichText);
  summary_->setStyleSheet(exact ? "color: #1e8449; font-size: 12pt;" : "color: #c0392b; font-size: 12pt;");
  layout->addWidget(summary_);
  if (broken && !exact) {
    layout->addWidget(textLabel(
        r.interior_max <= tolerance
            ? tr("Only the border differs: that is where the KxK window reads the padding.")
            : tr("The difference is everywhere: the statistics differ for every position, not only at the border.")));
  }
  layout->addStretch();
}

int ExplainerView::proofColumns() const {
  return scroll_->viewport()->width() >= 4 * (ImageMap::kSide + 8 + 12) ? 4 : 2;
}

void ExplainerView::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  if (page() >= kProofPage && proofColumns() != proof_columns_) rebuildPage();
  // A different size may take other columns or cells: build the step again (once the size
  // settles: a drag resizes many times).
  if (page() < kProofPage && event->size() != event->oldSize()) relayout_.start();
}

QList<KernelHeatmap*> ExplainerView::pageHeatmaps() const {
  return content_ ? content_->findChildren<KernelHeatmap*>() : QList<KernelHeatmap*>{};
}

QList<ImageMap*> ExplainerView::pageImages() const {
  return content_ ? content_->findChildren<ImageMap*>() : QList<ImageMap*>{};
}

QString ExplainerView::pageText() const {
  const int p = page();
  if (p < kProofPage)
    return p < static_cast<int>(steps_.size()) ? qs(explainStepsText({steps_[p]})) : QString();
  return proof_ ? qs(explainProofText(*proof_)) : QString();
}

void ExplainerView::copyText() {
  QApplication::clipboard()->setText(tr("RepNAS Studio — %1\n\n").arg(qs(ex_->label())) + pageText());
}

namespace {

/// Renders `widget` (at its full size) onto a PDF page, scaled to fit.
void renderPdfPage(QPainter& painter, QPdfWriter& writer, QWidget* widget) {
  const QSize size = widget->size();
  const QRect page = writer.pageLayout().paintRectPixels(writer.resolution());
  const double s = std::min(static_cast<double>(page.width()) / size.width(),
                            static_cast<double>(page.height()) / size.height());
  painter.save();
  painter.scale(s, s);
  widget->render(&painter, QPoint(), QRegion(), QWidget::DrawChildren);
  painter.restore();
}

QString writeAtomically(const QString& path, const std::function<bool(QIODevice&)>& write) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly)) return QObject::tr("cannot write %1: %2").arg(path, file.errorString());
  if (!write(file)) return QObject::tr("cannot write %1").arg(path);
  if (!file.commit()) return QObject::tr("cannot write %1: %2").arg(path, file.errorString());
  return {};
}

}  // namespace

QString ExplainerView::exportPage(const QString& path) {
  content_->adjustSize();
  const bool pdf = path.endsWith(".pdf", Qt::CaseInsensitive);
  return writeAtomically(path, [&](QIODevice& out) {
    if (!pdf) return content_->grab().save(&out, "PNG");
    QPdfWriter writer(&out);
    writer.setPageSize(QPageSize(QPageSize::A4));
    writer.setPageOrientation(QPageLayout::Landscape);
    writer.setTitle(tr("RepNAS Studio: %1").arg(pageTitle(page())));
    QPainter painter(&writer);
    renderPdfPage(painter, writer, content_);
    return painter.end();
  });
}

QString ExplainerView::exportAll(const QString& dir) {
  if (!QDir().mkpath(dir)) return tr("cannot create %1").arg(dir);
  const int current = page();
  QString text = tr("RepNAS Studio — %1\n\n").arg(qs(ex_->label()));
  QString error;
  QSaveFile pdf_file(QDir(dir).filePath("reparameterization.pdf"));
  if (!pdf_file.open(QIODevice::WriteOnly)) return tr("cannot write %1").arg(pdf_file.fileName());
  {
    QPdfWriter writer(&pdf_file);
    writer.setPageSize(QPageSize(QPageSize::A4));
    writer.setPageOrientation(QPageLayout::Landscape);
    writer.setTitle(tr("RepNAS Studio: re-parameterization of %1").arg(qs(ex_->label())));
    QPainter painter(&writer);
    for (int p = 0; p < kPageCount && error.isEmpty(); ++p) {
      setPage(p);
      content_->adjustSize();
      if (p > 0) writer.newPage();
      renderPdfPage(painter, writer, content_);
      const auto name = QStringLiteral("page%1.png").arg(p + 1);
      error = writeAtomically(QDir(dir).filePath(name),
                              [&](QIODevice& out) { return content_->grab().save(&out, "PNG"); });
      text += pageText() + "\n";
    }
    painter.end();
  }
  setPage(current);
  if (!error.isEmpty()) return error;
  if (!pdf_file.commit()) return tr("cannot write %1: %2").arg(pdf_file.fileName(), pdf_file.errorString());
  return writeAtomically(QDir(dir).filePath("reparameterization.txt"), [&](QIODevice& out) {
    return out.write(text.toUtf8()) >= 0;
  });
}

}  // namespace repnas::ui
