#include "search/strategy.h"

#include <algorithm>

#include "repnas/error.h"
#include "search/strategies/fixed.h"
#include "search/strategies/gdas.h"
#include "search/strategies/rena.h"
#include "search/strategies/repnas.h"

namespace repnas {

WeightTrainer::Result WeightTrainer::step(const Batch& batch, const Selection& selection,
                                          const std::vector<torch::Tensor>& arch_params,
                                          bool clip_arch) {
  last_batch_ = batch;
  last_selection_ = selection;
  Result r;
  const auto logits = net_->forward(batch.x, selection.masks, selection.gates);
  const auto loss = torch::nn::functional::cross_entropy(logits, batch.labels);
  r.loss = loss.item<double>();
  if (!std::isfinite(r.loss)) throw NonFiniteLoss{r.loss};
  for (auto& p : net_->parameters()) p.mutable_grad() = torch::Tensor();
  for (auto p : arch_params) p.mutable_grad() = torch::Tensor();
  loss.backward();
  if (grad_clip_ > 0) {
    auto params = net_->parameters();
    if (clip_arch)
      for (const auto& p : arch_params) params.push_back(p);
    torch::nn::utils::clip_grad_norm_(params, grad_clip_);
  }
  sgd_.step();
  r.correct = logits.argmax(1).eq(batch.labels).sum().item<int64_t>();
  return r;
}

std::vector<PhaseSpan> phasePlan(const RunConfig& config) {
  const auto& info = strategyInfo(config.mode);
  if (!info.capabilities.searches) return {{Phase::Train, config.totalEpochs()}};
  std::vector<PhaseSpan> plan;
  for (PhaseSpan p : {PhaseSpan{Phase::Warmup, config.resolvedWarmupEpochs()},
                      PhaseSpan{Phase::Search, config.resolvedSearchEpochs()},
                      PhaseSpan{Phase::Fixed, config.resolvedFixedEpochs()}})
    if (p.epochs > 0) plan.push_back(p);
  if (plan.empty()) plan.push_back({Phase::Fixed, 0});
  return plan;
}

Phase phaseOfEpoch(const std::vector<PhaseSpan>& plan, int epoch) {
  int start = 0;
  for (const auto& p : plan) {
    if (epoch < start + p.epochs) return p.phase;
    start += p.epochs;
  }
  return plan.back().phase;
}

double searchProgressUnderTimeLimit(double step_progress, double limit, double before_fix, double in_search) {
  const double left = limit - (before_fix - in_search);
  const double clock = left > 0 ? std::min(1.0, in_search / left) : 1.0;
  return std::max(step_progress, clock);
}

std::pair<int, int> phaseEpochs(const std::vector<PhaseSpan>& plan, Phase phase) {
  int start = 0;
  for (const auto& p : plan) {
    if (p.phase == phase) return {start, p.epochs};
    start += p.epochs;
  }
  return {0, 0};
}

std::unique_ptr<Strategy> makeStrategy(const RunConfig& config, const BackboneSpec& backbone) {
  const auto& info = strategyInfo(config.mode);
  if (info.method == "RepNAS") return makeRepNasStrategy(backbone.numLayers(), config);
  if (info.method == "GDAS") return makeGdasStrategy(backbone, config);
  if (info.method == "RENA") return makeRenaStrategy(backbone, config);
  if (info.method == "fixed") return makeFixedStrategy(config, backbone);
  throw Error("strategy '" + info.name + "' (" + info.method + ") has no implementation");
}

}  // namespace repnas
