#include "repnas_ui/run_model.h"

#include "repnas/strategy_info.h"

#include <QSaveFile>
#include <QTextStream>

#include <algorithm>
#include <functional>

#include "widgets/ui_util.h"

namespace repnas::ui {

RunModel::RunModel(QObject* parent) : QObject(parent) {}

void RunModel::clear() {
  has_info_ = false;
  info_ = RunInfo{};
  journal_ = JournalView{};
  steps_.clear();
  wall_.clear();
  epochs_.clear();
  phases_.clear();
  commands_.clear();
  checkpoints_.clear();
  trials_.clear();
  finished_.reset();
  budget_ = Budget{};
  paused_ = false;
  source_ = RunSource::None;
  Q_EMIT reset();
  Q_EMIT updated();
}

void RunModel::apply(const std::vector<Event>& events) {
  if (events.empty()) return;
  Changes c;
  for (const auto& e : events) applyOne(e, c);
  if (c.first_new_step >= 0 && c.first_new_step < static_cast<int>(steps_.size()))
    Q_EMIT stepsAppended(c.first_new_step, static_cast<int>(steps_.size()) - c.first_new_step);
  if (c.epochs) Q_EMIT epochsChanged();
  if (c.phase) Q_EMIT phaseChanged();
  if (c.trials) Q_EMIT trialsChanged();
  Q_EMIT updated();
}

void RunModel::applyOne(const Event& e, Changes& c) {
  int& first_new_step = c.first_new_step;
  // Views index per-layer fields by the run's layers: an event that does not fit is dropped.
  if (!std::holds_alternative<RunInfo>(e)) {
    std::optional<std::string> why;
    const auto* fin = std::get_if<RunFinished>(&e);
    if (!has_info_ && !(fin && fin->mask.empty()))  // a run that failed before it started
      why = "an event before the run's run_started line";
    else if (has_info_)
      why = eventMismatch(e, info_);
    if (why) {
      Q_EMIT eventRejected(tr("ignored an event: %1").arg(QString::fromStdString(*why)));
      return;
    }
  }
  if (const auto* info = std::get_if<RunInfo>(&e)) {
    const bool continues = info->resumed && has_info_;
    if (!continues) {
      steps_.clear();
      epochs_.clear();
      phases_.clear();
      commands_.clear();
      checkpoints_.clear();
      trials_.clear();
      wall_.clear();
      first_new_step = 0;
      Q_EMIT reset();
    } else {
      // Steps after the checkpoint were run again by the resumed process: drop the old ones.
      auto later = [&](int64_t step) { return step >= info->start_step; };
      steps_.erase(std::remove_if(steps_.begin(), steps_.end(),
                                  [&](const StepSnapshot& s) { return later(s.step); }),
                   steps_.end());
      epochs_.erase(std::remove_if(epochs_.begin(), epochs_.end(),
                                   [&](const EpochSummary& s) { return later(s.step + 1); }),
                    epochs_.end());
      trials_.erase(std::remove_if(trials_.begin(), trials_.end(),
                                   [&](const Trial& t) { return later(t.step); }),
                    trials_.end());
      rebuildWall();
      first_new_step = 0;  // views rebuild from the start after a truncation
      Q_EMIT reset();
    }
    info_ = *info;
    has_info_ = true;
    budget_ = info->budget;
    journal_ = info->journal;
    finished_.reset();
    paused_ = false;
    c.epochs = c.phase = c.trials = true;
    Q_EMIT runStarted();
  } else if (const auto* s = std::get_if<StepSnapshot>(&e)) {
    if (first_new_step < 0) first_new_step = static_cast<int>(steps_.size());
    steps_.push_back(*s);
    rebuildWall();
  } else if (const auto* ep = std::get_if<EpochSummary>(&e)) {
    epochs_.push_back(*ep);
    c.epochs = true;
  } else if (const auto* pc = std::get_if<PhaseChange>(&e)) {
    phases_.push_back(*pc);
    c.phase = true;
  } else if (const auto* ack = std::get_if<CommandAck>(&e)) {
    commands_.push_back(*ack);
    budget_ = ack->budget;
    if (ack->journal.known) journal_ = ack->journal;
    if (ack->accepted && ack->command == Command::pause().describe()) paused_ = true;
    if (ack->accepted && ack->command == Command::resume().describe()) paused_ = false;
    Q_EMIT commandAcknowledged(*ack);
  } else if (const auto* ck = std::get_if<CheckpointSaved>(&e)) {
    checkpoints_.push_back(*ck);
    Q_EMIT checkpointSaved(QString::fromStdString(ck->path), ck->step);
  } else if (const auto* t = std::get_if<Trial>(&e)) {
    trials_.push_back(*t);
    c.trials = true;
  } else if (const auto* fin = std::get_if<RunFinished>(&e)) {
    finished_ = *fin;
    paused_ = false;
    Q_EMIT runFinished();
  }
}

std::optional<Phase> RunModel::phase() const {
  std::optional<Phase> p;
  if (!steps_.empty()) p = steps_.back().phase;
  if (!phases_.empty() && (steps_.empty() || phases_.back().step >= steps_.back().step))
    p = phases_.back().to;
  return p;
}

std::vector<BranchMask> RunModel::currentMask() const {
  if (finished_ && !finished_->mask.empty()) return finished_->mask;
  for (auto it = phases_.rbegin(); it != phases_.rend(); ++it)
    if (it->to == Phase::Fixed && !it->mask.empty()) return it->mask;
  if (!steps_.empty()) return steps_.back().mask;
  return {};
}

void RunModel::setSource(RunSource source) {
  source_ = source;
  Q_EMIT updated();
}

RunState RunModel::state() const {
  if (finished_) {
    if (finished_->status == "completed") return RunState::Completed;
    if (finished_->status == "stopped") return RunState::Stopped;
    return RunState::Failed;
  }
  if (!has_info_) return source_ == RunSource::Engine ? RunState::Starting : RunState::None;
  if (source_ == RunSource::Replay) return RunState::Interrupted;
  return paused_ ? RunState::Paused : RunState::Running;
}

bool RunModel::isSearch() const {
  const auto* strategy = findStrategy(info_.mode);
  return strategy && strategy->capabilities.searches;
}

bool RunModel::architectureFixed() const {
  if (finished_) return true;
  const auto p = phase();
  return !isSearch() || (p && *p == Phase::Fixed);
}

void RunModel::rebuildWall() {
  // Incremental: only the snapshots not yet measured.
  for (size_t i = wall_.size(); i < steps_.size(); ++i) {
    const auto& s = steps_[i];
    if (i == 0) {
      wall_.push_back(s.step_ms / 1000.0);
      continue;
    }
    const auto& prev = steps_[i - 1];
    if (s.wall_time > 0 && steps_.front().wall_time > 0)
      wall_.push_back(wall_.front() + (s.wall_time - steps_.front().wall_time));
    else
      wall_.push_back(wall_[i - 1] + s.step_ms / 1000.0 * static_cast<double>(std::max<int64_t>(1, s.step - prev.step)));
  }
  wall_.resize(steps_.size());
}

double RunModel::x(int index, XAxis axis) const {
  const auto& s = steps_.at(static_cast<size_t>(index));
  switch (axis) {
    case XAxis::Step: return static_cast<double>(s.step + 1);
    case XAxis::Epoch:
      return static_cast<double>(s.step + 1) / static_cast<double>(std::max<int64_t>(1, info_.steps_per_epoch));
    case XAxis::WallTime: return index < static_cast<int>(wall_.size()) ? wall_[index] : 0.0;
  }
  return 0;
}

double RunModel::xAtStep(int64_t steps_done, XAxis axis) const {
  if (axis != XAxis::WallTime || steps_.empty()) {
    if (axis == XAxis::Epoch)
      return static_cast<double>(steps_done) / static_cast<double>(std::max<int64_t>(1, info_.steps_per_epoch));
    return static_cast<double>(steps_done);
  }
  auto it = std::upper_bound(steps_.begin(), steps_.end(), steps_done,
                             [](int64_t v, const StepSnapshot& s) { return v < s.step + 1; });
  const int index = std::max(0, static_cast<int>(it - steps_.begin()) - 1);
  return x(index, axis);
}

QString RunModel::xText(double x, XAxis axis) {
  switch (axis) {
    case XAxis::Step: return stepText(std::llround(x));
    case XAxis::Epoch: return tr("epoch %1").arg(x, 0, 'f', 2);
    case XAxis::WallTime: {
      const qint64 s = std::llround(x);
      return tr("wall time %1:%2").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
    }
  }
  return {};
}

QString RunModel::axisLabel(XAxis axis) {
  switch (axis) {
    case XAxis::Step: return tr("step");
    case XAxis::Epoch: return tr("epoch");
    case XAxis::WallTime: return tr("wall time (s)");
  }
  return {};
}

QString stepText(int64_t steps_done) { return QObject::tr("step %1").arg(steps_done); }

int64_t RunModel::stepsDone() const {
  if (!steps_.empty()) return steps_.back().step + 1;
  return info_.start_step;
}

namespace {

QString writeCsv(const QString& path, const std::function<void(QTextStream&)>& body) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly | QIODevice::Text))
    return QObject::tr("cannot write %1: %2").arg(path, file.errorString());
  QTextStream out(&file);
  body(out);
  out.flush();
  if (!file.commit()) return QObject::tr("cannot write %1: %2").arg(path, file.errorString());
  return {};
}

}  // namespace

QString writeCurvesCsv(const RunModel& model, const QString& path) {
  return writeCsv(path, [&](QTextStream& out) {
    out << "step,epoch,phase,loss,batch_accuracy,lr,arch_lr,budget_k,branches_kept,step_ms,"
           "images_per_second\n";
    for (const auto& s : model.steps())
      out << s.step << ',' << s.epoch << ',' << qs(phaseName(s.phase)) << ','
          << QString::number(s.loss, 'g', 9) << ',' << QString::number(s.batch_accuracy, 'g', 9)
          << ',' << QString::number(s.lr, 'g', 9) << ',' << QString::number(s.arch_lr, 'g', 9)
          << ',' << s.budget_k << ',' << countBranches(s.mask) << ','
          << QString::number(s.step_ms, 'g', 6) << ','
          << QString::number(s.images_per_second, 'g', 6) << '\n';
  });
}

QString writeAlphaCsv(const RunModel& model, const QString& path) {
  return writeCsv(path, [&](QTextStream& out) {
    out << "step,layer,branch,alpha,sigma,in_mask\n";
    for (const auto& s : model.steps())
      for (int l = 0; l < static_cast<int>(s.mask.size()); ++l)
        for (int b = 0; b < kNumBranchKinds; ++b) {
          const size_t i = static_cast<size_t>(l) * kNumBranchKinds + b;
          if (i >= s.alpha.size()) continue;
          out << s.step << ',' << l << ','
              << qs(branchName(static_cast<BranchKind>(b))) << ','
              << QString::number(s.alpha[i], 'g', 9) << ','
              << QString::number(i < s.sigma.size() ? s.sigma[i] : 0.f, 'g', 9) << ','
              << (s.mask[l].test(b) ? 1 : 0) << '\n';
        }
  });
}

}  // namespace repnas::ui
