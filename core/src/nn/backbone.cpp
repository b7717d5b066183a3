#include "repnas/backbone.h"

#include "repnas/error.h"

namespace repnas {

std::vector<bool> BackboneSpec::layerHasIdentity() const {
  std::vector<bool> out;
  for (const auto& l : layers) out.push_back(l.block.hasIdentityBranch());
  return out;
}

std::string BackboneSpec::layerLabel(int layer) const {
  const auto& l = layers.at(layer);
  std::string s = "L" + std::to_string(layer) + " s" + std::to_string(l.block.stride) + " " +
                  std::to_string(l.block.in_channels) + "->" +
                  std::to_string(l.block.out_channels);
  if (l.shortcut_from >= 0) s += " +res";
  return s;
}

int BackboneSpec::featureChannels() const {
  return layers.empty() ? in_channels : layers.back().block.out_channels;
}

namespace {

BlockSpec layerBlock(int in, int out, int stride, int kernel_size) {
  BlockSpec b;
  b.in_channels = in;
  b.out_channels = out;
  b.stride = stride;
  b.kernel_size = kernel_size;
  return b;
}

BackboneSpec emptySpec(const std::string& name, int in_channels, int height, int width,
                       int num_classes) {
  if (in_channels < 1 || height < 1 || width < 1 || num_classes < 2)
    throw Error("invalid input shape for backbone " + name);
  BackboneSpec s;
  s.name = name;
  s.in_channels = in_channels;
  s.input_height = height;
  s.input_width = width;
  s.num_classes = num_classes;
  return s;
}

}  // namespace

BackboneSpec makePlainStack(const std::string& name, const std::vector<StageSpec>& stages,
                            int in_channels, int height, int width, int num_classes,
                            int kernel_size) {
  auto spec = emptySpec(name, in_channels, height, width, num_classes);
  int in = in_channels;
  for (const auto& st : stages) {
    for (int i = 0; i < st.depth; ++i) {
      spec.layers.push_back({layerBlock(in, st.width, i == 0 ? st.first_stride : 1, kernel_size)});
      in = st.width;
    }
  }
  return spec;
}

BackboneSpec makeBackbone(const std::string& preset, int in_channels, int height, int width,
                          int num_classes, int kernel_size) {
  if (preset == "tiny")
    return makePlainStack(preset, {{16, 2, 1}, {32, 2, 2}, {64, 2, 2}, {128, 2, 2}}, in_channels,
                          height, width, num_classes, kernel_size);
  if (preset == "small")
    return makePlainStack(preset, {{32, 2, 1}, {64, 3, 2}, {128, 4, 2}, {256, 1, 2}}, in_channels,
                          height, width, num_classes, kernel_size);
  if (preset == "repvgg-a0")  // RepVGG-A0: stem min(64, 64·0.75), widths 64a, 128a, 256a, 512b
    return makePlainStack(preset, {{48, 1, 2}, {48, 2, 2}, {96, 4, 2}, {192, 14, 2}, {1280, 1, 2}},
                          in_channels, height, width, num_classes, kernel_size);
  if (preset == "resnet18") {
    auto spec = emptySpec(preset, in_channels, height, width, num_classes);
    spec.layers.push_back({layerBlock(in_channels, 64, 1, kernel_size)});  // CIFAR-style stem
    int in = 64;
    for (auto [width_, stride] : std::vector<std::pair<int, int>>{{64, 1}, {128, 2}, {256, 2}, {512, 2}}) {
      for (int b = 0; b < 2; ++b) {
        const int s = b == 0 ? stride : 1;
        const int first = spec.numLayers();
        spec.layers.push_back({layerBlock(in, width_, s, kernel_size)});
        LayerSpec second{layerBlock(width_, width_, 1, kernel_size)};
        second.shortcut_from = first;
        second.shortcut_projection = s != 1 || in != width_;
        spec.layers.push_back(second);
        in = width_;
      }
    }
    return spec;
  }
  throw Error("unknown backbone '" + preset + "' (expected tiny, small, repvgg-a0 or resnet18)");
}

std::vector<std::string> backbonePresets() { return {"tiny", "small", "repvgg-a0", "resnet18"}; }

}  // namespace repnas
