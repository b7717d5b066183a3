#pragma once
// Console progress for `repnas search`: one updating line on a terminal, one line per epoch
// otherwise. An Observer like the GUI and the event log.

#include <chrono>
#include <cstdio>
#include <deque>
#include <string>

#include "repnas/events.h"

namespace repnas::cli {

class ConsoleProgress : public Observer {
 public:
  explicit ConsoleProgress(FILE* out);
  void onRunStarted(const RunInfo& e) override;
  void onStep(const StepSnapshot& e) override;
  void onEpoch(const EpochSummary& e) override;
  void onPhaseChange(const PhaseChange& e) override;
  void onCommand(const CommandAck& e) override;
  void onFinished(const RunFinished& e) override;
  void onTrial(const Trial& e) override;

 private:
  void clearLine();
  FILE* out_;
  bool tty_;
  int64_t total_steps_ = 0;
  int64_t steps_per_epoch_ = 0;
  int epochs_ = 0;
  std::vector<std::string> layer_labels_;
  // The search's state over the current epoch (for the epoch line).
  double agreement_sum_ = 0;
  int agreement_count_ = 0;
  // The trials of the current epoch (RENA's children).
  int trials_ = 0, feasible_trials_ = 0, last_update_ = 0;
  double best_trial_ = 0;
  StepSnapshot last_;
  std::chrono::steady_clock::time_point last_draw_{};
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> recent_;
  bool line_open_ = false;
};

/// @brief "1h02m", "3m05s", "42s".
std::string formatDuration(double seconds);

}  // namespace repnas::cli
