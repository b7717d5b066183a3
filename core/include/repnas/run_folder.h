#pragma once
// The files of a run folder, in one place: the engine, export, inspection, the command line,
// the GUI and the benchmarks name them through RunFolder only. Plain C++ (no torch, no Qt).

#include <string>
#include <vector>

namespace repnas {

/// @brief A run folder and the paths of the files a run keeps in it.
class RunFolder {
 public:
  explicit RunFolder(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }
  /// The resolved configuration the run uses (written at every start).
  std::string config() const { return path(kConfig); }
  /// One JSON event per line (events.h), appended as the run goes.
  std::string events() const { return path(kEvents); }
  /// The last checkpoint (every epoch and on stop): what --resume continues from.
  std::string checkpoint() const { return path(kCheckpoint); }
  /// The trained network of a completed run, with its architecture (what export reads).
  std::string weights() const { return path(kWeights); }
  /// The architecture of a completed run, readable: kept branches, σ(α), α per layer.
  std::string architecture() const { return path(kArchitecture); }

  /// What each (layer, branch) costs to train on this machine (costs.h; a run that chooses
  /// branches): the units of its cost limits, and the GUI's cost heatmap.
  std::string costs() const { return path(kCosts); }

  bool hasConfig() const;
  bool hasCosts() const;
  bool hasEvents() const;
  bool hasCheckpoint() const;
  bool hasWeights() const;
  /// Both results of a completed run (weights.pt and arch.json).
  bool hasResults() const;

  /// The names of the files a run writes whole (atomically, through a temporary NAME.tmpPID).
  static const std::vector<std::string>& atomicallyWrittenFiles();

  static constexpr const char* kConfig = "config.json";
  static constexpr const char* kEvents = "events.jsonl";
  static constexpr const char* kCheckpoint = "checkpoint.pt";
  static constexpr const char* kWeights = "weights.pt";
  static constexpr const char* kArchitecture = "arch.json";
  static constexpr const char* kCosts = "costs.json";

 private:
  std::string path(const char* name) const;
  std::string dir_;
};

}  // namespace repnas
