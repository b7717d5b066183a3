// The teaching tab (repnas_ui/explainer_view.h): the block it explains, the controls, the demo
// edits and their undo. The pages themselves: explainer_pages.cpp; their widgets: page_widgets.cpp.
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

namespace {

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

}  // namespace repnas::ui
