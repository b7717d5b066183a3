#pragma once
/// @file inspect.h
/// @brief What one block of a run holds: each branch's kernels before folding and its
/// equivalent KxK kernel after, and the fused kernel. Plain C++; the numbers come from the
/// core folding functions (float64), so views show exactly what the exporter folds.

#include <cstdint>
#include <string>
#include <vector>

#include "repnas/block_spec.h"
#include "repnas/branch_kind.h"

namespace repnas {

/// @brief A convolution kernel [out, in/groups, kh, kw] (row-major) and its bias [out].
struct KernelData {
  std::string name;             ///< e.g. "1x1 conv", "KxK equivalent"
  std::vector<int64_t> shape;   ///< {out, in/groups, kh, kw}
  std::vector<double> values;
  std::vector<double> bias;     ///< empty when the kernel has no bias
  double at(int64_t o, int64_t i, int64_t y, int64_t x) const {
    return values[((o * shape[1] + i) * shape[2] + y) * shape[3] + x];
  }
  /// @brief The kh × kw slice for output channel o and input channel i (row-major).
  std::vector<double> slice(int64_t o, int64_t i) const;
};

/// @brief One branch of a block.
struct BranchInspection {
  std::string name;   ///< branchName(kind), or "identity"
  int kind = -1;      ///< BranchKind index; -1 for the identity branch
  bool kept = false;  ///< in the architecture (the identity is always kept)
  std::vector<KernelData> raw;  ///< its own convolution kernels, before any folding
  KernelData folded;            ///< eval-mode equivalent KxK kernel and bias
};

/// @brief One block, read from a run's weights.pt (or checkpoint.pt while it trains).
struct BlockInspection {
  std::string source;      ///< the archive read
  bool complete = false;   ///< from weights.pt (a finished run)
  int64_t step = 0;        ///< steps trained when a checkpoint was saved
  int layer = 0;
  int layers = 0;          ///< layers in the network
  std::string label;       ///< e.g. "L3 s2 32->64"
  BlockSpec spec;
  BranchMask kept;         ///< the kept branches used for `fused`
  std::vector<BranchInspection> branches;  ///< the branches the block has, identity last
  KernelData fused;        ///< Σ folded kernels of the kept branches + identity
};

/// @brief Reads run_dir/weights.pt, or run_dir/checkpoint.pt when the run has not finished,
/// and inspects `layer`. `kept` overrides the archive's architecture (e.g. the mask a live
/// search uses now); branches the block lacks are ignored. Throws repnas::Error.
BlockInspection inspectRunBlock(const std::string& run_dir, int layer,
                                const BranchMask* kept = nullptr);

}  // namespace repnas
