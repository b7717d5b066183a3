// Inspect one block of a run: kernels before and after folding (repnas/inspect.h).
#include "repnas/inspect.h"

#include <torch/torch.h>

#include <filesystem>

#include "nn/block.h"
#include "export/export_internal.h"
#include "fold/fold.h"
#include "repnas/error.h"
#include "repnas/run_folder.h"

namespace repnas {
namespace {

namespace fs = std::filesystem;

std::vector<KernelData> rawKernels(const BranchImpl& branch) {
  if (const auto* c = dynamic_cast<const ConvBatchNormBranch*>(&branch))
    return {toKernelData("conv", c->conv->weight)};
  if (const auto* s = dynamic_cast<const Sequential1x1Branch*>(&branch)) {
    std::vector<KernelData> out{toKernelData("1x1 conv", s->firstKernel())};
    if (s->kind == Sequential1x1Branch::Second::Conv)
      out.push_back(toKernelData("KxK conv", s->second_conv->weight));
    else
      out.push_back(toKernelData("KxK average", s->average_kernel));
    return out;
  }
  return {};  // identity: BatchNorm only
}

}  // namespace

KernelData toKernelData(const std::string& name, const torch::Tensor& kernel,
                        const torch::Tensor& bias) {
  KernelData d;
  d.name = name;
  const auto k = kernel.detach().to(torch::kDouble).contiguous();
  d.shape = k.sizes().vec();
  d.values.assign(k.data_ptr<double>(), k.data_ptr<double>() + k.numel());
  if (bias.defined()) {
    const auto b = bias.detach().to(torch::kDouble).contiguous();
    d.bias.assign(b.data_ptr<double>(), b.data_ptr<double>() + b.numel());
  }
  return d;
}

LoadedRun loadNewestRunArchive(const std::string& run_dir, const std::string& what) {
  const RunFolder folder(run_dir);
  const auto path = folder.hasWeights() ? folder.weights() : folder.checkpoint();
  if (!fs::exists(path))
    throw Error("nothing to " + what + " in " + run_dir + " yet: no weights.pt or checkpoint.pt "
                "(a checkpoint is written at the end of every epoch)");
  return loadRunArchive(path);
}

std::vector<double> KernelData::slice(int64_t o, int64_t i) const {
  std::vector<double> out;
  if (shape.size() != 4 || o < 0 || o >= shape[0] || i < 0 || i >= shape[1]) return out;
  out.reserve(shape[2] * shape[3]);
  for (int64_t y = 0; y < shape[2]; ++y)
    for (int64_t x = 0; x < shape[3]; ++x) out.push_back(at(o, i, y, x));
  return out;
}

BlockInspection inspectRunBlock(const std::string& run_dir, int layer, const BranchMask* kept) {
  auto run = loadNewestRunArchive(run_dir, "inspect");
  const int layers = run.backbone.numLayers();
  if (layer < 0 || layer >= layers)
    throw Error("layer " + std::to_string(layer) + " does not exist (the network has " +
                std::to_string(layers) + " layers)");
  torch::NoGradGuard no_grad;
  const auto block = run.net->block(layer);
  BlockInspection out;
  out.source = run.source;
  out.complete = run.complete;
  out.step = run.step;
  out.layer = layer;
  out.layers = layers;
  out.label = run.backbone.layerLabel(layer);
  out.spec = block->spec();
  out.kept = (kept ? *kept : run.masks[layer]) & block->spec().branches;
  for (int b = 0; b < kNumBranchKinds; ++b) {
    const auto branch = block->branch(static_cast<BranchKind>(b));
    if (!branch) continue;
    BranchInspection bi;
    bi.name = branchName(static_cast<BranchKind>(b));
    bi.kind = b;
    bi.kept = out.kept.test(b);
    bi.raw = rawKernels(*branch);
    const auto f = branch->fold();
    bi.folded = toKernelData("KxK equivalent", f.kernel, f.bias);
    out.branches.push_back(std::move(bi));
  }
  if (const auto identity = block->identity()) {
    BranchInspection bi;
    bi.name = "identity";
    bi.kept = true;
    const auto f = identity->fold();
    bi.folded = toKernelData("KxK equivalent", f.kernel, f.bias);
    out.branches.push_back(std::move(bi));
  }
  const auto fused = block->fold(out.kept);
  out.fused = toKernelData("fused KxK", fused.kernel, fused.bias);
  return out;
}

}  // namespace repnas
