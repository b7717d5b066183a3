#pragma once
// RENA on our space (Zhou et al., 2018, "Resource-Efficient Neural Architect"; STRATEGIES.md §3):
// a policy network reads an embedding of a network (one token per layer through a linear
// embedding and a bidirectional LSTM) and proposes modifications of it: a few swaps, each
// dropping a kept (layer, branch) and inserting a dropped one, or a no-op, so that exactly k
// stays kept and pins and per-layer limits hold (they mask the logits). Proposals start from a
// small buffer of the best networks found so far. Children share the supernet's weights: a
// child is evaluated by re-estimating BatchNorm statistics on a few training batches and
// measuring accuracy on validation batches; the supernet trains on uniformly sampled masks
// between controller updates (as one-shot NAS with uniform sampling does, so the shared
// weights favour no mask). Reward = validation accuracy − λ · Σ max(0, cost / limit − 1) over
// the resource limits; REINFORCE with an exponential-moving-average baseline, an entropy
// bonus, Adam. The controller (RenaController) knows nothing of the engine: the tests drive it
// with synthetic rewards.

#include <array>
#include <functional>
#include <map>
#include <optional>

#include "search/strategy.h"

namespace repnas {

/// @brief What the controller reads of one layer besides its mask.
struct RenaLayerFeatures {
  int in_channels = 1, out_channels = 1, stride = 1;
  int spatial = 1;  ///< output height
  bool identity = false;
  std::array<double, kNumBranchKinds> cost{};  ///< measured training ms of each branch (0: unknown)
};

/// @brief The layers' features of `backbone` (costs from `costs` when given).
std::vector<RenaLayerFeatures> renaLayerFeatures(const BackboneSpec& backbone, const BranchCostTable* costs);

/// @brief The tokens of a network [L, kRenaTokenSize]: per layer its 6 mask bits, log2 of its
/// input and output channels / 10, stride − 1, log2 of its output size / 8, the identity flag,
/// and its 6 branch costs divided by the largest branch cost of the network.
inline constexpr int kRenaTokenSize = 17;
torch::Tensor renaTokens(const std::vector<RenaLayerFeatures>& layers, const std::vector<BranchMask>& masks);

/// @brief The policy: tokens → Linear → tanh → bidirectional LSTM → per (layer, branch) a drop
/// logit and an insert logit; one learned no-op logit.
class RenaPolicyImpl : public torch::nn::Module {
 public:
  explicit RenaPolicyImpl(int hidden);
  struct Logits {
    torch::Tensor drop, insert;  ///< [L, 6]
    torch::Tensor noop;          ///< scalar
  };
  Logits forward(const torch::Tensor& tokens);

  torch::nn::Linear embed{nullptr}, drop_head{nullptr}, insert_head{nullptr};
  torch::nn::LSTM lstm{nullptr};
  torch::Tensor noop;
};
TORCH_MODULE(RenaPolicy);

/// @brief Whether `masks` meets the count part of `budget` (exactly k, pins, per-layer limits).
bool renaMaskFits(const std::vector<BranchMask>& masks, const Budget& budget);

/// @brief A (layer, branch) position, layer-major index l · 6 + b.
using RenaPosition = int;
/// @brief The positions a swap that drops `drop` may insert: not kept, not `drop`, not pinned
/// Drop, and within the per-layer limits after the swap (`masks` must fit `budget`).
std::vector<RenaPosition> renaInserts(const std::vector<BranchMask>& masks, const Budget& budget, RenaPosition drop);
/// @brief The positions a swap may drop: kept, not pinned Keep, with at least one insert.
std::vector<RenaPosition> renaDrops(const std::vector<BranchMask>& masks, const Budget& budget);

/// @brief What a network costs, as the resource constraints count it.
struct RenaResources {
  double train_ms = 0;   ///< predicted training ms per step (the cost model)
  double train_mb = 0;   ///< predicted training MiB (the cost model)
  double params = 0;     ///< parameters of the multi-branch network during training
  double intensity = 0;  ///< the folded network's FLOPs per byte (weights + activations)
};
/// @brief Resource names as trials carry them ("train_ms", "train_mb", "params", "intensity").
std::vector<std::pair<std::string, double>> renaResourceList(const RenaResources& r);

/// @brief The limits (0: none) and λ. The first three are upper limits; intensity a lower one.
struct RenaLimits {
  double train_ms = 0, train_mb = 0, params = 0, min_intensity = 0;
  double penalty = 0.1;  ///< λ: a 10% overrun of one limit costs 0.01 (one point of accuracy)
};

/// @brief One evaluated network.
struct RenaEvaluation {
  double accuracy = 0;  ///< validation accuracy (0..1) with shared weights
  RenaResources resources;
  double reward = 0;    ///< accuracy − λ · Σ overruns
  bool feasible = true; ///< no limit overrun
};
/// @brief Sets `e.reward` and `e.feasible` from its accuracy and resources.
void renaScore(RenaEvaluation& e, const RenaLimits& limits);

/// @brief The controller's settings (config keys rena_*).
struct RenaOptions {
  int children = 8;          ///< proposals per update
  int swaps = 2;             ///< swap actions per proposal (each may be a no-op)
  int buffer = 4;            ///< best networks kept as parents
  int64_t cache_steps = 100; ///< an evaluation is reused while the supernet trained fewer steps since; 0: never reused
  double lr = 1e-3;          ///< Adam
  double entropy = 1e-4;     ///< entropy bonus weight
  double baseline_decay = 0.9;
  int hidden = 32;
};

/// @brief One evaluated child, as an event carries it.
struct RenaTrialRecord {
  std::vector<BranchMask> mask, parent;
  RenaEvaluation evaluation;
  bool cached = false;
  int update = 0;  ///< the controller update it belongs to (1-based)
};

class RenaController {
 public:
  using Evaluator = std::function<RenaEvaluation(const std::vector<BranchMask>&)>;

  /// The policy's weights from the global generator (seeded by the caller).
  RenaController(std::vector<RenaLayerFeatures> layers, RenaOptions options);

  /// @brief A proposal from `parent` (which must fit `budget`): `swaps` swaps drawn from the
  /// policy, each read from the network as modified so far.
  struct Proposal {
    std::vector<BranchMask> mask;
    torch::Tensor log_prob;  ///< scalar, differentiable in the policy
    torch::Tensor entropy;   ///< summed over the swaps' choices
  };
  Proposal propose(const std::vector<BranchMask>& parent, const Budget& budget, torch::Generator& generator);

  /// @brief One controller update at weight step `now`: the buffer's expired evaluations are
  /// renewed, `children` proposals from the buffer (a uniform mask under `budget` while it is
  /// empty) are evaluated (an evaluation fresher than cache_steps is reused), REINFORCE with
  /// the baseline and the entropy bonus takes an Adam step, the buffer keeps the best.
  struct Update {
    std::vector<RenaTrialRecord> trials;
    int evaluations = 0;  ///< calls of the evaluator (renewals included, cached children not)
    double mean_reward = 0, baseline = 0, entropy = 0, loss = 0;
  };
  Update update(const Budget& budget, torch::Generator& generator, int64_t now, const Evaluator& evaluate);

  /// @brief The best network of the buffer that fits `budget`: the feasible one with the best
  /// validation accuracy, else the one with the best reward; nullopt when none fits.
  std::optional<std::vector<BranchMask>> best(const Budget& budget) const;
  /// @brief Per (layer, branch) [L × 6], the probability that it is kept after one swap of the
  /// policy from `parent` (exact, over the policy's drop and insert distributions).
  std::vector<float> keepProbabilities(const std::vector<BranchMask>& parent, const Budget& budget);

  /// @brief The layers' features (the engine's measured costs arrive with the first step).
  void setLayers(std::vector<RenaLayerFeatures> layers) { layers_ = std::move(layers); }
  int updates() const { return updates_; }
  double baseline() const { return baseline_; }
  const RenaOptions& options() const { return options_; }
  RenaPolicy policy() { return policy_; }

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  struct Entry {
    std::vector<BranchMask> mask;
    RenaEvaluation evaluation;
    int64_t evaluated_at = 0;
  };
  bool fresh(const Entry& e, int64_t now) const;
  Entry evaluated(const std::vector<BranchMask>& mask, int64_t now, const Evaluator& evaluate,
                  bool* cached, int* evaluations);

  std::vector<RenaLayerFeatures> layers_;
  RenaOptions options_;
  RenaPolicy policy_;
  torch::optim::Adam adam_;
  std::vector<Entry> buffer_;             ///< best first
  std::map<std::vector<int>, Entry> cache_;  ///< by maskToBits
  double baseline_ = 0;
  bool has_baseline_ = false;
  int updates_ = 0;
};

/// @brief strategy=rena: the supernet on uniform masks, the controller every rena_update_every
/// search steps; the fix keeps the best feasible network of the buffer.
class RenaStrategy : public Strategy {
 public:
  RenaStrategy(const BackboneSpec& backbone, const RunConfig& config);

  const StrategyInfo& info() const override { return info_; }
  StepOutcome step(SearchContext& context) override;
  std::vector<BranchMask> derive(const Budget& budget) const override;
  std::vector<float> importance() const override { return importance_; }
  void save(torch::serialize::OutputArchive& checkpoint) const override;
  void load(torch::serialize::InputArchive& checkpoint) override;

  /// @brief What `masks` costs (the cost model's table when given, the backbone's shapes).
  RenaResources resources(const std::vector<BranchMask>& masks, const BranchCostTable* costs) const;
  RenaController& controller() { return *controller_; }

 private:
  RenaEvaluation evaluate(SearchContext& context, const std::vector<BranchMask>& masks) const;

  const StrategyInfo& info_;
  RunConfig config_;
  BackboneSpec backbone_;
  RenaLimits limits_;
  std::unique_ptr<RenaController> controller_;
  bool features_have_costs_ = false;
  int64_t search_steps_ = 0;
  int64_t trials_ = 0;  ///< trials emitted
  std::vector<float> importance_;
  std::map<std::string, double> last_metrics_;  ///< the last update's, reported every step
  std::vector<std::array<double, kNumBranchKinds>> branch_params_;  ///< [layer][branch]
  double base_params_ = 0;
  double intensity_ = 0;
};

std::unique_ptr<RenaStrategy> makeRenaStrategy(const BackboneSpec& backbone, const RunConfig& config);

}  // namespace repnas
