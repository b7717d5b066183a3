// RENA's controller (issue 18, STRATEGIES.md §3) without the engine: its swap actions keep k,
// pins and per-layer limits; on a synthetic additive reward it finds the optimum's
// neighbourhood and beats random masks at equal evaluations; the resource penalty; its state
// round-trips through a checkpoint. The engine runs it in test_engine's strategy matrix.
// Private headers (torch) before Qt's.
#include "search/strategies/rena.h"

#include <QtTest>

#include <random>

#include "repnas/backbone.h"
#include "repnas/budget.h"

using namespace repnas;

namespace {

constexpr int kB = kNumBranchKinds;

std::vector<RenaLayerFeatures> tinyFeatures() {
  const auto spec = makeBackbone("tiny", 1, 12, 12, 10);
  auto f = renaLayerFeatures(spec, nullptr);
  for (size_t l = 0; l < f.size(); ++l)
    for (int j = 0; j < kB; ++j) f[l].cost[j] = 1.0 + 0.1 * j + 0.05 * static_cast<double>(l);
  return f;
}

Budget tinyBudget() {
  const auto spec = makeBackbone("tiny", 1, 12, 12, 10);
  return defaultBudget(spec.layerHasIdentity());  // k = 16 of 48
}

/// A random budget over `layers` layers that some mask meets: limits and pins drawn, then k
/// drawn between the least and the most they allow.
Budget randomBudget(std::mt19937_64& rng, int layers) {
  for (;;) {
    Budget b;
    b.layer_min.assign(layers, 0);
    b.layer_max.assign(layers, kB);
    b.pins.assign(layers, {});
    std::uniform_int_distribution<int> die(0, 9);
    for (int l = 0; l < layers; ++l) {
      b.layer_min[l] = die(rng) < 3 ? 1 + die(rng) % 2 : 0;
      b.layer_max[l] = die(rng) < 3 ? std::max(b.layer_min[l], 2 + die(rng) % 3) : kB;
      for (int j = 0; j < kB; ++j) {
        const int d = die(rng);
        b.pins[l][j] = d == 0 ? Pin::Keep : d == 1 ? Pin::Drop : Pin::Auto;
      }
    }
    int least = 0, most = 0;
    for (int l = 0; l < layers; ++l) {
      int keep = 0, free = 0;
      for (int j = 0; j < kB; ++j) {
        keep += b.pins[l][j] == Pin::Keep;
        free += b.pins[l][j] != Pin::Drop;
      }
      least += std::max(keep, b.layer_min[l]);
      most += std::min(free, b.layer_max[l]);
    }
    if (least > most) continue;
    b.k = std::uniform_int_distribution<int>(least, most)(rng);
    if (!budgetProblem(b, layers)) return b;
  }
}

void randomizePolicy(RenaController& c, double scale) {
  torch::NoGradGuard no_grad;
  for (auto& p : c.policy()->parameters()) p.normal_(0, scale);
}

std::vector<std::array<double, kB>> randomTable(uint64_t seed, int layers) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::array<double, kB>> t(layers);
  for (auto& row : t)
    for (auto& v : row) v = u(rng);
  return t;
}

double tableReward(const std::vector<std::array<double, kB>>& t, const std::vector<BranchMask>& m) {
  double r = 0;
  for (size_t l = 0; l < m.size(); ++l)
    for (int j = 0; j < kB; ++j)
      if (m[l].test(j)) r += t[l][j];
  return r;
}

std::vector<double> flat(const std::vector<std::array<double, kB>>& t) {
  std::vector<double> out;
  for (const auto& row : t) out.insert(out.end(), row.begin(), row.end());
  return out;
}

}  // namespace

class TestRena : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  // Every proposal keeps exactly k, the pins and the per-layer limits, from any policy; and the
  // actions offered are exactly the single swaps that keep them.
  void actionsKeepKPinsAndLimits() {
    std::mt19937_64 rng(7);
    const int layers = 8;
    auto features = tinyFeatures();
    for (int trial = 0; trial < 40; ++trial) {
      torch::manual_seed(trial);
      const Budget budget = randomBudget(rng, layers);
      RenaOptions o;
      o.swaps = 1 + trial % 4;
      RenaController controller(features, o);
      randomizePolicy(controller, trial % 2 ? 3.0 : 0.3);  // sharp and flat policies
      auto mask = randomBranches(budget, 100 + trial);
      QVERIFY(renaMaskFits(mask, budget));
      // The offered actions against every single swap.
      const auto drops = renaDrops(mask, budget);
      for (int d = 0; d < layers * kB; ++d) {
        if (!mask[d / kB].test(d % kB)) {
          QVERIFY(std::find(drops.begin(), drops.end(), d) == drops.end());
          continue;
        }
        const auto inserts = renaInserts(mask, budget, d);
        bool any = false;
        for (int i = 0; i < layers * kB; ++i) {
          if (i == d || mask[i / kB].test(i % kB)) continue;
          auto swapped = mask;
          swapped[d / kB].reset(d % kB);
          swapped[i / kB].set(i % kB);
          const bool fits = renaMaskFits(swapped, budget);
          const bool offered = std::find(inserts.begin(), inserts.end(), i) != inserts.end();
          const bool drop_offered = std::find(drops.begin(), drops.end(), d) != drops.end();
          QVERIFY2(fits == (offered && drop_offered),
                   qPrintable(QString("trial %1: drop %2 insert %3 fits %4").arg(trial).arg(d).arg(i).arg(fits)));
          any |= fits;
        }
        QCOMPARE(std::find(drops.begin(), drops.end(), d) != drops.end(), any);
      }
      // Long chains of proposals, each from the last.
      auto gen = at::make_generator<at::CPUGeneratorImpl>(trial);
      bool moved = false;
      for (int step = 0; step < 30; ++step) {
        const auto p = controller.propose(mask, budget, gen);
        QVERIFY2(renaMaskFits(p.mask, budget), qPrintable(QString("trial %1 step %2").arg(trial).arg(step)));
        QVERIFY(std::isfinite(p.log_prob.item<double>()) && p.log_prob.item<double>() <= 0);
        QVERIFY(p.entropy.item<double>() >= 0);
        moved |= p.mask != mask;
        mask = p.mask;
      }
      QVERIFY(moved || drops.empty() || trial % 2 == 1);  // a flat policy always moves in 30 draws
      // The keep probabilities: within [0, 1], pins honoured, k kept in expectation.
      const auto keep = controller.keepProbabilities(mask, budget);
      double sum = 0;
      for (int l = 0; l < layers; ++l)
        for (int j = 0; j < kB; ++j) {
          const double p = keep[l * kB + j];
          QVERIFY(p >= -1e-6 && p <= 1 + 1e-6);
          if (budget.pins[l][j] == Pin::Keep) QVERIFY(std::abs(p - 1) < 1e-6);
          if (budget.pins[l][j] == Pin::Drop) QCOMPARE(p, 0.0);
          sum += p;
        }
      QVERIFY2(std::abs(sum - budget.k) < 1e-4, qPrintable(QString::number(sum)));
    }
  }

  // On an additive reward table (no training), over 5 seeds: within 300 updates the best
  // network found is ≥ 90% of the way from the mean random mask to the optimum, and better
  // than the best of as many random masks as it evaluated until then.
  void controllerReachesTheOptimumOfAnAdditiveReward() {
    const auto budget = tinyBudget();
    const int layers = 8;
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      torch::manual_seed(seed);
      const auto table = randomTable(seed, layers);
      const double optimum = tableReward(table, selectBranches(flat(table), budget));
      double random_mean = 0;
      for (int i = 0; i < 2000; ++i) random_mean += tableReward(table, randomBranches(budget, 5000 + i)) / 2000;
      auto normalised = [&](double r) { return (r - random_mean) / (optimum - random_mean); };

      RenaController controller(tinyFeatures(), RenaOptions{});
      auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
      double best = -1e9;
      int evaluations = 0, reached_at = -1;
      const RenaController::Evaluator evaluate = [&](const std::vector<BranchMask>& m) {
        RenaEvaluation e;
        e.accuracy = tableReward(table, m);
        renaScore(e, RenaLimits{});
        best = std::max(best, e.reward);
        return e;
      };
      for (int u = 1; u <= 300; ++u) {
        evaluations += controller.update(budget, gen, /*now=*/0, evaluate).evaluations;
        if (normalised(best) >= 0.9) {
          reached_at = u;
          break;
        }
      }
      double random_best = -1e9;
      for (int i = 0; i < evaluations; ++i)
        random_best = std::max(random_best, tableReward(table, randomBranches(budget, 900000 * seed + i)));
      qInfo("seed %d: best %.3f of the way to the optimum (reached 0.9 at update %d), %d evaluations; "
            "random masks at equal evaluations %.3f",
            int(seed), normalised(best), reached_at, evaluations, normalised(random_best));
      QVERIFY2(reached_at > 0, qPrintable(QString("seed %1: %2").arg(seed).arg(normalised(best))));
      QVERIFY(best > random_best);
      QVERIFY(renaMaskFits(*controller.best(budget), budget));
      QCOMPARE(tableReward(table, *controller.best(budget)), best);  // the buffer keeps the best
    }
  }

  // reward = accuracy − λ Σ max(0, cost/limit − 1); the final network is the best feasible
  // trial even when infeasible ones score higher accuracy.
  void resourcePenaltyAndTheFeasibleFinal() {
    RenaLimits limits;
    limits.train_ms = 100;
    limits.params = 1000;
    RenaEvaluation e;
    e.accuracy = 0.9;
    e.resources = {110, 5, 1000, 3};  // 10% over in ms, exactly at the parameter limit
    renaScore(e, limits);
    QVERIFY(!e.feasible);
    QVERIFY(std::abs(e.reward - (0.9 - 0.1 * 0.1)) < 1e-12);  // λ 0.1: a 10% overrun costs a point
    limits.penalty = 1;
    renaScore(e, limits);
    QVERIFY(std::abs(e.reward - (0.9 - 0.1)) < 1e-12);
    e.resources.train_ms = 100;
    renaScore(e, limits);
    QVERIFY(e.feasible && e.reward == 0.9);
    limits.min_intensity = 6;  // a lower limit: 3 FLOPs/byte is half of it
    renaScore(e, limits);
    QVERIFY(!e.feasible && std::abs(e.reward - (0.9 - 1.0)) < 1e-12);

    // KxK branches raise the accuracy and cost 1 ms each; at most 5 ms: the best masks by
    // accuracy (all 8 KxK) are infeasible.
    const auto budget = tinyBudget();
    const auto table = randomTable(11, 8);
    RenaLimits ms_limit;
    ms_limit.train_ms = 5;
    std::vector<std::pair<std::vector<BranchMask>, RenaEvaluation>> seen;
    const RenaController::Evaluator evaluate = [&](const std::vector<BranchMask>& m) {
      RenaEvaluation ev;
      ev.accuracy = tableReward(table, m) / 16;
      for (const auto& layer : m) ev.resources.train_ms += layer.test(static_cast<int>(BranchKind::KxK));
      ev.accuracy += 0.05 * ev.resources.train_ms;
      renaScore(ev, ms_limit);
      seen.emplace_back(m, ev);
      return ev;
    };
    torch::manual_seed(3);
    RenaController controller(tinyFeatures(), RenaOptions{});
    auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
    for (int u = 0; u < 60; ++u) controller.update(budget, gen, 0, evaluate);
    double best_feasible = -1, best_any = -1;
    for (const auto& [m, ev] : seen) {
      best_any = std::max(best_any, ev.accuracy);
      if (ev.feasible) best_feasible = std::max(best_feasible, ev.accuracy);
    }
    QVERIFY(best_feasible > 0);
    QVERIFY2(best_any > best_feasible, "the test needs an infeasible network more accurate than every feasible one");
    const auto final_mask = *controller.best(budget);
    const auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == final_mask; });
    QVERIFY(it != seen.end());
    QVERIFY(it->second.feasible);
    QCOMPARE(it->second.accuracy, best_feasible);
  }

  // The controller's whole state (policy, Adam, buffer, cache, baseline) through a checkpoint:
  // the next update of the restored controller equals the original's, and a budget the buffer
  // no longer fits leaves no stale parent.
  void stateRoundTripsThroughACheckpoint() {
    const auto budget = tinyBudget();
    const auto table = randomTable(5, 8);
    int calls = 0;
    const RenaController::Evaluator evaluate = [&](const std::vector<BranchMask>& m) {
      ++calls;
      RenaEvaluation e;
      e.accuracy = tableReward(table, m) / 16;
      renaScore(e, RenaLimits{});
      return e;
    };
    torch::manual_seed(2);
    RenaOptions o;
    o.cache_steps = 25;
    RenaController a(tinyFeatures(), o);
    for (int u = 0; u < 5; ++u) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(40 + u);
      a.update(budget, gen, 10 * u, evaluate);
    }
    torch::serialize::OutputArchive out;
    a.save(out);
    std::stringstream bytes;
    out.save_to(bytes);
    torch::manual_seed(99);  // other initial weights: all of them come from the checkpoint
    RenaController b(tinyFeatures(), o);
    torch::serialize::InputArchive in;
    in.load_from(bytes);
    b.load(in);
    QCOMPARE(b.updates(), 5);
    QCOMPARE(b.baseline(), a.baseline());
    auto gen_a = at::make_generator<at::CPUGeneratorImpl>(77);
    auto gen_b = at::make_generator<at::CPUGeneratorImpl>(77);
    calls = 0;
    const auto ua = a.update(budget, gen_a, 50, evaluate);
    const int calls_a = calls;
    calls = 0;
    const auto ub = b.update(budget, gen_b, 50, evaluate);
    QCOMPARE(calls, calls_a);  // the same cache hits
    QCOMPARE(ub.trials.size(), ua.trials.size());
    for (size_t i = 0; i < ua.trials.size(); ++i) {
      QVERIFY(ub.trials[i].mask == ua.trials[i].mask);
      QCOMPARE(ub.trials[i].cached, ua.trials[i].cached);
    }
    QCOMPARE(ub.loss, ua.loss);
    const auto pa = a.policy()->parameters(), pb = b.policy()->parameters();
    for (size_t i = 0; i < pa.size(); ++i) QVERIFY(torch::equal(pa[i], pb[i]));
    QVERIFY(*a.best(budget) == *b.best(budget));
    // A budget edit (k − 1): no buffered network fits; the next update starts from uniform masks.
    Budget smaller = budget;
    smaller.k -= 1;
    QVERIFY(!a.best(smaller));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    const auto u = a.update(smaller, gen, 60, evaluate);
    for (const auto& t : u.trials) QVERIFY(renaMaskFits(t.mask, smaller) && renaMaskFits(t.parent, smaller));
    QVERIFY(a.best(smaller));
  }
};

QTEST_GUILESS_MAIN(TestRena)
#include "test_rena.moc"
