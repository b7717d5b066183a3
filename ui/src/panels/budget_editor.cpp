#include "repnas_ui/budget_editor.h"

#include "repnas/strategy_info.h"

#include <algorithm>
#include <memory>
#include <optional>

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QSlider>
#include <QSpinBox>
#include <QTableWidget>
#include <QUndoCommand>
#include <QUndoStack>
#include <QVBoxLayout>

#include "repnas/command_journal.h"
#include "repnas_ui/run_model.h"
#include "widgets/ui_util.h"

namespace repnas::ui {
namespace {

/// One entry of the engine's budget-edit journal, as the undo stack shows it. The engine
/// keeps the history (command_journal.h): the first redo sends the edit, later ones send Redo,
/// undo sends Undo; the engine restores the budgets. Entries rebuilt from the engine's journal
/// (`replaying`) send nothing while the stack is rebuilt. Edits of one drag (the same
/// Command::merge on one setting) merge here as they merge in the engine.
class EngineEdit : public QUndoCommand {
 public:
  struct Context {
    std::function<int64_t(const Command&)> post;
    std::function<QString(const std::string&)> display;  ///< the run's branch names
    const bool* replaying;
  };
  EngineEdit(const Context& context, const Command& edit, std::string raw,
             std::optional<std::pair<Budget, Budget>> budgets)
      : context_(context), edit_(edit), raw_(std::move(raw)), budgets_(std::move(budgets)),
        sent_(*context.replaying) {
    setText(context_.display(raw_));
  }
  int id() const override { return edit_.merge != 0 ? 1 : -1; }
  bool mergeWith(const QUndoCommand* other) override {
    const auto* o = dynamic_cast<const EngineEdit*>(other);
    if (!o || o->edit_.merge != edit_.merge || !sameBudgetSetting(o->edit_, edit_) || !budgets_ ||
        !o->budgets_)
      return false;
    edit_ = o->edit_;
    budgets_->second = o->budgets_->second;
    raw_ = describeBudgetChange(budgets_->first, budgets_->second);
    setText(context_.display(raw_));
    if (budgets_->first == budgets_->second) setObsolete(true);  // the drag came back
    return true;
  }
  void redo() override {
    if (*context_.replaying) return;
    context_.post(sent_ ? Command::redo() : edit_);
    sent_ = true;
  }
  void undo() override {
    if (*context_.replaying) return;
    context_.post(Command::undo());
  }
  /// The engine's description of it ("budget k 16 → 20").
  const std::string& raw() const { return raw_; }
  const Command& edit() const { return edit_; }
  /// The budgets before and after it, when this process made it (not rebuilt from a journal).
  const std::optional<std::pair<Budget, Budget>>& budgets() const { return budgets_; }

 private:
  Context context_;
  Command edit_;
  std::string raw_;
  std::optional<std::pair<Budget, Budget>> budgets_;
  bool sent_;
};

const EngineEdit* editAt(const QUndoStack* stack, int i) {
  return dynamic_cast<const EngineEdit*>(stack->command(i));
}

const char* kPinText[] = {"·", "keep", "drop"};
const QColor kPinColor[] = {QColor(Qt::transparent), QColor("#c8f7c5"), QColor("#f5b7b1")};

}  // namespace

BudgetEditor::BudgetEditor(RunModel* model, QUndoStack* undo,
                           std::function<int64_t(const Command&)> post, QWidget* parent)
    : QWidget(parent), model_(model), undo_(undo), post_(std::move(post)) {
  // Every command the undo stack sends (an edit, Undo, Redo) goes through send(), which
  // remembers it until the engine answers.
  post_through_ = [this](const Command& c) { return send(c); };
  display_ = [this](const std::string& raw) { return qs(withKernelSizeNames(raw, model_->kernelSize())); };
  k_spin_ = new QSpinBox;
  k_spin_->setObjectName("budgetK");
  k_spin_->setToolTip(tr("Global k: branches kept over all layers (identity not counted).\n"
                         "Applied by the engine before its next step."));
  k_slider_ = new QSlider(Qt::Horizontal);
  k_slider_->setToolTip(k_spin_->toolTip() + tr("\nOne drag is one undo step."));
  auto* k_row = new QHBoxLayout;
  auto* k_label = new QLabel(tr("Global &k:"));
  k_label->setBuddy(k_spin_);  // Alt+K; without a buddy the & would show
  k_row->addWidget(k_label);
  k_row->addWidget(k_spin_);
  k_row->addWidget(k_slider_, 1);

  // The cost budget (issue 17): limits on what the kept branches cost to train, measured on
  // this machine (the Costs tab), beside k or instead of it.
  count_box_ = new QCheckBox(tr("E&xactly k"));
  count_box_->setObjectName("budgetCountLimited");
  count_box_->setToolTip(tr("Checked: exactly k branches are kept. Unchecked: any number, as many as "
                            "the cost limits allow (a cost limit must be set)."));
  auto cost_spin = [this](const char* name, const QString& suffix, const QString& tip) {
    auto* spin = new QDoubleSpinBox;
    spin->setObjectName(name);
    spin->setRange(0, 1e6);
    spin->setDecimals(1);
    spin->setSingleStep(5);
    spin->setSuffix(suffix);
    spin->setSpecialValueText(tr("none"));
    spin->setKeyboardTracking(false);
    spin->setToolTip(tip);
    return spin;
  };
  ms_spin_ = cost_spin("budgetMaxMs", tr(" ms"),
                       tr("The predicted training time of a step (forward + backward of the kept branches "
                          "and the rest of the step, measured here) must stay at or below this. 0: no limit."));
  mb_spin_ = cost_spin("budgetMaxMb", tr(" MiB"),
                       tr("The predicted activation memory the kept branches' forward keeps for the backward "
                          "(and the rest of the step) must stay at or below this. 0: no limit."));
  auto* cost_row = new QHBoxLayout;
  cost_row->addWidget(count_box_);
  auto* ms_label = new QLabel(tr("step &ms ≤"));
  ms_label->setBuddy(ms_spin_);
  auto* mb_label = new QLabel(tr("M&iB ≤"));
  mb_label->setBuddy(mb_spin_);
  cost_row->addSpacing(8);
  cost_row->addWidget(ms_label);
  cost_row->addWidget(ms_spin_, 1);
  cost_row->addWidget(mb_label);
  cost_row->addWidget(mb_spin_, 1);

  limits_ = new QTableWidget(0, 3);
  limits_->setObjectName("layerLimits");
  limits_->setHorizontalHeaderLabels({tr("layer"), tr("min"), tr("max")});
  limits_->setToolTip(tr("Per-layer minimum and maximum number of kept branches. Double-click "
                         "a number to edit it."));
  limits_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
  limits_->horizontalHeader()->setSectionResizeMode(1, QHeaderView::Stretch);
  limits_->horizontalHeader()->setSectionResizeMode(2, QHeaderView::Stretch);
  limits_->verticalHeader()->hide();

  pins_ = new QTableWidget(0, kNumBranchKinds);
  pins_->setObjectName("pins");
  QStringList names;
  for (int b = 0; b < kNumBranchKinds; ++b) names << branchLabel(b, 3);
  pins_->setHorizontalHeaderLabels(names);
  pins_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  pins_->setToolTip(tr("Pins: click a cell to cycle auto → keep → drop. A kept pin is always "
                       "selected; a dropped one never."));
  // Columns share the width: a "keep" appearing must not widen one and add a scroll bar.
  pins_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  pins_->horizontalHeader()->setMinimumSectionSize(36);
  pins_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  pins_->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);

  status_ = new QLabel;
  status_->setWordWrap(true);
  status_->setObjectName("budgetStatus");
  log_ = new QListWidget;
  log_->setObjectName("commandLog");
  log_->setToolTip(tr("Commands sent to the engine and its answers (also in events.jsonl)."));

  auto* limits_box = new QGroupBox(tr("Per-layer limits"));
  (new QVBoxLayout(limits_box))->addWidget(limits_);
  auto* pins_box = new QGroupBox(tr("Pins"));
  (new QVBoxLayout(pins_box))->addWidget(pins_);
  auto* log_box = new QGroupBox(tr("Engine answers"));
  (new QVBoxLayout(log_box))->addWidget(log_);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(k_row);
  layout->addLayout(cost_row);
  layout->addWidget(status_);
  layout->addWidget(limits_box, 2);
  layout->addWidget(pins_box, 2);
  layout->addWidget(log_box, 1);

  // The spin box sends on every change it makes (arrows, typing + Enter); the slider sends
  // once when released, so a drag is one command and one undo step.
  k_spin_->setKeyboardTracking(false);
  connect(k_spin_, &QSpinBox::valueChanged, this, [this](int k) {
    if (refreshing_) return;
    k_slider_->blockSignals(true);
    k_slider_->setValue(k);
    k_slider_->blockSignals(false);
    requestBudget(k);
  });
  // A drag sends every value it passes (applied before the next step) as edits of one
  // merge id: the engine's journal and the undo stack keep one entry for the whole drag.
  connect(k_slider_, &QSlider::sliderPressed, this, [this] { drag_merge_ = ++drags_; });
  connect(k_slider_, &QSlider::valueChanged, this, [this](int k) {
    if (refreshing_) return;
    if (!k_slider_->isSliderDown()) {  // keyboard or click on the groove
      requestBudget(k);
      return;
    }
    k_spin_->blockSignals(true);
    k_spin_->setValue(k);
    k_spin_->blockSignals(false);
    requestBudget(k, drag_merge_);
  });
  connect(k_slider_, &QSlider::sliderReleased, this,
          [this] { requestBudget(k_slider_->value(), drag_merge_); });
  connect(count_box_, &QCheckBox::toggled, this, [this](bool on) {
    if (!refreshing_) requestCountLimited(on);
  });
  connect(ms_spin_, &QDoubleSpinBox::valueChanged, this, [this](double v) {
    if (!refreshing_) requestCostLimits(v, -1);
  });
  connect(mb_spin_, &QDoubleSpinBox::valueChanged, this, [this](double v) {
    if (!refreshing_) requestCostLimits(-1, v);
  });
  connect(limits_, &QTableWidget::cellChanged, this, [this](int row, int column) {
    if (refreshing_ || column == 0) return;
    bool ok = false;
    const int v = limits_->item(row, column)->text().toInt(&ok);
    if (!ok) {
      refresh();
      return;
    }
    requestLayerLimits(row, column == 1 ? v : -1, column == 2 ? v : -1);
  });
  connect(pins_, &QTableWidget::cellClicked, this, [this](int row, int column) { cyclePin(row, column); });
  // The editor shows the budget in force and whether it can change: it depends on the run's
  // start, the commands' answers, the phase and the end, not on every step.
  for (auto signal : {&RunModel::runStarted, &RunModel::phaseChanged, &RunModel::runFinished})
    connect(model_, signal, this, [this] {
      refresh();
      showState();
    });
  // A new run (or a failed start) starts clean; a resumed one shows its earlier answers.
  connect(model_, &RunModel::reset, this, [this] {
    pending_.clear();
    rebuildLog();
    refresh();
    showState();
  });
  // A run starts with the engine's journal (a resumed run keeps its history).
  connect(model_, &RunModel::runStarted, this, [this] { reconcileUndoStack(); });
  // The source (engine, monitor, replay) is set after the events are cleared.
  connect(model_, &RunModel::updated, this, [this] {
    if (source_shown_ != model_->source() || state_shown_ != model_->state()) {
      refresh();
      showState();
    }
  });
  connect(model_, &RunModel::commandAcknowledged, this, &BudgetEditor::onAck);
  refresh();
  showState();
}

int64_t BudgetEditor::send(const Command& c) {
  const int64_t id = post_(c);
  if (id >= 0) pending_.emplace_back(id, c);
  return id;
}

bool BudgetEditor::isEditable() const {
  const auto state = model_->state();
  if (model_->source() != RunSource::Engine || !model_->hasRun() ||
      (state != RunState::Running && state != RunState::Paused))
    return false;
  const auto phase = model_->phase();
  return !budgetEditRefusal(model_->info().mode, phase && *phase == Phase::Fixed);
}

Budget BudgetEditor::expectedBudget() const {
  // An unanswered Undo or Redo restores a budget the stack's entries know (when this process
  // made them); unanswered edits apply to the acknowledged budget.
  const bool moves = std::any_of(pending_.begin(), pending_.end(), [](const auto& p) {
    return p.second.type == Command::Type::Undo || p.second.type == Command::Type::Redo;
  });
  if (moves && undo_->count() > 0) {
    const int i = undo_->index();
    const auto* edit = editAt(undo_, i > 0 ? i - 1 : 0);
    if (edit && edit->budgets()) return i > 0 ? edit->budgets()->second : edit->budgets()->first;
  }
  Budget b = model_->budget();
  for (const auto& [id, c] : pending_) applyBudgetEdit(c, model_->layers(), b);  // a refusal changes nothing
  return b;
}

QString BudgetEditor::stateText() const {
  const auto done = stepText(model_->stepsDone());
  const bool search = model_->hasRun() && model_->isSearch();
  const QString phase = model_->phase() ? qs(phaseName(*model_->phase())) : QString();
  switch (model_->state()) {
    case RunState::None: return tr("No run: start a search to edit its budget while it runs.");
    case RunState::Starting: return tr("Starting the run…");
    case RunState::Completed:
      return tr("The run completed (%1): its budget no longer changes.").arg(done);
    case RunState::Stopped:
      return tr("The run stopped after %1 (checkpoint saved). Resume it (File → Resume run from "
                "checkpoint) to edit its budget before the fix.").arg(done);
    case RunState::Failed:
      return tr("The run failed after %1: %2").arg(done, qs(model_->finished()->message));
    case RunState::Interrupted:
      return tr("Replayed from its event log, which ends after %1 without a result: the run was "
                "interrupted or runs in another process. Resume it to edit its budget.").arg(done);
    case RunState::Running:
    case RunState::Paused: break;
  }
  if (!search) return tr("Mode %1 trains a fixed mask: there is no budget to edit.").arg(qs(model_->info().mode));
  if (model_->source() == RunSource::Monitor)
    return tr("Monitoring a run another process runs (%1, %2): its budget can be edited only by "
              "that process.").arg(phase, done);
  if (model_->architectureFixed())
    return tr("The architecture is fixed (%1 phase): budget edits apply only before the fix.").arg(phase);
  return model_->state() == RunState::Paused
             ? tr("Paused in the %1 phase after %2: edits apply at once, the steps continue on Resume.").arg(phase, done)
             : tr("Search running (%1 phase): edits apply before the next step.").arg(phase);
}

void BudgetEditor::showState() {
  source_shown_ = model_->source();
  state_shown_ = model_->state();
  status_->setText(stateText());
  setInk(status_, state_shown_ == RunState::Failed ? Ink::Error : Ink::Normal);
}

void BudgetEditor::push(const Command& edit) {
  if (!isEditable()) {
    status_->setText(tr("Not sent: %1").arg(stateText()));
    refresh();
    return;
  }
  const Budget before = expectedBudget();
  Budget after = before;
  applyBudgetEdit(edit, model_->layers(), after);
  const auto raw = describeBudgetChange(before, after);
  EngineEdit::Context context{post_through_, display_, &replaying_};
  undo_->push(new EngineEdit(context, edit, raw, std::make_pair(before, after)));  // push() runs redo()
  refresh();
  status_->setText(tr("Sent: %1 — waiting for the engine…").arg(display_(raw)));
  setInk(status_, Ink::Normal);
}

void BudgetEditor::requestBudget(int k, int64_t merge) {
  if (k == expectedBudget().k) return;
  auto c = Command::setBudget(k);
  c.merge = merge;
  push(c);
}

void BudgetEditor::requestCostLimits(double max_ms, double max_mb) {
  const auto b = expectedBudget();
  if ((max_ms < 0 || max_ms == b.max_ms) && (max_mb < 0 || max_mb == b.max_mb)) return;
  push(Command::setCostLimits(max_ms, max_mb));
}

void BudgetEditor::requestCountLimited(bool limited) {
  const auto b = expectedBudget();
  if (limited == b.countLimited()) return;
  push(Command::setBudget(limited ? last_k_ : kAnyCount));
}

void BudgetEditor::requestLayerLimits(int layer, int min, int max) {
  const auto b = expectedBudget();
  if (layer < 0 || layer >= static_cast<int>(b.layer_min.size())) return;
  if ((min < 0 || min == b.layer_min[layer]) && (max < 0 || max == b.layer_max[layer])) return;
  push(Command::setLayerLimits(layer, min, max));
}

void BudgetEditor::requestPin(int layer, BranchKind branch, Pin pin) {
  const auto b = expectedBudget();
  if (layer < 0 || layer >= static_cast<int>(b.pins.size())) return;
  if (b.pins[layer][static_cast<int>(branch)] == pin) return;
  push(Command::setPin(layer, branch, pin));
}

void BudgetEditor::cyclePin(int layer, int branch) {
  const auto b = expectedBudget();
  if (layer < 0 || layer >= static_cast<int>(b.pins.size()) || branch < 0 || branch >= kNumBranchKinds)
    return;
  const Pin next = static_cast<Pin>((static_cast<int>(b.pins[layer][branch]) + 1) % 3);
  requestPin(layer, static_cast<BranchKind>(branch), next);
}

void BudgetEditor::addLogLine(const CommandAck& ack) {
  // ack.step steps were done when the engine applied it: "after step N", as the heatmap and
  // the status bar count.
  const QString text =
      ack.accepted ? tr("after %1: %2 — applied").arg(stepText(ack.step), commandText(ack))
                   : tr("after %1: %2 — refused: %3").arg(stepText(ack.step), commandText(ack), qs(ack.reason));
  // The answers to one drag are one line: its latest.
  const bool same_drag = ack.merge != 0 && ack.merge == last_log_merge_ && log_->count() > 0;
  last_log_merge_ = ack.merge;
  auto* item = same_drag ? log_->item(log_->count() - 1) : new QListWidgetItem;
  item->setText(text);
  item->setForeground(ack.accepted ? QColor("#1e8449") : QColor("#c0392b"));
  if (!same_drag) log_->addItem(item);
  log_->scrollToBottom();
}

QString BudgetEditor::commandText(const CommandAck& ack) const {
  return qs(withKernelSizeNames(ack.command, model_->kernelSize()));  // the run's names: 3x3, not KxK
}

void BudgetEditor::rebuildLog() {
  log_->clear();
  last_log_merge_ = 0;
  for (const auto& ack : model_->commands()) addLogLine(ack);
}

void BudgetEditor::onAck(const CommandAck& ack) {
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                [&](const auto& p) { return p.first == ack.id; }),
                 pending_.end());
  reconcileUndoStack();
  refresh();
  addLogLine(ack);
  status_->setText(ack.accepted ? tr("Engine applied: %1").arg(commandText(ack))
                                : tr("Engine refused %1: %2").arg(commandText(ack), qs(ack.reason)));
  setInk(status_, ack.accepted ? Ink::Normal : Ink::Error);
  Q_EMIT answered(ack.accepted, commandText(ack), qs(ack.reason));
}

void BudgetEditor::reconcileUndoStack() {
  // The stack is a view of the engine's journal: what the engine last reported, moved on by
  // the commands it has not answered yet. Where it differs (a refused edit, a refused undo
  // once the architecture is fixed, a resumed run's history), it is rebuilt from the journal.
  const auto& journal = model_->journal();
  if (!journal.known || model_->source() != RunSource::Engine) return;
  std::vector<std::string> entries = journal.entries;
  int index = journal.index;
  // The drag the newest entry belongs to (its merge id), when it is the newest: the next
  // unanswered edit of that drag merges into it, as in the engine.
  int64_t top_merge = 0;
  if (index > 0 && index == static_cast<int>(entries.size()) && index <= undo_->count())
    if (const auto* top = editAt(undo_, index - 1)) top_merge = top->edit().merge;
  for (const auto& [id, c] : pending_) {
    if (c.type == Command::Type::Undo) {
      index = std::max(0, index - 1);
      top_merge = 0;
    } else if (c.type == Command::Type::Redo) {
      index = std::min(static_cast<int>(entries.size()), index + 1);
      top_merge = 0;
    } else if (c.isBudgetEdit()) {
      entries.resize(index);
      if (c.merge != 0 && c.merge == top_merge && !entries.empty()) {
        entries.back() = "";  // merged: its text is the stack's own
      } else {
        entries.push_back("");
        top_merge = c.merge;
      }
      index = static_cast<int>(entries.size());
    }
  }
  bool same = undo_->count() == static_cast<int>(entries.size()) && undo_->index() == index;
  for (int i = 0; same && i < undo_->count(); ++i) {
    const auto* edit = editAt(undo_, i);
    same = edit && (entries[i].empty() || edit->raw() == entries[i]);
  }
  if (same) return;
  // Rebuild: keep what this process knows of each entry (its budgets) where the text agrees.
  replaying_ = true;  // nothing is sent while the stack is rebuilt
  std::vector<std::unique_ptr<EngineEdit>> rebuilt;
  EngineEdit::Context context{post_through_, display_, &replaying_};
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto* old = static_cast<int>(i) < undo_->count() ? editAt(undo_, static_cast<int>(i)) : nullptr;
    if (old && (entries[i].empty() || old->raw() == entries[i]))
      rebuilt.push_back(std::make_unique<EngineEdit>(context, old->edit(), old->raw(), old->budgets()));
    else if (!entries[i].empty())
      rebuilt.push_back(std::make_unique<EngineEdit>(context, Command::undo(), entries[i], std::nullopt));
  }
  undo_->clear();
  for (auto& e : rebuilt) undo_->push(e.release());
  undo_->setIndex(std::min(index, undo_->count()));
  replaying_ = false;
}

void BudgetEditor::refresh() {
  refreshing_ = true;
  const auto b = expectedBudget();
  const int layers = model_->layers();
  const bool editable = isEditable();
  const int max_k = kNumBranchKinds * std::max(1, layers);
  k_spin_->setRange(0, max_k);
  k_slider_->setRange(0, max_k);
  if (b.countLimited()) last_k_ = b.k;
  if (!k_slider_->isSliderDown()) {
    k_spin_->setValue(last_k_);
    k_slider_->setValue(last_k_);
  }
  count_box_->setChecked(b.countLimited());
  ms_spin_->setValue(b.max_ms);
  mb_spin_->setValue(b.max_mb);
  const auto* strategy = findStrategy(model_->info().mode);
  const bool costs = strategy && strategy->capabilities.accepts_cost_budgets;  // not RENA's swaps
  for (auto* w : std::initializer_list<QWidget*>{limits_, pins_}) w->setEnabled(editable);
  for (auto* w : std::initializer_list<QWidget*>{count_box_, ms_spin_, mb_spin_}) w->setEnabled(editable && costs);
  for (auto* w : std::initializer_list<QWidget*>{k_spin_, k_slider_}) w->setEnabled(editable && b.countLimited());
  if (limits_->rowCount() != layers) {
    limits_->setRowCount(layers);
    pins_->setRowCount(layers);
  }
  QStringList branch_names;
  for (int br = 0; br < kNumBranchKinds; ++br) branch_names << branchLabel(br, model_->kernelSize());
  pins_->setHorizontalHeaderLabels(branch_names);
  for (int l = 0; l < layers; ++l) {
    const auto label = qs(model_->info().layers[l].label);
    auto set = [&](QTableWidget* t, int column, const QString& text, bool editable_cell) {
      auto* item = t->item(l, column);
      if (!item) {
        item = new QTableWidgetItem;
        t->setItem(l, column, item);
      }
      item->setText(text);
      auto flags = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
      if (editable_cell) flags |= Qt::ItemIsEditable;
      item->setFlags(flags);
      return item;
    };
    set(limits_, 0, label, false);
    if (l < static_cast<int>(b.layer_min.size())) {
      set(limits_, 1, QString::number(b.layer_min[l]), true);
      set(limits_, 2, QString::number(b.layer_max[l]), true);
    }
    for (int br = 0; br < kNumBranchKinds; ++br) {
      const bool present = model_->info().layers[l].block.branches.test(br);
      const int pin = l < static_cast<int>(b.pins.size()) ? static_cast<int>(b.pins[l][br]) : 0;
      auto* item = set(pins_, br, present ? tr(kPinText[pin]) : QStringLiteral("—"), false);
      item->setBackground(kPinColor[pin]);
      item->setToolTip(tr("%1, %2: %3 (click to cycle auto → keep → drop)")
                           .arg(label, branchLabel(br, model_->kernelSize()), qs(pinName(static_cast<Pin>(pin)))));
      item->setTextAlignment(Qt::AlignCenter);
    }
  }
  // Short row names ("L3"), the full label in each cell's tool tip: the six columns need the room.
  QStringList short_names;
  for (int l = 0; l < layers; ++l) short_names << QStringLiteral("L%1").arg(l);
  pins_->setVerticalHeaderLabels(short_names);
  refreshing_ = false;
}

}  // namespace repnas::ui
