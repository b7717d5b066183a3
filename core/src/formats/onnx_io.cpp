#include "formats/onnx_io.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <limits>
#include <map>

#include "formats/input_file.h"
#include "formats/json_fields.h"
#include "repnas/block_spec.h"
#include "repnas/error.h"
#include "repnas/runtime.h"
#include "formats/atomic_file.h"

namespace repnas {

using nlohmann::json;

namespace {

void addInitializer(onnx::GraphProto* graph, const std::string& name,
                    const std::vector<int64_t>& shape, const std::vector<float>& values) {
  auto* t = graph->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (auto d : shape) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}

onnx::NodeProto* addNode(onnx::GraphProto* graph, const std::string& op, const std::string& name,
                         const std::vector<std::string>& inputs, const std::string& output) {
  auto* n = graph->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  n->add_output(output);
  return n;
}

void addInts(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto v : values) a->add_ints(v);
}

void addInt(onnx::NodeProto* node, const std::string& name, int64_t value) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void addConv(onnx::GraphProto* graph, const std::string& name, const std::string& input,
             const std::string& weight, const std::string& bias, const std::string& output,
             int kernel_h, int kernel_w, int stride_h, int stride_w, int groups) {
  auto* n = addNode(graph, "Conv", name, {input, weight, bias}, output);
  addInts(n, "kernel_shape", {kernel_h, kernel_w});
  addInts(n, "strides", {stride_h, stride_w});
  addInts(n, "pads", {kernel_h / 2, kernel_w / 2, kernel_h / 2, kernel_w / 2});
  addInts(n, "dilations", {1, 1});
  addInt(n, "group", groups);
}

void setTensorType(onnx::ValueInfoProto* v, const std::string& name,
                   const std::vector<int64_t>& dims_after_batch) {
  v->set_name(name);
  auto* type = v->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = type->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (auto d : dims_after_batch) shape->add_dim()->set_dim_value(d);
}

void addMetadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  auto* p = model.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

}  // namespace

void writeOnnx(const FoldedModel& m, const std::string& path) {
  onnx::ModelProto model;
  model.set_ir_version(7);  // the IR version of opset 13
  model.set_producer_name("RepNAS Studio");
  model.set_producer_version(version());
  model.set_doc_string("RepNAS Studio " + m.mode + " network (" + m.backbone + "), folded for inference");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  auto* graph = model.mutable_graph();
  graph->set_name("repnas_" + m.backbone);
  setTensorType(graph->add_input(), "input", {m.in_channels, m.height, m.width});

  std::vector<std::string> layer_inputs;
  std::string x = "input";
  for (const auto& f : m.layers) {
    layer_inputs.push_back(x);
    // One conv: "layer3/conv", initializers "layer3.weight"/".bias" (what every folded network
    // has); a chain: "layer3/conv0", "layer3/conv1", … ("layer3.conv0.weight", …).
    std::string pre = x;
    for (size_t i = 0; i < f.convs.size(); ++i) {
      const auto& c = f.convs[i];
      const std::string id = f.convs.size() == 1 ? "conv" : "conv" + std::to_string(i);
      const std::string tensor = f.convs.size() == 1 ? f.name : f.name + "." + id;
      addInitializer(graph, tensor + ".weight", {c.out_channels, c.in_channels / c.groups, c.kernel_h, c.kernel_w}, c.weight);
      addInitializer(graph, tensor + ".bias", {c.out_channels}, c.bias);
      addConv(graph, f.name + "/" + id, pre, tensor + ".weight", tensor + ".bias", f.name + "." + id,
              c.kernel_h, c.kernel_w, c.stride_h, c.stride_w, c.groups);
      pre = f.name + "." + id;
    }
    if (f.shortcut_from >= 0) {
      std::string skipped = layer_inputs.at(f.shortcut_from);
      if (f.shortcut_projection) {
        const int64_t in = static_cast<int64_t>(f.projection_weight.size() / f.out_channels);
        addInitializer(graph, f.name + ".shortcut.weight", {f.out_channels, in, 1, 1}, f.projection_weight);
        addInitializer(graph, f.name + ".shortcut.bias", {f.out_channels}, f.projection_bias);
        addConv(graph, f.name + "/shortcut", skipped, f.name + ".shortcut.weight",
                f.name + ".shortcut.bias", f.name + ".shortcut", 1, 1, f.projection_stride, f.projection_stride, 1);
        skipped = f.name + ".shortcut";
      }
      addNode(graph, "Add", f.name + "/add", {pre, skipped}, f.name + ".sum");
      pre = f.name + ".sum";
    }
    addNode(graph, "Relu", f.name + "/relu", {pre}, f.name + ".out");
    x = f.name + ".out";
  }
  addNode(graph, "GlobalAveragePool", "head/pool", {x}, "head.pooled");
  addInt(addNode(graph, "Flatten", "head/flatten", {"head.pooled"}, "head.features"), "axis", 1);
  addInitializer(graph, "head.weight", {m.num_classes, m.features()}, m.head_weight);
  addInitializer(graph, "head.bias", {m.num_classes}, m.head_bias);
  auto* gemm = addNode(graph, "Gemm", "head/linear", {"head.features", "head.weight", "head.bias"}, "logits");
  addInt(gemm, "transB", 1);
  setTensorType(graph->add_output(), "logits", {m.num_classes});

  json odbb = json::array();
  for (const auto& f : m.layers) odbb.push_back({{"layer", f.name}, {"kept", f.kept}});
  addMetadata(model, "repnas.odbb", odbb.dump());
  addMetadata(model, "repnas.backbone", m.backbone);
  addMetadata(model, "repnas.mode", m.mode);
  addMetadata(model, "repnas.input", json{{"channels", m.in_channels}, {"height", m.height},
                                          {"width", m.width}, {"scale", "pixel / 255"},
                                          {"mean", m.mean}, {"std", m.std}}.dump());
  for (const auto& f : m.layers) {
    addMetadata(model, "repnas.kept." + f.name, f.kept);
    if (!f.operation.empty()) addMetadata(model, "repnas.operation." + f.name, f.operation);
  }

  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error("the ONNX model for " + path + " does not pass onnx::checker: " + e.what());
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw Error("cannot serialise the ONNX model for " + path);
  writeTextAtomically(path, bytes);
}

namespace {

// An int from a 64-bit field of the file, or an Error naming it (a cast would wrap 2^33 to 0).
int intOf(int64_t v, const std::string& what, const std::string& path) {
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    throw Error(path + ": " + what + " " + std::to_string(v) + " is out of range");
  return static_cast<int>(v);
}

}  // namespace

FoldedModel readOnnx(const std::string& path) {
  return parseOnnx(readInputFile(path, kMaxModelFileBytes, "an ONNX model"), path);
}

FoldedModel parseOnnx(const std::string& bytes, const std::string& path) {
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) throw Error(path + ": not an ONNX model");
  auto fail = [&](const std::string& why) -> Error { return Error(path + ": " + why); };
  std::map<std::string, std::string> meta;
  for (const auto& p : model.metadata_props()) meta[p.key()] = p.value();
  if (!meta.count("repnas.input")) throw fail("no repnas.input metadata (not written by RepNAS Studio)");
  FoldedModel m;
  try {
    const auto input = json::parse(meta["repnas.input"]);
    m.in_channels = integerField<int>(input, "channels");
    m.height = integerField<int>(input, "height");
    m.width = integerField<int>(input, "width");
    m.mean = numbersField(input, "mean", kMaxChannels);
    m.std = numbersField(input, "std", kMaxChannels);
  } catch (const json::exception&) {
    throw fail("malformed repnas.input metadata");
  } catch (const Error& e) {
    throw fail(std::string("repnas.input metadata: ") + e.what());
  }
  m.backbone = meta["repnas.backbone"];
  m.mode = meta["repnas.mode"];

  const auto& graph = model.graph();
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> init;
  for (const auto& t : graph.initializer()) {
    if (t.data_type() != onnx::TensorProto::FLOAT || t.raw_data().size() % 4)
      throw fail("initializer " + clippedText(t.name()) + " is not raw float data");
    if (t.dims_size() > 4) throw fail("initializer " + clippedText(t.name()) + " has more than 4 dimensions");
    std::vector<float> v(t.raw_data().size() / 4);
    if (!v.empty()) std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
    init[t.name()] = {std::vector<int64_t>(t.dims().begin(), t.dims().end()), v};
  }
  auto tensor = [&](const std::string& name) -> const std::pair<std::vector<int64_t>, std::vector<float>>& {
    auto it = init.find(name);
    if (it == init.end()) throw fail("missing initializer " + clippedText(name));
    return it->second;
  };
  auto attr = [&](const onnx::NodeProto& n, const std::string& name) -> const onnx::AttributeProto& {
    for (const auto& a : n.attribute())
      if (a.name() == name) return a;
    throw fail("node " + clippedText(n.name()) + " has no attribute " + name);
  };
  // The first `count` ints of attribute `name` (at least that many).
  auto ints = [&](const onnx::NodeProto& n, const std::string& name, int count) {
    const auto& a = attr(n, name);
    if (a.ints_size() < count)
      throw fail("node " + clippedText(n.name()) + ": attribute " + name + " has fewer than " + std::to_string(count) + " values");
    std::vector<int> out;
    for (int i = 0; i < count; ++i) out.push_back(intOf(a.ints(i), "node " + clippedText(n.name()) + ": " + name, path));
    return out;
  };
  auto inputs = [&](const onnx::NodeProto& n, int count) {
    if (n.input_size() < count) throw fail("node " + clippedText(n.name()) + " has too few inputs");
  };
  // Nodes are named "<layer>/<part>": the layer's convs ("conv", or "conv0", "conv1", … of a
  // chain), "shortcut" (a projection), "add", "relu"; then "head/…". Each layer reads the
  // previous layer's output; a layer whose nodes hold no conv is an identity.
  std::map<std::string, int> layer_of_input;  // tensor name -> index of the layer it feeds
  std::string flowing = "input";  // the latest tensor of the network
  // Where the current layer is: its parts come in the order conv…, shortcut, add, relu.
  struct {
    bool shortcut = false, add = false, relu = false;
    std::string projection;  // the shortcut's output
  } stage;
  bool in_head = false;
  for (const auto& n : graph.node()) {
    const std::string& op = n.op_type();
    if (op == "Conv" || op == "Gemm") inputs(n, 3);
    if (op == "Add") inputs(n, 2);
    if (op == "Relu") inputs(n, 1);
    if (n.output_size() < 1) throw fail("node " + clippedText(n.name()) + " has no output");
    const std::string node = clippedText(n.name());
    const auto slash = n.name().rfind('/');
    if (slash == std::string::npos || slash == 0) throw fail("node " + node + " is not named <layer>/<part>");
    const std::string prefix = n.name().substr(0, slash), part = n.name().substr(slash + 1);
    if (prefix == "head") {
      if (!in_head && (op != "GlobalAveragePool" || n.input_size() < 1 || n.input(0) != flowing || !stage.relu))
        throw fail("the head does not begin with a GlobalAveragePool of the last layer's output");
      in_head = true;
      if (op == "Gemm") {
        const auto& w = tensor(n.input(1));
        if (w.first.size() != 2) throw fail(node + ": the head weight is not 2-D");
        m.num_classes = intOf(w.first[0], node + ": classes", path);
        m.head_weight = w.second;
        m.head_bias = tensor(n.input(2)).second;
      } else if (op != "GlobalAveragePool" && op != "Flatten") {
        throw fail("unsupported operator " + clippedText(op) + " in the head (node " + node + ")");
      }
      continue;
    }
    if (in_head) throw fail("node " + node + " comes after the head");
    if (m.layers.empty() || m.layers.back().name != prefix) {
      if (!m.layers.empty() && !stage.relu) throw fail(m.layers.back().name + " ends without its Relu");
      if (m.layers.size() >= static_cast<size_t>(kMaxNetworkLayers))
        throw fail("more than " + std::to_string(kMaxNetworkLayers) + " layers (the most RepNAS Studio builds)");
      FoldedLayer f;
      f.name = prefix;
      f.kept = meta.count("repnas.kept." + f.name) ? meta["repnas.kept." + f.name] : "";
      f.operation = meta.count("repnas.operation." + f.name) ? clippedText(meta["repnas.operation." + f.name]) : "";
      stage = {};
      layer_of_input[flowing] = static_cast<int>(m.layers.size());
      m.layers.push_back(f);
    }
    auto& f = m.layers.back();
    if (stage.relu) throw fail("node " + node + " comes after its layer's Relu");
    const bool chain_conv = op == "Conv" && part.rfind("conv", 0) == 0 &&
                            part.find_first_not_of("0123456789", 4) == std::string::npos;
    if (chain_conv) {
      if (f.convs.size() >= static_cast<size_t>(kMaxConvsPerLayer))
        throw fail(f.name + ": more than " + std::to_string(kMaxConvsPerLayer) + " convs");
      if (n.input(0) != flowing || stage.shortcut || stage.add)
        throw fail(node + ": its input is not the output of the layer's previous conv");
      FoldedConv c;
      const auto& w = tensor(n.input(1));
      if (w.first.size() != 4) throw fail(node + ": weight is not 4-D");
      c.out_channels = intOf(w.first[0], node + ": output channels", path);
      c.groups = intOf(attr(n, "group").i(), node + ": group", path);
      const int per_group = intOf(w.first[1], node + ": input channels per group", path);
      if (c.groups < 1 || c.groups > kMaxChannels || per_group < 1 || per_group > kMaxChannels)
        throw fail(node + ": group " + std::to_string(c.groups) + " with " + std::to_string(per_group) +
                   " input channels per group is out of range");
      c.in_channels = per_group * c.groups;
      c.kernel_h = intOf(w.first[2], node + ": kernel height", path);
      c.kernel_w = intOf(w.first[3], node + ": kernel width", path);
      const auto strides = ints(n, "strides", 2), pads = ints(n, "pads", 4);
      c.stride_h = strides[0];
      c.stride_w = strides[1];
      if (pads[0] != c.kernel_h / 2 || pads[1] != c.kernel_w / 2 || pads[2] != pads[0] || pads[3] != pads[1])
        throw fail(node + ": pads are not kernel / 2 on every side");
      c.weight = w.second;
      c.bias = tensor(n.input(2)).second;
      f.convs.push_back(std::move(c));
      flowing = n.output(0);
    } else if (op == "Conv" && part == "shortcut") {
      if (stage.shortcut || stage.add) throw fail(node + ": a second shortcut, or one after the add");
      stage.shortcut = true;
      stage.projection = n.output(0);
      f.shortcut_projection = true;
      f.projection_stride = ints(n, "strides", 1)[0];
      f.projection_weight = tensor(n.input(1)).second;
      f.projection_bias = tensor(n.input(2)).second;
      const auto from = layer_of_input.find(n.input(0));
      if (from == layer_of_input.end()) throw fail(node + ": the shortcut input is no layer's input");
      f.shortcut_from = from->second;
    } else if (op == "Add") {
      if (n.input(0) != flowing || stage.add) throw fail(node + ": it does not add to the layer's convs' output");
      stage.add = true;
      if (stage.shortcut) {
        if (n.input(1) != stage.projection) throw fail(node + ": it does not add the layer's shortcut");
      } else {
        const auto it = layer_of_input.find(n.input(1));
        if (it == layer_of_input.end()) throw fail(node + ": the added tensor is no layer's input");
        f.shortcut_from = it->second;
      }
      flowing = n.output(0);
    } else if (op == "Relu") {
      if (n.input(0) != flowing) throw fail(node + ": it does not read the layer's output");
      if (stage.shortcut && !stage.add) throw fail(node + ": the layer's shortcut is never added");
      stage.relu = true;
      flowing = n.output(0);
    } else {
      throw fail("unsupported operator " + clippedText(op) + " (node " + node + ")");
    }
  }
  if (!m.layers.empty() && !stage.relu) throw fail(m.layers.back().name + " ends without its Relu");
  // Each layer reads the one before; its output channels are its last conv's (an identity's: its input's).
  int channels = m.in_channels;
  for (auto& f : m.layers) {
    f.in_channels = channels;
    f.out_channels = f.convs.empty() ? channels : f.convs.back().out_channels;
    channels = f.out_channels;
  }
  if (m.layers.empty() || m.head_weight.empty()) throw fail("no layers or no head");
  try {
    validateFoldedModel(m);
  } catch (const Error& e) {
    throw fail(e.what());
  }
  return m;
}

}  // namespace repnas
