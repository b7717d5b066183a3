#pragma once
// RepNAS (DESIGN.md 1.2, STRATEGIES.md §1): α = 0, logistic noise scaled by τ (annealed over
// the search), constrained global top-k, straight-through weights, Adam with cosine-annealed
// weight decay; one stage: α and the weights learn from the same training batch.

#include "search/alpha_strategy.h"

namespace repnas {

class RepNasStrategy : public AlphaStrategy {
 public:
  /// `config` must be resolved (RunConfig::resolved): its arch_lr is used as it is.
  RepNasStrategy(int layers, const RunConfig& config);

  StepOutcome step(SearchContext& context) override;

  /// @brief The mask of a step, drawn with `generator`: top-k of r = α + τ·ε under `budget`.
  /// With `straight_through`, the selection carries gates through which the loss's gradient
  /// reaches α.
  Selection sample(const Budget& budget, torch::Generator& generator, double noise_scale,
                   bool straight_through);
  /// @brief The Adam step on α's gradient; `search_progress` 0..1 anneals the weight decay.
  void updateAlpha(double search_progress);
};

std::unique_ptr<RepNasStrategy> makeRepNasStrategy(int layers, const RunConfig& config);

}  // namespace repnas
