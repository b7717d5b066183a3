#include "repnas/fusion_check.h"

#include <torch/torch.h>

#include <algorithm>

#include "nn/block.h"
#include "repnas/error.h"

namespace repnas {

std::string faultName(FusionFault fault) {
  switch (fault) {
    case FusionFault::None: return "none";
    case FusionFault::ZeroPadding: return "zero-padding";
    case FusionFault::AsymmetricWrongAxis: return "asymmetric-wrong-axis";
    case FusionFault::PerturbedKernel: return "perturbed-kernel";
    case FusionFault::TrainModeReference: return "train-mode-reference";
  }
  return "?";
}

double fusionTolerance(double max_abs_y) { return 1e-5 * std::max(1.0, max_abs_y); }

std::string FusionCase::name() const {
  std::string n = block.branchSetName() + " " + block.geometryName() + " " +
                  std::to_string(height) + "x" + std::to_string(width);
  if (block.branches.test(static_cast<size_t>(BranchKind::OneByOneKxK)) && !block.identity_init_1x1)
    n += " plain-1x1";
  if (fault != FusionFault::None) n += " [" + faultName(fault) + "]";
  return n;
}

std::vector<FusionCase> standardFusionCases() {
  struct Geometry {
    int in, out, stride, groups;
  };
  // Channel change at both strides, grouped and depthwise at both strides.
  const std::vector<Geometry> geometries = {
      {16, 16, 1, 1}, {16, 32, 2, 1}, {16, 32, 1, 1}, {16, 16, 1, 2},
      {16, 32, 2, 2}, {16, 16, 1, 16}, {16, 16, 2, 16},
  };
  // Odd, even and non-square inputs, cycled over the cases.
  const std::vector<std::pair<int, int>> sizes = {{15, 15}, {16, 16}, {15, 12}, {12, 17}};
  std::vector<FusionCase> cases;
  std::uint64_t seed = 1;
  size_t size_index = 0;
  auto push = [&](BlockSpec spec) {
    FusionCase c;
    c.block = spec;
    c.height = sizes[size_index % sizes.size()].first;
    c.width = sizes[size_index % sizes.size()].second;
    ++size_index;
    c.seed = seed++;
    cases.push_back(c);
  };
  for (int k : {3, 5}) {
    for (const auto& g : geometries) {
      BlockSpec spec;
      spec.in_channels = g.in;
      spec.out_channels = g.out;
      spec.kernel_size = k;
      spec.stride = g.stride;
      spec.groups = g.groups;
      for (BranchKind kind : kAllBranchKinds) {
        spec.branches = BranchMask().set(static_cast<size_t>(kind));
        push(spec);
      }
      if (spec.hasIdentityBranch()) {
        spec.branches.reset();
        push(spec);
      }
      spec.branches = allBranches();
      push(spec);
      spec.identity_init_1x1 = false;  // the 1x1 of 1x1-KxK as a plain conv
      push(spec);
    }
  }
  return cases;
}

FusionResult runFusionCase(const FusionCase& c) {
  c.block.validate();
  if (c.batch < 1 || c.height < 1 || c.width < 1)
    throw Error("invalid fusion case: batch, height and width must be >= 1");
  torch::NoGradGuard no_grad;
  torch::manual_seed(c.seed);
  DiverseBranchBlock block(c.block);
  randomizeForTesting(*block);
  block->eval();
  const auto x = torch::randn({c.batch, c.block.in_channels, c.height, c.width});

  auto folded = block->fold();
  if (c.fault == FusionFault::AsymmetricWrongAxis) {
    for (BranchKind kind : {BranchKind::OneByK, BranchKind::KByOne}) {
      if (auto b = block->branch(kind)) {
        const auto right = b->fold().kernel;
        folded.kernel = folded.kernel - right + right.transpose(2, 3);
      }
    }
  }
  if (c.fault == FusionFault::PerturbedKernel) {
    const int centre = c.block.kernel_size / 2;
    folded.kernel[0][0][centre][centre] += 1e-3;
  }
  FoldedBlock conv(c.block, fold::castTo(folded, torch::kFloat));
  conv->eval();
  const auto y_folded = conv->preActivation(x);

  if (c.fault == FusionFault::ZeroPadding) block->setBorderPadding(BorderPadding::Zero);
  if (c.fault == FusionFault::TrainModeReference) block->train();
  const auto y_ref = block->preActivation(x, c.block.branches);

  if (!y_ref.sizes().equals(y_folded.sizes()))
    throw Error("fusion case " + c.name() + ": output shapes differ");
  const auto err = (y_folded - y_ref).abs();
  FusionResult r;
  r.name = c.name();
  r.max_abs_err = err.max().item<double>();
  r.max_abs_y = y_ref.abs().max().item<double>();
  r.rel_err = r.max_abs_y > 0 ? r.max_abs_err / r.max_abs_y : r.max_abs_err;
  r.pass = r.max_abs_err <= fusionTolerance(r.max_abs_y);

  // Split the error between outputs whose KxK window reaches into the padding and the rest.
  const auto per_pixel = err.amax({0, 1});  // [oh, ow]
  const int k = c.block.kernel_size, s = c.block.stride, p = c.block.padding();
  auto inside = [&](int64_t i, int64_t n) { return i * s - p >= 0 && i * s - p + k - 1 <= n - 1; };
  auto interior = torch::zeros(per_pixel.sizes(), torch::kBool);
  for (int64_t i = 0; i < per_pixel.size(0); ++i)
    for (int64_t j = 0; j < per_pixel.size(1); ++j)
      if (inside(i, c.height) && inside(j, c.width)) interior[i][j] = true;
  auto masked_max = [](const torch::Tensor& values, const torch::Tensor& mask) {
    auto picked = values.masked_select(mask);
    return picked.numel() ? picked.max().item<double>() : 0.0;
  };
  r.max_abs_err_interior = masked_max(per_pixel, interior);
  r.max_abs_err_border = masked_max(per_pixel, interior.logical_not());
  return r;
}

}  // namespace repnas
