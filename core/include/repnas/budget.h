#pragma once
/// @file budget.h
/// @brief The branch budget (global k, per-layer limits, pins) and the constrained selection
/// that turns per-branch scores into a mask (DESIGN.md 1.3). Plain C++, no torch.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "repnas/branch_kind.h"

namespace repnas {

/// @brief A user's decision about one (layer, branch).
enum class Pin { Auto = 0, Keep = 1, Drop = 2 };

/// @brief "auto", "keep", "drop".
std::string pinName(Pin pin);
/// @brief Parses pinName's output; nullopt for anything else.
std::optional<Pin> parsePin(const std::string& name);

/// @brief k of a budget whose branch count is free: its cost limits alone bind (issue 17).
inline constexpr int kAnyCount = -1;

/// @brief What keeping each (layer, branch) adds to one training step on this machine, in the
/// units of a budget's cost limits: the cost model's measurements (repnas/costs.h,
/// trainingCostTable) as the selection uses them. A step of a mask costs base + Σ its branches.
struct BranchCostTable {
  std::vector<std::array<double, kNumBranchKinds>> ms;  ///< [layer][branch]: forward + backward ms
  std::vector<std::array<double, kNumBranchKinds>> mb;  ///< [layer][branch]: MiB kept for the backward
  double base_ms = 0;  ///< the rest of a step: stem, head, identity branches, loss, the update
  double base_mb = 0;

  /// @brief Predicted ms per step and training MiB of `masks` (base included).
  double msOf(const std::vector<BranchMask>& masks) const;
  double mbOf(const std::vector<BranchMask>& masks) const;
};

/// @brief How many branches may be kept, globally and per layer, which are pinned, and what a
/// training step of the kept branches may cost.
struct Budget {
  int k = 0;                             ///< branches kept in total (identity not counted); kAnyCount: free
  std::vector<int> layer_min;            ///< per layer; empty = defaults (see defaultBudget)
  std::vector<int> layer_max;            ///< per layer; empty = 6 everywhere
  std::vector<std::array<Pin, kNumBranchKinds>> pins;  ///< per layer; empty = all Auto
  double max_ms = 0;                     ///< predicted training ms per step ≤ this; 0: no limit
  double max_mb = 0;                     ///< predicted training MiB ≤ this; 0: no limit
  /// The measured costs the limits are counted in (the engine attaches them; not part of the
  /// budget's identity, not written with it). Needed for a selection under a cost limit.
  std::shared_ptr<const BranchCostTable> costs;

  /// @brief Sizes the per-layer vectors for `layers` layers, filling defaults where empty.
  void resize(int layers, const std::vector<bool>& layer_has_identity);
  bool countLimited() const { return k != kAnyCount; }
  bool costLimited() const { return max_ms > 0 || max_mb > 0; }
  bool operator==(const Budget& o) const {
    return k == o.k && layer_min == o.layer_min && layer_max == o.layer_max && pins == o.pins &&
           max_ms == o.max_ms && max_mb == o.max_mb;
  }
  bool operator!=(const Budget& o) const { return !(*this == o); }
};

/// @brief k = ⌊ratio · 6L⌋ (ratio 0.34 by default, DESIGN.md 1.2). Layers without an identity
/// branch get a minimum of 1 so that no layer outputs a constant; the others minimum 0.
Budget defaultBudget(const std::vector<bool>& layer_has_identity, double ratio = 0.34);

/// @brief Why `budget` cannot be satisfied for `layers` layers, or nullopt when it can.
/// Reasons read like "k=10 is below the sum of per-layer minimums 22". With a cost table
/// attached, each cost limit is checked against the least that any mask the rest of the budget
/// allows costs ("ms per step ≤ 30 is below 41.2, the least ..."); whether two cost limits can
/// be met together takes the integer program (costBudgetProblem, search/cost_selection.h).
std::optional<std::string> budgetProblem(const Budget& budget, int layers);

/// @brief Whether layer `layer` of `budget` allows the subset `bits` (bit j: BranchKind j):
/// Keep pins in, Drop pins out, its size within the layer's limits.
bool layerAllowsSubset(const Budget& budget, int layer, int bits);

/// @brief The selection of a count budget: honour Keep pins and per-layer minimums (each layer's
/// best-scoring branches first), then fill globally by score up to exactly k within per-layer
/// maximums, never taking a Drop pin. `scores` is layer-major, [layers × 6]. Ties go to the
/// lower index. Throws repnas::Error with budgetProblem's reason when infeasible, and for a
/// budget with cost limits or a free count (those are selectBudgetBranches' integer program).
std::vector<BranchMask> selectBranches(const std::vector<double>& scores, const Budget& budget);

/// @brief Number of branches set over all layers.
int countBranches(const std::vector<BranchMask>& masks);

/// @brief A mask drawn uniformly from every mask that `budget` allows (exactly k branches,
/// Keep pins kept, Drop pins dropped, per-layer limits honoured), from a generator seeded by
/// `seed`. Throws repnas::Error with budgetProblem's reason when infeasible.
std::vector<BranchMask> randomBranches(const Budget& budget, std::uint64_t seed);

/// @brief The fraction of the branches of `sampled` that `reference` also keeps (1 when
/// `sampled` is empty): how much of a noisy step's mask the noise-free selection agrees with.
double maskAgreement(const std::vector<BranchMask>& sampled,
                     const std::vector<BranchMask>& reference);

/// @brief How decided `selected` (the selection of `scores` under `budget`) is: the lowest
/// score among kept branches that no pin forces, minus the highest score among dropped
/// branches that no pin forbids (the gap between the k-th and the (k+1)-th score when no
/// limits bind). nullopt when either side is empty.
std::optional<double> selectionMargin(const std::vector<double>& scores,
                                      const std::vector<BranchMask>& selected,
                                      const Budget& budget);

}  // namespace repnas
