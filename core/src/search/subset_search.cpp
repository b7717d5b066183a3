#include "search/subset_search.h"

#include <bitset>
#include <limits>
#include <string>

#include "repnas/error.h"

namespace repnas {

std::vector<std::vector<SubsetBits>> allowedSubsets(const Budget& b) {
  const int layers = static_cast<int>(b.layer_min.size());
  if (auto problem = budgetProblem(b, layers)) throw Error("infeasible budget: " + *problem);
  std::vector<std::vector<SubsetBits>> allowed(layers);
  for (int l = 0; l < layers; ++l) {
    for (SubsetBits s = 0; s < kNumSubsets; ++s)
      if (layerAllowsSubset(b, l, s)) allowed[l].push_back(s);
    if (allowed[l].empty())
      throw Error("infeasible budget: layer " + std::to_string(l) + " allows no branch subset");
  }
  return allowed;
}

std::vector<SubsetBits> bestSubsets(const std::vector<std::vector<SubsetBits>>& allowed,
                                    const std::vector<std::vector<double>>& score, int k) {
  const int layers = static_cast<int>(allowed.size());
  if (k == kAnyCount) {  // a free count: each layer's best subset
    std::vector<SubsetBits> out(layers);
    for (int l = 0; l < layers; ++l) {
      out[l] = allowed[l].at(0);
      for (SubsetBits s : allowed[l])
        if (score[l][s] > score[l][out[l]]) out[l] = s;  // strict: the smallest wins a tie
    }
    return out;
  }
  constexpr double kNone = -std::numeric_limits<double>::infinity();
  // best[l][c]: the best total of layers l.. using exactly c branches; choice[l][c] its subset.
  std::vector<std::vector<double>> best(layers + 1, std::vector<double>(k + 1, kNone));
  std::vector<std::vector<SubsetBits>> choice(layers, std::vector<SubsetBits>(k + 1, -1));
  best[layers][0] = 0;
  for (int l = layers - 1; l >= 0; --l) {
    for (SubsetBits s : allowed[l]) {
      const int size = static_cast<int>(std::bitset<kNumBranchKinds>(s).count());
      const double v = score[l][s];
      for (int c = size; c <= k; ++c) {
        if (best[l + 1][c - size] == kNone) continue;
        const double total = v + best[l + 1][c - size];
        if (total > best[l][c]) {  // strict: the first (smallest) subset wins a tie
          best[l][c] = total;
          choice[l][c] = s;
        }
      }
    }
  }
  if (best[0][k] == kNone)
    throw Error("infeasible budget: no choice of allowed subsets has exactly k=" + std::to_string(k) +
                " branches");
  std::vector<SubsetBits> out(layers);
  int c = k;
  for (int l = 0; l < layers; ++l) {
    out[l] = choice[l][c];
    c -= static_cast<int>(std::bitset<kNumBranchKinds>(out[l]).count());
  }
  return out;
}

double subsetSum(SubsetBits subset, const double* values) {
  double sum = 0;
  for (int j = 0; j < kNumBranchKinds; ++j)
    if ((subset >> j) & 1) sum += values[j];
  return sum;
}

}  // namespace repnas
