#include "formats/spec_io.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>

#include "formats/input_file.h"
#include "formats/json_fields.h"
#include "repnas/block_spec.h"
#include "repnas/error.h"

namespace repnas {

namespace fs = std::filesystem;

FoldedModel parseSpec(const std::string& text, const std::string& path,
                      const std::function<std::string(const std::string& file)>& read_beside) {
  FoldedModel m;
  std::string weights_path;
  try {
    const json j = json::parse(text);
    m.backbone = stringField(j, "backbone");
    m.mode = stringField(j, "mode");
    const auto& input = field(j, "input");
    m.in_channels = integerField<int>(input, "channels");
    m.height = integerField<int>(input, "height");
    m.width = integerField<int>(input, "width");
    m.mean = numbersField(input, "mean", kMaxChannels);
    m.std = numbersField(input, "std", kMaxChannels);
    m.num_classes = integerField<int>(j, "num_classes");
    // The weights sit beside the spec: a bare file name, never a path out of its folder.
    const std::string weights_name = stringField(j, "weights");
    if (weights_name.empty() || weights_name == "." || weights_name == ".." ||
        weights_name.find('/') != std::string::npos || weights_name.find('\0') != std::string::npos)
      throw Error(path + ": \"weights\" must name a file in the spec's folder, got \"" +
                  clippedText(weights_name) + "\"");
    weights_path = (fs::path(path).parent_path() / weights_name).string();
    const std::string bytes = read_beside(weights_name);
    const auto weights_fail = [&](const std::string& why) { return Error(weights_path + ": " + why); };
    if (bytes.size() < 8) throw weights_fail("truncated safetensors file");
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
    if (n > bytes.size() - 8) throw weights_fail("header longer than the file");
    json header;
    try {
      header = json::parse(bytes.substr(8, n));
    } catch (const json::exception& e) {
      throw weights_fail(std::string("malformed header: ") + e.what());
    }
    if (!header.is_object()) throw weights_fail("the header is not a JSON object");
    const size_t data_start = 8 + n;
    // A tensor's [begin, end) byte offsets, as two unsigned integers.
    const auto offsets = [&](const json& e, const std::string& name) {
      if (!e.is_object() || !e.contains("data_offsets") || !e["data_offsets"].is_array() ||
          e["data_offsets"].size() != 2 || !e["data_offsets"][0].is_number_unsigned() ||
          !e["data_offsets"][1].is_number_unsigned())
        throw weights_fail(clippedText(name) + ": data_offsets must be two unsigned integers");
      return std::array<uint64_t, 2>{e["data_offsets"][0].get<uint64_t>(), e["data_offsets"][1].get<uint64_t>()};
    };
    // Every tensor's byte range, checked once: inside the data, and no two overlapping.
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      const auto offs = offsets(it.value(), it.key());
      if (offs[1] < offs[0] || offs[1] > bytes.size() - data_start)
        throw weights_fail(clippedText(it.key()) + " lies outside the file");
      ranges.emplace_back(offs[0], offs[1]);
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i)
      if (ranges[i].first < ranges[i - 1].second)
        throw weights_fail("two tensors share bytes (overlapping data_offsets)");
    auto tensor = [&](const std::string& name) {
      if (!header.contains(name)) throw weights_fail("no tensor " + name);
      const auto& e = header.at(name);
      if (!e.is_object() || !e.contains("dtype") || e["dtype"] != "F32") throw weights_fail(name + " is not F32");
      const auto offs = offsets(e, name);
      if ((offs[1] - offs[0]) % sizeof(float)) throw weights_fail(name + ": its size is not whole floats");
      std::vector<float> v((offs[1] - offs[0]) / sizeof(float));
      if (!v.empty()) std::memcpy(v.data(), bytes.data() + data_start + offs[0], v.size() * sizeof(float));
      return v;
    };
    const auto& layers = j.at("layers");
    if (!layers.is_array() || layers.size() > static_cast<size_t>(kMaxNetworkLayers))
      throw Error(path + ": \"layers\" must be a list of at most " + std::to_string(kMaxNetworkLayers) + " layers");
    // repnas-spec-2: each layer lists its convs, each naming its tensors; repnas-spec-1 (older
    // files): one square conv per layer, its tensors "<layer>.weight" and "<layer>.bias".
    for (const auto& l : layers) {
      FoldedLayer f;
      f.name = stringField(l, "name");
      f.in_channels = integerField<int>(l, "in_channels");
      f.out_channels = integerField<int>(l, "out_channels");
      f.shortcut_from = integerField<int>(l, "shortcut_from");
      f.shortcut_projection = boolField(l, "shortcut_projection");
      f.projection_stride = integerField<int>(l, "projection_stride");
      if (l.is_object() && l.contains("operation") && l["operation"].is_string()) f.operation = clippedText(l["operation"].get<std::string>());
      if (l.is_object() && l.contains("convs")) {
        const auto& convs = l["convs"];
        if (!convs.is_array() || convs.size() > static_cast<size_t>(kMaxConvsPerLayer))
          throw Error(path + ": " + clippedText(f.name) + ": \"convs\" must be a list of at most " +
                      std::to_string(kMaxConvsPerLayer) + " convs");
        int in = f.in_channels;
        for (const auto& cj : convs) {
          FoldedConv c;
          c.in_channels = in;
          c.out_channels = integerField<int>(cj, "out_channels");
          c.kernel_h = integerField<int>(cj, "kernel_h");
          c.kernel_w = integerField<int>(cj, "kernel_w");
          c.stride_h = integerField<int>(cj, "stride_h");
          c.stride_w = integerField<int>(cj, "stride_w");
          c.groups = integerField<int>(cj, "groups");
          const auto padding = numbersField(cj, "padding", 2);
          if (padding.size() != 2 || padding[0] != c.kernel_h / 2 || padding[1] != c.kernel_w / 2)
            throw Error(path + ": " + clippedText(f.name) + ": padding " + clippedText(cj["padding"].dump()) +
                        " is not kernel / 2 on each side");
          c.weight = tensor(stringField(cj, "weight"));
          c.bias = tensor(stringField(cj, "bias"));
          in = c.out_channels;
          f.convs.push_back(std::move(c));
        }
      } else {
        FoldedConv c;
        c.in_channels = f.in_channels;
        c.out_channels = f.out_channels;
        c.kernel_h = c.kernel_w = integerField<int>(l, "kernel_size");
        c.stride_h = c.stride_w = integerField<int>(l, "stride");
        c.groups = integerField<int>(l, "groups");
        const int padding = integerField<int>(l, "padding");
        if (padding != c.kernel_h / 2)
          throw Error(path + ": " + clippedText(f.name) + ": padding " + std::to_string(padding) +
                      " is not kernel_size / 2 = " + std::to_string(c.kernel_h / 2));
        c.weight = tensor(f.name + ".weight");
        c.bias = tensor(f.name + ".bias");
        f.convs.push_back(std::move(c));
      }
      if (f.shortcut_projection) {
        f.projection_weight = tensor(f.name + ".shortcut.weight");
        f.projection_bias = tensor(f.name + ".shortcut.bias");
      }
      m.layers.push_back(f);
    }
    m.head_weight = tensor("head.weight");
    m.head_bias = tensor("head.bias");
  } catch (const json::exception& e) {
    throw Error(path + ": not a valid spec: " + jsonMessage(e));
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind("field '", 0) == 0) throw Error(path + ": not a valid spec: " + what);
    throw;
  }
  try {
    validateFoldedModel(m);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  return m;
}

}  // namespace repnas
