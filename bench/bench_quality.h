#pragma once
// repnas-bench quality / sweep (see bench/README.md).

#include <cstdint>
#include <string>
#include <vector>

namespace repnas::bench {

struct QualityOptions {
  bool sweep = false;                    ///< false: modes × seeds; true: budgets × seeds (search)
  std::vector<std::string> modes = {"plain", "repvgg", "dbb", "search"};
  std::vector<int> budgets = {8, 12, 16, 24, 32};
  std::vector<std::uint64_t> seeds = {1, 2, 3};
  std::vector<std::string> overrides;    ///< --set key=value, applied to every run
  std::string runs_dir = "runs/bench";
  std::string out;                       ///< results JSON
};

/// @brief Runs (or reuses finished) runs and writes the mean ± std table to opt.out.
int benchQuality(const QualityOptions& opt);

}  // namespace repnas::bench
