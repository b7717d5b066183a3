#include "repnas_ui/setup_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QThread>
#include <QVBoxLayout>

#include "repnas/backbone.h"
#include "repnas/dataset.h"
#include "ui_util.h"

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

QWidget* lineWithBrowse(QLineEdit* edit, QPushButton* browse) {
  auto* w = new QWidget;
  auto* h = new QHBoxLayout(w);
  h->setContentsMargins(0, 0, 0, 0);
  h->addWidget(edit, 1);
  h->addWidget(browse);
  return w;
}

/// Files a data set needs in its folder, as the readers look for them.
QString missingDataFiles(const QString& dataset, const QString& dir) {
  const QDir d(dir);
  if (!d.exists()) return QObject::tr("folder %1 does not exist").arg(dir);
  auto has = [&](const QString& name) {
    return d.exists(name) || d.exists(name + ".gz");
  };
  if (dataset == "cifar10") {
    if (!d.exists("data_batch_1.bin") || !d.exists("test_batch.bin"))
      return QObject::tr("no CIFAR-10 binary batches (data_batch_1.bin, test_batch.bin) in %1").arg(dir);
    return {};
  }
  for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"})
    if (!has(f)) return QObject::tr("%1[.gz] is missing in %2").arg(f, dir);
  return {};
}

}  // namespace

SetupPanel::SetupPanel(QWidget* parent) : QWidget(parent) {
  auto* outer = new QVBoxLayout(this);
  auto* form = new QFormLayout;
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  outer->addLayout(form);

  mode_ = new QComboBox;
  mode_->addItems({"search", "plain", "repvgg", "dbb"});
  addField(form, "mode", tr("&Mode"), mode_,
           tr("search: RepNAS searches which branches each layer keeps under the budget.\n"
              "plain: KxK only; repvgg: KxK + 1x1 + identity; dbb: KxK, 1x1, 1x1-KxK, 1x1-AVG\n"
              "(fixed masks, same training loop, for fair comparisons)."));
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
  data_dir_ = new QLineEdit;
  data_dir_->setPlaceholderText(qs(kDefaultFashionMnistDir));
  auto* browse_data = new QPushButton(tr("…"));
  browse_data->setToolTip(tr("Choose the data folder"));
  QWidget* data_row = lineWithBrowse(data_dir_, browse_data);
  addField(form, "data_dir", tr("Data &folder"), data_row,
           tr("Folder with the data files. Empty: the default folder of Fashion-MNIST."));
  fields_["data_dir"] = data_dir_;
  epochs_ = spin(1, 1000, 10);
  addField(form, "epochs", tr("&Epochs"), epochs_, tr("Training epochs in all."));
  warmup_ = spin(-1, 1000, -1, tr("auto (10%)"));
  addField(form, "warmup_epochs", tr("&Warm-up epochs"), warmup_,
           tr("Search mode: epochs with random branches and α frozen. auto: round(0.10 · epochs)."));
  search_ = spin(-1, 1000, -1, tr("auto (23%)"));
  addField(form, "search_epochs", tr("&Search epochs"), search_,
           tr("Search mode: epochs in which α learns; then the best k are fixed and trained.\n"
              "auto: round(0.23 · epochs)."));
  budget_ = spin(-1, 10000, -1, tr("auto (⌊0.34 · 6L⌋)"));
  addField(form, "budget", tr("B&udget k"), budget_,
           tr("Branches kept in all layers together (identity not counted).\n"
              "It can be changed while the search runs, in the Budget panel."));
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
  output_ = new QLineEdit;
  auto* browse_out = new QPushButton(tr("…"));
  browse_out->setToolTip(tr("Choose the output folder"));
  QWidget* out_row = lineWithBrowse(output_, browse_out);
  addField(form, "output", tr("&Output folder"), out_row,
           tr("The run folder: config.json, events.jsonl, checkpoint.pt, arch.json, weights.pt."));
  fields_["output"] = output_;

  summary_ = new QLabel;
  summary_->setWordWrap(true);
  outer->addWidget(summary_);
  start_ = new QPushButton(tr("&Start"));
  start_->setToolTip(tr("Start the run (Ctrl+Return). Disabled until every field is valid."));
  outer->addWidget(start_);
  outer->addStretch(1);

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
  for (auto* s : {epochs_, warmup_, search_, budget_, batch_, seed_, threads_, train_limit_, val_split_})
    connect(s, &QSpinBox::valueChanged, this, &SetupPanel::revalidate);
  connect(lr_, &QDoubleSpinBox::valueChanged, this, &SetupPanel::revalidate);
  connect(augment_, &QCheckBox::toggled, this, &SetupPanel::revalidate);
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
  error->setStyleSheet("color: #c0392b;");
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
  c.budget = budget_->value();
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
  budget_->setValue(c.budget);
  batch_->setValue(c.batch_size);
  lr_->setValue(c.lr);
  augment_->setChecked(c.flip || c.crop_padding > 0);
  seed_->setValue(static_cast<int>(c.seed));
  threads_->setValue(c.threads);
  train_limit_->setValue(static_cast<int>(c.train_limit));
  val_split_->setValue(static_cast<int>(c.val_split));
  revalidate();
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
  const bool search = c.mode == "search";
  warmup_->setEnabled(search && !locked_);
  search_->setEnabled(search && !locked_);
  budget_->setEnabled(search && !locked_);
  // The data folder: the files the reader will look for.
  const QString dir = c.data_dir.empty() ? (c.dataset == "fashion-mnist" ? qs(kDefaultFashionMnistDir) : QString())
                                         : qs(c.data_dir);
  if (!dir.isEmpty() && !problems_.count("data_dir")) {
    const auto why = missingDataFiles(qs(c.dataset), dir);
    if (!why.isEmpty())
      mark("data_dir", c.data_dir.empty() && c.dataset == "fashion-mnist"
                           ? why + tr(" (install the Debian package dataset-fashion-mnist)")
                           : why);
  }
  const QString out = outputDir();
  if (out.isEmpty())
    mark("output", tr("choose a folder for the run"));
  else if (QFileInfo::exists(QDir(out).filePath("checkpoint.pt")))
    mark("output", tr("already holds a run (checkpoint.pt): choose another folder, or open the "
                      "run and resume it"));
  else if (QFileInfo(out).exists() && !QFileInfo(out).isDir())
    mark("output", tr("is a file, not a folder"));

  for (const auto& [key, label] : error_labels_) {
    const auto it = problems_.find(key);
    const bool bad = it != problems_.end();
    label->setText(bad ? it->second : QString());
    label->setVisible(bad);
    QWidget* field = fields_.at(key);
    field->setStyleSheet(bad ? "border: 1px solid #c0392b;" : QString());
  }
  start_->setEnabled(problems_.empty() && !locked_);
  summary_->setText(problems_.empty()
                        ? tr("Ready: %1 on %2, %3 epochs.").arg(qs(c.mode), qs(c.backbone)).arg(c.epochs)
                        : tr("%n field(s) need attention.", "", static_cast<int>(problems_.size())));
  const bool valid = problems_.empty();
  if (valid != valid_) {
    valid_ = valid;
    Q_EMIT validityChanged(valid);
  }
  Q_EMIT revalidated();
}

void SetupPanel::setLocked(bool locked) {
  locked_ = locked;
  for (auto& [key, field] : fields_) field->setEnabled(!locked);
  for (auto* b : findChildren<QPushButton*>()) b->setEnabled(!locked);
  if (!locked) revalidate();
  else start_->setEnabled(false);
}

}  // namespace repnas::ui
