#include "fold/fold.h"

#include "repnas/error.h"

namespace repnas::fold {

BatchNormStats batchNormStats(const torch::nn::BatchNorm2d& bn, torch::Dtype dtype) {
  BatchNormStats s;
  auto opt = bn->options;
  if (!opt.track_running_stats())
    throw Error("cannot fold a BatchNorm without running statistics");
  s.running_mean = bn->running_mean.detach().to(dtype);
  s.running_var = bn->running_var.detach().to(dtype);
  const auto c = s.running_mean.size(0);
  s.weight = opt.affine() ? bn->weight.detach().to(dtype) : torch::ones({c}, dtype);
  s.bias = opt.affine() ? bn->bias.detach().to(dtype) : torch::zeros({c}, dtype);
  s.eps = opt.eps();
  return s;
}

torch::Tensor batchNormStd(const BatchNormStats& bn) {
  return (bn.running_var + bn.eps).sqrt();
}

torch::Tensor batchNormZeroResponse(const BatchNormStats& bn) {
  return bn.bias - bn.running_mean * bn.weight / batchNormStd(bn);
}

KernelBias foldBatchNorm(const torch::Tensor& kernel, const torch::Tensor& conv_bias,
                         const BatchNormStats& bn) {
  const auto scale = bn.weight / batchNormStd(bn);
  if (kernel.size(0) != scale.size(0))
    throw Error("BatchNorm has " + std::to_string(scale.size(0)) + " channels but the kernel has " +
                std::to_string(kernel.size(0)) + " outputs");
  KernelBias out;
  out.kernel = kernel * scale.reshape({-1, 1, 1, 1});
  out.bias = batchNormZeroResponse(bn);
  if (conv_bias.defined()) out.bias = out.bias + scale * conv_bias;
  return out;
}

torch::Tensor padKernelToSize(const torch::Tensor& kernel, int kernel_size) {
  const auto kh = kernel.size(2);
  const auto kw = kernel.size(3);
  if (kh > kernel_size || kw > kernel_size || (kernel_size - kh) % 2 || (kernel_size - kw) % 2)
    throw Error("cannot centre a " + std::to_string(kh) + "x" + std::to_string(kw) +
                " kernel in " + std::to_string(kernel_size) + "x" + std::to_string(kernel_size));
  const auto pad_rows = (kernel_size - kh) / 2;
  const auto pad_cols = (kernel_size - kw) / 2;
  // constant_pad_nd takes the last dimension (columns) first.
  return torch::constant_pad_nd(kernel, {pad_cols, pad_cols, pad_rows, pad_rows}, 0);
}

KernelBias mergeSequential1x1KxK(const KernelBias& first, const KernelBias& second, int groups) {
  const auto& k1 = first.kernel;   // [D, C/g, 1, 1]
  const auto& k2 = second.kernel;  // [E, D/g, K, K]
  if (k1.size(2) != 1 || k1.size(3) != 1)
    throw Error("sequential merge expects a 1x1 first stage");
  const auto d = k1.size(0);
  const auto e = k2.size(0);
  if (d % groups || e % groups || k2.size(1) * groups != d)
    throw Error("sequential merge: channel counts do not match the groups");
  const auto d_g = d / groups;
  const auto e_g = e / groups;
  std::vector<torch::Tensor> kernels;
  std::vector<torch::Tensor> biases;
  for (int g = 0; g < groups; ++g) {
    const auto k1_g = k1.narrow(0, g * d_g, d_g).flatten(1);  // [D/g, C/g]
    const auto k2_g = k2.narrow(0, g * e_g, e_g);              // [E/g, D/g, K, K]
    const auto b1_g = first.bias.narrow(0, g * d_g, d_g);      // [D/g]
    kernels.push_back(torch::einsum("eduv,dc->ecuv", {k2_g, k1_g}));
    biases.push_back((k2_g * b1_g.reshape({1, -1, 1, 1})).sum({1, 2, 3}));
  }
  KernelBias out;
  out.kernel = torch::cat(kernels, 0);
  out.bias = torch::cat(biases, 0) + second.bias;
  return out;
}

namespace {
// [channels, channels/groups, K, K] with `value` at [c, c mod (C/g)] on the taps `taps`.
torch::Tensor channelDiagonalKernel(int channels, int kernel_size, int groups,
                                    const torch::Tensor& taps, torch::Dtype dtype) {
  const int per_group = channels / groups;
  auto k = torch::zeros({channels, per_group, kernel_size, kernel_size}, dtype);
  const auto out = torch::arange(channels, torch::kLong);
  k.index_put_({out, out.remainder(per_group)}, taps.to(dtype));
  return k;
}
}  // namespace

torch::Tensor averagePoolKernel(int channels, int kernel_size, int groups, torch::Dtype dtype) {
  const auto taps = torch::full({kernel_size, kernel_size}, 1.0 / (kernel_size * kernel_size),
                                torch::kDouble);
  return channelDiagonalKernel(channels, kernel_size, groups, taps, dtype);
}

torch::Tensor identityKernel(int channels, int kernel_size, int groups, torch::Dtype dtype) {
  auto taps = torch::zeros({kernel_size, kernel_size}, torch::kDouble);
  taps[kernel_size / 2][kernel_size / 2] = 1.0;
  return channelDiagonalKernel(channels, kernel_size, groups, taps, dtype);
}

KernelBias sumBranches(const std::vector<KernelBias>& branches) {
  if (branches.empty()) throw Error("sumBranches: no branch to sum");
  KernelBias out{branches[0].kernel.clone(), branches[0].bias.clone()};
  for (size_t i = 1; i < branches.size(); ++i) {
    if (!branches[i].kernel.sizes().equals(out.kernel.sizes()))
      throw Error("sumBranches: kernels of different shapes cannot be added");
    out.kernel += branches[i].kernel;
    out.bias += branches[i].bias;
  }
  return out;
}

KernelBias castTo(const KernelBias& kb, torch::Dtype dtype) {
  return {kb.kernel.to(dtype), kb.bias.to(dtype)};
}

}  // namespace repnas::fold
