#pragma once
/// @file backbone.h
/// @brief Network shapes: a list of searchable layers (each a block), optional residual adds,
/// global average pool and a linear head. Plain C++.

#include <string>
#include <vector>

#include "repnas/block_spec.h"

namespace repnas {

/// @brief One searchable layer.
struct LayerSpec {
  BlockSpec block;
  /// Index of an earlier layer whose *input* is added to this layer's pre-activation before
  /// its ReLU (ResNet basic blocks); -1 for none.
  int shortcut_from = -1;
  /// The shortcut is a 1x1 conv (stride of the skipped path) + BN instead of the identity.
  bool shortcut_projection = false;
};

/// @brief A whole network.
struct BackboneSpec {
  std::string name;
  int in_channels = 1;
  int input_height = 28;
  int input_width = 28;
  int num_classes = 10;
  std::vector<LayerSpec> layers;
  double head_dropout = 0;  ///< Dropout probability before the linear head (training only)

  int numLayers() const { return static_cast<int>(layers.size()); }
  /// @brief Per layer: has the identity-BN branch.
  std::vector<bool> layerHasIdentity() const;
  /// @brief e.g. "L3 s2 32->64" (with " +res" when a shortcut ends there).
  std::string layerLabel(int layer) const;
  /// @brief Channels entering the head.
  int featureChannels() const;
};

/// @brief A stage of a plain stack: width, number of layers, stride of its first layer.
struct StageSpec {
  int width;
  int depth;
  int first_stride;
};

/// @brief A RepVGG-style plain stack of blocks over `stages`.
BackboneSpec makePlainStack(const std::string& name, const std::vector<StageSpec>& stages,
                            int in_channels, int height, int width, int num_classes,
                            int kernel_size = 3);

/// @brief A named preset: "tiny" (widths 16/32/64/128, 2 layers each, stride 2 at the first
/// layer of stages 2-4: 8 layers), "small" (32/64/128/256 with 2/3/4/1 layers: 10),
/// "repvgg-a0" (RepVGG-A0: stem 48 s2, stages 2/4/14/1 of 48/96/192/1280: 22 layers),
/// "resnet18" (CIFAR-style ResNet-18: 3x3 stem 64, 4 stages of 2 basic blocks, each 3x3 conv a
/// searchable layer, residual adds kept: 17 layers). Throws repnas::Error for an unknown name.
BackboneSpec makeBackbone(const std::string& preset, int in_channels, int height, int width,
                          int num_classes, int kernel_size = 3);

/// @brief Names accepted by makeBackbone.
std::vector<std::string> backbonePresets();

}  // namespace repnas
