#include "search/cost_selection.h"

#include <bitset>
#include <limits>

#include "repnas/error.h"
#include "search/knapsack.h"

namespace repnas {
namespace {

std::vector<BranchMask> masksOf(const std::vector<SubsetBits>& subsets) {
  std::vector<BranchMask> masks;
  masks.reserve(subsets.size());
  for (SubsetBits s : subsets) masks.emplace_back(static_cast<unsigned long>(s));
  return masks;
}

bool meetsCostLimits(const Budget& b, const std::vector<SubsetBits>& subsets) {
  const auto masks = masksOf(subsets);
  return (b.max_ms <= 0 || b.costs->msOf(masks) <= b.max_ms) &&
         (b.max_mb <= 0 || b.costs->mbOf(masks) <= b.max_mb);
}

/// The knapsack of `b` over `allowed` with the values `score` (resources: the count when it is
/// limited, then ms and MB where limited, net of the step's base).
KnapsackProblem knapsackOf(const Budget& b, const std::vector<std::vector<SubsetBits>>& allowed,
                           const std::vector<std::vector<double>>& score) {
  KnapsackProblem p;
  if (b.countLimited()) p.resources.push_back({"branches", double(b.k), double(b.k)});
  const auto& t = *b.costs;
  if (b.max_ms > 0) p.resources.push_back({"ms per step", -std::numeric_limits<double>::infinity(), b.max_ms - t.base_ms});
  if (b.max_mb > 0) p.resources.push_back({"training MB", -std::numeric_limits<double>::infinity(), b.max_mb - t.base_mb});
  for (size_t l = 0; l < allowed.size(); ++l) {
    std::vector<KnapsackChoice> group;
    for (SubsetBits s : allowed[l]) {
      KnapsackChoice c;
      c.value = score.empty() ? 0.0 : score[l][s];
      double ms = 0, mb = 0;
      for (int j = 0; j < kNumBranchKinds; ++j)
        if ((s >> j) & 1) {
          ms += t.ms[l][j];
          mb += t.mb[l][j];
        }
      if (b.countLimited()) c.cost.push_back(static_cast<double>(std::bitset<kNumBranchKinds>(s).count()));
      if (b.max_ms > 0) c.cost.push_back(ms);
      if (b.max_mb > 0) c.cost.push_back(mb);
      group.push_back(std::move(c));
    }
    p.groups.push_back(std::move(group));
  }
  return p;
}

std::vector<SubsetBits> solved(const KnapsackProblem& p, const std::vector<std::vector<SubsetBits>>& allowed,
                               double* solve_seconds) {
  const auto solution = solveKnapsackCbc(p);
  if (solve_seconds) *solve_seconds = solution.seconds;
  if (solution.status == KnapsackSolution::Status::Infeasible)
    throw Error("infeasible budget: " + solution.reason);
  std::vector<SubsetBits> out(allowed.size());
  for (size_t l = 0; l < allowed.size(); ++l) out[l] = allowed[l][solution.choice[l]];
  return out;
}

void needCosts(const Budget& b) {
  if (!b.costs) throw Error("the budget has cost limits but no measured cost table");
}

}  // namespace

std::vector<SubsetBits> selectSubsets(const std::vector<std::vector<double>>& score, const Budget& b,
                                      double* solve_seconds) {
  if (solve_seconds) *solve_seconds = 0;
  const auto allowed = allowedSubsets(b);  // checks budgetProblem
  auto best = bestSubsets(allowed, score, b.k);
  if (!b.costLimited()) return best;
  needCosts(b);
  if (meetsCostLimits(b, best)) return best;  // the relaxation's optimum is feasible: optimal
  return solved(knapsackOf(b, allowed, score), allowed, solve_seconds);
}

std::vector<BranchMask> selectBudgetBranches(const std::vector<double>& scores, const Budget& b) {
  if (b.countLimited() && !b.costLimited()) return selectBranches(scores, b);
  const int layers = static_cast<int>(b.layer_min.size());
  if (static_cast<int>(scores.size()) != layers * kNumBranchKinds)
    throw Error("selectBudgetBranches: " + std::to_string(scores.size()) + " scores for " +
                std::to_string(layers) + " layers");
  std::vector<std::vector<double>> score(layers, std::vector<double>(kNumSubsets, 0.0));
  for (int l = 0; l < layers; ++l)
    for (SubsetBits s = 0; s < kNumSubsets; ++s) score[l][s] = subsetSum(s, &scores[l * kNumBranchKinds]);
  return masksOf(selectSubsets(score, b));
}

std::optional<std::string> costBudgetProblem(const Budget& b, int layers) {
  if (auto problem = budgetProblem(b, layers)) return problem;
  if (!b.costLimited()) return std::nullopt;
  if (!b.costs) return "the budget has cost limits but no measured cost table";
  const auto allowed = allowedSubsets(b);
  const auto solution = solveKnapsackCbc(knapsackOf(b, allowed, {}));
  if (solution.status == KnapsackSolution::Status::Infeasible) return solution.reason;
  return std::nullopt;
}

}  // namespace repnas
