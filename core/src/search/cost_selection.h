#pragma once
// The selection under a whole budget (issue 17, DESIGN.md 1.3): count, pins, per-layer limits
// and cost limits in measured training ms per step and MB. A budget without cost limits is the
// count selection of budget.h (top-k, or the subset DP), unchanged; with them, one subset per
// layer is chosen by the multiple-choice knapsack (CBC) over the strategy's scores. No torch.

#include <optional>
#include <string>
#include <vector>

#include "repnas/budget.h"
#include "search/subset_search.h"

namespace repnas {

/// @brief One allowed subset per layer maximising Σ_l score[l][S_l] (`score[l]` indexed by
/// SubsetBits) under every part of `budget`. Without cost limits: bestSubsets. With them: the
/// count optimum when it meets the limits (it is then optimal), else the knapsack solved by
/// CBC. Throws repnas::Error naming the reason when nothing meets the budget. `solve_seconds`
/// (when given) receives the integer program's time (0 when none was needed).
std::vector<SubsetBits> selectSubsets(const std::vector<std::vector<double>>& score,
                                      const Budget& budget, double* solve_seconds = nullptr);

/// @brief The branches maximising the sum of their `scores` ([layers × 6], layer-major) under
/// `budget`: selectBranches for a count budget (bit for bit), selectSubsets otherwise.
std::vector<BranchMask> selectBudgetBranches(const std::vector<double>& scores, const Budget& budget);

/// @brief Why no mask meets `budget` (budgetProblem, and for cost limits whether some mask
/// meets all of them together: the knapsack's feasibility), or nullopt.
std::optional<std::string> costBudgetProblem(const Budget& budget, int layers);

}  // namespace repnas
