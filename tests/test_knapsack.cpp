// The multiple-choice knapsack (issue 17): CBC's solution is the optimum that enumeration finds
// on random small instances, with several budgets, lower bounds (exactly k) and forbidden
// choices; the dynamic programme agrees on one integer budget; infeasible budgets say why.
#include <QtTest>

#include <cmath>
#include <random>

#include "search/knapsack.h"
#include "repnas/error.h"

using namespace repnas;

namespace {

/// L groups of 1..max_choices choices, `resources` costs each (integers 0..9 when `integer`).
KnapsackProblem randomProblem(std::mt19937& rng, int layers, int max_choices, int resources, bool integer) {
  std::uniform_int_distribution<int> choices(1, max_choices), cost(0, 9);
  std::normal_distribution<double> value(0, 1);
  std::uniform_real_distribution<double> real_cost(0, 5);
  KnapsackProblem p;
  for (int l = 0; l < layers; ++l) {
    std::vector<KnapsackChoice> group(choices(rng));
    for (auto& c : group) {
      c.value = value(rng);
      for (int r = 0; r < resources; ++r) c.cost.push_back(integer ? cost(rng) : real_cost(rng));
    }
    p.groups.push_back(group);
  }
  std::uniform_real_distribution<double> frac(0, 1);
  for (int r = 0; r < resources; ++r) {
    KnapsackResource res;
    res.name = "budget" + std::to_string(r);
    res.upper = integer ? std::floor(frac(rng) * 9 * layers) : frac(rng) * 5 * layers;
    if (frac(rng) < 0.3) res.lower = res.upper * frac(rng);  // sometimes a floor too
    p.resources.push_back(res);
  }
  return p;
}

}  // namespace

class TestKnapsack : public QObject {
  Q_OBJECT
 private slots:
  void cbcFindsTheOptimumThatEnumerationFinds() {
    std::mt19937 rng(17);
    int feasible = 0, infeasible = 0;
    for (int trial = 0; trial < 300; ++trial) {
      const auto p = randomProblem(rng, 1 + trial % 3, 6, 1 + trial % 3, trial % 2 == 0);
      const auto want = solveKnapsackEnumeration(p);
      const auto got = solveKnapsackCbc(p);
      const auto where = qPrintable(QString("trial %1").arg(trial));
      if (want.status == KnapsackSolution::Status::Infeasible) {
        ++infeasible;
        QVERIFY2(got.status == KnapsackSolution::Status::Infeasible, where);
        QVERIFY2(!got.reason.empty(), where);
        continue;
      }
      ++feasible;
      QVERIFY2(got.status == KnapsackSolution::Status::Optimal, where);
      QVERIFY2(std::abs(got.value - want.value) <= 1e-9 * std::max(1.0, std::abs(want.value)), where);
      for (size_t r = 0; r < p.resources.size(); ++r)
        QVERIFY2(got.used[r] <= p.resources[r].upper + 1e-9 && got.used[r] >= p.resources[r].lower - 1e-9, where);
    }
    QVERIFY(feasible > 100 && infeasible > 10);  // both kinds were exercised
  }

  void theDynamicProgrammeAgreesOnOneIntegerBudget() {
    std::mt19937 rng(3);
    for (int trial = 0; trial < 200; ++trial) {
      const auto p = randomProblem(rng, 1 + trial % 4, 5, 1, /*integer=*/true);
      const auto want = solveKnapsackEnumeration(p);
      const auto got = solveKnapsackDp(p);
      QCOMPARE(got.status == KnapsackSolution::Status::Infeasible,
               want.status == KnapsackSolution::Status::Infeasible);
      if (want.status != KnapsackSolution::Status::Infeasible)
        QVERIFY(std::abs(got.value - want.value) <= 1e-9 * std::max(1.0, std::abs(want.value)));
    }
  }

  // The branch selection's size: 8 layers × up to 64 subsets, exactly k branches and a ms budget.
  void branchSubsetsUnderExactlyKAndAMillisecondBudget() {
    std::mt19937 rng(8);
    std::normal_distribution<double> alpha(0, 1);
    std::uniform_real_distribution<double> ms(0.5, 3);
    const int layers = 8, k = 16;
    std::vector<std::vector<double>> a(layers, std::vector<double>(6)), t = a;
    for (int l = 0; l < layers; ++l)
      for (int b = 0; b < 6; ++b) a[l][b] = alpha(rng), t[l][b] = ms(rng);
    KnapsackProblem p;
    p.resources = {{"branches", double(k), double(k)}, {"ms per step", -INFINITY, 20.0}};
    for (int l = 0; l < layers; ++l) {
      std::vector<KnapsackChoice> group;
      for (int s = 1; s < 64; ++s) {  // every non-empty subset
        KnapsackChoice c;
        double ms_sum = 0;
        for (int b = 0; b < 6; ++b)
          if (s >> b & 1) c.value += a[l][b], ms_sum += t[l][b];
        c.cost = {double(__builtin_popcount(s)), ms_sum};
        group.push_back(c);
      }
      p.groups.push_back(group);
    }
    const auto s = solveKnapsackCbc(p);
    QVERIFY2(s.status == KnapsackSolution::Status::Optimal, s.reason.c_str());
    QCOMPARE(s.used[0], double(k));
    QVERIFY(s.used[1] <= 20.0 + 1e-9);
    // Without the ms budget the optimum is the per-layer top-k of α under "at least one branch".
    p.resources.pop_back();
    for (auto& g : p.groups)
      for (auto& c : g) c.cost.pop_back();
    const auto free = solveKnapsackCbc(p);
    QVERIFY(free.value >= s.value - 1e-9);
    // The same as a DP over the count (integer costs): one budget "at most k" gives ≥ the exact k.
    p.resources[0].lower = -INFINITY;
    const auto dp = solveKnapsackDp(p);
    QVERIFY(std::abs(dp.value - solveKnapsackCbc(p).value) < 1e-9);
    QVERIFY(dp.value >= free.value - 1e-9);
  }

  void impossibleBudgetsSayWhy() {
    KnapsackProblem p;
    p.groups = {{{1.0, {2.0}}, {2.0, {3.0}}}, {{0.5, {4.0}}}};
    p.resources = {{"ms per step", -INFINITY, 5.0}};
    auto s = solveKnapsackCbc(p);
    QVERIFY(s.status == KnapsackSolution::Status::Infeasible);
    QVERIFY2(s.reason.find("ms per step: the least every layer can take adds up to 6") == 0, s.reason.c_str());
    QCOMPARE(QString::fromStdString(solveKnapsackEnumeration(p).reason), QString::fromStdString(s.reason));
    p.resources = {{"branches", 9.0, 9.0}};
    s = solveKnapsackCbc(p);
    QVERIFY2(s.reason.find("branches: the most every layer can take adds up to 7") == 0, s.reason.c_str());
    // Each bound alone can be met, not both together: CBC proves it.
    p.groups = {{{1.0, {0.0, 1.0}}, {1.0, {1.0, 0.0}}}};
    p.resources = {{"a", 1.0, 1.0}, {"b", 1.0, 1.0}};
    s = solveKnapsackCbc(p);
    QVERIFY(s.status == KnapsackSolution::Status::Infeasible);
    QVERIFY2(s.reason.find("together") != std::string::npos, s.reason.c_str());
  }

  void malformedProblemsAreRefused() {
    KnapsackProblem p;
    p.groups = {{}};
    QVERIFY_THROWS_EXCEPTION(Error, solveKnapsackCbc(p));
    p.groups = {{{1.0, {1.0, 2.0}}}};
    p.resources = {{"ms", -INFINITY, 3.0}};
    QVERIFY_THROWS_EXCEPTION(Error, solveKnapsackCbc(p));
    p.groups = {{{NAN, {1.0}}}};
    QVERIFY_THROWS_EXCEPTION(Error, solveKnapsackCbc(p));
    p.groups = {{{1.0, {1.0}}}};
    p.resources = {{"ms", 4.0, 3.0}};
    QVERIFY_THROWS_EXCEPTION(Error, solveKnapsackCbc(p));
    p.resources = {{"ms", -INFINITY, 3.0}};
    p.groups = {{{1.0, {0.5}}}};
    QVERIFY_THROWS_EXCEPTION(Error, solveKnapsackDp(p));  // not an integer cost
  }
};

QTEST_APPLESS_MAIN(TestKnapsack)
#include "test_knapsack.moc"
