#pragma once
// The search framework (DESIGN.md §2, issue 16): a strategy does not own the loop. The engine
// lends it a SearchContext for each training step of its searching phases — the network, the
// weight trainer, training and validation batches, random streams, the budget in force — and
// the strategy takes the step: it chooses the branches, has the weights trained on them and
// updates its own architecture parameters. Everything else (the step gate where commands,
// pause, stop, snapshots and checkpoints happen, the fix, the fixed phase, evaluation, files)
// is the engine's, the same for every strategy. Private to core.

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/network.h"
#include "repnas/budget.h"
#include "repnas/config.h"
#include "repnas/events.h"
#include "repnas/strategy_info.h"

namespace repnas {

/// @brief The branches to run in one step, and their straight-through weights.
struct Selection {
  std::vector<BranchMask> masks;  ///< one per layer
  torch::Tensor gates;            ///< [L, 6] with forward value = mask, or undefined
};

/// @brief A prepared batch: normalised (and, for training, augmented) images and labels.
struct Batch {
  torch::Tensor x;       ///< float [B, C, H, W]
  torch::Tensor labels;  ///< int64 [B]
  int64_t size() const { return labels.size(0); }
};

/// @brief The loss of a step was not finite (thrown before anything was updated).
struct NonFiniteLoss {
  double loss;
};

/// @brief The weight update of the engine: forward on the selection, cross-entropy, backward,
/// gradient clipping over the weights (and the architecture parameters given), SGD. The engine
/// sets the learning rate per step; `repnas-bench train` measures this same step.
class WeightTrainer {
 public:
  WeightTrainer(Network net, torch::optim::SGD& sgd, double grad_clip)
      : net_(std::move(net)), sgd_(sgd), grad_clip_(grad_clip) {}

  struct Result {
    double loss = 0;
    int64_t correct = 0;
  };
  /// @brief One update on `batch`. The gradients of the weights and of `arch_params` are reset
  /// to none first (a branch that does not run gets no update at all, so a resumed run matches
  /// exactly); `arch_params` are in the clip norm when `clip_arch`. Throws NonFiniteLoss.
  Result step(const Batch& batch, const Selection& selection,
              const std::vector<torch::Tensor>& arch_params = {}, bool clip_arch = false);
  /// @brief The batch and selection of the last step (the engine checks the state on them
  /// before a checkpoint).
  const Batch& lastBatch() const { return last_batch_; }
  const Selection& lastSelection() const { return last_selection_; }

 private:
  Network net_;
  torch::optim::SGD& sgd_;
  double grad_clip_;
  Batch last_batch_;
  Selection last_selection_;
};

/// @brief What the engine lends a strategy for one step.
struct SearchContext {
  Network network{nullptr};
  WeightTrainer* trainer = nullptr;
  const Budget* budget = nullptr;
  Phase phase = Phase::Search;
  /// 0..1 over the current phase (at the step's start).
  double phase_progress = 0;
  /// The step's training batch (the same one for a given step, resumed or not).
  std::function<Batch()> training_batch;
  /// The step's validation batch (strategies that need a validation split).
  std::function<Batch()> validation_batch;
  /// A generator for this step and `stream` (streams 1–3 are the engine's: augmentation,
  /// the first selection, dropout); the same numbers on a resumed run.
  std::function<torch::Generator(uint64_t stream)> random;
  /// The step's index over the run (0-based).
  int64_t step = 0;
  /// The first `n` training batches' images, unaugmented (BatchNorm re-estimation for one mask).
  std::function<std::vector<torch::Tensor>(int n)> recalibration_images;
  /// Validation batch `index` of one fixed order, the same at every step (strategies that
  /// compare networks on the same images).
  std::function<Batch(int64_t index)> fixed_validation_batch;
};

/// @brief What a strategy's step did: the weights' update and its own numbers.
struct StepOutcome {
  WeightTrainer::Result trained;
  Selection selection;  ///< what the weight update ran
  /// The strategy's numbers for this step, by name (e.g. "tau", "arch_lr", "val_loss"):
  /// events carry them, the GUI plots them without code per strategy.
  std::map<std::string, double> metrics;
  /// The networks the strategy evaluated in this step (RENA's children): the engine emits them.
  std::vector<Trial> trials;
};

/// @brief A search strategy over L layers × 6 branch kinds (or a fixed architecture).
class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual const StrategyInfo& info() const = 0;
  /// @brief One training step of a phase before the fix (warm-up or search).
  virtual StepOutcome step(SearchContext& context) = 0;
  /// @brief The deterministic architecture under `budget`: what the fix keeps (for a fixed
  /// strategy, its masks from the first step on).
  virtual std::vector<BranchMask> derive(const Budget& budget) const = 0;
  /// @brief The per-(layer, branch) numbers the strategy ranks branches by ([L × 6], layer-major;
  /// zeros when it has none): α for RepNAS and GDAS.
  virtual std::vector<float> importance() const = 0;
  /// @brief Its state, as a sub-archive of the checkpoint (none for a fixed strategy).
  virtual void save(torch::serialize::OutputArchive& checkpoint) const = 0;
  virtual void load(torch::serialize::InputArchive& checkpoint) = 0;
};

/// @brief The phases a run of `config` goes through (a resolved configuration): Warmup, Search,
/// Fixed for a search strategy (phases of 0 epochs left out), Train for a fixed one.
std::vector<PhaseSpan> phasePlan(const RunConfig& config);
/// @brief The phase of `epoch` in `plan` (the last phase for an epoch past its end).
Phase phaseOfEpoch(const std::vector<PhaseSpan>& plan, int epoch);
/// @brief The first epoch of `phase` in `plan` and the epochs it lasts ({0, 0} when absent).
std::pair<int, int> phaseEpochs(const std::vector<PhaseSpan>& plan, Phase phase);
/// @brief The search phase's progress under search_seconds = `limit` (> 0): the later of the
/// steps' progress and the clock's, the search phase having what the warm-up left of the limit
/// (`before_fix`: step seconds spent before the fix so far, `in_search`: those in the search
/// phase); 1 once the limit is spent.
double searchProgressUnderTimeLimit(double step_progress, double limit, double before_fix, double in_search);
/// @brief Whether the architecture is fixed in `phase` (Fixed, Train).
inline bool architectureFixedIn(Phase phase) { return phase == Phase::Fixed || phase == Phase::Train; }

/// @brief The strategy of `config` (resolved) for the network `backbone`.
std::unique_ptr<Strategy> makeStrategy(const RunConfig& config, const BackboneSpec& backbone);

}  // namespace repnas
