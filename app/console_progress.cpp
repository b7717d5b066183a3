#include "console_progress.h"

#include <unistd.h>

#include <cmath>

#include "repnas/strategy_info.h"

namespace repnas::cli {

using Clock = std::chrono::steady_clock;

std::string formatDuration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

ConsoleProgress::ConsoleProgress(FILE* out) : out_(out), tty_(::isatty(::fileno(out))) {}

void ConsoleProgress::clearLine() {
  if (line_open_) {
    std::fputs("\r\033[K", out_);
    line_open_ = false;
  }
}

void ConsoleProgress::onRunStarted(const RunInfo& e) {
  total_steps_ = e.total_steps;
  steps_per_epoch_ = e.steps_per_epoch;
  epochs_ = e.epochs;
  layer_labels_.clear();
  for (const auto& l : e.layers) layer_labels_.push_back(l.label);
  std::fprintf(out_, "%s %s run: %s on %s (%lld train / %lld test images), %d layers, %d epochs "
               "of %lld steps%s\n",
               e.resumed ? "resuming" : "starting", e.mode.c_str(), e.backbone.c_str(),
               e.dataset.name.c_str(), static_cast<long long>(e.dataset.train_count),
               static_cast<long long>(e.dataset.test_count), static_cast<int>(e.layers.size()),
               e.epochs, static_cast<long long>(e.steps_per_epoch),
               e.resumed ? (" from step " + std::to_string(e.start_step)).c_str() : "");
  if (const auto* strategy = findStrategy(e.mode); strategy && strategy->capabilities.searches)
    std::fprintf(out_, "phases: warm-up %d, search %d, fixed %d epochs (%s); budget k=%d\n",
                 e.warmup_epochs, e.search_epochs, e.epochs - e.warmup_epochs - e.search_epochs,
                 strategy->method.c_str(), e.budget.k);
  std::fflush(out_);
}

void ConsoleProgress::onStep(const StepSnapshot& e) {
  const auto now = Clock::now();
  recent_.emplace_back(now, e.step);
  if (!e.topk_mask.empty()) {
    agreement_sum_ += e.mask_agreement;
    ++agreement_count_;
  }
  last_ = e;
  while (recent_.size() > 50) recent_.pop_front();
  if (!tty_ || now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double rate = 0;  // steps per second
  if (recent_.size() >= 2) {
    const double dt = std::chrono::duration<double>(recent_.back().first - recent_.front().first).count();
    rate = dt > 0 ? (recent_.back().second - recent_.front().second) / dt : 0;
  }
  const double eta = rate > 0 ? (total_steps_ - e.step - 1) / rate : NAN;
  const int width = 24;
  const int filled = total_steps_ ? static_cast<int>(width * (e.step + 1) / total_steps_) : 0;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  clearLine();
  std::fprintf(out_, "[%s] %-6s epoch %d/%d step %lld/%lld  loss %.3f acc %.1f%%  %.0f img/s  ETA %s",
               bar.c_str(), phaseName(e.phase).c_str(), e.epoch + 1, epochs_,
               static_cast<long long>(e.step + 1), static_cast<long long>(total_steps_), e.loss,
               100 * e.batch_accuracy, e.images_per_second, formatDuration(eta).c_str());
  line_open_ = true;
  std::fflush(out_);
}

void ConsoleProgress::onEpoch(const EpochSummary& e) {
  clearLine();
  std::fprintf(out_, "epoch %d/%d [%s] train loss %.4f acc %.2f%%", e.epoch + 1, epochs_,
               phaseName(e.phase).c_str(), e.train_loss, 100 * e.train_accuracy);
  if (e.val_accuracy) std::fprintf(out_, "  val %.2f%%", 100 * *e.val_accuracy);
  if (e.test_accuracy) std::fprintf(out_, "  test %.2f%%", 100 * *e.test_accuracy);
  std::fprintf(out_, "  (%s)\n", formatDuration(e.seconds).c_str());
  if (trials_ > 0) {
    // A strategy that evaluates networks (RENA): what its controller tried this epoch.
    std::fprintf(out_, "  search: %d trials (%d within the limits), best %.2f%% on validation, %d controller updates so far\n",
                 trials_, feasible_trials_, 100 * best_trial_, last_update_);
  } else if (e.phase == Phase::Search && agreement_count_ > 0) {
    // Whether α has left the noise: its largest magnitude, the gap at the k-th branch, and how
    // much of the sampled masks the noise-free top-k would keep.
    double max_abs = 0;
    for (float a : last_.alpha) max_abs = std::max(max_abs, std::abs(static_cast<double>(a)));
    std::fprintf(out_, "  search: tau %.3f  max|alpha| %.2f  margin %s  mask agreement %.0f%%\n",
                 last_.noise_scale, max_abs,
                 last_.alpha_margin ? std::to_string(*last_.alpha_margin).c_str() : "-",
                 100 * agreement_sum_ / agreement_count_);
  }
  agreement_sum_ = 0;
  agreement_count_ = 0;
  trials_ = feasible_trials_ = 0;
  best_trial_ = 0;
  std::fflush(out_);
}

void ConsoleProgress::onTrial(const Trial& e) {
  ++trials_;
  feasible_trials_ += e.feasible;
  best_trial_ = std::max(best_trial_, e.val_accuracy);
  last_update_ = e.update;
}

void ConsoleProgress::onPhaseChange(const PhaseChange& e) {
  clearLine();
  std::fprintf(out_, "phase %s -> %s at step %lld", phaseName(e.from).c_str(), phaseName(e.to).c_str(),
               static_cast<long long>(e.step));
  if (e.time_limit && e.search_seconds)  // search_seconds ended the search
    std::fprintf(out_, " (search_seconds: %.1f s of steps before the fix)", *e.search_seconds);
  std::fprintf(out_, "\n");
  if (e.to == Phase::Fixed) {
    for (size_t l = 0; l < e.mask.size(); ++l)
      std::fprintf(out_, "  %-16s %s\n", l < layer_labels_.size() ? layer_labels_[l].c_str() : "",
                   maskName(e.mask[l]).c_str());
  }
  std::fflush(out_);
}

void ConsoleProgress::onCommand(const CommandAck& e) {
  clearLine();
  std::fprintf(out_, "command #%lld %s: %s%s\n", static_cast<long long>(e.id), e.command.c_str(),
               e.accepted ? "accepted" : "refused: ", e.reason.c_str());
  std::fflush(out_);
}

void ConsoleProgress::onFinished(const RunFinished& e) {
  clearLine();
  std::fprintf(out_, "%s: %s\n", e.status.c_str(), e.message.c_str());
  if (e.test_accuracy) std::fprintf(out_, "test accuracy %.2f%%\n", 100 * *e.test_accuracy);
  std::fflush(out_);
}

}  // namespace repnas::cli
