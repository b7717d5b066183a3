#pragma once
// The multiple-choice knapsack: one choice per group (a layer), the largest total value, the
// costs of the choices within each resource's bounds (a budget of branches, ms per step, MB, a
// latency). Cost-aware budgets of the branch search and HANT's phase 2 solve it (issue 17).
// Three solvers: CBC (branch and cut, the product's; proves optimality), an exact dynamic
// programme over one resource (integer costs, a cross-check) and enumeration (tests). No torch,
// no CBC in this header.

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace repnas {

/// @brief One choice of a group: its value and its cost in each resource.
struct KnapsackChoice {
  double value = 0;
  std::vector<double> cost;  ///< one per resource of the problem
};

/// @brief One resource: lower ≤ Σ cost of the chosen ≤ upper.
struct KnapsackResource {
  std::string name;  ///< for messages, e.g. "branches", "ms per step"
  double lower = -std::numeric_limits<double>::infinity();
  double upper = std::numeric_limits<double>::infinity();
};

/// @brief Choose exactly one choice of each group.
struct KnapsackProblem {
  std::vector<std::vector<KnapsackChoice>> groups;
  std::vector<KnapsackResource> resources;
};

/// @brief What a solver found.
struct KnapsackSolution {
  enum class Status { Optimal, Feasible, Infeasible };
  Status status = Status::Infeasible;  ///< Feasible: a solution, optimality not proven
  std::vector<int> choice;             ///< per group, the index of its choice
  double value = 0;
  std::vector<double> used;            ///< per resource, Σ cost of the chosen
  std::string reason;                  ///< Infeasible: why, naming the resource
  double seconds = 0;                  ///< the solve's wall time
};

/// @brief Problems the solvers refuse (not a solution's absence): Error naming what is wrong
/// (a group without choices, a cost vector of the wrong size, a non-finite number).
void checkKnapsackProblem(const KnapsackProblem& problem);

/// @brief Branch and cut with CBC: Optimal when proven, Feasible when the time limit came first,
/// Infeasible with a reason (checked before the solve for the plain cases).
KnapsackSolution solveKnapsackCbc(const KnapsackProblem& problem, double time_limit_seconds = 10);

/// @brief Exact dynamic programme for a problem of one resource with integer costs ≥ 0 and a
/// finite upper bound (O(groups · choices · upper)); Error otherwise.
KnapsackSolution solveKnapsackDp(const KnapsackProblem& problem);

/// @brief Every combination (for tests: at most 10^6 of them; Error beyond).
KnapsackSolution solveKnapsackEnumeration(const KnapsackProblem& problem);

/// @brief Why no combination fits, when a resource's bounds cannot be met even by the cheapest
/// (or the most expensive) choice of each group; empty when the bounds alone do not rule it out.
std::string knapsackBoundsProblem(const KnapsackProblem& problem);

}  // namespace repnas
