#include "repnas/budget.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

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
  if (b.k < 0) return "k=" + std::to_string(b.k) + " is negative";
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
  if (b.k < sum_floor)
    return "k=" + std::to_string(b.k) + " is below the sum of per-layer minimums and keep pins " +
           std::to_string(sum_floor);
  if (b.k > sum_ceiling)
    return "k=" + std::to_string(b.k) + " is above the " + std::to_string(sum_ceiling) +
           " branches that per-layer maximums and drop pins allow";
  return std::nullopt;
}

std::vector<BranchMask> selectBranches(const std::vector<double>& scores, const Budget& b) {
  const int layers = static_cast<int>(b.layer_min.size());
  if (static_cast<int>(scores.size()) != layers * kNumBranchKinds)
    throw Error("selectBranches: " + std::to_string(scores.size()) + " scores for " +
                std::to_string(layers) + " layers");
  if (auto problem = budgetProblem(b, layers)) throw Error("infeasible budget: " + *problem);

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

std::vector<BranchMask> randomBranches(const Budget& b, std::uint64_t seed) {
  const int layers = static_cast<int>(b.layer_min.size());
  if (auto problem = budgetProblem(b, layers)) throw Error("infeasible budget: " + *problem);
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
  std::mt19937_64 gen(seed);
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
