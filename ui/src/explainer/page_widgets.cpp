// The explainer pages' widgets: ImageMap (public), and the diagrams, legends and labels the pages
// are built from (explainer/page_widgets.h).
#include "explainer/page_widgets.h"

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
#include "repnas_ui/explainer_view.h"
#include "widgets/ui_util.h"

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


namespace explainer {

QString pageTitle(int page) {
  static const char* const titles[] = {"1  Fold BN into conv", "2  Pad to KxK",
                                       "3  Average pooling", "4  Merge 1x1 → KxK",
                                       "5  Identity",        "6  Sum",
                                       "Proof",              "Break it"};
  return QObject::tr(titles[page]);
}

namespace {

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


}  // namespace

QWidget* foldDiagram(const QStringList& before, const QStringList& after, int step) {
  return new FoldDiagram(before, after, step);
}

QWidget* padWindowPicture(int kernel_size) { return new PadWindowPicture(kernel_size); }

QWidget* colourLegend(double scale, bool upright) { return new ColourLegend(scale, upright); }

/// One matrix as an annotated heatmap; colours scaled within the item.
KernelHeatmap* heatmapFor(const ExplainMatrix& m, double scale, int cell) {
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

QLabel* textLabel(const QString& text, bool mono) {
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

}  // namespace explainer
}  // namespace repnas::ui
