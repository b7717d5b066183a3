#include "nn/network.h"

#include "repnas/error.h"

namespace repnas {

ProjectionShortcutImpl::ProjectionShortcutImpl(int in, int out, int stride) {
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(out));
}

torch::Tensor ProjectionShortcutImpl::forward(const torch::Tensor& x) { return bn(conv(x)); }

fold::KernelBias ProjectionShortcutImpl::fold(int kernel_size) const {
  auto kb = fold::foldBatchNorm(conv->weight.detach().to(torch::kDouble), {},
                                fold::batchNormStats(bn));
  kb.kernel = fold::padKernelToSize(kb.kernel, kernel_size);
  return kb;
}

NetworkImpl::NetworkImpl(const BackboneSpec& spec) : spec_(spec) {
  if (spec.layers.empty()) throw Error("backbone " + spec.name + " has no layers");
  for (int l = 0; l < spec.numLayers(); ++l) {
    const auto& layer = spec.layers[l];
    blocks_.push_back(register_module("layer" + std::to_string(l), DiverseBranchBlock(layer.block)));
    ProjectionShortcut shortcut{nullptr};
    if (layer.shortcut_from >= 0 && layer.shortcut_projection) {
      const auto& from = spec.layers.at(layer.shortcut_from).block;
      int stride = 1;
      for (int i = layer.shortcut_from; i <= l; ++i) stride *= spec.layers[i].block.stride;
      shortcut = register_module("shortcut" + std::to_string(l),
                                 ProjectionShortcut(from.in_channels, layer.block.out_channels, stride));
    }
    shortcuts_.push_back(shortcut);
  }
  head = register_module("head", torch::nn::Linear(spec.featureChannels(), spec.num_classes));
}

torch::Tensor NetworkImpl::forward(const torch::Tensor& x, const std::vector<BranchMask>& masks,
                                   const torch::Tensor& gates) {
  auto h = runLayers(x, masks, gates, spec_.numLayers());
  h = torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1);
  // No module (files saved before it existed still load); masks from the step's generator.
  if (spec_.head_dropout > 0 && is_training()) {
    const double keep = 1.0 - spec_.head_dropout;
    h = h * torch::empty_like(h).bernoulli_(keep, dropout_gen_) / keep;
  }
  return head(h);
}

torch::Tensor NetworkImpl::layerInput(const torch::Tensor& x, const std::vector<BranchMask>& masks,
                                      int layer) {
  if (layer < 0 || layer > spec_.numLayers())
    throw Error("layer " + std::to_string(layer) + " does not exist (the network has " +
                std::to_string(spec_.numLayers()) + " layers)");
  return runLayers(x, masks, {}, layer);
}

torch::Tensor NetworkImpl::runLayers(const torch::Tensor& x, const std::vector<BranchMask>& masks,
                                     const torch::Tensor& gates, int end) {
  if (static_cast<int>(masks.size()) != spec_.numLayers())
    throw Error("forward: " + std::to_string(masks.size()) + " masks for " +
                std::to_string(spec_.numLayers()) + " layers");
  std::vector<torch::Tensor> inputs(end);
  torch::Tensor h = x;
  for (int l = 0; l < end; ++l) {
    inputs[l] = h;
    auto pre = blocks_[l]->preActivation(h, masks[l], gates.defined() ? gates[l] : torch::Tensor());
    const auto& layer = spec_.layers[l];
    if (layer.shortcut_from >= 0) {
      const auto& skipped = inputs[layer.shortcut_from];
      pre = pre + (shortcuts_[l] ? shortcuts_[l]->forward(skipped) : skipped);
    }
    h = torch::relu(pre);
  }
  return h;
}

void NetworkImpl::resetBatchNormStatistics() {
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) bn->reset_running_stats();
  }
}

namespace {
std::vector<torch::nn::BatchNorm2dImpl*> batchNorms(const torch::nn::Module& net) {
  std::vector<torch::nn::BatchNorm2dImpl*> out;
  for (const auto& m : net.modules(/*include_self=*/false))
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) out.push_back(bn);
  return out;
}
}  // namespace

NetworkImpl::BatchNormStatistics NetworkImpl::batchNormStatistics() const {
  BatchNormStatistics saved;
  for (auto* bn : batchNorms(*this))
    for (const auto& t : {bn->running_mean, bn->running_var, bn->num_batches_tracked})
      saved.buffers.push_back(t.clone());
  return saved;
}

void NetworkImpl::restoreBatchNormStatistics(const BatchNormStatistics& saved) {
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto* bn : batchNorms(*this))
    for (auto* t : {&bn->running_mean, &bn->running_var, &bn->num_batches_tracked})
      t->copy_(saved.buffers.at(i++));
}

void NetworkImpl::recalibrateBatchNorm(const std::vector<BranchMask>& masks,
                                       const std::vector<torch::Tensor>& batches) {
  torch::NoGradGuard no_grad;
  const bool was_training = is_training();
  const auto norms = batchNorms(*this);
  std::vector<c10::optional<double>> momenta;
  eval();
  for (auto* bn : norms) {
    momenta.push_back(bn->options.momentum());
    bn->reset_running_stats();
    bn->train();
  }
  // Momentum 1/n at the n-th batch: the running statistics are the average over the batches.
  for (size_t n = 0; n < batches.size(); ++n) {
    for (auto* bn : norms) bn->options.momentum(1.0 / static_cast<double>(n + 1));
    forward(batches[n], masks);
  }
  for (size_t b = 0; b < norms.size(); ++b) norms[b]->options.momentum(momenta[b]);
  train(was_training);
}

std::vector<NetworkImpl::BatchNormFedKernel> NetworkImpl::batchNormFedKernels() const {
  std::vector<BatchNormFedKernel> out;
  for (int l = 0; l < spec_.numLayers(); ++l) {
    const std::string layer = "layer" + std::to_string(l) + ".";
    for (BranchKind kind : kAllBranchKinds) {
      const auto branch = blocks_[l]->branch(kind);
      if (!branch) continue;
      const std::string name = layer + std::string(branchName(kind));
      if (auto* cb = dynamic_cast<ConvBatchNormBranch*>(branch.get())) {
        out.push_back({name + ".conv", cb->conv->weight, {}, cb->bn});
      } else if (auto* seq = dynamic_cast<Sequential1x1Branch*>(branch.get())) {
        out.push_back({name + ".first", seq->first->weight, seq->identity_1x1, seq->first_bn->bn});
        if (seq->second_conv)
          out.push_back({name + ".second", seq->second_conv->weight, {}, seq->second_bn});
      }
    }
    if (shortcuts_[l])
      out.push_back({"shortcut" + std::to_string(l) + ".conv", shortcuts_[l]->conv->weight, {},
                     shortcuts_[l]->bn});
  }
  return out;
}

std::vector<double> NetworkImpl::batchNormFedKernelNorms() const {
  torch::NoGradGuard no_grad;
  std::vector<double> norms;
  for (const auto& k : batchNormFedKernels())
    norms.push_back(k.used().to(torch::kDouble).norm().item<double>());
  return norms;
}

std::vector<double> NetworkImpl::rescaleBatchNormFedKernels(
    const std::vector<double>& norms,
    const std::function<void(const torch::Tensor&, double)>& on_scale) {
  torch::NoGradGuard no_grad;
  const auto kernels = batchNormFedKernels();
  if (norms.size() != kernels.size())
    throw Error("rescaleBatchNormFedKernels: " + std::to_string(norms.size()) + " norms for " +
                std::to_string(kernels.size()) + " kernels");
  std::vector<double> factors;
  for (size_t i = 0; i < kernels.size(); ++i) {
    const auto& k = kernels[i];
    const auto used = k.used().clone();  // W is overwritten below
    const double now = used.to(torch::kDouble).norm().item<double>();
    const double c = now > 0 ? norms[i] / now : 1.0;
    factors.push_back(c);
    if (c == 1.0) continue;
    // W' + offset = c · (W + offset).
    k.weight.copy_(k.offset.defined() ? used * c - k.offset : used * c);
    // BN(c·z) with running statistics: μ' = cμ and √(var' + ε) = c·√(var + ε).
    auto& bn = *k.bn;
    const double eps = bn.options.eps();
    bn.running_mean.mul_(c);
    bn.running_var.copy_((bn.running_var.add(eps).mul(c * c) - eps).clamp_min(0));
    if (on_scale) on_scale(k.weight, c);
  }
  return factors;
}

std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> NetworkImpl::parameterGroups()
    const {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& item : named_parameters(/*recurse=*/true)) {
    const auto& name = item.key();
    const bool is_bn = name.find("bn.") != std::string::npos || name.find("_bn.") != std::string::npos;
    const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    (is_bn || is_bias ? no_decay : decay).push_back(item.value());
  }
  return {decay, no_decay};
}

FoldedNetworkImpl::FoldedNetworkImpl(const NetworkImpl& net, const std::vector<BranchMask>& masks)
    : spec_(net.spec()) {
  torch::NoGradGuard no_grad;
  for (int l = 0; l < spec_.numLayers(); ++l) {
    const auto& b = spec_.layers[l].block;
    auto folded = fold::castTo(net.blocks_[l]->fold(masks.at(l)), torch::kFloat);
    auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(b.in_channels, b.out_channels, b.kernel_size)
                                      .stride(b.stride).padding(b.padding()).groups(b.groups).bias(true));
    conv->weight.copy_(folded.kernel);
    conv->bias.copy_(folded.bias);
    convs_.push_back(register_module("conv" + std::to_string(l), conv));
    torch::nn::Conv2d shortcut{nullptr};
    if (net.shortcuts_[l]) {
      auto kb = fold::castTo(net.shortcuts_[l]->fold(1), torch::kFloat);
      const auto& c = net.shortcuts_[l]->conv->options;
      shortcut = torch::nn::Conv2d(torch::nn::Conv2dOptions(c.in_channels(), c.out_channels(), 1)
                                       .stride(c.stride()).bias(true));
      shortcut->weight.copy_(kb.kernel);
      shortcut->bias.copy_(kb.bias);
      register_module("shortcut" + std::to_string(l), shortcut);
    }
    shortcuts_.push_back(shortcut);
  }
  head = register_module("head", torch::nn::Linear(net.head->options));
  head->weight.copy_(net.head->weight);
  head->bias.copy_(net.head->bias);
}

torch::Tensor FoldedNetworkImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> inputs(spec_.numLayers());
  torch::Tensor h = x;
  for (int l = 0; l < spec_.numLayers(); ++l) {
    inputs[l] = h;
    auto pre = convs_[l]->forward(h);
    const auto& layer = spec_.layers[l];
    if (layer.shortcut_from >= 0) {
      const auto& skipped = inputs[layer.shortcut_from];
      pre = pre + (shortcuts_[l] ? shortcuts_[l]->forward(skipped) : skipped);
    }
    h = torch::relu(pre);
  }
  return head(torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1));
}

void scaleMomentumBuffer(torch::optim::SGD& sgd, const torch::Tensor& param, double factor) {
  // LibTorch keys optimiser state by the parameter's TensorImpl address.
  auto it = sgd.state().find(c10::guts::to_string(param.unsafeGetTensorImpl()));
  if (it == sgd.state().end()) return;
  auto& state = static_cast<torch::optim::SGDParamState&>(*it->second);
  torch::NoGradGuard no_grad;
  if (state.momentum_buffer().defined()) state.momentum_buffer().mul_(factor);
}

std::vector<BranchMask> uniformMasks(const BackboneSpec& spec, const BranchMask& mask) {
  return std::vector<BranchMask>(spec.numLayers(), mask);
}

}  // namespace repnas
