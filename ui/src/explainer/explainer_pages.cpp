// The explainer's pages: one folding step, the proof and the counter-example; their PNG/PDF export.
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
#include "explainer/page_widgets.h"
#include "widgets/ui_util.h"

namespace repnas::ui {

using namespace explainer;

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
  if (step.number == 4 && !step.items.empty()) header->addWidget(padWindowPicture(ex_->spec().kernel_size), 0, Qt::AlignTop);
  QStringList before, after;
  for (const auto& f : step.before) before << qs(f);
  for (const auto& f : step.after) after << qs(f);
  header->addWidget(foldDiagram(before, after, step.number), 0, Qt::AlignTop);
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
      row->addWidget(colourLegend(scale, /*upright=*/small), 0, Qt::AlignVCenter);
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
