#include "fold/folded_model.h"

#include <cmath>

#include "repnas/block_spec.h"
#include "repnas/error.h"

namespace repnas {

void validateFoldedModel(const FoldedModel& m) {
  auto fail = [](const std::string& why) { throw Error(why); };
  auto in_range = [&](const std::string& what, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      fail(what + " is " + std::to_string(v) + ", outside " + std::to_string(lo) + ".." + std::to_string(hi));
  };
  auto sized = [&](const std::string& what, size_t have, int64_t need) {
    if (static_cast<int64_t>(have) != need)
      fail(what + " holds " + std::to_string(have) + " values, its shape needs " + std::to_string(need));
  };
  in_range("the input's channels", m.in_channels, 1, kMaxChannels);
  in_range("the input's height", m.height, 1, kMaxInputSide);
  in_range("the input's width", m.width, 1, kMaxInputSide);
  in_range("the number of classes", m.num_classes, 2, 100000);
  sized("the input mean", m.mean.size(), m.in_channels);
  sized("the input std", m.std.size(), m.in_channels);
  for (size_t c = 0; c < m.std.size(); ++c)
    if (!std::isfinite(m.mean[c]) || !(m.std[c] > 0) || !std::isfinite(m.std[c]))
      fail("the input normalisation of channel " + std::to_string(c) + " is not a finite mean and positive std");
  in_range("the number of layers", static_cast<int64_t>(m.layers.size()), 1, kMaxNetworkLayers);

  // Channels and spatial size of x_l, the input of layer l (x_L: the last layer's output).
  std::vector<int64_t> channels{m.in_channels}, height{m.height}, width{m.width};
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const auto& f = m.layers[l];
    const std::string name = "layer " + std::to_string(l) + (f.name.empty() ? "" : " (" + f.name + ")");
    in_range(name + ": in_channels", f.in_channels, 1, kMaxChannels);
    in_range(name + ": out_channels", f.out_channels, 1, kMaxChannels);
    if (f.in_channels != channels.back())
      fail(name + ": in_channels is " + std::to_string(f.in_channels) + " but its input has " +
           std::to_string(channels.back()));
    in_range(name + ": the number of convs", static_cast<int64_t>(f.convs.size()), 0, kMaxConvsPerLayer);
    if (f.convs.empty() && f.out_channels != f.in_channels)
      fail(name + ": a layer without convs (identity) changes " + std::to_string(f.in_channels) +
           " channels into " + std::to_string(f.out_channels));
    // Each conv reads the output of the one before; padding kernel / 2 keeps ceil(side / stride).
    int64_t c_in = f.in_channels, h = height.back(), w = width.back();
    for (size_t i = 0; i < f.convs.size(); ++i) {
      const auto& c = f.convs[i];
      const std::string conv = name + (f.convs.size() > 1 ? ": conv " + std::to_string(i) : std::string());
      if (c.in_channels != c_in)
        fail(conv + ": in_channels is " + std::to_string(c.in_channels) + " but its input has " + std::to_string(c_in));
      in_range(conv + ": out_channels", c.out_channels, 1, kMaxChannels);
      for (const int k : {c.kernel_h, c.kernel_w})
        if (k < 1 || k > kMaxKernelSize || k % 2 == 0)
          fail(conv + ": kernel_size " + std::to_string(k) + " is not odd in 1.." + std::to_string(kMaxKernelSize));
      in_range(conv + ": stride", c.stride_h, 1, 2);
      in_range(conv + ": stride", c.stride_w, 1, 2);
      if (c.groups < 1 || c.in_channels % c.groups || c.out_channels % c.groups)
        fail(conv + ": groups " + std::to_string(c.groups) + " does not divide in_channels " +
             std::to_string(c.in_channels) + " and out_channels " + std::to_string(c.out_channels));
      sized(conv + ": the weight", c.weight.size(),
            int64_t{c.out_channels} * (c.in_channels / c.groups) * c.kernel_h * c.kernel_w);
      sized(conv + ": the bias", c.bias.size(), c.out_channels);
      c_in = c.out_channels;
      h = (h - 1) / c.stride_h + 1;
      w = (w - 1) / c.stride_w + 1;
    }
    if (c_in != f.out_channels)
      fail(name + ": out_channels is " + std::to_string(f.out_channels) + " but its last conv gives " + std::to_string(c_in));
    if (f.shortcut_from >= 0) {
      in_range(name + ": shortcut_from", f.shortcut_from, 0, static_cast<int64_t>(l));
      const size_t from = static_cast<size_t>(f.shortcut_from);
      if (f.shortcut_projection) {
        in_range(name + ": projection_stride", f.projection_stride, 1, 2);
        sized(name + ": the shortcut weight", f.projection_weight.size(), int64_t{f.out_channels} * channels[from]);
        sized(name + ": the shortcut bias", f.projection_bias.size(), f.out_channels);
        const int64_t ph = (height[from] - 1) / f.projection_stride + 1;
        const int64_t pw = (width[from] - 1) / f.projection_stride + 1;
        if (ph != h || pw != w) fail(name + ": the shortcut's spatial size does not match the layer's");
      } else if (channels[from] != f.out_channels || height[from] != h || width[from] != w) {
        fail(name + ": the identity shortcut's shape does not match the layer's output");
      }
    } else if (f.shortcut_projection) {
      fail(name + ": a shortcut projection without shortcut_from");
    }
    channels.push_back(f.out_channels);
    height.push_back(h);
    width.push_back(w);
  }
  sized("the head weight", m.head_weight.size(), int64_t{m.num_classes} * m.features());
  sized("the head bias", m.head_bias.size(), m.num_classes);
}

}  // namespace repnas
