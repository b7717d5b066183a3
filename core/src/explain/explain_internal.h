#pragma once
// What the explainer's parts share (explainer.cpp: the block and its steps; proof.cpp: the proof
// on an image; text.cpp: sample images and the text form). Private to core.

#include <torch/torch.h>

#include <optional>
#include <string>

#include "export/export_internal.h"
#include "nn/block.h"
#include "repnas/explain.h"

namespace repnas {

/// The block the explainer shows: a demo block or a run's layer, and its active branches.
struct ReparamExplainer::State {
  bool demo = true;
  uint64_t seed = 1;
  std::string run_dir;
  int layer = 0;
  std::optional<LoadedRun> run;
  DiverseBranchBlock block{nullptr};
  BranchMask active;

  BranchImpl* branch(BranchKind kind) const { return block->branch(kind).get(); }
};

namespace explain_detail {

/// A number as the steps write it (4 significant digits).
std::string num(double v);

/// An [H, W] tensor as an image with a caption.
ExplainImage imageOf(const std::string& caption, const torch::Tensor& hw);

}  // namespace explain_detail
}  // namespace repnas
