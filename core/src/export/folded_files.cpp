// The folded network as plain data (FoldedModel) and the files it is written to: TorchScript,
// the spec JSON + safetensors (ONNX: formats/onnx_io.cpp); and the plain-torch forward that runs
// what those files describe.

#include <torch/script.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/data.h"
#include "export/export_internal.h"
#include "fold/folded_model.h"
#include "formats/input_file.h"
#include "formats/json_fields.h"
#include "nn/network.h"
#include "formats/onnx_io.h"
#include "repnas/config.h"
#include "repnas/events.h"
#include "repnas/run_folder.h"
#include "repnas/runtime.h"
#include "formats/run_files.h"
#include "search/strategy.h"
#include "formats/spec_io.h"

namespace repnas {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<float> toVector(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

namespace {

torch::Tensor fromVector(const std::vector<float>& v, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  if (n != static_cast<int64_t>(v.size()))
    throw Error("a weight holds " + std::to_string(v.size()) + " values, its shape needs " +
                std::to_string(n));
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat).clone();
}

}  // namespace

FoldedConv foldedConvOf(const torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  FoldedConv c;
  c.in_channels = static_cast<int>(o.in_channels());
  c.out_channels = static_cast<int>(o.out_channels());
  c.kernel_h = static_cast<int>(o.kernel_size()->at(0));
  c.kernel_w = static_cast<int>(o.kernel_size()->at(1));
  c.stride_h = static_cast<int>(o.stride()->at(0));
  c.stride_w = static_cast<int>(o.stride()->at(1));
  c.groups = static_cast<int>(o.groups());
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (!padding || (*padding)->at(0) != c.kernel_h / 2 || (*padding)->at(1) != c.kernel_w / 2)
    throw Error("a conv to export does not pad kernel / 2 on each side");
  c.weight = toVector(conv.weight);
  c.bias = conv.bias.defined() ? toVector(conv.bias) : std::vector<float>(static_cast<size_t>(c.out_channels), 0.f);
  return c;
}

FoldedModel makeFoldedModel(const BackboneSpec& backbone, const std::string& mode,
                            const std::vector<BranchMask>& masks, const std::vector<double>& mean,
                            const std::vector<double>& std, FoldedNetworkImpl& folded) {
  FoldedModel m;
  m.backbone = backbone.name;
  m.mode = mode;
  m.in_channels = backbone.in_channels;
  m.height = backbone.input_height;
  m.width = backbone.input_width;
  m.num_classes = backbone.num_classes;
  m.mean = mean;
  m.std = std;
  for (int l = 0; l < backbone.numLayers(); ++l) {
    const auto& spec = backbone.layers[l];
    FoldedLayer f;
    f.name = "layer" + std::to_string(l);
    f.kept = maskName(masks[l]);
    if (spec.block.hasIdentityBranch()) f.kept += "+id";
    f.in_channels = spec.block.in_channels;
    f.out_channels = spec.block.out_channels;
    f.convs = {foldedConvOf(*folded.convs_[l])};
    f.shortcut_from = spec.shortcut_from;
    if (folded.shortcuts_[l]) {
      f.shortcut_projection = true;
      f.projection_stride = static_cast<int>(folded.shortcuts_[l]->options.stride()->at(0));
      f.projection_weight = toVector(folded.shortcuts_[l]->weight);
      f.projection_bias = toVector(folded.shortcuts_[l]->bias);
    }
    m.layers.push_back(f);
  }
  m.head_weight = toVector(folded.head->weight);
  m.head_bias = toVector(folded.head->bias);
  return m;
}

torch::Tensor runFoldedModel(const FoldedModel& m, const torch::Tensor& x) {
  std::vector<torch::Tensor> inputs(m.layers.size());
  torch::Tensor h = x;
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const auto& f = m.layers[l];
    inputs[l] = h;
    const std::vector<int64_t> one{1, 1};
    auto pre = h;
    for (const auto& c : f.convs)
      pre = torch::conv2d(pre, fromVector(c.weight, {c.out_channels, c.in_channels / c.groups, c.kernel_h, c.kernel_w}),
                          fromVector(c.bias, {c.out_channels}), {c.stride_h, c.stride_w}, {c.padH(), c.padW()}, one,
                          c.groups);
    if (f.shortcut_from >= 0) {
      const auto& skipped = inputs.at(f.shortcut_from);
      if (f.shortcut_projection) {
        const auto in = static_cast<int64_t>(f.projection_weight.size() / f.out_channels);
        const std::vector<int64_t> ps{f.projection_stride, f.projection_stride}, zero{0, 0};
        pre = pre + torch::conv2d(skipped, fromVector(f.projection_weight, {f.out_channels, in, 1, 1}),
                                  fromVector(f.projection_bias, {f.out_channels}), ps, zero, one, 1);
      } else {
        pre = pre + skipped;
      }
    }
    h = torch::relu(pre);
  }
  h = torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1);
  return torch::linear(h, fromVector(m.head_weight, {m.num_classes, m.features()}),
                       fromVector(m.head_bias, {m.num_classes}));
}

// ---------------------------------------------------------------- TorchScript

void writeTorchScript(const FoldedModel& m, const std::string& path) {
  torch::jit::Module module("RepNASFolded");
  std::ostringstream src;
  src << "def forward(self, input):\n";
  src << "    x0 = input\n";
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const auto& f = m.layers[l];
    src << "    y = x" << l << "\n";
    for (size_t i = 0; i < f.convs.size(); ++i) {
      const auto& c = f.convs[i];
      const std::string id = f.convs.size() == 1 ? f.name : f.name + "_conv" + std::to_string(i);
      const std::string w = id + "_weight", b = id + "_bias";
      module.register_parameter(w, fromVector(c.weight, {c.out_channels, c.in_channels / c.groups, c.kernel_h, c.kernel_w}), false);
      module.register_parameter(b, fromVector(c.bias, {c.out_channels}), false);
      src << "    y = torch.conv2d(y, self." << w << ", self." << b << ", [" << c.stride_h << ", " << c.stride_w
          << "], [" << c.padH() << ", " << c.padW() << "], [1, 1], " << c.groups << ")\n";
    }
    if (f.shortcut_from >= 0) {
      if (f.shortcut_projection) {
        const auto in = static_cast<int64_t>(f.projection_weight.size() / f.out_channels);
        const std::string pw = f.name + "_shortcut_weight", pb = f.name + "_shortcut_bias";
        module.register_parameter(pw, fromVector(f.projection_weight, {f.out_channels, in, 1, 1}), false);
        module.register_parameter(pb, fromVector(f.projection_bias, {f.out_channels}), false);
        src << "    y = y + torch.conv2d(x" << f.shortcut_from << ", self." << pw << ", self." << pb
            << ", [" << f.projection_stride << ", " << f.projection_stride << "], [0, 0], [1, 1], 1)\n";
      } else {
        src << "    y = y + x" << f.shortcut_from << "\n";
      }
    }
    src << "    x" << (l + 1) << " = torch.relu(y)\n";
  }
  module.register_parameter("head_weight", fromVector(m.head_weight, {m.num_classes, m.features()}), false);
  // What a user must do to an image first: (pixel / 255 − mean) / std, per channel.
  module.register_buffer("input_mean", torch::tensor(m.mean, torch::kDouble).to(torch::kFloat));
  module.register_buffer("input_std", torch::tensor(m.std, torch::kDouble).to(torch::kFloat));
  module.register_parameter("head_bias", fromVector(m.head_bias, {m.num_classes}), false);
  src << "    h = torch.flatten(torch.adaptive_avg_pool2d(x" << m.layers.size() << ", [1, 1]), 1)\n";
  src << "    return torch.addmm(self.head_bias, h, self.head_weight.t())\n";
  module.define(src.str());
  module.eval();
  // In memory first: LibTorch's file writer aborts the process (it throws from a destructor)
  // when the disk is full; the atomic writer reports it instead.
  std::ostringstream bytes;
  try {
    module.save(bytes);
  } catch (const c10::Error& e) {
    throw Error("cannot write " + path + ": " + torchMessage(e));
  }
  writeTextAtomically(path, bytes.str());
}


namespace {

// ---------------------------------------------------------------- spec + safetensors

/// safetensors: 8-byte little-endian header length, a JSON header naming each tensor's dtype,
/// shape and byte range, then the raw little-endian data.
std::string safetensorsBytes(const std::vector<std::pair<std::string, std::pair<std::vector<int64_t>, const std::vector<float>*>>>& tensors,
                             const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t bytes = t.second->size() * sizeof(float);
    header[name] = {{"dtype", "F32"}, {"shape", t.first}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8) h += ' ';  // align the data to 8 bytes
  std::string out(8, '\0');
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += h;
  for (const auto& [name, t] : tensors) {
    const auto* data = reinterpret_cast<const char*>(t.second->data());
    out.append(data, t.second->size() * sizeof(float));  // x86-64 is little-endian
  }
  return out;
}

/// A conv's tensors: "<layer>.weight" for a layer's one conv (what repnas-spec-1 files name),
/// "<layer>.conv<i>.weight" in a chain.
std::string specTensorName(const FoldedLayer& f, size_t i) {
  return f.convs.size() == 1 ? f.name : f.name + ".conv" + std::to_string(i);
}

json specJson(const FoldedModel& m, const VerificationReport& r, const std::string& weights_file) {
  json layers = json::array();
  for (const auto& f : m.layers) {
    json kept = json::array();
    std::stringstream ss(f.kept);
    for (std::string item; std::getline(ss, item, '+');)
      if (item != "none") kept.push_back(item);
    json convs = json::array();
    for (size_t i = 0; i < f.convs.size(); ++i) {
      const auto& c = f.convs[i];
      const std::string tensor = specTensorName(f, i);
      convs.push_back({{"in_channels", c.in_channels}, {"out_channels", c.out_channels}, {"kernel_h", c.kernel_h},
                       {"kernel_w", c.kernel_w}, {"stride_h", c.stride_h}, {"stride_w", c.stride_w},
                       {"padding", {c.padH(), c.padW()}}, {"groups", c.groups}, {"weight", tensor + ".weight"},
                       {"bias", tensor + ".bias"}});
    }
    json layer = {{"name", f.name}, {"kept", kept}, {"in_channels", f.in_channels},
                  {"out_channels", f.out_channels}, {"convs", convs},
                  {"shortcut_from", f.shortcut_from}, {"shortcut_projection", f.shortcut_projection},
                  {"projection_stride", f.projection_stride}};
    if (!f.operation.empty()) layer["operation"] = f.operation;
    layers.push_back(layer);
  }
  return {{"format", "repnas-spec-2"},
          {"tool", "RepNAS Studio " + version()},
          {"backbone", m.backbone},
          {"mode", m.mode},
          {"input", {{"channels", m.in_channels}, {"height", m.height}, {"width", m.width},
                     {"layout", "NCHW"}, {"scale", "pixel / 255"}, {"mean", m.mean}, {"std", m.std}}},
          {"num_classes", m.num_classes},
          {"layers", layers},
          {"weights", weights_file},
          {"verification", {{"images", r.images}, {"max_abs_err", r.max_abs_err},
                            {"max_rel_err", r.max_rel_err}, {"tolerance", r.tolerance},
                            {"accuracy_multi_branch", r.accuracy_multi_branch},
                            {"accuracy_folded", r.accuracy_folded}, {"pass", r.pass}}}};
}

}  // namespace

void writeSpec(const FoldedModel& m, const VerificationReport& r, const std::string& path) {
  const fs::path spec(path);
  const std::string weights_file = spec.stem().string() + ".safetensors";
  std::vector<std::pair<std::string, std::pair<std::vector<int64_t>, const std::vector<float>*>>> tensors;
  for (const auto& f : m.layers) {
    for (size_t i = 0; i < f.convs.size(); ++i) {
      const auto& c = f.convs[i];
      tensors.push_back({specTensorName(f, i) + ".weight", {{c.out_channels, c.in_channels / c.groups, c.kernel_h, c.kernel_w}, &c.weight}});
      tensors.push_back({specTensorName(f, i) + ".bias", {{c.out_channels}, &c.bias}});
    }
    if (f.shortcut_projection) {
      const int64_t in = static_cast<int64_t>(f.projection_weight.size() / f.out_channels);
      tensors.push_back({f.name + ".shortcut.weight", {{f.out_channels, in, 1, 1}, &f.projection_weight}});
      tensors.push_back({f.name + ".shortcut.bias", {{f.out_channels}, &f.projection_bias}});
    }
  }
  tensors.push_back({"head.weight", {{m.num_classes, m.features()}, &m.head_weight}});
  tensors.push_back({"head.bias", {{m.num_classes}, &m.head_bias}});
  writeTextAtomically((spec.parent_path() / weights_file).string(),
                      safetensorsBytes(tensors, {{"format", "repnas-spec-2"}, {"backbone", m.backbone}}));
  writeTextAtomically(path, specJson(m, r, weights_file).dump(2) + "\n");
}

FoldedModel readSpec(const std::string& path) {
  const std::string text = readInputFile(path, kMaxModelFileBytes, "a model spec");
  const fs::path dir = fs::path(path).parent_path();
  return parseSpec(text, path, [&](const std::string& file) {
    return readInputFile((dir / file).string(), kMaxModelFileBytes, "a safetensors file");
  });
}

}  // namespace repnas
