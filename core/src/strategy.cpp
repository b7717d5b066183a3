#include "strategy.h"

#include <cmath>

#include "repnas/error.h"

namespace repnas {
namespace {

std::vector<double> toScores(const torch::Tensor& r) {
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

class RepNasStrategy : public SearchStrategy {
 public:
  RepNasStrategy(int layers, const RunConfig& c)
      : alpha_(torch::zeros({layers, kNumBranchKinds}).set_requires_grad(true)),
        weight_decay_(c.arch_weight_decay),
        adam_({alpha_}, torch::optim::AdamOptions(c.arch_lr)
                            .betas({c.arch_beta1, c.arch_beta2})
                            .weight_decay(c.arch_weight_decay)),
        lr_(c.arch_lr) {}

  std::string name() const override { return "repnas"; }

  Selection sample(const Budget& budget, torch::Generator& gen, double noise_scale,
                   bool straight_through) override {
    // r = α + τ·(g1 − g2), g ~ Gumbel(0, 1): the difference is Logistic(0, 1) noise.
    const auto u = torch::rand(alpha_.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat))
                       .clamp(1e-6, 1 - 1e-6);
    const auto noise = (u.log() - (-u).log1p()) * static_cast<float>(noise_scale);
    Selection s;
    const auto r = alpha_.detach() + noise;
    s.masks = selectBranches(toScores(r), budget);
    if (straight_through) {
      // Straight-through: forward value exactly M; gradient reaches α through σ(r).
      const auto soft = torch::sigmoid(alpha_ + noise);
      s.gates = maskTensor(s.masks) + (soft - soft.detach());  // (s − s) is exactly 0
    }
    return s;
  }

  std::vector<BranchMask> derive(const Budget& budget) const override {
    return selectBranches(toScores(alpha_), budget);
  }

  std::vector<torch::Tensor> parameters() override { return {alpha_}; }

  void step(double progress) override {
    const double wd = weight_decay_ * 0.5 * (1 + std::cos(M_PI * std::clamp(progress, 0.0, 1.0)));
    for (auto& group : adam_.param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()).weight_decay(wd);
    adam_.step();
  }

  double learningRate() const override { return lr_; }
  torch::Tensor alpha() const override { return alpha_.detach(); }

  void save(torch::serialize::OutputArchive& archive) const override {
    archive.write("alpha", alpha_, /*is_buffer=*/false);
    torch::serialize::OutputArchive adam;
    adam_.save(adam);
    archive.write("adam", adam);
  }

  void load(torch::serialize::InputArchive& archive) override {
    torch::Tensor a;
    archive.read("alpha", a);
    torch::NoGradGuard no_grad;
    alpha_.copy_(a);
    torch::serialize::InputArchive adam;
    archive.read("adam", adam);
    adam_.load(adam);
  }

 private:
  torch::Tensor alpha_;
  double weight_decay_;
  torch::optim::Adam adam_;
  double lr_;
};

}  // namespace

std::unique_ptr<SearchStrategy> makeRepNasStrategy(int layers, const RunConfig& config) {
  if (config.arch_lr < 0)
    throw Error("makeRepNasStrategy: arch_lr is unresolved (use RunConfig::resolved)");
  return std::make_unique<RepNasStrategy>(layers, config);
}

}  // namespace repnas
