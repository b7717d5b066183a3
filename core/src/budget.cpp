#include "repnas/budget.h"

#include <algorithm>
#include <cmath>
#include <numeric>

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

}  // namespace repnas
