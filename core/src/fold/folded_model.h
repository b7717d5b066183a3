#pragma once
// The folded network as plain data: what every export format holds and every reader returns.
// No torch, no protobuf.

#include <cstdint>
#include <string>
#include <vector>

namespace repnas {

/// @brief One convolution of a layer: zero padding kernel / 2 on each side, a bias always
/// (zeros where the operation has none).
struct FoldedConv {
  int in_channels = 0, out_channels = 0, kernel_h = 3, kernel_w = 3, stride_h = 1, stride_w = 1, groups = 1;
  std::vector<float> weight;  ///< [out, in/groups, kernel_h, kernel_w]
  std::vector<float> bias;    ///< [out]
  int padH() const { return kernel_h / 2; }
  int padW() const { return kernel_w / 2; }
};

/// @brief One layer: its convs in order, then (after the optional shortcut add) ReLU. A folded
/// re-parameterized layer is one KxK conv; a HANT-transformed layer may be a chain (depthwise
/// then pointwise, low-rank, 1xK then Kx1) or none at all (identity: the input passes on).
struct FoldedLayer {
  std::string name;  ///< "layer3"
  std::string kept;  ///< kept branches, e.g. "KxK+1x1-KxK+id" (empty in a HANT student)
  std::string operation;  ///< the HANT operation, e.g. "dw+pw" (empty: the folded KxK conv)
  int in_channels = 0, out_channels = 0;
  std::vector<FoldedConv> convs;
  int shortcut_from = -1;     ///< add the input of that layer before the ReLU
  bool shortcut_projection = false;
  int projection_stride = 1;
  std::vector<float> projection_weight;  ///< [out, in_of_shortcut_from, 1, 1]
  std::vector<float> projection_bias;    ///< [out]
};

/// @brief The whole inference network and what a user must know to feed it.
struct FoldedModel {
  std::string backbone;
  std::string mode;
  int in_channels = 1, height = 28, width = 28, num_classes = 10;
  std::vector<double> mean, std;  ///< per channel, on pixels / 255
  std::vector<FoldedLayer> layers;
  std::vector<float> head_weight;  ///< [classes, features]
  std::vector<float> head_bias;    ///< [classes]
  int features() const { return layers.empty() ? in_channels : layers.back().out_channels; }
};

/// @brief Checks everything a reader of an outside file must before the model is used: sizes
/// within what the product builds (block_spec.h limits; odd kernels), channels, groups,
/// shortcuts and weight sizes that agree with each other (weights may be non-finite: a forced
/// export of a broken network is still read back). Throws repnas::Error
/// naming the layer and the field (callers prefix the file).
void validateFoldedModel(const FoldedModel& model);

/// @brief The most convs a layer holds (HANT's chains have two).
inline constexpr int kMaxConvsPerLayer = 4;

/// @brief Largest model file (ONNX, spec, safetensors, TorchScript) a reader accepts.
inline constexpr uint64_t kMaxModelFileBytes = uint64_t{512} << 20;

}  // namespace repnas
