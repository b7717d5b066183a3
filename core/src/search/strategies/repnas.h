#pragma once
// RepNAS (DESIGN.md 1.2, STRATEGIES.md §1): α = 0, logistic noise scaled by τ (annealed over
// the search), constrained global top-k, straight-through weights, Adam with cosine-annealed
// weight decay; one stage: α and the weights learn from the same training batch.

#include "search/strategy.h"

namespace repnas {

class RepNasStrategy : public Strategy {
 public:
  /// `config` must be resolved (RunConfig::resolved): its arch_lr is used as it is.
  RepNasStrategy(int layers, const RunConfig& config);

  const StrategyInfo& info() const override { return info_; }
  StepOutcome step(SearchContext& context) override;
  std::vector<BranchMask> derive(const Budget& budget) const override;
  std::vector<float> importance() const override;
  void save(torch::serialize::OutputArchive& checkpoint) const override;
  void load(torch::serialize::InputArchive& checkpoint) override;

  /// @brief The mask of a step, drawn with `generator`: top-k of r = α + τ·ε under `budget`.
  /// With `straight_through`, the selection carries gates through which the loss's gradient
  /// reaches α.
  Selection sample(const Budget& budget, torch::Generator& generator, double noise_scale,
                   bool straight_through);
  /// @brief α, [L, 6] (a parameter: tests set it).
  torch::Tensor alpha() { return alpha_; }
  /// @brief The Adam step on α's gradient; `search_progress` 0..1 anneals the weight decay.
  void updateAlpha(double search_progress);

 private:
  const StrategyInfo& info_;
  RunConfig config_;
  torch::Tensor alpha_;
  torch::optim::Adam adam_;
};

std::unique_ptr<RepNasStrategy> makeRepNasStrategy(int layers, const RunConfig& config);

/// @brief α as doubles, layer-major (for the budget solvers).
std::vector<double> scoresOf(const torch::Tensor& alpha);
/// @brief α's values, layer-major.
std::vector<float> alphaValues(const torch::Tensor& alpha);
/// @brief The state of a strategy with α and Adam: the checkpoint's sub-archive "strategy".
void saveAlphaAndAdam(torch::serialize::OutputArchive& checkpoint, const torch::Tensor& alpha,
                      const torch::optim::Adam& adam);
void loadAlphaAndAdam(torch::serialize::InputArchive& checkpoint, torch::Tensor& alpha,
                      torch::optim::Adam& adam);
/// @brief A [L, 6] float tensor of 0/1 from masks.
torch::Tensor maskTensor(const std::vector<BranchMask>& masks);

}  // namespace repnas
