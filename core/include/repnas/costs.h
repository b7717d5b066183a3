#pragma once
/// @file costs.h
/// @brief The cost model (issue 17): what each (layer, branch) costs to train on this machine,
/// measured, not assumed. Per branch: the milliseconds it adds to the engine's training step at a
/// batch (the median of interleaved repeats, with the quartiles) and the memory its forward
/// keeps for the backward; the step's base beside them. Cached per machine, backbone, input, batch and threads (costs.json), re-measured
/// when any of them or the LibTorch version changes. Plain C++ (no torch).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "repnas/backbone.h"
#include "repnas/config.h"
#include "repnas/branch_kind.h"
#include "repnas/budget.h"

namespace repnas {

/// @brief The largest costs.json read (a table of the largest network is far smaller).
inline constexpr std::uint64_t kMaxCostTableBytes = std::uint64_t{4} << 20;

/// @brief One measured cost.
struct BranchCost {
  bool present = false;     ///< the layer has this branch
  double ms = 0;            ///< its marginal cost in the engine's step (at least its own forward + backward), median
  double ms_low = 0;        ///< first quartile
  double ms_high = 0;       ///< third quartile
  double mb = 0;            ///< heap the forward keeps for the backward, its output not counted (MiB; glibc's heap, 0 under ASan)
};

/// @brief The training costs of one backbone on this machine.
struct TrainingCosts {
  // The cache key: a table measured under another one is measured again.
  std::string backbone;
  int in_channels = 1, height = 28, width = 28, classes = 10;
  int batch = 128;
  int threads = 1;
  std::string cpu;            ///< /proc/cpuinfo's model name
  std::string torch_version;
  int repeats = 0;
  double seconds = 0;         ///< the measurement's wall time
  int format = 3;             ///< of the file it was read from (repnas-costs-N); 3 when measured
  std::vector<std::array<BranchCost, kNumBranchKinds>> branches;  ///< [layer][branch]
  std::vector<BranchCost> identity;  ///< [layer]: the identity-BN branch where there is one
  /// The rest of a training step (the engine's step: forward, loss, backward, clipping, SGD):
  /// a step of the least mask (each layer its identity, or its 1x1 branch where it has none)
  /// minus those branches' costs, never below 0. Absent (present = false) in format 1.
  BranchCost base;
  /// The engine's step with every branch kept, measured (`ms`, `mb`), for the additivity check:
  /// base + Σ every branch predicts it.
  BranchCost all_branches;

  /// @brief Whether `other` was measured under the same key.
  bool sameKey(const TrainingCosts& other) const;
};

/// @brief What to measure.
struct CostRequest {
  BackboneSpec backbone;
  int batch = 128;
  int threads = 0;   ///< 0: all cores
  int repeats = 7;   ///< timed rounds (after one warm-up round), every branch once per round
};

/// @brief Measures every (layer, branch) of `request.backbone`, interleaved over the branches in
/// each round: its marginal ms in the engine's step (the least mask with it minus without it,
/// bounded below by the branch alone on an input of its layer's shape), its MiB alone.
TrainingCosts measureTrainingCosts(const CostRequest& request);

/// @brief The cached table for the request's key in `cache_path` when there is one and
/// `remeasure` is false; otherwise measures and writes it there (atomically). `measured` says
/// which happened. A cache file that does not parse is measured again, not an error.
TrainingCosts cachedTrainingCosts(const CostRequest& request, const std::string& cache_path,
                                  bool remeasure, bool* measured = nullptr);

/// @brief This machine's cached table for the backbone, input, batch and threads of a run's
/// configuration, when the cache holds one (nothing is measured); nullopt for a data set whose
/// input shape the configuration does not say (idx) or when the cache has none or cannot be read.
std::optional<TrainingCosts> cachedTrainingCostsFor(const RunConfig& config);

/// @brief The default cache file: $XDG_CACHE_HOME (or ~/.cache)/repnas-studio/costs/
/// <backbone>-<C>x<H>x<W>-b<batch>-t<threads>.json.
std::string defaultCostCachePath(const CostRequest& request);

/// @brief JSON (costs.json, format "repnas-costs-1") and back; Error naming the field.
std::string trainingCostsToJson(const TrainingCosts& costs);
TrainingCosts trainingCostsFromJson(const std::string& text);

/// @brief Writes the table to `path` atomically (Error naming the path when it cannot).
void writeTrainingCosts(const TrainingCosts& costs, const std::string& path);

/// @brief The table the budget's selection counts in: ms and MB per (layer, branch) and the
/// step's base. Error when the table has no base (format 1: measure again).
BranchCostTable trainingCostTable(const TrainingCosts& costs);

/// @brief This machine's CPU model (from /proc/cpuinfo; "unknown" when it says none).
std::string cpuModelName();

}  // namespace repnas
