#pragma once
// The folded network as plain data: what every export format holds and every reader returns.
// No torch, no protobuf.

#include <cstdint>
#include <string>
#include <vector>

namespace repnas {

/// @brief One folded layer: a KxK conv with bias, then (after the optional shortcut add) ReLU.
struct FoldedLayer {
  std::string name;  ///< "layer3"
  std::string kept;  ///< kept branches, e.g. "KxK+1x1-KxK+id"
  int in_channels = 0, out_channels = 0, kernel_size = 3, stride = 1, padding = 1, groups = 1;
  std::vector<float> weight;  ///< [out, in/groups, K, K]
  std::vector<float> bias;    ///< [out]
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
/// within what the product builds (block_spec.h limits; padding = K / 2), channels, groups,
/// shortcuts and weight sizes that agree with each other (weights may be non-finite: a forced
/// export of a broken network is still read back). Throws repnas::Error
/// naming the layer and the field (callers prefix the file).
void validateFoldedModel(const FoldedModel& model);

/// @brief Largest model file (ONNX, spec, safetensors, TorchScript) a reader accepts.
inline constexpr uint64_t kMaxModelFileBytes = uint64_t{512} << 20;

}  // namespace repnas
