#pragma once
// Branch subsets per layer under a count budget, and the joint best choice of one subset per
// layer with exactly k branches in all: the constrained Gumbel-max of GDAS on our space
// (STRATEGIES.md §2). Plain C++, no torch.

#include <vector>

#include "repnas/budget.h"

namespace repnas {

/// @brief A subset of the six branch kinds as a bit set (bit j: BranchKind j), 0..63.
using SubsetBits = int;
inline constexpr int kNumSubsets = 1 << kNumBranchKinds;

/// @brief Per layer, the subsets `budget` allows there in increasing order: Keep pins in, Drop
/// pins out, size within the layer's limits. Throws repnas::Error when the budget is infeasible.
std::vector<std::vector<SubsetBits>> allowedSubsets(const Budget& budget);

/// @brief The choice of one allowed subset per layer with exactly budget.k branches in all that
/// maximises Σ_l score[l][S_l]; `score[l]` is indexed by SubsetBits (64 values; entries of
/// subsets not allowed are ignored). Dynamic programme over (layer, branches used), O(L·k·64);
/// ties go to the smaller subset bits of the earlier layers. k = kAnyCount: each layer's best
/// allowed subset. Cost limits are not this function's (search/cost_selection.h). Throws when
/// infeasible.
std::vector<SubsetBits> bestSubsets(const std::vector<std::vector<SubsetBits>>& allowed,
                                    const std::vector<std::vector<double>>& score, int k);

/// @brief Σ_{b∈S} values[b].
double subsetSum(SubsetBits subset, const double* values);

}  // namespace repnas
