#include "repnas/budget.h"

#include <algorithm>
#include <bitset>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>
#include <tuple>

#include "repnas/error.h"

namespace repnas {

std::string pinName(Pin pin) {
  switch (pin) {
    case Pin::Auto: return "auto";
    case Pin::Keep: return "keep";
    case Pin::Drop: return "drop";
  }
  return "?";
}

std::optional<Pin> parsePin(const std::string& name) {
  for (Pin p : {Pin::Auto, Pin::Keep, Pin::Drop})
    if (pinName(p) == name) return p;
  return std::nullopt;
}

void Budget::resize(int layers, const std::vector<bool>& layer_has_identity) {
  if (layer_min.empty()) {
    layer_min.resize(layers, 0);
    for (int l = 0; l < layers && l < static_cast<int>(layer_has_identity.size()); ++l)
      layer_min[l] = layer_has_identity[l] ? 0 : 1;
  }
  if (layer_max.empty()) layer_max.assign(layers, kNumBranchKinds);
  if (pins.empty()) {
    std::array<Pin, kNumBranchKinds> none{};
    none.fill(Pin::Auto);
    pins.assign(layers, none);
  }
}

namespace {

double costOf(const std::vector<std::array<double, kNumBranchKinds>>& table, double base,
              const std::vector<BranchMask>& masks) {
  double sum = base;
  for (size_t l = 0; l < masks.size() && l < table.size(); ++l)
    for (int j = 0; j < kNumBranchKinds; ++j)
      if (masks[l].test(j)) sum += table[l][j];
  return sum;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

/// The least Σ cost[l][j] over the kept branches of any mask `b` allows without its cost
/// limits (exactly k branches when the count is limited): a dynamic programme over (layer,
/// branches so far), each layer's allowed subsets enumerated.
double leastCost(const Budget& b, const std::vector<std::array<double, kNumBranchKinds>>& cost) {
  const int layers = static_cast<int>(b.layer_min.size());
  const int cap = b.countLimited() ? b.k : kNumBranchKinds * layers;
  constexpr double kNone = std::numeric_limits<double>::infinity();
  std::vector<double> least(cap + 1, kNone);
  least[0] = 0;
  for (int l = 0; l < layers; ++l) {
    std::vector<double> next(cap + 1, kNone);
    for (int s = 0; s < (1 << kNumBranchKinds); ++s) {
      if (!layerAllowsSubset(b, l, s)) continue;
      const int size = static_cast<int>(std::bitset<kNumBranchKinds>(s).count());
      double c = 0;
      for (int j = 0; j < kNumBranchKinds; ++j)
        if ((s >> j) & 1) c += cost[l][j];
      for (int u = 0; u + size <= cap; ++u)
        if (least[u] < kNone) next[u + size] = std::min(next[u + size], least[u] + c);
    }
    least = std::move(next);
  }
  if (b.countLimited()) return least[cap];
  return *std::min_element(least.begin(), least.end());
}

}  // namespace

double BranchCostTable::msOf(const std::vector<BranchMask>& masks) const { return costOf(ms, base_ms, masks); }
double BranchCostTable::mbOf(const std::vector<BranchMask>& masks) const { return costOf(mb, base_mb, masks); }

bool layerAllowsSubset(const Budget& b, int l, int bits) {
  const int size = static_cast<int>(std::bitset<kNumBranchKinds>(bits).count());
  if (size < b.layer_min[l] || size > b.layer_max[l]) return false;
  for (int j = 0; j < kNumBranchKinds; ++j) {
    const Pin pin = b.pins.empty() ? Pin::Auto : b.pins[l][j];
    const bool in = (bits >> j) & 1;
    if ((pin == Pin::Keep && !in) || (pin == Pin::Drop && in)) return false;
  }
  return true;
}

Budget defaultBudget(const std::vector<bool>& layer_has_identity, double ratio) {
  const int layers = static_cast<int>(layer_has_identity.size());
  Budget b;
  b.k = static_cast<int>(std::floor(ratio * kNumBranchKinds * layers + 1e-9));
  b.resize(layers, layer_has_identity);
  return b;
}

std::optional<std::string> budgetProblem(const Budget& b, int layers) {
  auto size_ok = [layers](size_t n) { return static_cast<int>(n) == layers; };
  if (!size_ok(b.layer_min.size()) || !size_ok(b.layer_max.size()) || !size_ok(b.pins.size()))
    return "the budget describes " + std::to_string(b.layer_min.size()) +
           " layers but the network has " + std::to_string(layers);
  if (b.k < 0 && b.k != kAnyCount) return "k=" + std::to_string(b.k) + " is negative";
  for (const auto& [name, limit] : {std::pair<const char*, double>{"ms per step", b.max_ms},
                                    {"training MB", b.max_mb}})
    if (!std::isfinite(limit) || limit < 0)
      return std::string("the ") + name + " limit " + number(limit) + " is not a number >= 0";
  if (!b.countLimited() && !b.costLimited())
    return "the branch count is free but no cost limit is set: nothing limits the selection";
  int sum_floor = 0;    // branches that must be kept
  int sum_ceiling = 0;  // branches that may be kept
  for (int l = 0; l < layers; ++l) {
    const int mn = b.layer_min[l], mx = b.layer_max[l];
    const std::string where = "layer " + std::to_string(l);
    if (mn < 0 || mn > kNumBranchKinds)
      return where + ": minimum " + std::to_string(mn) + " is outside 0..6";
    if (mx < 0 || mx > kNumBranchKinds)
      return where + ": maximum " + std::to_string(mx) + " is outside 0..6";
    if (mn > mx)
      return where + ": minimum " + std::to_string(mn) + " is above maximum " + std::to_string(mx);
    int keeps = 0, drops = 0;
    for (Pin p : b.pins[l]) {
      keeps += p == Pin::Keep;
      drops += p == Pin::Drop;
    }
    const int available = kNumBranchKinds - drops;
    if (keeps > mx)
      return where + ": " + std::to_string(keeps) + " branches pinned keep but maximum is " +
             std::to_string(mx);
    if (available < mn)
      return where + ": minimum " + std::to_string(mn) + " but only " + std::to_string(available) +
             " branches are not pinned drop";
    sum_floor += std::max(mn, keeps);
    sum_ceiling += std::min(mx, available);
  }
  if (b.countLimited() && b.k < sum_floor)
    return "k=" + std::to_string(b.k) + " is below the sum of per-layer minimums and keep pins " +
           std::to_string(sum_floor);
  if (b.countLimited() && b.k > sum_ceiling)
    return "k=" + std::to_string(b.k) + " is above the " + std::to_string(sum_ceiling) +
           " branches that per-layer maximums and drop pins allow";
  if (!b.costLimited() || !b.costs) return std::nullopt;
  const auto& t = *b.costs;
  if (static_cast<int>(t.ms.size()) != layers || static_cast<int>(t.mb.size()) != layers)
    return "the cost table describes " + std::to_string(t.ms.size()) + " layers but the network has " +
           std::to_string(layers);
  const std::string allowed = b.countLimited() ? "with k=" + std::to_string(b.k) + ", the pins and limits"
                                               : "under the pins and limits";
  for (const auto& [name, limit, table, base] :
       {std::tuple<const char*, double, const decltype(t.ms)*, double>{"ms per step", b.max_ms, &t.ms, t.base_ms},
        {"training MB", b.max_mb, &t.mb, t.base_mb}}) {
    if (limit <= 0) continue;
    const double least = base + leastCost(b, *table);
    if (least > limit * (1 + 1e-12))
      return std::string(name) + " <= " + number(limit) + " is below " + number(least) +
             ", the least that any mask " + allowed + " costs";
  }
  return std::nullopt;
}

std::vector<BranchMask> selectBranches(const std::vector<double>& scores, const Budget& b) {
  const int layers = static_cast<int>(b.layer_min.size());
  if (static_cast<int>(scores.size()) != layers * kNumBranchKinds)
    throw Error("selectBranches: " + std::to_string(scores.size()) + " scores for " +
                std::to_string(layers) + " layers");
  if (auto problem = budgetProblem(b, layers)) throw Error("infeasible budget: " + *problem);
  if (b.costLimited() || !b.countLimited())
    throw Error("selectBranches: a budget with cost limits or a free count is an integer program "
                "(selectBudgetBranches)");

  std::vector<BranchMask> masks(layers);
  std::vector<int> count(layers, 0);
  auto take = [&](int l, int j) {
    masks[l].set(j);
    ++count[l];
  };
  // Entries ordered by score (descending), ties to the lower (layer, branch) index.
  std::vector<int> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int c) { return scores[a] > scores[c]; });

  for (int l = 0; l < layers; ++l)
    for (int j = 0; j < kNumBranchKinds; ++j)
      if (b.pins[l][j] == Pin::Keep) take(l, j);
  for (int idx : order) {  // per-layer minimums, each layer's best first
    const int l = idx / kNumBranchKinds, j = idx % kNumBranchKinds;
    if (count[l] < b.layer_min[l] && !masks[l].test(j) && b.pins[l][j] != Pin::Drop) take(l, j);
  }
  int total = std::accumulate(count.begin(), count.end(), 0);
  for (int idx : order) {  // global fill
    if (total >= b.k) break;
    const int l = idx / kNumBranchKinds, j = idx % kNumBranchKinds;
    if (count[l] < b.layer_max[l] && !masks[l].test(j) && b.pins[l][j] != Pin::Drop) {
      take(l, j);
      ++total;
    }
  }
  return masks;
}

int countBranches(const std::vector<BranchMask>& masks) {
  int n = 0;
  for (const auto& m : masks) n += static_cast<int>(m.count());
  return n;
}

namespace {

/// C(n, r) as a double (exact for the sizes here: at most 6 per layer).
double choose(int n, int r) {
  if (r < 0 || r > n) return 0;
  double c = 1;
  for (int i = 1; i <= r; ++i) c = c * (n - r + i) / i;
  return c;
}

}  // namespace

namespace {

/// A mask drawn uniformly from those with exactly b.k branches that b's pins and limits allow.
std::vector<BranchMask> randomCountBranches(const Budget& b, std::mt19937_64& gen) {
  const int layers = static_cast<int>(b.layer_min.size());
  // Per layer: which branches are forced, which are free, and the range of totals it allows.
  std::vector<BranchMask> forced(layers), free_(layers);
  std::vector<int> lo(layers), hi(layers);
  for (int l = 0; l < layers; ++l) {
    for (int j = 0; j < kNumBranchKinds; ++j) {
      if (b.pins[l][j] == Pin::Keep) forced[l].set(j);
      else if (b.pins[l][j] == Pin::Auto) free_[l].set(j);
    }
    const int keeps = static_cast<int>(forced[l].count());
    lo[l] = std::max(b.layer_min[l], keeps);
    hi[l] = std::min(b.layer_max[l], keeps + static_cast<int>(free_[l].count()));
  }
  // ways[l][r]: the number of allowed masks of layers l..L-1 with r branches in all. Counts
  // reach C(6L, k) (about 1e35 for 22 layers): doubles hold them with enough precision for
  // sampling proportionally.
  std::vector<std::vector<double>> ways(layers + 1, std::vector<double>(b.k + 1, 0.0));
  ways[layers][0] = 1;
  for (int l = layers - 1; l >= 0; --l) {
    const int keeps = static_cast<int>(forced[l].count()), n_free = static_cast<int>(free_[l].count());
    for (int r = 0; r <= b.k; ++r)
      for (int c = lo[l]; c <= hi[l] && c <= r; ++c)
        ways[l][r] += choose(n_free, c - keeps) * ways[l + 1][r - c];
  }
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<BranchMask> masks(layers);
  int remaining = b.k;
  for (int l = 0; l < layers; ++l) {
    const int keeps = static_cast<int>(forced[l].count()), n_free = static_cast<int>(free_[l].count());
    // The layer's count c with probability ∝ (ways to pick its free branches) · (ways after).
    double u = uniform(gen) * ways[l][remaining];
    int count = -1;
    for (int c = lo[l]; c <= hi[l] && c <= remaining; ++c) {
      const double w = choose(n_free, c - keeps) * ways[l + 1][remaining - c];
      if (w <= 0) continue;
      count = c;
      if (u < w) break;
      u -= w;
    }
    if (count < 0) throw Error("randomBranches: no allowed count in layer " + std::to_string(l));
    // Then a uniform subset of its free branches of the remaining size (selection sampling).
    masks[l] = forced[l];
    int need = count - keeps, left = n_free;
    for (int j = 0; j < kNumBranchKinds && need > 0; ++j) {
      if (!free_[l].test(j)) continue;
      if (uniform(gen) * left < need) {
        masks[l].set(j);
        --need;
      }
      --left;
    }
    remaining -= count;
  }
  return masks;
}

/// A mask drawn uniformly from those b's pins and limits allow, whatever its count.
std::vector<BranchMask> randomFreeBranches(const Budget& b, std::mt19937_64& gen) {
  const int layers = static_cast<int>(b.layer_min.size());
  std::vector<BranchMask> masks(layers);
  for (int l = 0; l < layers; ++l) {
    std::vector<int> allowed;
    for (int s = 0; s < (1 << kNumBranchKinds); ++s)
      if (layerAllowsSubset(b, l, s)) allowed.push_back(s);
    masks[l] = BranchMask(static_cast<unsigned long>(
        allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(gen)]));
  }
  return masks;
}

}  // namespace

std::vector<BranchMask> randomBranches(const Budget& b, std::uint64_t seed) {
  const int layers = static_cast<int>(b.layer_min.size());
  if (auto problem = budgetProblem(b, layers)) throw Error("infeasible budget: " + *problem);
  std::mt19937_64 gen(seed);
  if (!b.costLimited()) return randomCountBranches(b, gen);
  if (!b.costs) throw Error("randomBranches: the budget has cost limits but no measured cost table");
  // Uniform over the masks that also meet the cost limits: the count budget's uniform draws,
  // kept when they fit (rejection sampling).
  constexpr int kDraws = 200000;
  for (int draw = 0; draw < kDraws; ++draw) {
    auto masks = b.countLimited() ? randomCountBranches(b, gen) : randomFreeBranches(b, gen);
    if ((b.max_ms <= 0 || b.costs->msOf(masks) <= b.max_ms) &&
        (b.max_mb <= 0 || b.costs->mbOf(masks) <= b.max_mb))
      return masks;
  }
  throw Error("randomBranches: none of " + std::to_string(kDraws) +
              " random masks of the budget met its cost limits (they allow too few masks to draw from)");
}

double maskAgreement(const std::vector<BranchMask>& sampled,
                     const std::vector<BranchMask>& reference) {
  int kept = 0, shared = 0;
  for (size_t l = 0; l < sampled.size(); ++l) {
    kept += static_cast<int>(sampled[l].count());
    if (l < reference.size()) shared += static_cast<int>((sampled[l] & reference[l]).count());
  }
  return kept == 0 ? 1.0 : static_cast<double>(shared) / kept;
}

std::optional<double> selectionMargin(const std::vector<double>& scores,
                                      const std::vector<BranchMask>& selected,
                                      const Budget& b) {
  std::optional<double> lowest_kept, highest_dropped;
  for (size_t l = 0; l < selected.size() && l < b.pins.size(); ++l) {
    for (int j = 0; j < kNumBranchKinds; ++j) {
      if (b.pins[l][j] != Pin::Auto) continue;
      const double s = scores.at(l * kNumBranchKinds + j);
      if (selected[l].test(j)) lowest_kept = std::min(lowest_kept.value_or(s), s);
      else highest_dropped = std::max(highest_dropped.value_or(s), s);
    }
  }
  if (!lowest_kept || !highest_dropped) return std::nullopt;
  return *lowest_kept - *highest_dropped;
}

}  // namespace repnas
