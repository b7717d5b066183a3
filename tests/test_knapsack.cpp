// The multiple-choice knapsack (issue 17): CBC's solution is the optimum that enumeration finds
// on random small instances, with several budgets, lower bounds (exactly k) and forbidden
// choices; the dynamic programme agrees on one integer budget; infeasible budgets say why.
#include <QtTest>

#include <cmath>
#include <random>

#include "search/cost_selection.h"
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

/// A budget of `layers` layers with random measured costs (ms 0.5..5, MB 1..20 per branch), and
/// sometimes pins, per-layer limits, a free count.
Budget randomCostBudget(std::mt19937& rng, int layers) {
  std::uniform_real_distribution<double> ms(0.5, 5), mb(1, 20), frac(0, 1);
  std::uniform_int_distribution<int> pick(0, 5), small(0, 3);
  auto table = std::make_shared<BranchCostTable>();
  table->base_ms = 3 * frac(rng);
  table->base_mb = 10 * frac(rng);
  Budget b;
  b.layer_min.assign(layers, 0);
  b.resize(layers, {});
  for (int l = 0; l < layers; ++l) {
    std::array<double, kNumBranchKinds> m{}, y{};
    for (int j = 0; j < kNumBranchKinds; ++j) m[j] = ms(rng), y[j] = mb(rng);
    table->ms.push_back(m);
    table->mb.push_back(y);
    if (frac(rng) < 0.3) b.pins[l][pick(rng)] = frac(rng) < 0.5 ? Pin::Keep : Pin::Drop;
    if (frac(rng) < 0.3) b.layer_max[l] = 2 + small(rng);
    if (frac(rng) < 0.2) b.layer_min[l] = 1;
  }
  b.costs = table;
  b.k = frac(rng) < 0.3 ? kAnyCount : 1 + std::uniform_int_distribution<int>(0, 2 * layers)(rng);
  // Limits around what a mask of about two branches per layer costs, one or both.
  const double which = frac(rng);
  if (which < 0.7 || b.k == kAnyCount) b.max_ms = table->base_ms + layers * 2 * 2.75 * (0.3 + frac(rng));
  if (which > 0.4) b.max_mb = table->base_mb + layers * 2 * 10.5 * (0.3 + frac(rng));
  return b;
}

/// The best mask by brute force over every combination of subsets, or none.
std::optional<std::pair<double, std::vector<BranchMask>>> bruteForce(const Budget& b, const std::vector<double>& scores) {
  const int layers = static_cast<int>(b.layer_min.size());
  std::optional<std::pair<double, std::vector<BranchMask>>> best;
  std::vector<int> at(layers, 0);
  const int combos = 1 << (kNumBranchKinds * layers);
  for (int code = 0; code < combos; ++code) {
    std::vector<BranchMask> masks(layers);
    double value = 0;
    int count = 0;
    bool ok = true;
    for (int l = 0; l < layers && ok; ++l) {
      const int bits = (code >> (kNumBranchKinds * l)) & 63;
      ok = layerAllowsSubset(b, l, bits);
      masks[l] = BranchMask(static_cast<unsigned long>(bits));
      count += static_cast<int>(masks[l].count());
      for (int j = 0; j < kNumBranchKinds; ++j)
        if (bits >> j & 1) value += scores[l * kNumBranchKinds + j];
    }
    if (!ok || (b.countLimited() && count != b.k)) continue;
    if (b.max_ms > 0 && b.costs->msOf(masks) > b.max_ms) continue;
    if (b.max_mb > 0 && b.costs->mbOf(masks) > b.max_mb) continue;
    if (!best || value > best->first + 1e-12) best = std::make_pair(value, masks);
  }
  return best;
}

double valueOf(const std::vector<BranchMask>& masks, const std::vector<double>& scores) {
  double v = 0;
  for (size_t l = 0; l < masks.size(); ++l)
    for (int j = 0; j < kNumBranchKinds; ++j)
      if (masks[l].test(j)) v += scores[l * kNumBranchKinds + j];
  return v;
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

  // The branch selection under a cost budget (count, pins, limits, ms and/or MB, or a free
  // count): the best mask that brute force finds, every limit met; no mask → the reason.
  void theBudgetSelectionIsTheBestMaskUnderEveryLimit() {
    std::mt19937 rng(29);
    std::normal_distribution<double> score(0, 1);
    int solved = 0, refused = 0, bound = 0;
    for (int trial = 0; trial < 120; ++trial) {
      const int layers = 1 + trial % 3;
      const Budget b = randomCostBudget(rng, layers);
      std::vector<double> scores(layers * kNumBranchKinds);
      for (auto& v : scores) v = score(rng);
      const auto want = bruteForce(b, scores);
      const auto where = qPrintable(QString("trial %1").arg(trial));
      if (!want) {
        ++refused;
        QVERIFY2(costBudgetProblem(b, layers).has_value(), where);
        QVERIFY_THROWS_EXCEPTION(Error, selectBudgetBranches(scores, b));
        continue;
      }
      ++solved;
      QVERIFY2(!costBudgetProblem(b, layers), where);
      const auto got = selectBudgetBranches(scores, b);
      QVERIFY2(std::abs(valueOf(got, scores) - want->first) < 1e-9, where);
      for (int l = 0; l < layers; ++l)
        QVERIFY2(layerAllowsSubset(b, l, static_cast<int>(got[l].to_ulong())), where);
      if (b.countLimited()) QCOMPARE(countBranches(got), b.k);
      if (b.max_ms > 0) QVERIFY2(b.costs->msOf(got) <= b.max_ms + 1e-9, where);
      if (b.max_mb > 0) QVERIFY2(b.costs->mbOf(got) <= b.max_mb + 1e-9, where);
      // Binding: the count selection alone would break a limit.
      Budget count_only = b;
      count_only.max_ms = count_only.max_mb = 0;
      if (count_only.countLimited() && !budgetProblem(count_only, layers)) {
        const auto top = selectBranches(scores, count_only);
        bound += (b.max_ms > 0 && b.costs->msOf(top) > b.max_ms) || (b.max_mb > 0 && b.costs->mbOf(top) > b.max_mb);
      }
    }
    QVERIFY2(solved > 30 && refused > 5 && bound > 10,
             qPrintable(QString("%1 solved, %2 refused, %3 where the limit bound").arg(solved).arg(refused).arg(bound)));
  }

  void aCountBudgetSelectsAsBeforeAndReasonsAreNamed() {
    std::mt19937 rng(3);
    Budget b = randomCostBudget(rng, 3);
    b.k = 5;
    b.max_ms = b.max_mb = 0;
    b.pins.assign(3, {});
    b.layer_min.assign(3, 0);
    b.layer_max.assign(3, kNumBranchKinds);
    std::normal_distribution<double> score(0, 1);
    std::vector<double> scores(3 * kNumBranchKinds);
    for (auto& v : scores) v = score(rng);
    QVERIFY(selectBudgetBranches(scores, b) == selectBranches(scores, b));  // bit for bit
    // A free count needs a cost limit.
    b.k = kAnyCount;
    QVERIFY(budgetProblem(b, 3)->find("no cost limit") != std::string::npos);
    // A limit below the least any mask costs names both numbers.
    b.k = 4;
    b.max_ms = b.costs->base_ms + 0.1;
    const auto why = budgetProblem(b, 3);
    QVERIFY(why && why->find("ms per step <= ") == 0 && why->find("the least that any mask with k=4") != std::string::npos);
    // Without the table the limit cannot be judged, and no selection is made.
    b.max_ms = 1e6;
    b.costs.reset();
    QVERIFY(!budgetProblem(b, 3));
    QVERIFY_THROWS_EXCEPTION(Error, selectBudgetBranches(scores, b));
    QVERIFY(costBudgetProblem(b, 3)->find("no measured cost table") != std::string::npos);
    // Count and cost each possible alone, not together: the integer program says so.
    auto table = std::make_shared<BranchCostTable>();
    table->ms = {{1, 1, 1, 1, 1, 10}};
    table->mb = {{10, 10, 10, 10, 10, 1}};
    Budget one;
    one.k = 1;
    one.layer_min = {0};
    one.resize(1, {true});
    one.costs = table;
    one.max_ms = 5;  // only branches 0..4
    one.max_mb = 5;  // only branch 5
    QVERIFY(!budgetProblem(one, 1));
    QVERIFY(costBudgetProblem(one, 1)->find("together") != std::string::npos);
  }

  void randomMasksOfACostBudgetMeetItsLimits() {
    std::mt19937 rng(5);
    for (int trial = 0; trial < 20; ++trial) {
      Budget b = randomCostBudget(rng, 3);
      if (!bruteForce(b, std::vector<double>(18, 0.0))) continue;
      const auto m = randomBranches(b, 100 + trial);
      QVERIFY(m == randomBranches(b, 100 + trial));  // seeded
      if (b.countLimited()) QCOMPARE(countBranches(m), b.k);
      if (b.max_ms > 0) QVERIFY(b.costs->msOf(m) <= b.max_ms);
      if (b.max_mb > 0) QVERIFY(b.costs->mbOf(m) <= b.max_mb);
      for (int l = 0; l < 3; ++l) QVERIFY(layerAllowsSubset(b, l, static_cast<int>(m[l].to_ulong())));
    }
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
