#include "search/strategies/repnas.h"

#include <cmath>

#include "repnas/error.h"
#include "search/cost_selection.h"

namespace repnas {

RepNasStrategy::RepNasStrategy(int layers, const RunConfig& c)
    : AlphaStrategy(c, torch::zeros({layers, kNumBranchKinds}), c.arch_lr, c.arch_weight_decay) {}

Selection RepNasStrategy::sample(const Budget& budget, torch::Generator& gen, double noise_scale,
                                 bool straight_through) {
  // r = α + τ·(g1 − g2), g ~ Gumbel(0, 1): the difference is Logistic(0, 1) noise.
  const auto u = torch::rand(alpha_.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat))
                     .clamp(1e-6, 1 - 1e-6);
  const auto noise = (u.log() - (-u).log1p()) * static_cast<float>(noise_scale);
  Selection s;
  const auto r = alpha_.detach() + noise;
  s.masks = selectBudgetBranches(scoresOf(r), budget);
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

std::unique_ptr<RepNasStrategy> makeRepNasStrategy(int layers, const RunConfig& config) {
  if (config.arch_lr < 0)
    throw Error("makeRepNasStrategy: arch_lr is unresolved (use RunConfig::resolved)");
  return std::make_unique<RepNasStrategy>(layers, config);
}

}  // namespace repnas
