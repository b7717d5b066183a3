#pragma once
// Branch modules and the Diverse Branch Block (DESIGN.md 1.1). Private to core.

#include <torch/torch.h>

#include <array>
#include <memory>

#include "fold/fold.h"
#include "repnas/block_spec.h"

namespace repnas {

/// @brief How the BN-and-pad layer fills its border.
enum class BorderPadding {
  BatchNormValue,  ///< β − μγ/σ: what BN gives for a zero input (exact folding)
  Zero,            ///< zeros: the classic bug, kept to demonstrate and test it
};

/// @brief BatchNorm followed by padding with the BN's response to zero (running statistics,
/// detached γ and β), so that a following conv with padding 0 sees what the folded conv sees.
class BatchNormAndPadImpl : public torch::nn::Module {
 public:
  BatchNormAndPadImpl(int channels, int pad);
  torch::Tensor forward(const torch::Tensor& x);
  fold::BatchNormStats stats() const { return fold::batchNormStats(bn); }

  torch::nn::BatchNorm2d bn{nullptr};
  int pad = 0;
  BorderPadding border = BorderPadding::BatchNormValue;
};
TORCH_MODULE(BatchNormAndPad);

/// @brief What `bn` computes, with `weight` and `bias` in place of its γ and β; updates its
/// running statistics (and batch count) as the module would.
torch::Tensor batchNormWith(torch::nn::BatchNorm2d& bn, const torch::Tensor& z,
                            const torch::Tensor& weight, const torch::Tensor& bias);

/// @brief gate · BN(z), computed as BN(z) with γ and β scaled by `gate` (a 0-d tensor; undefined
/// means 1). The same function, and the gate's gradient ⟨∂L/∂y, BN(z)⟩ comes out of BN's own
/// γ and β gradients, without another pass over the output.
torch::Tensor gatedBatchNorm(torch::nn::BatchNorm2d& bn, const torch::Tensor& z,
                             const torch::Tensor& gate);

/// @brief One branch of a block; folds itself to a KxK kernel + bias at the block's geometry.
/// Every branch ends in a BatchNorm, which is where a straight-through gate is applied.
class BranchImpl : public torch::nn::Module {
 public:
  torch::Tensor forward(const torch::Tensor& x) { return forward(x, {}); }
  /// @brief gate · branch(x); `gate` is a 0-d tensor or undefined (= 1).
  virtual torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& gate) = 0;
  /// @brief Eval-mode equivalent KxK kernel and bias, in float64.
  virtual fold::KernelBias fold() const = 0;
};

/// @brief conv (kh x kw, stride s, centred padding, no bias) -> BN: 1x1, KxK, 1xK, Kx1.
class ConvBatchNormBranch : public BranchImpl {
 public:
  ConvBatchNormBranch(const BlockSpec& spec, int kernel_h, int kernel_w);
  using BranchImpl::forward;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& gate) override;
  fold::KernelBias fold() const override;

  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  int kernel_size = 3;
};

/// @brief 1x1 conv -> BN-and-pad -> (KxK conv or KxK average pool), stride s, pad 0 -> BN:
/// the 1x1-KxK and 1x1-AVG branches.
///
/// In training mode the branch takes an equivalent, cheaper path. With v = β − μγ/σ (the pad
/// value, running statistics), BN-and-pad(z) = zero-pad(BN(z) − v) + v, and the second stage
/// maps the constant v to a per-channel constant c (c = Σ W2·v for the conv, c = v for the
/// average). The second BN in training mode subtracts the batch mean, so c cancels from its
/// output and from every gradient; only its running mean must still see c. So training runs
/// BN with bias β − v, lets the second stage zero-pad internally (conv / depthwise-average
/// padding K//2, no copies), and adds momentum·c to the second BN's running mean. Eval mode
/// runs the literal construction. Both are tested against each other.
class Sequential1x1Branch : public BranchImpl {
 public:
  enum class Second { Conv, AveragePool };
  Sequential1x1Branch(const BlockSpec& spec, Second second);
  using BranchImpl::forward;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& gate) override;
  fold::KernelBias fold() const override;
  /// @brief The 1x1 kernel in use: W, or W + I when identity-initialised.
  torch::Tensor firstKernel() const;

  torch::nn::Conv2d first{nullptr};   // 1x1, C_in -> D, groups g, stride 1
  BatchNormAndPad first_bn{nullptr};
  torch::nn::Conv2d second_conv{nullptr};  // KxK D -> C_out, stride s (Conv)
  torch::Tensor average_kernel;            // [D, 1, K, K] of 1/K², depthwise (AveragePool)
  torch::nn::BatchNorm2d second_bn{nullptr};
  torch::Tensor identity_1x1;  // I when the 1x1 is identity-initialised, else undefined
  Second kind;
  int groups = 1;
  int kernel_size = 3;
  int stride = 1;
  /// Run the literal BN-and-pad construction in training mode too (for tests).
  bool literal_training_path = false;
  /// True when training takes the shortcut described above.
  bool usesTrainingShortcut() const;
  /// The BN-and-pad value v = β − μγ/σ (running statistics, detached).
  torch::Tensor padValue() const;
  /// Training shortcut after the first BN (which ran with bias β − v): the second stage with
  /// internal zero padding, then the second BN with its running-mean correction.
  torch::Tensor secondStageTraining(const torch::Tensor& y, const torch::Tensor& v,
                                    const torch::Tensor& gate);

 private:
  /// The second stage (KxK conv or average) with the given zero padding.
  torch::Tensor secondStage(const torch::Tensor& y, int padding);
};

/// @brief BN only: the identity branch (stride 1, C_in == C_out).
class IdentityBranch : public BranchImpl {
 public:
  explicit IdentityBranch(const BlockSpec& spec);
  using BranchImpl::forward;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& gate) override;
  fold::KernelBias fold() const override;

  torch::nn::BatchNorm2d bn{nullptr};
  int groups = 1;
  int kernel_size = 3;
};

/// @brief A Diverse Branch Block: the branches of `spec.branches` (+ identity), summed, ReLU.
class DiverseBranchBlockImpl : public torch::nn::Module {
 public:
  explicit DiverseBranchBlockImpl(const BlockSpec& spec);

  /// @brief ReLU(preActivation(x)) with every branch of the spec active.
  torch::Tensor forward(const torch::Tensor& x);
  /// @brief Σ branches before the ReLU. `active` ⊆ spec.branches selects which run; `gates`
  /// (optional, [6]) multiplies branch b's output by gates[b] (straight-through weights),
  /// applied to the branch's last BatchNorm (see gatedBatchNorm).
  torch::Tensor preActivation(const torch::Tensor& x, const BranchMask& active,
                              const torch::Tensor& gates = {});

  /// @brief Eval-mode fold of the active branches + identity into one KxK kernel and bias,
  /// float64. Refuses (repnas::Error) in training mode unless `allow_training_mode`: the fold
  /// uses running statistics, so it equals the block's eval-mode function only.
  fold::KernelBias fold(const BranchMask& active, bool allow_training_mode = false) const;
  fold::KernelBias fold() const { return fold(spec_.branches); }

  /// @brief The branch module of `kind`, or nullptr when the block does not have it.
  std::shared_ptr<BranchImpl> branch(BranchKind kind) const {
    return branches_[static_cast<int>(kind)];
  }
  std::shared_ptr<BranchImpl> identity() const { return identity_; }
  const BlockSpec& spec() const { return spec_; }
  /// @brief Output spatial size for an input of size `n` (same for every branch).
  int64_t outputSize(int64_t n) const;
  /// @brief Switches every BN-and-pad layer's border (for demonstrations and tests).
  void setBorderPadding(BorderPadding border);

 private:
  BlockSpec spec_;
  std::array<std::shared_ptr<BranchImpl>, kNumBranchKinds> branches_{};
  std::shared_ptr<BranchImpl> identity_;
};
TORCH_MODULE(DiverseBranchBlock);

/// @brief The inference form of a block: one KxK conv with bias, then ReLU.
class FoldedBlockImpl : public torch::nn::Module {
 public:
  FoldedBlockImpl(const BlockSpec& spec, const fold::KernelBias& folded);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor preActivation(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(FoldedBlock);

/// @brief Fills every conv weight with N(0, 1/fan_in) and every BN's running mean, variance,
/// γ and β with random values, so that equivalence tests cannot pass by accident. Draws from
/// `generator` when given (the explainer's demo block), else from the global generator.
void randomizeForTesting(torch::nn::Module& module,
                         c10::optional<at::Generator> generator = c10::nullopt);

}  // namespace repnas
