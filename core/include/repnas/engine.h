#pragma once
/// @file engine.h
/// @brief The training engine: one loop for the four modes (search, plain, repvgg, dbb),
/// observed through repnas::Observer and steered through repnas::Command. No torch types.

#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>

#include "repnas/config.h"
#include "repnas/events.h"

namespace repnas {

/// @brief Runs one training run in a run directory.
///
/// The directory receives config.json (resolved), events.jsonl (one JSON object per event,
/// appended), checkpoint.pt (atomic, every epoch and on stop), and at the end arch.json (the
/// ODBB) and weights.pt (the trained multi-branch network).
class Engine {
 public:
  /// @brief Prepares a run; validates the configuration (ConfigError). With `resume`, the
  /// configuration is read from run_dir/config.json and only `threads` is taken from `config`;
  /// `resume_changes` ("key=value", keys in resumeChangeableKeys()) change the saved
  /// configuration on purpose, and the run_started event records them. config.json must
  /// otherwise be what the checkpoint was written with: an edit is refused naming the key.
  Engine(const RunConfig& config, const std::string& run_dir, bool resume = false,
         const std::vector<std::string>& resume_changes = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// @brief Adds an observer (not owned); call before run().
  void addObserver(Observer* observer);
  /// @brief Queues a command; thread-safe; applied before the next step. Returns its id.
  int64_t post(const Command& command);
  /// @brief Runs to the end, a stop command, or a failure; blocking. Never throws for data,
  /// config or numerical problems: they end the run with status "failed" and a message.
  RunFinished run();
  /// @brief The configuration in force (the saved one when resuming).
  const RunConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// @brief The keys a resumed run may change on request (`repnas search --resume --override
/// --set KEY=VALUE`): lr, epochs, fixed_epochs. `threads` may always change.
const std::vector<std::string>& resumeChangeableKeys();

/// @brief The configuration that trains the architecture a search in `run_dir` found, from
/// scratch (the protocol's retraining, `repnas retrain`): the search's configuration with mode
/// odbb, the found mask (weights.pt of a completed run, else the checkpoint of a run past its
/// fix) and mask_source naming where it came from; the fixed-mask schedule is `epochs`.
/// Throws repnas::Error naming the folder when it holds no search or no fixed architecture.
RunConfig retrainConfig(const std::string& run_dir);
/// @brief The same for `mask`, one of the search's trials (RENA's children; the search need
/// not have fixed yet), described as `source` (e.g. "trial 41 (update 6)").
RunConfig trialRetrainConfig(const std::string& run_dir, const std::vector<BranchMask>& mask,
                             const std::string& source);

/// @brief Appends every event as one JSON line to a file, written per line, so that a reader
/// can follow a running search. A line is written whole or not at all: when a write fails
/// (a full disk) the file is cut back to its last complete line and onEvent throws
/// repnas::Error naming the file and the reason. Appending to a log whose last line was torn
/// (a crash mid-write) starts on a fresh line; readers skip the torn one.
class EventLogWriter : public EventObserver {
 public:
  /// @brief Opens `path`, appending (a resumed run) or starting it anew. Throws repnas::Error
  /// with the reason when it cannot.
  explicit EventLogWriter(const std::string& path, bool append = true);
  ~EventLogWriter() override;
  EventLogWriter(const EventLogWriter&) = delete;
  EventLogWriter& operator=(const EventLogWriter&) = delete;
  void onEvent(const Event& e) override;

 private:
  void writeLine(const std::string& line);
  std::mutex mutex_;
  int fd_ = -1;
  long long size_ = 0;  ///< bytes in the file: where a failed write is cut back to
  std::string path_;
};

}  // namespace repnas
