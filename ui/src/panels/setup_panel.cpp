#include "repnas_ui/setup_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QEvent>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPainter>
#include <QStyle>
#include <QStyleOptionFrame>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QHeaderView>
#include <QTableWidget>
#include <QThread>
#include <QToolButton>

#include <algorithm>
#include <memory>
#include <mutex>
#include <QVBoxLayout>

#include "repnas/backbone.h"
#include "repnas/dataset.h"
#include "repnas/run_folder.h"
#include "repnas/strategy_info.h"

#include <nlohmann/json.hpp>
#include "widgets/ui_util.h"

namespace repnas::ui {
namespace {

QSpinBox* spin(int min, int max, int value, const QString& special = {}) {
  auto* s = new QSpinBox;
  s->setRange(min, max);
  s->setValue(value);
  if (!special.isEmpty()) s->setSpecialValueText(special);
  s->setAccelerated(true);
  return s;
}

/// A path field: the whole path visible as far as it fits, elided in the middle when the
/// field does not have the focus, the full path in the tool tip.
class PathEdit : public QLineEdit {
 public:
  PathEdit() { connect(this, &QLineEdit::textChanged, this, [this](const QString& t) { setToolTip(t); }); }

 protected:
  void paintEvent(QPaintEvent* e) override {
    if (hasFocus() || text().isEmpty() || fontMetrics().horizontalAdvance(text()) < contentsRect().width() - 12) {
      QLineEdit::paintEvent(e);
      return;
    }
    // The frame as the style draws it, then the elided path.
    QPainter p(this);
    QStyleOptionFrame frame;
    initStyleOption(&frame);
    style()->drawPrimitive(QStyle::PE_PanelLineEdit, &frame, &p, this);
    p.setPen(palette().color(isEnabled() ? QPalette::Active : QPalette::Disabled, QPalette::Text));
    const QRect r = style()->subElementRect(QStyle::SE_LineEditContents, &frame, this).adjusted(2, 0, -2, 0);
    p.drawText(r, Qt::AlignVCenter | Qt::AlignLeft, fontMetrics().elidedText(text(), Qt::ElideMiddle, r.width()));
  }
};

QWidget* lineWithBrowse(QLineEdit* edit, QPushButton* browse) {
  auto* w = new QWidget;
  auto* h = new QHBoxLayout(w);
  h->setContentsMargins(0, 0, 0, 0);
  h->addWidget(edit, 1);
  h->addWidget(browse);
  return w;
}

}  // namespace

SetupPanel::SetupPanel(QWidget* parent) : QWidget(parent) {
  auto* outer = new QVBoxLayout(this);
  auto* form = new QFormLayout;
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  outer->addLayout(form);

  mode_ = new QComboBox;
  for (const auto& s : strategyRegistry()) {  // one entry per mode, described by the registry
    mode_->addItem(qs(s.name));
    mode_->setItemData(mode_->count() - 1, qs(s.summary), Qt::ToolTipRole);
  }
  addField(form, "strategy", tr("St&rategy"), mode_,
           tr("search: RepNAS searches which branches each layer keeps under the budget.\n"
              "plain: KxK only; plain+identity: KxK + identity; repvgg: KxK + 1x1 + identity;\n"
              "dbb: KxK, 1x1, 1x1-KxK, 1x1-AVG (fixed masks, same training loop, for fair\n"
              "comparisons); odbb: train the mask below from scratch (a found ODBB, or a\n"
              "random control)."));
  backbone_ = new QComboBox;
  for (const auto& p : backbonePresets()) backbone_->addItem(qs(p));
  addField(form, "backbone", tr("&Backbone"), backbone_,
           tr("tiny: widths 16/32/64/128, 8 searchable layers (28x28 inputs); small: 10 layers;\n"
              "repvgg-a0: the published A0 shape, 22 layers; resnet18: 17 layers with residual adds."));
  dataset_ = new QComboBox;
  dataset_->addItems({"fashion-mnist", "mnist", "idx", "cifar10"});
  addField(form, "dataset", tr("&Data set"), dataset_,
           tr("fashion-mnist reads Debian's dataset-fashion-mnist package by default;\n"
              "mnist / idx read IDX files from a folder, cifar10 its binary batches."));
  data_dir_ = new PathEdit;
  data_dir_->setPlaceholderText(qs(kDefaultFashionMnistDir));
  auto* browse_data = new QPushButton(tr("…"));
  browse_data->setToolTip(tr("Choose the data folder"));
  QWidget* data_row = lineWithBrowse(data_dir_, browse_data);
  addField(form, "data_dir", tr("Data &folder"), data_row,
           tr("Folder with the data files. Empty: the default folder of Fashion-MNIST."));
  fields_["data_dir"] = data_dir_;
  epochs_ = spin(1, 1000, 10);
  addField(form, "epochs", tr("&Epochs"), epochs_,
           tr("Training epochs of a fixed-mask mode; in search mode the default length of the\n"
              "fixed phase, so that the found network trains as long as a baseline."));
  warmup_ = spin(-1, 1000, -1, tr("auto (15%)"));
  addField(form, "warmup_epochs", tr("&Warm-up epochs"), warmup_,
           tr("Search mode: epochs that train uniformly random k-subsets of the branches, α frozen.\n"
              "auto: round(0.15 · fixed epochs), the official run's ratio."));
  search_ = spin(-1, 1000, -1, tr("auto (35%)"));
  addField(form, "search_epochs", tr("&Search epochs"), search_,
           tr("Search mode: epochs in which α learns on noisy top-k masks; then the best k are\n"
              "fixed and trained. auto: round(0.35 · fixed epochs), the official run's ratio."));
  fixed_ = spin(-1, 1000, -1, tr("= epochs"));
  addField(form, "fixed_epochs", tr("F&ixed epochs"), fixed_,
           tr("Search mode: epochs after the fix; warm-up and search come on top.\n"
              "= epochs: as long as a baseline trains."));
  budget_ = spin(-1, 10000, -1, tr("auto (⌊0.34 · 6L⌋)"));
  addField(form, "budget", tr("B&udget k"), budget_,
           tr("Branches kept in all layers together (identity not counted).\n"
              "It can be changed while the search runs, in the Budget panel."));
  mask_ = new QComboBox;
  // A given mask's source names a folder: it must not widen the panel.
  mask_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  mask_->setMinimumContentsLength(8);
  addField(form, "mask", tr("Mas&k"), mask_,
           tr("Mode odbb: the branches it trains. random: drawn uniformly from the masks the budget,\n"
              "pins and layer limits allow (with the seed); or the mask of a found architecture\n"
              "(Run → Train this architecture from scratch)."));
  arch_lr_ = new QDoubleSpinBox;
  arch_lr_->setDecimals(6);
  arch_lr_->setRange(-1, 10);
  arch_lr_->setSingleStep(0.0001);
  arch_lr_->setSpecialValueText(tr("auto"));
  arch_lr_->setValue(-1);
  arch_lr_resolved_ = new QLabel;
  arch_lr_resolved_->setObjectName("archLrResolved");
  arch_lr_resolved_->setWordWrap(true);
  auto* arch_row = new QWidget;
  auto* arch_v = new QVBoxLayout(arch_row);
  arch_v->setContentsMargins(0, 0, 0, 0);
  arch_v->setSpacing(1);
  arch_v->addWidget(arch_lr_);
  arch_v->addWidget(arch_lr_resolved_);
  addField(form, "arch_lr", tr("&Arch. lr"), arch_row,
           tr("Adam learning rate of α. auto: arch_travel / search steps, so that α can travel\n"
              "as far as in the official ImageNet run (1e-4 · 175k steps = 17.5) whatever the\n"
              "length of this run. The value in use is written to the run's config.json."));
  fields_["arch_lr"] = arch_lr_;
  auto noiseSpin = [](double value) {
    auto* d = new QDoubleSpinBox;
    d->setDecimals(3);
    d->setRange(0, 10);
    d->setSingleStep(0.05);
    d->setValue(value);
    return d;
  };
  noise_start_ = noiseSpin(1.0);
  noise_end_ = noiseSpin(0.1);
  auto* noise_row = new QWidget;
  auto* noise_h = new QHBoxLayout(noise_row);
  noise_h->setContentsMargins(0, 0, 0, 0);
  noise_h->addWidget(noise_start_, 1);
  noise_h->addWidget(new QLabel(tr("→")));
  noise_h->addWidget(noise_end_, 1);
  addField(form, "noise_start", tr("&Noise τ"), noise_row,
           tr("Scale τ of the logistic noise in r = α + τ·ε, from the start to the end of the search\n"
              "(geometric). 1 → 1 is the official run; annealing lets the last search epoch train\n"
              "(nearly) the mask that will be fixed."));
  fields_["noise_start"] = noise_start_;
  fields_["noise_end"] = noise_end_;
  norm_reset_ = new QCheckBox(tr("at the fix"));
  norm_reset_->setChecked(true);
  addField(form, "norm_reset", tr("Nor&m reset"), norm_reset_,
           tr("At the fix, every conv kernel that feeds a BatchNorm goes back to its norm at\n"
              "initialisation (the network's function does not change): the random-subset steps\n"
              "inflate the kernels, which slows the fixed phase."));
  batch_ = spin(1, 65536, 128);
  addField(form, "batch_size", tr("Batch si&ze"), batch_, tr("Training batch size."));
  lr_ = new QDoubleSpinBox;
  lr_->setDecimals(4);
  lr_->setRange(0.0001, 10);
  lr_->setSingleStep(0.01);
  lr_->setValue(0.1);
  addField(form, "lr", tr("&Learning rate"), lr_, tr("SGD learning rate (cosine to 0 over all steps)."));
  augment_ = new QCheckBox(tr("random crop and flip"));
  augment_->setChecked(true);
  addField(form, "augment", tr("&Augmentation"), augment_,
           tr("Random crop after 2-pixel zero padding and horizontal flip."));
  seed_ = spin(0, 1000000, 1);
  addField(form, "seed", tr("S&eed"), seed_,
           tr("Random seed: the same seed and threads give the same run."));
  threads_ = spin(0, 256, 0, tr("all cores (%1)").arg(QThread::idealThreadCount()));
  addField(form, "threads", tr("&Threads"), threads_, tr("LibTorch compute threads."));
  train_limit_ = spin(0, 10000000, 0, tr("all"));
  addField(form, "train_limit", tr("Training &images"), train_limit_,
           tr("Use only the first N training images (0: all)."));
  val_split_ = spin(0, 10000000, 0, tr("none"));
  addField(form, "val_split", tr("&Validation images"), val_split_,
           tr("Hold out N training images to report validation accuracy every epoch."));
  output_ = new PathEdit;
  auto* browse_out = new QPushButton(tr("…"));
  browse_out->setToolTip(tr("Choose the output folder"));
  QWidget* out_row = lineWithBrowse(output_, browse_out);
  addField(form, "output", tr("&Output folder"), out_row,
           tr("The run folder: config.json, events.jsonl, checkpoint.pt, arch.json, weights.pt."));
  fields_["output"] = output_;

  // Every key of the configuration, from the same table as `repnas search --help`: what the
  // fields above do not show is still there, and a run opened here starts with all of it.
  auto* advanced_toggle = new QToolButton;
  advanced_toggle->setText(tr("Ad&vanced: every configuration key"));
  advanced_toggle->setCheckable(true);
  advanced_toggle->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  advanced_toggle->setArrowType(Qt::RightArrow);
  advanced_toggle->setAutoRaise(true);
  advanced_ = new QTableWidget(0, 2);
  advanced_->setObjectName("advancedKeys");
  advanced_->setHorizontalHeaderLabels({tr("key"), tr("value (JSON)")});
  advanced_->verticalHeader()->hide();
  advanced_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
  advanced_->horizontalHeader()->setStretchLastSection(true);
  advanced_->setMinimumHeight(220);
  advanced_->setToolTip(tr("Every key of config.json. Double-click a value to edit it (JSON: numbers, "
                           "true/false, \"text\", lists); the fields above follow."));
  advanced_box_ = advanced_;
  advanced_->hide();
  connect(advanced_toggle, &QToolButton::toggled, this, [this, advanced_toggle](bool on) {
    advanced_toggle->setArrowType(on ? Qt::DownArrow : Qt::RightArrow);
    advanced_->setVisible(on);
  });
  connect(advanced_, &QTableWidget::cellChanged, this, [this](int row, int) {
    if (!filling_advanced_) applyAdvancedEdit(row);
  });
  outer->addWidget(advanced_toggle);
  outer->addWidget(advanced_, 1);

  summary_ = new QLabel;
  summary_->setWordWrap(true);
  outer->addWidget(summary_);
  start_ = new QPushButton(tr("&Start"));
  start_->setToolTip(tr("Start the run (Ctrl+Return). Disabled until every field is valid."));
  outer->addWidget(start_);
  outer->addStretch(0);

  connect(start_, &QPushButton::clicked, this, [this] {
    if (isValid()) Q_EMIT startRequested();
  });
  connect(browse_data, &QPushButton::clicked, this, [this] {
    const auto dir = QFileDialog::getExistingDirectory(this, tr("Data folder"), data_dir_->text());
    if (!dir.isEmpty()) data_dir_->setText(dir);
  });
  connect(browse_out, &QPushButton::clicked, this, [this] {
    const auto dir = QFileDialog::getExistingDirectory(this, tr("Output folder"), output_->text());
    if (!dir.isEmpty()) output_->setText(dir);
  });
  for (auto* box : {mode_, backbone_, dataset_})
    connect(box, &QComboBox::currentTextChanged, this, &SetupPanel::revalidate);
  for (auto* edit : {data_dir_, output_})
    connect(edit, &QLineEdit::textChanged, this, &SetupPanel::revalidate);
  for (auto* s : {epochs_, warmup_, search_, fixed_, budget_, batch_, seed_, threads_, train_limit_, val_split_})
    connect(s, &QSpinBox::valueChanged, this, &SetupPanel::revalidate);
  for (auto* d : {lr_, arch_lr_, noise_start_, noise_end_})
    connect(d, &QDoubleSpinBox::valueChanged, this, &SetupPanel::revalidate);
  connect(mask_, &QComboBox::currentIndexChanged, this, &SetupPanel::revalidate);
  for (auto* b : {augment_, norm_reset_}) connect(b, &QCheckBox::toggled, this, &SetupPanel::revalidate);
  fillMaskChoices();
  revalidate();
}

QWidget* SetupPanel::addField(QFormLayout* form, const QString& key, const QString& label,
                              QWidget* field, const QString& tip) {
  auto* holder = new QWidget;
  auto* v = new QVBoxLayout(holder);
  v->setContentsMargins(0, 0, 0, 0);
  v->setSpacing(1);
  v->addWidget(field);
  auto* error = new QLabel;
  error->setObjectName("fieldError_" + key);
  setInk(error, Ink::Error);
  error->setWordWrap(true);
  error->hide();
  v->addWidget(error);
  field->setToolTip(tip);
  form->addRow(label, holder);
  fields_[key] = field;
  error_labels_[key] = error;
  return holder;
}

RunConfig SetupPanel::config() const {
  RunConfig c = base_;
  c.mode = mode_->currentText().toStdString();
  c.backbone = backbone_->currentText().toStdString();
  c.dataset = dataset_->currentText().toStdString();
  c.data_dir = data_dir_->text().trimmed().toStdString();
  c.epochs = epochs_->value();
  c.warmup_epochs = warmup_->value();
  c.search_epochs = search_->value();
  c.fixed_epochs = fixed_->value();
  c.budget = budget_->value();
  c.arch_lr = arch_lr_->value() <= -1 ? -1 : arch_lr_->value();
  c.noise_start = noise_start_->value();
  c.noise_end = noise_end_->value();
  c.norm_reset = norm_reset_->isChecked();
  // Mask: the mode's branches, random, or the given mask the form was set up with.
  const QString choice = mask_->currentData().toString();
  c.mask = {};
  c.mask_source = base_.mask_source;
  if (c.mode == "odbb" && choice == "random") c.mask.kind = MaskSetting::Kind::Random;
  if (c.mode == "odbb" && choice == "given") c.mask = base_.mask;
  if (c.mask.kind != MaskSetting::Kind::Given) c.mask_source.clear();
  c.batch_size = batch_->value();
  c.lr = lr_->value();
  c.crop_padding = augment_->isChecked() ? (base_.crop_padding > 0 ? base_.crop_padding : 2) : 0;
  c.flip = augment_->isChecked();
  c.seed = static_cast<std::uint64_t>(seed_->value());
  c.threads = threads_->value();
  c.train_limit = train_limit_->value();
  c.val_split = val_split_->value();
  return c;
}

void SetupPanel::setConfig(const RunConfig& c) {
  base_ = c;
  mode_->setCurrentText(qs(c.mode));
  backbone_->setCurrentText(qs(c.backbone));
  dataset_->setCurrentText(qs(c.dataset));
  data_dir_->setText(qs(c.data_dir));
  epochs_->setValue(c.epochs);
  warmup_->setValue(c.warmup_epochs);
  search_->setValue(c.search_epochs);
  fixed_->setValue(c.fixed_epochs);
  budget_->setValue(c.budget);
  arch_lr_->setValue(c.arch_lr);
  noise_start_->setValue(c.noise_start);
  noise_end_->setValue(c.noise_end);
  norm_reset_->setChecked(c.norm_reset);
  fillMaskChoices();
  batch_->setValue(c.batch_size);
  lr_->setValue(c.lr);
  augment_->setChecked(c.flip || c.crop_padding > 0);
  seed_->setValue(static_cast<int>(c.seed));
  threads_->setValue(c.threads);
  train_limit_->setValue(static_cast<int>(c.train_limit));
  val_split_->setValue(static_cast<int>(c.val_split));
  revalidate();
}

void SetupPanel::fillMaskChoices() {
  const QSignalBlocker block(mask_);
  mask_->clear();
  mask_->addItem(tr("none: the mode's branches"), "none");
  mask_->addItem(tr("random: uniform under the budget"), "random");
  if (base_.mask.kind == MaskSetting::Kind::Given)
    mask_->addItem(base_.mask_source.empty()
                       ? tr("given: %1 branches").arg(countBranches(base_.mask.layers))
                       : tr("given: %1").arg(qs(base_.mask_source)),
                   "given");
  // The form shows the configuration it was given.
  const QString want = base_.mask.kind == MaskSetting::Kind::Given    ? "given"
                       : base_.mask.kind == MaskSetting::Kind::Random ? "random"
                                                                      : "none";
  const int at = mask_->findData(want);
  mask_->setCurrentIndex(at >= 0 ? at : 0);
}

QString SetupPanel::archLrResolution() const {
  const auto c = config();
  // The strategy's own α learning rate: RepNAS's arch_lr (the field) or GDAS's gdas_arch_lr.
  const bool repnas = strategyUsesKey(c.mode, "arch_lr");
  const bool gdas = strategyUsesKey(c.mode, "gdas_arch_lr");
  if (!repnas && !gdas) return tr("(searches only)");
  const double lr = repnas ? c.arch_lr : c.gdas_arch_lr;
  const double travel = repnas ? c.arch_travel : c.gdas_arch_travel;
  const QString who = repnas ? QString() : tr("GDAS: ");
  if (lr >= 0) return who + tr("set explicitly: %1").arg(lr, 0, 'g', 4);
  // The training images, once the data check has read the files.
  int64_t images = std::max<int64_t>(0, dataTrainImages());
  if (c.train_limit > 0 && images > 0) images = std::min(images, c.train_limit);
  images -= c.resolvedValSplit(images);
  if (images <= 0 || c.batch_size < 1)
    return who + tr("%1 / search steps (the steps follow from the data set)").arg(travel);
  const int64_t steps = (images + c.batch_size - 1) / c.batch_size * c.resolvedSearchEpochs();
  const double resolved = repnas ? c.resolvedArchLr(steps) : c.resolvedGdasArchLr(steps);
  return who + tr("%1 / %2 search steps = %3").arg(travel).arg(steps).arg(resolved, 0, 'g', 4);
}

QString SetupPanel::outputDir() const { return output_->text().trimmed(); }
void SetupPanel::setOutputDir(const QString& dir) { output_->setText(dir); }

QString SetupPanel::problemAt(const QString& key) const {
  const auto it = problems_.find(key);
  return it == problems_.end() ? QString() : it->second;
}

void SetupPanel::mark(const QString& key, const QString& reason) {
  if (!problems_.count(key)) problems_[key] = reason;
}

void SetupPanel::revalidate() {
  problems_.clear();
  const auto c = config();
  for (const auto& p : c.problems()) {
    QString key = qs(p.key);
    if (!fields_.count(key)) key = "budget";  // layer limits and pins live with the budget
    mark(key, qs(p.message));
  }
  // A field is editable when the chosen strategy reads its key (the strategy registry says).
  const bool random_mask = c.mask.kind == MaskSetting::Kind::Random;
  const std::pair<QWidget*, const char*> own_keys[] = {
      {warmup_, "warmup_epochs"}, {search_, "search_epochs"}, {fixed_, "fixed_epochs"},
      {arch_lr_, "arch_lr"}, {noise_start_, "noise_start"}, {noise_end_, "noise_end"},
      {norm_reset_, "norm_reset"}};
  for (const auto& [w, key] : own_keys) w->setEnabled(strategyUsesKey(c.mode, key) && !locked_);
  budget_->setEnabled((c.isSearch() || random_mask) && !locked_);
  mask_->setEnabled(c.mode == "odbb" && !locked_);
  arch_lr_resolved_->setText(archLrResolution());
  // The data folder: read by the engine's own reader (in a worker thread, once per folder),
  // so a missing or corrupt file and a folder layout are judged as the engine will judge them.
  bool checking = false;
  if (!problems_.count("data_dir") && !problems_.count("dataset")) {
    const QString key = dataKey();
    const auto it = data_checks_.find(key);
    if (it == data_checks_.end()) {
      checking = true;
      if (data_checking_ != key) checkData(key, qs(c.dataset), qs(c.data_dir));
    } else if (!it->second.error.isEmpty()) {
      mark("data_dir", c.data_dir.empty() && c.dataset == "fashion-mnist"
                           ? it->second.error + tr(" (install the Debian package dataset-fashion-mnist)")
                           : it->second.error);
    } else {
      for (const auto& p : c.dataProblems(it->second.train_images)) mark(qs(p.key), qs(p.message));
    }
  }
  const QString out = outputDir();
  if (out.isEmpty())
    mark("output", tr("choose a folder for the run"));
  else if (RunFolder(out.toStdString()).hasCheckpoint())
    mark("output", tr("already holds a run (checkpoint.pt): choose another folder, or open the "
                      "run and resume it"));
  else if (QFileInfo(out).exists() && !QFileInfo(out).isDir())
    mark("output", tr("is a file, not a folder"));

  for (const auto& [key, label] : error_labels_) {
    const auto it = problems_.find(key);
    const bool bad = it != problems_.end();
    label->setText(bad ? it->second : QString());
    label->setVisible(bad);
    // An invalid field is tinted red (through its palette, so light and dark themes both work).
    QWidget* field = fields_.at(key);
    if (bad) {
      const QColor base = palette().color(QPalette::Base);
      QPalette pal;  // only Base set: the rest follows the theme
      const QColor red("#c0392b");
      pal.setColor(QPalette::Base, QColor::fromRgbF(0.7 * base.redF() + 0.3 * red.redF(), 0.7 * base.greenF() + 0.3 * red.greenF(),
                                                    0.7 * base.blueF() + 0.3 * red.blueF()));
      field->setPalette(pal);
    } else {
      field->setPalette(QPalette());  // inherit again
    }
    field->setProperty("invalid", bad);
  }
  start_->setEnabled(problems_.empty() && !locked_);
  if (!filling_advanced_) fillAdvanced();
  summary_->setText(checking && problems_.empty() ? tr("Reading the data files…")
                    : problems_.empty()
                        ? (c.isSearch() ? tr("Ready: %1 search on %2, %3 epochs (%4 warm-up, %5 search, %6 fixed).")
                                        .arg(qs(strategyInfo(c.mode).method), qs(c.backbone)).arg(c.totalEpochs())
                                        .arg(c.resolvedWarmupEpochs()).arg(c.resolvedSearchEpochs())
                                        .arg(c.resolvedFixedEpochs())
                                  : tr("Ready: %1 on %2, %3 epochs.").arg(qs(c.mode), qs(c.backbone)).arg(c.epochs))
                        : tr("%n field(s) need attention.", "", static_cast<int>(problems_.size())));
  const bool valid = problems_.empty();
  if (valid != valid_) {
    valid_ = valid;
    Q_EMIT validityChanged(valid);
  }
  Q_EMIT revalidated();
}

SetupPanel::~SetupPanel() {
  for (auto& thread : check_threads_)
    if (thread) thread->wait();
}

QString SetupPanel::dataKey() const {
  return dataset_->currentText() + "|" + data_dir_->text().trimmed();
}

int64_t SetupPanel::dataTrainImages() const {
  const auto it = data_checks_.find(dataKey());
  return it == data_checks_.end() || !it->second.error.isEmpty() ? -1 : it->second.train_images;
}

void SetupPanel::checkData(const QString& key, const QString& dataset, const QString& dir) {
  // Checks run beside each other (each reads into its own result): the GUI thread never waits
  // for a folder being read; a result is kept under its own folder's key.
  check_threads_.erase(std::remove(check_threads_.begin(), check_threads_.end(), nullptr), check_threads_.end());
  data_checking_ = key;
  auto result = std::make_shared<DataCheck>();
  const DatasetSpec spec{dataset.toStdString(), dir.toStdString()};
  QThread* thread = QThread::create([spec, result] {
    try {
      result->train_images = inspectDataset(spec).train_count;
    } catch (const std::exception& e) {
      result->error = QString::fromStdString(e.what());
    }
  });
  check_threads_.push_back(thread);
  connect(thread, &QThread::finished, this, [this, key, result] {
    data_checks_[key] = *result;
    if (data_checking_ == key) data_checking_.clear();
    revalidate();
  });
  connect(thread, &QThread::finished, thread, &QObject::deleteLater);
  thread->start();
}

void SetupPanel::fillAdvanced() {
  filling_advanced_ = true;
  const RunConfig c = config();
  const auto all = nlohmann::json::parse(configToJson(c));
  const auto& keys = configKeyHelp();
  advanced_->setRowCount(static_cast<int>(keys.size()));
  for (int row = 0; row < static_cast<int>(keys.size()); ++row) {
    const auto& k = keys[static_cast<size_t>(row)];
    auto* name = advanced_->item(row, 0);
    if (!name) {
      name = new QTableWidgetItem;
      name->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable);
      advanced_->setItem(row, 0, name);
    }
    name->setText(qs(k.key));
    name->setToolTip(qs(k.description));
    auto* value = advanced_->item(row, 1);
    if (!value) {
      value = new QTableWidgetItem;
      advanced_->setItem(row, 1, value);
    }
    value->setText(all.contains(k.key) ? qs(all.at(k.key).dump()) : QString());
    value->setToolTip(qs(k.description));
    const auto it = problems_.find(qs(k.key));
    value->setForeground(it != problems_.end() ? QColor("#c0392b") : palette().color(QPalette::Text));
    value->setFlags(locked_ ? Qt::ItemIsEnabled | Qt::ItemIsSelectable
                            : Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsEditable);
  }
  filling_advanced_ = false;
}

void SetupPanel::applyAdvancedEdit(int row) {
  const QString key = advanced_->item(row, 0)->text();
  const QString value = advanced_->item(row, 1)->text().trimmed();
  RunConfig c = config();
  try {
    applyConfigOverride(c, key.toStdString() + "=" + value.toStdString());
  } catch (const std::exception& e) {
    // A value the key cannot take: say so where the user typed it, keep the form as it was.
    advanced_->item(row, 1)->setToolTip(QString::fromStdString(e.what()));
    filling_advanced_ = true;
    advanced_->item(row, 1)->setForeground(QColor("#c0392b"));
    filling_advanced_ = false;
    summary_->setText(QString::fromStdString(e.what()));
    return;
  }
  const QString out = outputDir();
  setConfig(c);
  setOutputDir(out);
}

void SetupPanel::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  // A theme change: the red tint of invalid fields is mixed from the new base colour.
  if (event->type() == QEvent::PaletteChange && !problems_.empty()) revalidate();
}

void SetupPanel::setLocked(bool locked) {
  locked_ = locked;
  for (auto& [key, field] : fields_) field->setEnabled(!locked);
  for (auto* b : findChildren<QPushButton*>()) b->setEnabled(!locked);
  if (!locked) revalidate();
  else start_->setEnabled(false);
}

}  // namespace repnas::ui
