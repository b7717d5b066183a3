#include "search/strategies/repnas.h"

#include <cmath>

#include "repnas/error.h"

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

RepNasStrategy::RepNasStrategy(int layers, const RunConfig& c)
    : info_(strategyInfo(c.mode)),
      config_(c),
      alpha_(torch::zeros({layers, kNumBranchKinds}).set_requires_grad(true)),
      adam_({alpha_}, torch::optim::AdamOptions(c.arch_lr)
                          .betas({c.arch_beta1, c.arch_beta2})
                          .weight_decay(c.arch_weight_decay)) {}

Selection RepNasStrategy::sample(const Budget& budget, torch::Generator& gen, double noise_scale,
                                 bool straight_through) {
  // r = α + τ·(g1 − g2), g ~ Gumbel(0, 1): the difference is Logistic(0, 1) noise.
  const auto u = torch::rand(alpha_.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat))
                     .clamp(1e-6, 1 - 1e-6);
  const auto noise = (u.log() - (-u).log1p()) * static_cast<float>(noise_scale);
  Selection s;
  const auto r = alpha_.detach() + noise;
  s.masks = selectBranches(scoresOf(r), budget);
  if (straight_through) {
    // Straight-through: forward value exactly M; gradient reaches α through σ(r).
    const auto soft = torch::sigmoid(alpha_ + noise);
    s.gates = maskTensor(s.masks) + (soft - soft.detach());  // (s − s) is exactly 0
  }
  return s;
}

StepOutcome RepNasStrategy::step(SearchContext& ctx) {
  const bool search = ctx.phase == Phase::Search;
  const double noise = config_.noiseScale(search ? ctx.phase_progress : 0.0);
  // The official code runs the straight-through gates from the first step: α's gradient is in
  // the clip norm during warm-up too, though α only moves in the search.
  const bool alpha_gradient = search || config_.clip_alpha_from_start;
  StepOutcome out;
  auto gen = ctx.random(2);
  out.selection = sample(*ctx.budget, gen, noise, alpha_gradient);
  out.trained = ctx.trainer->step(ctx.training_batch(), out.selection, {alpha_}, alpha_gradient);
  if (search) updateAlpha(ctx.phase_progress);
  out.metrics = {{"tau", noise}, {"arch_lr", search ? config_.arch_lr : 0.0}};
  return out;
}

void RepNasStrategy::updateAlpha(double progress) {
  const double wd =
      config_.arch_weight_decay * 0.5 * (1 + std::cos(M_PI * std::clamp(progress, 0.0, 1.0)));
  for (auto& group : adam_.param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).weight_decay(wd);
  adam_.step();
}

std::vector<BranchMask> RepNasStrategy::derive(const Budget& budget) const {
  return selectBranches(scoresOf(alpha_), budget);
}

std::vector<float> RepNasStrategy::importance() const { return alphaValues(alpha_); }

void RepNasStrategy::save(torch::serialize::OutputArchive& checkpoint) const {
  saveAlphaAndAdam(checkpoint, alpha_, adam_);
}

void RepNasStrategy::load(torch::serialize::InputArchive& checkpoint) {
  loadAlphaAndAdam(checkpoint, alpha_, adam_);
}

std::vector<float> alphaValues(const torch::Tensor& alpha) {
  const auto a = alpha.detach().contiguous();
  return std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + a.numel());
}

void saveAlphaAndAdam(torch::serialize::OutputArchive& checkpoint, const torch::Tensor& alpha,
                      const torch::optim::Adam& adam) {
  torch::serialize::OutputArchive archive;
  archive.write("alpha", alpha, /*is_buffer=*/false);
  torch::serialize::OutputArchive adam_archive;
  adam.save(adam_archive);
  archive.write("adam", adam_archive);
  checkpoint.write("strategy", archive);
}

void loadAlphaAndAdam(torch::serialize::InputArchive& checkpoint, torch::Tensor& alpha,
                      torch::optim::Adam& adam) {
  torch::serialize::InputArchive archive;
  checkpoint.read("strategy", archive);
  torch::Tensor a;
  archive.read("alpha", a);
  torch::NoGradGuard no_grad;
  alpha.copy_(a);
  torch::serialize::InputArchive adam_archive;
  archive.read("adam", adam_archive);
  adam.load(adam_archive);
}

std::unique_ptr<RepNasStrategy> makeRepNasStrategy(int layers, const RunConfig& config) {
  if (config.arch_lr < 0)
    throw Error("makeRepNasStrategy: arch_lr is unresolved (use RunConfig::resolved)");
  return std::make_unique<RepNasStrategy>(layers, config);
}

}  // namespace repnas
