#include "search/strategies/gdas.h"

#include "repnas/error.h"
#include "search/cost_selection.h"

namespace repnas {

GdasStrategy::GdasStrategy(int layers, const RunConfig& c)
    : AlphaStrategy(c, torch::randn({layers, kNumBranchKinds}) * 1e-3, c.gdas_arch_lr,
                    c.gdas_arch_weight_decay) {}

double GdasStrategy::temperature(double progress) const {
  const double p = std::clamp(progress, 0.0, 1.0);
  return config_.gdas_tau_start + (config_.gdas_tau_end - config_.gdas_tau_start) * p;
}

GdasStrategy::Draw GdasStrategy::draw(const Budget& budget, torch::Generator& gen, double tau,
                                      bool with_probabilities) {
  const int layers = static_cast<int>(alpha_.size(0));
  const auto allowed = allowedSubsets(budget);
  // Gumbel(0, 1) per (layer, subset), indexed by the subset's bits.
  const auto u = torch::rand({layers, kNumSubsets}, gen, torch::TensorOptions().dtype(torch::kDouble))
                     .clamp(1e-12, 1 - 1e-12);
  const auto gumbel = -(-u.log()).log();
  const auto g = gumbel.accessor<double, 2>();
  const auto a = scoresOf(alpha_);
  std::vector<std::vector<double>> score(layers, std::vector<double>(kNumSubsets, 0.0));
  for (int l = 0; l < layers; ++l)
    for (SubsetBits s : allowed[l]) score[l][s] = subsetSum(s, &a[l * kNumBranchKinds]) + g[l][s];
  Draw out;
  out.chosen = selectSubsets(score, budget);
  if (!with_probabilities) return out;
  // Over each layer's allowed subsets S: logit = M[S] · α_l (M: which branches each of the 64
  // subsets has), p = softmax((logit + G) / τ); the chosen subset's p, differentiable in α.
  static const torch::Tensor membership = [] {
    std::vector<BranchMask> all;
    for (SubsetBits s = 0; s < kNumSubsets; ++s) all.emplace_back(static_cast<unsigned long>(s));
    return maskTensor(all);
  }();
  const auto gumbel_float = gumbel.to(torch::kFloat);
  std::vector<torch::Tensor> chosen_p;
  for (int l = 0; l < layers; ++l) {
    const auto subsets = torch::tensor(std::vector<int64_t>(allowed[l].begin(), allowed[l].end()));
    const int64_t index = std::find(allowed[l].begin(), allowed[l].end(), out.chosen[l]) - allowed[l].begin();
    const auto logits = torch::mv(membership.index_select(0, subsets), alpha_[l]) +
                        gumbel_float[l].index_select(0, subsets);
    chosen_p.push_back(torch::softmax(logits / tau, 0)[index]);
  }
  out.probability = torch::stack(chosen_p);
  return out;
}

Selection GdasStrategy::sample(const Budget& budget, torch::Generator& gen, double tau,
                               bool straight_through) {
  const auto d = draw(budget, gen, tau, straight_through);
  Selection out;
  for (SubsetBits s : d.chosen) out.masks.emplace_back(static_cast<unsigned long>(s));
  if (straight_through) {
    // h = 1 + (p − p): forward value exactly 1 on the chosen subset, gradient that of p.
    const auto h = d.probability - d.probability.detach() + 1;
    out.gates = maskTensor(out.masks) * h.unsqueeze(1);
  }
  return out;
}

StepOutcome GdasStrategy::step(SearchContext& ctx) {
  const bool search = ctx.phase == Phase::Search;
  const double tau = temperature(search ? ctx.phase_progress : 0.0);
  StepOutcome out;
  // The weight step: a hard sample, no gradient to α (first-order bi-level).
  auto weight_gen = ctx.random(2);
  out.selection = sample(*ctx.budget, weight_gen, tau, /*straight_through=*/false);
  out.trained = ctx.trainer->step(ctx.training_batch(), out.selection);
  out.metrics = {{"tau", tau}, {"arch_lr", search ? config_.gdas_arch_lr : 0.0}};
  if (!search) return out;
  // The α step: a fresh sample on a validation batch; only α's gradient is computed.
  auto arch_gen = ctx.random(4);
  const auto sel = sample(*ctx.budget, arch_gen, tau, /*straight_through=*/true);
  const auto val = ctx.validation_batch();
  const auto logits = ctx.network->forward(val.x, sel.masks, sel.gates);
  const auto loss = torch::nn::functional::cross_entropy(logits, val.labels);
  const double val_loss = loss.item<double>();
  out.metrics["val_loss"] = val_loss;
  out.metrics["val_batch_accuracy"] =
      logits.argmax(1).eq(val.labels).sum().item<double>() / std::max<int64_t>(1, val.size());
  if (!std::isfinite(val_loss)) throw NonFiniteLoss{val_loss};
  auto grad = torch::autograd::grad({loss}, {alpha_}, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                    /*create_graph=*/false, /*allow_unused=*/true)[0];
  alpha_.mutable_grad() = grad.defined() ? grad : torch::zeros_like(alpha_);
  adam_.step();
  return out;
}

std::unique_ptr<GdasStrategy> makeGdasStrategy(const BackboneSpec& backbone, const RunConfig& config) {
  if (config.gdas_arch_lr < 0)
    throw Error("makeGdasStrategy: gdas_arch_lr is unresolved (use RunConfig::resolved)");
  return std::make_unique<GdasStrategy>(backbone.numLayers(), config);
}

}  // namespace repnas
