#pragma once
// How α is parametrised, sampled, updated and turned into a mask: behind one interface, so
// that GDAS-style, RL-controller or cost-aware strategies can run on the same engine.

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "repnas/budget.h"
#include "repnas/config.h"
#include "repnas/events.h"

namespace repnas {

/// @brief The branches to run in one step, and their straight-through weights.
struct Selection {
  std::vector<BranchMask> masks;  ///< one per layer
  torch::Tensor gates;            ///< [L, 6] with forward value = mask, or undefined
};

/// @brief A search strategy over L layers × 6 branch kinds.
class SearchStrategy {
 public:
  virtual ~SearchStrategy() = default;
  virtual std::string name() const = 0;
  /// @brief The mask of a training step in Warmup or Search, drawn with `generator`;
  /// `noise_scale` is τ in r = α + τ·ε. With `straight_through`, the selection carries gates
  /// through which the loss's gradient reaches the architecture parameters.
  virtual Selection sample(const Budget& budget, torch::Generator& generator, double noise_scale,
                           bool straight_through) = 0;
  /// @brief The deterministic architecture under `budget` (what the fix step keeps).
  virtual std::vector<BranchMask> derive(const Budget& budget) const = 0;
  /// @brief Architecture parameters (included in gradient clipping).
  virtual std::vector<torch::Tensor> parameters() = 0;
  /// @brief Updates the architecture parameters after backward, in the Search phase;
  /// `search_progress` runs from 0 to 1 over the search phase.
  virtual void step(double search_progress) = 0;
  /// @brief Current learning rate of the architecture parameters.
  virtual double learningRate() const = 0;
  /// @brief α, [L, 6].
  virtual torch::Tensor alpha() const = 0;
  virtual void save(torch::serialize::OutputArchive& archive) const = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;
};

/// @brief RepNAS (DESIGN.md 1.2): α = 0, logistic noise scaled by τ, constrained global
/// top-k, straight-through weights, Adam with cosine-annealed weight decay. `config` must be
/// resolved (RunConfig::resolved): its arch_lr is used as it is.
std::unique_ptr<SearchStrategy> makeRepNasStrategy(int layers, const RunConfig& config);

}  // namespace repnas
