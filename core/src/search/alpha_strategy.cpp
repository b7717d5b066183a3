#include "search/alpha_strategy.h"

#include "search/cost_selection.h"

namespace repnas {

std::vector<double> scoresOf(const torch::Tensor& r) {
  const auto flat = r.detach().to(torch::kDouble).contiguous().flatten();
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

torch::Tensor maskTensor(const std::vector<BranchMask>& masks) {
  auto t = torch::zeros({static_cast<int64_t>(masks.size()), kNumBranchKinds});
  auto a = t.accessor<float, 2>();
  for (size_t l = 0; l < masks.size(); ++l)
    for (int j = 0; j < kNumBranchKinds; ++j) a[l][j] = masks[l].test(j) ? 1.f : 0.f;
  return t;
}

AlphaStrategy::AlphaStrategy(const RunConfig& c, torch::Tensor alpha, double lr, double weight_decay)
    : info_(strategyInfo(c.mode)),
      config_(c),
      alpha_(alpha.set_requires_grad(true)),
      adam_({alpha_}, torch::optim::AdamOptions(lr)
                          .betas({c.arch_beta1, c.arch_beta2})
                          .weight_decay(weight_decay)) {}

std::vector<BranchMask> AlphaStrategy::derive(const Budget& budget) const {
  return selectBudgetBranches(scoresOf(alpha_), budget);
}

std::vector<float> AlphaStrategy::importance() const {
  const auto a = alpha_.detach().contiguous();
  return std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + a.numel());
}

void AlphaStrategy::save(torch::serialize::OutputArchive& checkpoint) const {
  torch::serialize::OutputArchive archive;
  archive.write("alpha", alpha_, /*is_buffer=*/false);
  torch::serialize::OutputArchive adam;
  adam_.save(adam);
  archive.write("adam", adam);
  checkpoint.write("strategy", archive);
}

void AlphaStrategy::load(torch::serialize::InputArchive& checkpoint) {
  torch::serialize::InputArchive archive;
  checkpoint.read("strategy", archive);
  torch::Tensor a;
  archive.read("alpha", a);
  torch::NoGradGuard no_grad;
  alpha_.copy_(a);
  torch::serialize::InputArchive adam;
  archive.read("adam", adam);
  adam_.load(adam);
}

}  // namespace repnas
