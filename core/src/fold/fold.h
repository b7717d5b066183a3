#pragma once
// Folding maths (DESIGN.md 1.1, METHOD-NOTES F): small pure functions over tensors.
// Kernels are [out, in/groups, kh, kw], biases [out]. Callers fold in float64 and cast the
// result once, so that rounding from the many small products does not add up.

#include <torch/torch.h>

#include <vector>

namespace repnas::fold {

/// @brief A convolution kernel and its bias.
struct KernelBias {
  torch::Tensor kernel;  ///< [out, in/groups, K, K]
  torch::Tensor bias;    ///< [out]
};

/// @brief The running statistics and affine parameters of one BatchNorm.
struct BatchNormStats {
  torch::Tensor running_mean;
  torch::Tensor running_var;
  torch::Tensor weight;  ///< γ
  torch::Tensor bias;    ///< β
  double eps = 1e-5;
};

/// @brief Reads a BatchNorm2d's statistics (detached, converted to `dtype`).
BatchNormStats batchNormStats(const torch::nn::BatchNorm2d& bn,
                              torch::Dtype dtype = torch::kDouble);

/// @brief σ = sqrt(var + eps).
torch::Tensor batchNormStd(const BatchNormStats& bn);

/// @brief What BN outputs for a zero input: β − μγ/σ (the BN-and-pad value).
torch::Tensor batchNormZeroResponse(const BatchNormStats& bn);

/// @brief Transform I: F' = (γ/σ)·F, b' = β − μγ/σ + (γ/σ)·b. `conv_bias` may be undefined.
KernelBias foldBatchNorm(const torch::Tensor& kernel, const torch::Tensor& conv_bias,
                         const BatchNormStats& bn);

/// @brief Transform VI: centres a kh x kw kernel in a K x K kernel (rows and columns padded
/// separately, so 1xK lands in the centre row and Kx1 in the centre column).
torch::Tensor padKernelToSize(const torch::Tensor& kernel, int kernel_size);

/// @brief Transform III (+IV per group): a 1x1 conv followed by a KxK conv as one KxK conv.
/// first: [D, C/g, 1, 1] + [D]; second: [E, D/g, K, K] + [E].
/// F'[e,c] = Σ_d F2[e,d]·F1[d,c]; b'[e] = b2[e] + Σ_{d,u,v} F2[e,d,u,v]·b1[d].
/// Exact only when the first stage's output is padded with its bias (BN-and-pad).
KernelBias mergeSequential1x1KxK(const KernelBias& first, const KernelBias& second, int groups);

/// @brief Transform V: KxK average pooling over `channels` as a grouped conv kernel
/// [channels, channels/groups, K, K] with 1/K² on the channel diagonal (count_include_pad).
torch::Tensor averagePoolKernel(int channels, int kernel_size, int groups,
                                torch::Dtype dtype = torch::kDouble);

/// @brief The identity as a grouped conv kernel: 1 at [c, c mod (C/g), K/2, K/2].
torch::Tensor identityKernel(int channels, int kernel_size, int groups,
                             torch::Dtype dtype = torch::kDouble);

/// @brief Transform II: kernels and biases of aligned branches add.
KernelBias sumBranches(const std::vector<KernelBias>& branches);

/// @brief Casts kernel and bias to `dtype`.
KernelBias castTo(const KernelBias& kb, torch::Dtype dtype);

}  // namespace repnas::fold
