#pragma once
// What each search strategy and fixed baseline is, in one registry (issue 16): config
// validation, `repnas search --help`, the man page, the GUI's setup panel, the branch sets of
// the fixed baselines and the rule for live budget edits all read it. Plain C++ (no torch).

#include <cmath>
#include <string>
#include <vector>

#include "repnas/branch_kind.h"
#include "repnas/events.h"

namespace repnas {

/// @brief What a strategy needs from the engine and what it offers.
struct StrategyCapabilities {
  bool searches = false;               ///< chooses branches (else trains a fixed set)
  bool needs_validation_split = false; ///< reads validation batches while searching
  bool needs_teacher = false;
  bool needs_measured_costs = false;
  bool accepts_budget_edits = false;   ///< live budget, pins and limits before its fix
  /// Its selection honours cost limits and a free count (the knapsack: RepNAS, GDAS); RENA's
  /// swaps keep exactly k and count cost in the reward.
  bool accepts_cost_budgets = false;
};

/// @brief One entry of the registry.
struct StrategyInfo {
  std::string name;     ///< the value of the config key `strategy` (e.g. "search", "plain")
  std::vector<std::string> aliases;  ///< other values read as this one (e.g. "repnas")
  std::string method;   ///< the method it runs, as the papers name it ("RepNAS", "fixed")
  std::string summary;  ///< one line for --help and the setup panel
  std::vector<Phase> phases;  ///< in order (Warmup, Search, Fixed; or Train)
  StrategyCapabilities capabilities;
  BranchMask branches;  ///< every layer's branch set (a search chooses among all six)
  bool identity = false;      ///< the identity-BN branch where a layer can have one
  bool given_mask = false;    ///< trains the mask in config key `mask` (odbb)
  /// Its own config keys: the ones it reads that a run of a strategy without them does not
  /// (the common ones, such as epochs or val_split, every run reads).
  std::vector<std::string> keys;
  std::string importance;     ///< what its per-(layer, branch) numbers mean ("" when none)
  /// Its numbers are probabilities already (RENA's keep probabilities): events' and
  /// arch.json's `sigma` are the numbers themselves, not σ of them (α of RepNAS and GDAS).
  bool importance_is_probability = false;
  /// @brief The 0..1 number the heatmap shows for the importance `value`.
  double shownImportance(double value) const {
    return importance_is_probability ? value : 1.0 / (1.0 + std::exp(-value));
  }
};

/// @brief Every strategy, in the order the help and the setup panel list them.
const std::vector<StrategyInfo>& strategyRegistry();

/// @brief The entry named `name` (or with `name` among its aliases), or nullptr.
const StrategyInfo* findStrategy(const std::string& name);

/// @brief The entry named `name`; Error when there is none.
const StrategyInfo& strategyInfo(const std::string& name);

/// @brief Whether the strategy `name` reads the config key `key` of its own (false for an
/// unknown strategy and for the keys every run reads).
bool strategyUsesKey(const std::string& name, const std::string& key);

/// @brief "search (or repnas), gdas, plain, …, dbb or odbb": the names, for messages.
std::string strategyNameList(const std::string& last_separator = " or ");

}  // namespace repnas
