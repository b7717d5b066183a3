#include "nn/block.h"

#include "repnas/error.h"

namespace repnas {
namespace {

torch::nn::Conv2dOptions convOptions(int in, int out, int kh, int kw, int stride, int pad_h,
                                     int pad_w, int groups) {
  return torch::nn::Conv2dOptions(in, out, {kh, kw})
      .stride(stride)
      .padding(torch::ExpandingArray<2>({pad_h, pad_w}))
      .groups(groups)
      .bias(false);
}

}  // namespace

// ---------------------------------------------------------------- BN-and-pad

BatchNormAndPadImpl::BatchNormAndPadImpl(int channels, int pad_pixels) : pad(pad_pixels) {
  bn = register_module("bn", torch::nn::BatchNorm2d(channels));
}

torch::Tensor BatchNormAndPadImpl::forward(const torch::Tensor& x) {
  // The border takes what BN outputs for a zero input, from running statistics (as they are
  // before this batch updates them) and detached γ, β: in eval mode this is exactly what the
  // folded conv sees through its zero padding.
  const auto& o = bn->options;
  auto value = (bn->bias.detach() -
                bn->running_mean * bn->weight.detach() / (bn->running_var + o.eps()).sqrt())
                   .detach();
  auto y = bn(x);
  if (pad == 0) return y;
  auto out = torch::constant_pad_nd(y, {pad, pad, pad, pad}, 0);
  if (border == BorderPadding::Zero) return out;
  value = value.to(out.dtype()).reshape({1, -1, 1, 1});
  const auto h = out.size(2);
  const auto w = out.size(3);
  out.narrow(2, 0, pad).copy_(value.expand({out.size(0), -1, pad, w}));
  out.narrow(2, h - pad, pad).copy_(value.expand({out.size(0), -1, pad, w}));
  out.narrow(3, 0, pad).copy_(value.expand({out.size(0), -1, h, pad}));
  out.narrow(3, w - pad, pad).copy_(value.expand({out.size(0), -1, h, pad}));
  return out;
}

// ---------------------------------------------------------------- BN with other γ, β

torch::Tensor batchNormWith(torch::nn::BatchNorm2d& bn, const torch::Tensor& z,
                            const torch::Tensor& weight, const torch::Tensor& bias) {
  const auto& o = bn->options;
  const bool batch_stats = bn->is_training() || !o.track_running_stats();
  if (bn->is_training() && o.track_running_stats()) bn->num_batches_tracked += 1;
  return torch::batch_norm(z, weight, bias, bn->running_mean, bn->running_var, batch_stats,
                           o.momentum().value_or(0.1), o.eps(), /*cudnn_enabled=*/false);
}

torch::Tensor gatedBatchNorm(torch::nn::BatchNorm2d& bn, const torch::Tensor& z,
                             const torch::Tensor& gate) {
  if (!gate.defined()) return bn->forward(z);
  return batchNormWith(bn, z, bn->weight * gate, bn->bias * gate);
}

// ---------------------------------------------------------------- conv -> BN

ConvBatchNormBranch::ConvBatchNormBranch(const BlockSpec& spec, int kernel_h, int kernel_w)
    : kernel_size(spec.kernel_size) {
  conv = register_module("conv", torch::nn::Conv2d(convOptions(
                                     spec.in_channels, spec.out_channels, kernel_h, kernel_w,
                                     spec.stride, kernel_h / 2, kernel_w / 2, spec.groups)));
  bn = register_module("bn", torch::nn::BatchNorm2d(spec.out_channels));
}

torch::Tensor ConvBatchNormBranch::forward(const torch::Tensor& x, const torch::Tensor& gate) {
  return gatedBatchNorm(bn, conv(x), gate);
}

fold::KernelBias ConvBatchNormBranch::fold() const {
  auto kb = fold::foldBatchNorm(conv->weight.detach().to(torch::kDouble), {},
                                fold::batchNormStats(bn));
  kb.kernel = fold::padKernelToSize(kb.kernel, kernel_size);
  return kb;
}

// ---------------------------------------------------------------- 1x1 -> KxK / AVG

Sequential1x1Branch::Sequential1x1Branch(const BlockSpec& spec, Second second)
    : kind(second), groups(spec.groups), kernel_size(spec.kernel_size), stride(spec.stride) {
  const int k = spec.kernel_size;
  // 1x1-KxK keeps the input width inside (DBB, dense); 1x1-AVG maps straight to C_out.
  const int inner = second == Second::Conv ? spec.in_channels : spec.out_channels;
  first = register_module("first", torch::nn::Conv2d(convOptions(
                                        spec.in_channels, inner, 1, 1, 1, 0, 0, spec.groups)));
  first_bn = register_module("first_bn", BatchNormAndPad(inner, k / 2));
  if (second == Second::Conv) {
    second_conv = register_module(
        "second", torch::nn::Conv2d(convOptions(inner, spec.out_channels, k, k, spec.stride, 0,
                                                0, spec.groups)));
    if (spec.identity_init_1x1 && inner == spec.in_channels) {
      // W + I with W = 0: the branch starts as KxK(BN(x)), as in DBB.
      torch::NoGradGuard no_grad;
      first->weight.zero_();
      identity_1x1 = register_buffer(
          "identity_1x1", fold::identityKernel(inner, 1, spec.groups, torch::kFloat));
    }
  } else {
    // Average pooling (count_include_pad) as a depthwise conv: the same sums, several times
    // faster than avg_pool2d's CPU kernels, backward included.
    average_kernel = register_buffer(
        "average_kernel", torch::full({inner, 1, k, k}, 1.0 / (k * k), torch::kFloat));
  }
  second_bn = register_module("second_bn", torch::nn::BatchNorm2d(spec.out_channels));
}

torch::Tensor Sequential1x1Branch::firstKernel() const {
  return identity_1x1.defined() ? first->weight + identity_1x1 : first->weight;
}

torch::Tensor Sequential1x1Branch::secondStage(const torch::Tensor& y, int padding) {
  const std::vector<int64_t> strides{stride, stride}, pads{padding, padding}, ones{1, 1};
  if (kind == Second::Conv)
    return torch::conv2d(y, second_conv->weight, {}, strides, pads, ones, groups);
  return torch::conv2d(y, average_kernel, {}, strides, pads, ones, average_kernel.size(0));
}

bool Sequential1x1Branch::usesTrainingShortcut() const {
  return is_training() && !literal_training_path &&
         first_bn->border == BorderPadding::BatchNormValue;
}

torch::Tensor Sequential1x1Branch::padValue() const {
  const auto& bn1 = first_bn->bn;
  return (bn1->bias - bn1->running_mean * bn1->weight /
                          (bn1->running_var + bn1->options.eps()).sqrt())
      .detach();
}

torch::Tensor Sequential1x1Branch::secondStageTraining(const torch::Tensor& y,
                                                       const torch::Tensor& v,
                                                       const torch::Tensor& gate) {
  {
    // The second BN's running mean must track mean(w + c), i.e. gain momentum·c on top of its
    // own update (1 − m)·rm + m·mean(w). Added before the forward (autograd keeps the running
    // statistics it was given), scaled by 1/(1 − m) to pass through that update.
    torch::NoGradGuard no_grad;
    const std::vector<int64_t> ones{1, 1}, zeros{0, 0};
    const auto c = kind == Second::Conv
                       ? torch::conv2d(v.reshape({1, -1, 1, 1}).expand({1, -1, kernel_size, kernel_size}),
                                       second_conv->weight.detach(), {}, ones, zeros, ones, groups)
                             .flatten()
                       : v;
    const double m = second_bn->options.momentum().value_or(0.1);
    second_bn->running_mean.add_(c, m / (1 - m));
  }
  return gatedBatchNorm(second_bn, secondStage(y, kernel_size / 2), gate);
}

torch::Tensor Sequential1x1Branch::forward(const torch::Tensor& x, const torch::Tensor& gate) {
  const std::vector<int64_t> ones{1, 1}, zeros{0, 0};
  const auto z = torch::conv2d(x, firstKernel(), {}, /*stride=*/ones, /*padding=*/zeros,
                               /*dilation=*/ones, groups);
  if (!usesTrainingShortcut())
    return gatedBatchNorm(second_bn, secondStage(first_bn(z), /*padding=*/0), gate);
  // Training: see the class comment. v from the running statistics, before this update.
  auto& bn1 = first_bn->bn;
  const auto v = padValue();
  return secondStageTraining(batchNormWith(bn1, z, bn1->weight, bn1->bias - v), v, gate);
}

fold::KernelBias Sequential1x1Branch::fold() const {
  const auto first_kb = fold::foldBatchNorm(firstKernel().detach().to(torch::kDouble), {},
                                            first_bn->stats());
  const auto second_kernel =
      kind == Second::Conv
          ? second_conv->weight.detach().to(torch::kDouble)
          : fold::averagePoolKernel(first_kb.kernel.size(0), kernel_size, groups);
  const auto second_kb =
      fold::foldBatchNorm(second_kernel, {}, fold::batchNormStats(second_bn));
  return fold::mergeSequential1x1KxK(first_kb, second_kb, groups);
}

// ---------------------------------------------------------------- identity

IdentityBranch::IdentityBranch(const BlockSpec& spec)
    : groups(spec.groups), kernel_size(spec.kernel_size) {
  bn = register_module("bn", torch::nn::BatchNorm2d(spec.in_channels));
}

torch::Tensor IdentityBranch::forward(const torch::Tensor& x, const torch::Tensor& gate) {
  return gatedBatchNorm(bn, x, gate);
}

fold::KernelBias IdentityBranch::fold() const {
  const auto channels = static_cast<int>(bn->running_mean.size(0));
  return fold::foldBatchNorm(fold::identityKernel(channels, kernel_size, groups), {},
                             fold::batchNormStats(bn));
}

// ---------------------------------------------------------------- block

DiverseBranchBlockImpl::DiverseBranchBlockImpl(const BlockSpec& spec) : spec_(spec) {
  spec_.validate();
  const int k = spec.kernel_size;
  for (BranchKind kind : maskKinds(spec.branches)) {
    std::shared_ptr<BranchImpl> b;
    switch (kind) {
      case BranchKind::OneByOne: b = std::make_shared<ConvBatchNormBranch>(spec, 1, 1); break;
      case BranchKind::OneByOneAvg:
        b = std::make_shared<Sequential1x1Branch>(spec, Sequential1x1Branch::Second::AveragePool);
        break;
      case BranchKind::KxK: b = std::make_shared<ConvBatchNormBranch>(spec, k, k); break;
      case BranchKind::OneByOneKxK:
        if (spec.second_kxk_at_stride2 && spec.stride == 2)
          b = std::make_shared<ConvBatchNormBranch>(spec, k, k);  // official RepNAS at stride 2
        else
          b = std::make_shared<Sequential1x1Branch>(spec, Sequential1x1Branch::Second::Conv);
        break;
      case BranchKind::OneByK: b = std::make_shared<ConvBatchNormBranch>(spec, 1, k); break;
      case BranchKind::KByOne: b = std::make_shared<ConvBatchNormBranch>(spec, k, 1); break;
    }
    branches_[static_cast<int>(kind)] = register_module(std::string(branchName(kind)), b);
  }
  if (spec.hasIdentityBranch())
    identity_ = register_module("identity", std::make_shared<IdentityBranch>(spec));
}

int64_t DiverseBranchBlockImpl::outputSize(int64_t n) const {
  const int p = spec_.padding();
  return (n + 2 * p - spec_.kernel_size) / spec_.stride + 1;
}

torch::Tensor DiverseBranchBlockImpl::preActivation(const torch::Tensor& x,
                                                    const BranchMask& active,
                                                    const torch::Tensor& gates) {
  if ((active & ~spec_.branches).any())
    throw Error("branches " + maskName(active & ~spec_.branches) + " are not in this block");
  torch::Tensor sum;
  auto add = [&sum](const torch::Tensor& y) { sum = sum.defined() ? sum + y : y; };
  for (BranchKind kind : maskKinds(active)) {
    const int b = static_cast<int>(kind);
    add(branches_[b]->forward(x, gates.defined() ? gates[b] : torch::Tensor()));
  }
  if (identity_) add(identity_->forward(x));
  if (!sum.defined())
    sum = torch::zeros({x.size(0), spec_.out_channels, outputSize(x.size(2)), outputSize(x.size(3))},
                       x.options());
  return sum;
}

torch::Tensor DiverseBranchBlockImpl::forward(const torch::Tensor& x) {
  return torch::relu(preActivation(x, spec_.branches));
}

fold::KernelBias DiverseBranchBlockImpl::fold(const BranchMask& active,
                                              bool allow_training_mode) const {
  if (is_training() && !allow_training_mode)
    throw Error(
        "refusing to fold a block in training mode: folding uses BatchNorm running statistics, "
        "so the folded conv equals the block only in eval mode; call eval() first");
  if ((active & ~spec_.branches).any())
    throw Error("branches " + maskName(active & ~spec_.branches) + " are not in this block");
  std::vector<fold::KernelBias> parts;
  for (BranchKind kind : maskKinds(active)) parts.push_back(branches_[static_cast<int>(kind)]->fold());
  if (identity_) parts.push_back(identity_->fold());
  if (parts.empty()) {
    const int k = spec_.kernel_size;
    return {torch::zeros({spec_.out_channels, spec_.in_channels / spec_.groups, k, k}, torch::kDouble),
            torch::zeros({spec_.out_channels}, torch::kDouble)};
  }
  return fold::sumBranches(parts);
}

void DiverseBranchBlockImpl::setBorderPadding(BorderPadding border) {
  for (auto& m : modules(/*include_self=*/false))
    if (auto* p = m->as<BatchNormAndPadImpl>()) p->border = border;
}

// ---------------------------------------------------------------- folded block

FoldedBlockImpl::FoldedBlockImpl(const BlockSpec& spec, const fold::KernelBias& folded) {
  const int k = spec.kernel_size;
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(spec.in_channels, spec.out_channels, k)
                                    .stride(spec.stride)
                                    .padding(k / 2)
                                    .groups(spec.groups)
                                    .bias(true)));
  torch::NoGradGuard no_grad;
  conv->weight.copy_(folded.kernel);
  conv->bias.copy_(folded.bias);
}

torch::Tensor FoldedBlockImpl::preActivation(const torch::Tensor& x) { return conv(x); }
torch::Tensor FoldedBlockImpl::forward(const torch::Tensor& x) { return torch::relu(conv(x)); }

// ---------------------------------------------------------------- test helper

void randomizeForTesting(torch::nn::Module& module, c10::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/true)) {
    if (auto* conv = m->as<torch::nn::Conv2dImpl>()) {
      const double fan_in = static_cast<double>(conv->weight[0].numel());
      conv->weight.normal_(0.0, 1.0 / std::sqrt(fan_in), generator);
      if (conv->bias.defined()) conv->bias.uniform_(-0.5, 0.5, generator);
    } else if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->running_mean.uniform_(-0.5, 0.5, generator);
      bn->running_var.uniform_(0.3, 2.0, generator);
      // γ of both signs, away from zero.
      auto sign = torch::randint(0, 2, bn->weight.sizes(), generator, bn->weight.options()) * 2 - 1;
      bn->weight.uniform_(0.3, 1.5, generator).mul_(sign);
      bn->bias.uniform_(-0.5, 0.5, generator);
    }
  }
}

}  // namespace repnas
