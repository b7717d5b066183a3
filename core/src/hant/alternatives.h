#pragma once
// HANT's alternatives (repnas/hant.h): the inference-time operations that can replace one
// folded layer's KxK conv, as LibTorch modules of linear convolutions (the layer's shortcut add
// and ReLU stay outside). Private to core.

#include <torch/torch.h>

#include <vector>

#include "repnas/block_spec.h"
#include "repnas/hant.h"

namespace repnas {

/// @brief Whether `op` fits the layer's conv (channels divisible by the groups, a rank below
/// the channels, the identity only where the shape stays).
bool hantOpAvailable(HantOp op, const BlockSpec& conv);

/// @brief One alternative: a chain of convolutions without nonlinearity between them.
class HantAltImpl : public torch::nn::Module {
 public:
  /// A fresh alternative for `conv` (Kaiming-initialised; Dense copies `teacher` when given).
  HantAltImpl(HantOp op, const BlockSpec& conv, const torch::nn::Conv2d& teacher = nullptr);
  torch::Tensor forward(const torch::Tensor& x);
  HantOp op() const { return op_; }
  int64_t parameterCount() const;
  std::vector<torch::nn::Conv2d> convs;  ///< in order (none for the identity)

 private:
  HantOp op_;
};
TORCH_MODULE(HantAlt);

}  // namespace repnas
