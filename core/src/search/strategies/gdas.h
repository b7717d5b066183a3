#pragma once
// GDAS on our space (Dong & Yang, CVPR 2019; STRATEGIES.md §2): per layer a Gumbel-softmax over
// the layer's allowed branch subsets with factorised logits logit(l, S) = Σ_{b∈S} α[l][b]; the
// global k honoured inside the sample (the joint Gumbel-max under Σ|S_l| = k, by dynamic
// programming); hard forward (only the chosen subset runs), soft backward (straight-through on
// the chosen subset's gates); first-order bi-level: a weight step on a training batch, then a
// fresh sample and an α step (Adam) on a validation batch.

#include "search/alpha_strategy.h"
#include "search/subset_search.h"

namespace repnas {

class GdasStrategy : public AlphaStrategy {
 public:
  GdasStrategy(int layers, const RunConfig& config);

  StepOutcome step(SearchContext& context) override;

  /// @brief One sample: the constrained Gumbel-max of logit(l, S) + G(l, S) (G drawn from
  /// `generator`, one per layer and subset) under `budget`; with `straight_through`, gates whose
  /// forward value is exactly the mask and whose gradient is that of the chosen subsets'
  /// probabilities softmax((logit + G) / τ) over each layer's allowed subsets.
  Selection sample(const Budget& budget, torch::Generator& generator, double temperature,
                   bool straight_through);
  /// @brief What sample() draws: the chosen subset of each layer and, with
  /// `with_probabilities`, its probability softmax((logit + G) / τ) over the layer's allowed
  /// subsets ([L], differentiable in α).
  struct Draw {
    std::vector<SubsetBits> chosen;
    torch::Tensor probability;
  };
  Draw draw(const Budget& budget, torch::Generator& generator, double temperature,
            bool with_probabilities);
  /// @brief τ at `search_progress` (0..1): linear from gdas_tau_start to gdas_tau_end.
  double temperature(double search_progress) const;
};

std::unique_ptr<GdasStrategy> makeGdasStrategy(const BackboneSpec& backbone, const RunConfig& config);

}  // namespace repnas
