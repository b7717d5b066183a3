#include "network.h"

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

std::vector<BranchMask> uniformMasks(const BackboneSpec& spec, const BranchMask& mask) {
  return std::vector<BranchMask>(spec.numLayers(), mask);
}

}  // namespace repnas
