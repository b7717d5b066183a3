#pragma once
// What RepNAS and GDAS share: α [L, 6] learned by Adam, the derived architecture the
// constrained top-k of α, α as the importance numbers, α and Adam's state as the checkpoint.

#include "search/strategy.h"

namespace repnas {

class AlphaStrategy : public Strategy {
 public:
  /// `alpha`: the initial α [L, 6]; Adam with learning rate `lr` and weight decay `weight_decay`,
  /// betas arch_beta1 and arch_beta2 of `config`.
  AlphaStrategy(const RunConfig& config, torch::Tensor alpha, double lr, double weight_decay);

  const StrategyInfo& info() const override { return info_; }
  std::vector<BranchMask> derive(const Budget& budget) const override;
  std::vector<float> importance() const override;
  void save(torch::serialize::OutputArchive& checkpoint) const override;
  void load(torch::serialize::InputArchive& checkpoint) override;

  /// @brief α, [L, 6] (a parameter: tests set it).
  torch::Tensor alpha() { return alpha_; }

 protected:
  const StrategyInfo& info_;
  RunConfig config_;
  torch::Tensor alpha_;
  torch::optim::Adam adam_;
};

/// @brief α as doubles, layer-major (for the budget solvers).
std::vector<double> scoresOf(const torch::Tensor& alpha);
/// @brief A [L, 6] float tensor of 0/1 from masks.
torch::Tensor maskTensor(const std::vector<BranchMask>& masks);

}  // namespace repnas
