#pragma once
// repnas-bench costs: the cost model's additivity, the budget selection's time, and a search
// under an ms-per-step budget (issue 17).

#include <cstdint>
#include <string>

namespace repnas::bench {

struct CostsOptions {
  std::string out;        ///< the results JSON
  std::string runs_dir;   ///< where the budget search's run folder goes
  int threads = 1;
  int rounds = 9;         ///< timed rounds of the step measurements
  int calls = 200;        ///< selections timed per case
  int64_t train_limit = 6400;
  bool search = true;     ///< run part 3 (the search under a budget)
};

int benchCosts(const CostsOptions& options);

}  // namespace repnas::bench
