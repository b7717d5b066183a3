#pragma once
// The trainable network over a BackboneSpec, and its folded inference form. Private to core.

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "nn/block.h"
#include "repnas/backbone.h"

namespace repnas {

/// @brief 1x1 conv (stride s, no bias) + BN: the projection shortcut of ResNet basic blocks.
class ProjectionShortcutImpl : public torch::nn::Module {
 public:
  ProjectionShortcutImpl(int in, int out, int stride);
  torch::Tensor forward(const torch::Tensor& x);
  /// @brief As a KxK kernel + bias (1x1 centred), float64, eval-mode statistics.
  fold::KernelBias fold(int kernel_size) const;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(ProjectionShortcut);

/// @brief Blocks per layer (each with `branches` of its LayerSpec), shortcuts, GAP, linear head.
class NetworkImpl : public torch::nn::Module {
 public:
  explicit NetworkImpl(const BackboneSpec& spec);
  /// @brief Logits. `masks[l]` selects the branches that run in layer l; `gates` ([L, 6],
  /// optional) are the straight-through weights multiplied onto branch outputs.
  torch::Tensor forward(const torch::Tensor& x, const std::vector<BranchMask>& masks,
                        const torch::Tensor& gates = {});
  /// @brief What layer `layer` receives for input `x` (the activations of the layers before
  /// it); `layer` = numLayers() gives the last block's output.
  torch::Tensor layerInput(const torch::Tensor& x, const std::vector<BranchMask>& masks,
                           int layer);
  const BackboneSpec& spec() const { return spec_; }
  DiverseBranchBlock block(int layer) const { return blocks_[layer]; }
  /// @brief The generator of the head's dropout masks (the engine seeds one per step, so that
  /// a resumed run draws the same masks); without one, the global generator.
  void setDropoutGenerator(c10::optional<at::Generator> generator) { dropout_gen_ = generator; }
  /// @brief Resets every BatchNorm's running statistics (the RepNAS fix step).
  void resetBatchNormStatistics();
  /// @brief Every BatchNorm's running statistics and batch count, copied.
  struct BatchNormStatistics {
    std::vector<torch::Tensor> buffers;  ///< per BatchNorm: mean, variance, batches tracked
  };
  BatchNormStatistics batchNormStatistics() const;
  void restoreBatchNormStatistics(const BatchNormStatistics& saved);
  /// @brief Re-estimates every BatchNorm's running statistics for the network `masks` select:
  /// reset, then the plain average over `batches` (forwards with the BatchNorms in training
  /// mode, everything else in eval mode: no dropout, no generator drawn; no gradient). The
  /// statistics of a supernet that trained sampled subsets do not fit one subset (one-shot
  /// NAS's BN recalibration); the caller restores the saved ones.
  void recalibrateBatchNorm(const std::vector<BranchMask>& masks,
                            const std::vector<torch::Tensor>& batches);

  /// @brief A conv kernel whose output feeds a BatchNorm: scaling it (and that BN's running
  /// statistics) leaves the network's function unchanged.
  struct BatchNormFedKernel {
    std::string name;       ///< e.g. "layer3.KxK.conv"
    torch::Tensor weight;   ///< the parameter
    torch::Tensor offset;   ///< a constant added to it in use (W + I), or undefined
    torch::nn::BatchNorm2d bn{nullptr};  ///< the BN it feeds
    /// @brief The kernel as used: W + offset (or W).
    torch::Tensor used() const { return offset.defined() ? weight + offset : weight; }
  };
  /// @brief Every kernel that feeds a BatchNorm, in a fixed order.
  std::vector<BatchNormFedKernel> batchNormFedKernels() const;
  /// @brief Norm of each kernel of batchNormFedKernels() as used (W + offset).
  std::vector<double> batchNormFedKernelNorms() const;
  /// @brief Rescales each BN-fed kernel to `norms[i]` (as used: W + offset), its BN's running
  /// mean by the same factor and its running variance so that √(var + ε) scales by it too
  /// (exactly in eval mode; in training mode BN removes the scale up to ε), and calls
  /// `on_scale(weight, factor)` for each (to scale optimiser state). Returns the factors.
  std::vector<double> rescaleBatchNormFedKernels(
      const std::vector<double>& norms,
      const std::function<void(const torch::Tensor&, double)>& on_scale = {});
  /// @brief Parameters that get weight decay (conv and linear weights) and those that do not
  /// (BN parameters and biases).
  std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> parameterGroups() const;

  std::vector<DiverseBranchBlock> blocks_;
  std::vector<ProjectionShortcut> shortcuts_;  // per layer; null when none/identity
  torch::nn::Linear head{nullptr};

 private:
  /// Runs layers [0, end) and returns the input of layer `end`.
  torch::Tensor runLayers(const torch::Tensor& x, const std::vector<BranchMask>& masks,
                          const torch::Tensor& gates, int end);
  BackboneSpec spec_;
  c10::optional<at::Generator> dropout_gen_;
};
TORCH_MODULE(Network);

/// @brief The inference network: one KxK conv + bias + ReLU per layer, shortcut adds kept
/// (projection folded to a 1x1-in-KxK conv), GAP, linear head.
class FoldedNetworkImpl : public torch::nn::Module {
 public:
  /// @brief Folds `net` (must be in eval mode) with `masks`.
  FoldedNetworkImpl(const NetworkImpl& net, const std::vector<BranchMask>& masks);
  torch::Tensor forward(const torch::Tensor& x);
  const BackboneSpec& spec() const { return spec_; }

  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::Conv2d> shortcuts_;  // null when identity / none
  torch::nn::Linear head{nullptr};

 private:
  BackboneSpec spec_;
};
TORCH_MODULE(FoldedNetwork);

/// @brief Multiplies the SGD momentum buffer of `param` (if it has one yet) by `factor`.
void scaleMomentumBuffer(torch::optim::SGD& sgd, const torch::Tensor& param, double factor);

/// @brief Branch masks of a fixed-mask mode for every layer of `spec`.
std::vector<BranchMask> uniformMasks(const BackboneSpec& spec, const BranchMask& mask);

}  // namespace repnas
