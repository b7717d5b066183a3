#pragma once
// repnas-bench quality / sweep (see bench/README.md).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "repnas/comparison.h"

namespace repnas::bench {

struct QualityOptions {
  bool sweep = false;                    ///< false: modes × seeds; true: budgets × seeds (search)
  std::vector<std::string> modes = {"plain", "repvgg", "dbb", "search"};
  std::vector<int> budgets = {8, 12, 16, 24, 32};
  std::vector<std::uint64_t> seeds = {1, 2, 3};
  std::vector<std::string> overrides;    ///< --set key=value, applied to every run
  std::string runs_dir = "runs/bench";
  std::string out;                       ///< results JSON
};

/// @brief Runs (or reuses finished) runs and writes the mean ± std table to opt.out.
int benchQuality(const QualityOptions& opt);

struct ProtocolOptions {
  std::vector<std::uint64_t> seeds = {1, 2, 3};
  int random_masks = 3;                  ///< random masks of the same k per seed
  std::vector<std::string> baselines = {"plain", "plain+identity", "repvgg", "dbb"};
  std::vector<std::string> overrides;    ///< --set key=value, applied to every run
  std::string runs_dir = "runs/bench";
  std::string out;
  bool controls_only = false;            ///< only the random masks and baselines (no search)
  /// The search strategy (config `mode`): "search" (RepNAS) or "gdas". Its runs are
  /// protocol-seed<s>/<name> and <name>-retrained ("search" and "retrained" for RepNAS); the
  /// random masks and baselines do not depend on it and are shared.
  std::string strategy = "search";
};

/// @brief The protocol (STRATEGIES.md §1, issue 13): per seed the search (one-stage result and
/// wall time), its ODBB retrained from scratch, random masks of the same k, and the baselines;
/// mean ± std, pooled std and the verdicts, written to opt.out.
int benchProtocol(const ProtocolOptions& opt);

struct ProxyOptions {
  std::uint64_t seed = 1;
  int masks = 10;                        ///< uniform random masks of k
  int standalone_epochs = 2;             ///< each mask's short training from scratch
  std::vector<std::string> overrides;    ///< --set key=value, applied to every run
  std::string runs_dir = "runs/bench";
  std::string out;
};

/// @brief RENA's proxy (issue 18): a RENA supernet (warm-up and search, no fixed phase), then
/// `masks` uniform random masks of k, each scored with the shared weights as RENA scores a
/// child (BatchNorm re-estimated on rena_bn_batches training batches; accuracy on the first
/// rena_val_batches validation batches, and on the whole validation split) and trained from
/// scratch for `standalone_epochs` (validation accuracy at the end); Kendall's τ between them.
int benchRenaProxy(const ProxyOptions& opt);

}  // namespace repnas::bench
