#include "search/knapsack.h"

#include <CbcModel.hpp>
#include <CoinMessageHandler.hpp>
#include <CoinPackedMatrix.hpp>
#include <CoinPackedVector.hpp>
#include <OsiClpSolverInterface.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "repnas/error.h"

namespace repnas {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

/// A bound met up to float rounding of sums of measured costs.
bool within(double used, const KnapsackResource& r) {
  const double slack = 1e-9 * std::max(1.0, std::abs(used));
  return used >= r.lower - slack && used <= r.upper + slack;
}

/// The value and the resources used by `choice`; status Optimal/Infeasible by the bounds.
KnapsackSolution evaluate(const KnapsackProblem& p, const std::vector<int>& choice) {
  KnapsackSolution s;
  s.choice = choice;
  s.used.assign(p.resources.size(), 0.0);
  for (size_t g = 0; g < p.groups.size(); ++g) {
    const auto& c = p.groups[g][choice[g]];
    s.value += c.value;
    for (size_t r = 0; r < p.resources.size(); ++r) s.used[r] += c.cost[r];
  }
  bool ok = true;
  for (size_t r = 0; r < p.resources.size(); ++r) ok &= within(s.used[r], p.resources[r]);
  s.status = ok ? KnapsackSolution::Status::Optimal : KnapsackSolution::Status::Infeasible;
  return s;
}

KnapsackSolution infeasible(std::string reason, Clock::time_point t0) {
  KnapsackSolution s;
  s.reason = std::move(reason);
  s.seconds = secondsSince(t0);
  return s;
}

}  // namespace

void checkKnapsackProblem(const KnapsackProblem& p) {
  for (const auto& r : p.resources)
    if (std::isnan(r.lower) || std::isnan(r.upper) || r.lower > r.upper)
      throw Error("budget '" + r.name + "': its bounds " + number(r.lower) + ".." + number(r.upper) +
                  " are not a range");
  for (size_t g = 0; g < p.groups.size(); ++g) {
    if (p.groups[g].empty()) throw Error("layer " + std::to_string(g) + " has no allowed choice");
    for (const auto& c : p.groups[g]) {
      if (c.cost.size() != p.resources.size())
        throw Error("layer " + std::to_string(g) + ": a choice has " + std::to_string(c.cost.size()) +
                    " costs for " + std::to_string(p.resources.size()) + " budgets");
      if (!std::isfinite(c.value)) throw Error("layer " + std::to_string(g) + ": a choice's score is not finite");
      for (size_t r = 0; r < c.cost.size(); ++r)
        if (!std::isfinite(c.cost[r]))
          throw Error("layer " + std::to_string(g) + ": a choice's " + p.resources[r].name +
                      " is not finite");
    }
  }
}

std::string knapsackBoundsProblem(const KnapsackProblem& p) {
  for (size_t r = 0; r < p.resources.size(); ++r) {
    double least = 0, most = 0;
    for (const auto& group : p.groups) {
      double lo = std::numeric_limits<double>::infinity(), hi = -lo;
      for (const auto& c : group) {
        lo = std::min(lo, c.cost[r]);
        hi = std::max(hi, c.cost[r]);
      }
      least += lo;
      most += hi;
    }
    const auto& res = p.resources[r];
    if (!within(least, {res.name, -std::numeric_limits<double>::infinity(), res.upper}))
      return res.name + ": the least every layer can take adds up to " + number(least) +
             ", more than the budget of " + number(res.upper);
    if (!within(most, {res.name, res.lower, std::numeric_limits<double>::infinity()}))
      return res.name + ": the most every layer can take adds up to " + number(most) +
             ", less than the budget's minimum of " + number(res.lower);
  }
  return "";
}

KnapsackSolution solveKnapsackEnumeration(const KnapsackProblem& p) {
  checkKnapsackProblem(p);
  const auto t0 = Clock::now();
  double combinations = 1;
  for (const auto& g : p.groups) combinations *= static_cast<double>(g.size());
  if (combinations > 1e6) throw Error("enumeration: " + number(combinations) + " combinations, more than 10^6");
  KnapsackSolution best = infeasible("no combination meets every budget", t0);
  std::vector<int> choice(p.groups.size(), 0);
  while (true) {
    auto s = evaluate(p, choice);
    if (s.status == KnapsackSolution::Status::Optimal &&
        (best.status == KnapsackSolution::Status::Infeasible || s.value > best.value))
      best = s;
    size_t g = 0;  // the next combination, the last group fastest
    for (g = p.groups.size(); g-- > 0;) {
      if (++choice[g] < static_cast<int>(p.groups[g].size())) break;
      choice[g] = 0;
    }
    if (g == static_cast<size_t>(-1) || p.groups.empty()) break;
  }
  if (const auto why = knapsackBoundsProblem(p); best.status == KnapsackSolution::Status::Infeasible && !why.empty())
    best.reason = why;
  best.seconds = secondsSince(t0);
  return best;
}

KnapsackSolution solveKnapsackDp(const KnapsackProblem& p) {
  checkKnapsackProblem(p);
  const auto t0 = Clock::now();
  if (p.resources.size() != 1) throw Error("the dynamic programme takes exactly one budget");
  const auto& res = p.resources[0];
  if (!std::isfinite(res.upper) || res.upper < 0 || res.upper > 1e7)
    throw Error("the dynamic programme needs a finite budget of at most 10^7");
  for (const auto& group : p.groups)
    for (const auto& c : group)
      if (c.cost[0] < 0 || c.cost[0] != std::floor(c.cost[0]))
        throw Error("the dynamic programme needs integer costs >= 0 (quantise them first)");
  const int cap = static_cast<int>(std::floor(res.upper));
  const double minus_inf = -std::numeric_limits<double>::infinity();
  // best[u]: the largest value of the groups so far with total cost exactly u; pick[g][u] the
  // choice of group g on that path.
  std::vector<double> best(cap + 1, minus_inf);
  best[0] = 0;
  std::vector<std::vector<int>> pick(p.groups.size(), std::vector<int>(cap + 1, -1));
  for (size_t g = 0; g < p.groups.size(); ++g) {
    std::vector<double> next(cap + 1, minus_inf);
    for (int u = 0; u <= cap; ++u) {
      if (best[u] == minus_inf) continue;
      for (size_t c = 0; c < p.groups[g].size(); ++c) {
        const int w = u + static_cast<int>(p.groups[g][c].cost[0]);
        if (w > cap) continue;
        const double v = best[u] + p.groups[g][c].value;
        if (v > next[w]) {
          next[w] = v;
          pick[g][w] = static_cast<int>(c);
        }
      }
    }
    best = std::move(next);
  }
  int at = -1;
  for (int u = 0; u <= cap; ++u)
    if (best[u] != minus_inf && u >= res.lower - 1e-9 && (at < 0 || best[u] > best[at])) at = u;
  if (at < 0) {
    const auto why = knapsackBoundsProblem(p);
    return infeasible(why.empty() ? "no combination meets the budget" : why, t0);
  }
  std::vector<int> choice(p.groups.size());
  for (size_t g = p.groups.size(); g-- > 0;) {
    choice[g] = pick[g][at];
    at -= static_cast<int>(p.groups[g][choice[g]].cost[0]);
  }
  auto s = evaluate(p, choice);
  s.seconds = secondsSince(t0);
  return s;
}

KnapsackSolution solveKnapsackCbc(const KnapsackProblem& p, double time_limit_seconds) {
  checkKnapsackProblem(p);
  const auto t0 = Clock::now();
  if (const auto why = knapsackBoundsProblem(p); !why.empty()) return infeasible(why, t0);
  if (p.groups.empty()) {
    auto s = evaluate(p, {});
    if (s.status == KnapsackSolution::Status::Infeasible) return infeasible("no layer to choose for", t0);
    return s;
  }
  // One binary x[g][c] per choice; Σ_c x[g][c] = 1 per group; each resource's bounds on
  // Σ cost · x; maximise Σ value · x (CBC minimises: the values negated).
  OsiClpSolverInterface solver;
  const double inf = solver.getInfinity();
  std::vector<std::pair<int, int>> column;
  for (size_t g = 0; g < p.groups.size(); ++g)
    for (size_t c = 0; c < p.groups[g].size(); ++c) column.emplace_back(static_cast<int>(g), static_cast<int>(c));
  const int n = static_cast<int>(column.size());
  CoinPackedMatrix matrix(false, 0, 0);
  matrix.setDimensions(0, n);
  std::vector<double> row_lower, row_upper;
  for (size_t g = 0, first = 0; g < p.groups.size(); first += p.groups[g].size(), ++g) {
    CoinPackedVector row;
    for (size_t c = 0; c < p.groups[g].size(); ++c) row.insert(static_cast<int>(first + c), 1.0);
    matrix.appendRow(row);
    row_lower.push_back(1);
    row_upper.push_back(1);
  }
  for (size_t r = 0; r < p.resources.size(); ++r) {
    CoinPackedVector row;
    for (int i = 0; i < n; ++i) {
      const double a = p.groups[column[i].first][column[i].second].cost[r];
      if (a != 0) row.insert(i, a);
    }
    matrix.appendRow(row);
    const auto& res = p.resources[r];
    row_lower.push_back(std::isfinite(res.lower) ? res.lower : -inf);
    row_upper.push_back(std::isfinite(res.upper) ? res.upper : inf);
  }
  std::vector<double> col_lower(n, 0.0), col_upper(n, 1.0), objective(n);
  for (int i = 0; i < n; ++i) objective[i] = -p.groups[column[i].first][column[i].second].value;
  solver.loadProblem(matrix, col_lower.data(), col_upper.data(), objective.data(), row_lower.data(),
                     row_upper.data());
  for (int i = 0; i < n; ++i) solver.setInteger(i);
  solver.messageHandler()->setLogLevel(0);
  CbcModel model(solver);
  model.setLogLevel(0);
  model.messageHandler()->setLogLevel(0);
  model.setMaximumSeconds(time_limit_seconds);
  model.branchAndBound();
  const double* x = model.bestSolution();
  if (!x) {
    return infeasible(model.isProvenInfeasible()
                          ? "no choice of one option per layer meets every budget together"
                          : "CBC found no solution within " + number(time_limit_seconds) +
                                " s (not proven infeasible)",
                      t0);
  }
  std::vector<int> choice(p.groups.size(), -1);
  for (int i = 0; i < n; ++i)
    if (x[i] > 0.5) choice[column[i].first] = column[i].second;
  if (std::find(choice.begin(), choice.end(), -1) != choice.end())
    return infeasible("CBC returned a solution without a choice for every layer", t0);
  auto s = evaluate(p, choice);
  if (s.status == KnapsackSolution::Status::Infeasible)
    return infeasible("CBC's solution breaks a budget beyond rounding", t0);
  s.status = model.isProvenOptimal() ? KnapsackSolution::Status::Optimal : KnapsackSolution::Status::Feasible;
  s.seconds = secondsSince(t0);
  return s;
}

}  // namespace repnas
