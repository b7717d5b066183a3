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
             int kernel, int stride, int padding, int groups) {
  auto* n = addNode(graph, "Conv", name, {input, weight, bias}, output);
  addInts(n, "kernel_shape", {kernel, kernel});
  addInts(n, "strides", {stride, stride});
  addInts(n, "pads", {padding, padding, padding, padding});
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
  model.set_doc_string("Folded " + m.mode + " network (" + m.backbone + "): one conv per layer");
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
    addInitializer(graph, f.name + ".weight", {f.out_channels, f.in_channels / f.groups, f.kernel_size, f.kernel_size}, f.weight);
    addInitializer(graph, f.name + ".bias", {f.out_channels}, f.bias);
    std::string pre = f.name + ".conv";
    addConv(graph, f.name + "/conv", x, f.name + ".weight", f.name + ".bias", pre, f.kernel_size,
            f.stride, f.padding, f.groups);
    if (f.shortcut_from >= 0) {
      std::string skipped = layer_inputs.at(f.shortcut_from);
      if (f.shortcut_projection) {
        const int64_t in = static_cast<int64_t>(f.projection_weight.size() / f.out_channels);
        addInitializer(graph, f.name + ".shortcut.weight", {f.out_channels, in, 1, 1}, f.projection_weight);
        addInitializer(graph, f.name + ".shortcut.bias", {f.out_channels}, f.projection_bias);
        addConv(graph, f.name + "/shortcut", skipped, f.name + ".shortcut.weight",
                f.name + ".shortcut.bias", f.name + ".shortcut", 1, f.projection_stride, 0, 1);
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
  for (const auto& f : m.layers) addMetadata(model, "repnas.kept." + f.name, f.kept);

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
  auto firstInt = [&](const onnx::NodeProto& n, const std::string& name) -> int {
    const auto& a = attr(n, name);
    if (a.ints_size() < 1) throw fail("node " + clippedText(n.name()) + ": attribute " + name + " is empty");
    return intOf(a.ints(0), "node " + clippedText(n.name()) + ": " + name, path);
  };
  auto currentLayer = [&](const onnx::NodeProto& n) -> FoldedLayer& {
    if (m.layers.empty()) throw fail("node " + clippedText(n.name()) + " comes before any layer");
    return m.layers.back();
  };
  auto inputs = [&](const onnx::NodeProto& n, int count) {
    if (n.input_size() < count) throw fail("node " + clippedText(n.name()) + " has too few inputs");
  };
  std::map<std::string, int> layer_of_input;  // tensor name -> index of the layer it feeds
  for (const auto& n : graph.node()) {
    const std::string& op = n.op_type();
    if (op == "Conv" || op == "Gemm") inputs(n, 3);
    if (op == "Add") inputs(n, 2);
    const std::string node = clippedText(n.name());
    if (op == "Conv" && n.name().size() > 5 && n.name().substr(n.name().size() - 5) == "/conv") {
      if (m.layers.size() >= static_cast<size_t>(kMaxNetworkLayers))
        throw fail("more than " + std::to_string(kMaxNetworkLayers) + " layers (the most RepNAS Studio builds)");
      FoldedLayer f;
      f.name = n.name().substr(0, n.name().size() - 5);
      const auto& w = tensor(n.input(1));
      if (w.first.size() != 4) throw fail(node + ": weight is not 4-D");
      f.out_channels = intOf(w.first[0], node + ": output channels", path);
      f.groups = intOf(attr(n, "group").i(), node + ": group", path);
      const int per_group = intOf(w.first[1], node + ": input channels per group", path);
      if (f.groups < 1 || f.groups > kMaxChannels || per_group < 1 || per_group > kMaxChannels)
        throw fail(node + ": group " + std::to_string(f.groups) + " with " + std::to_string(per_group) +
                   " input channels per group is out of range");
      f.in_channels = per_group * f.groups;
      f.kernel_size = intOf(w.first[2], node + ": kernel size", path);
      if (w.first[3] != w.first[2]) throw fail(node + ": the kernel is not square");
      f.stride = firstInt(n, "strides");
      f.padding = firstInt(n, "pads");
      f.weight = w.second;
      f.bias = tensor(n.input(2)).second;
      f.kept = meta.count("repnas.kept." + f.name) ? meta["repnas.kept." + f.name] : "";
      layer_of_input[n.input(0)] = static_cast<int>(m.layers.size());
      m.layers.push_back(f);
    } else if (op == "Conv") {  // a projection shortcut
      auto& f = currentLayer(n);
      f.shortcut_projection = true;
      f.projection_stride = firstInt(n, "strides");
      f.projection_weight = tensor(n.input(1)).second;
      f.projection_bias = tensor(n.input(2)).second;
      const auto from = layer_of_input.find(n.input(0));
      if (from == layer_of_input.end()) throw fail(node + ": the shortcut input is no layer's input");
      f.shortcut_from = from->second;
    } else if (op == "Add") {
      auto& f = currentLayer(n);
      if (!f.shortcut_projection) {
        const auto it = layer_of_input.find(n.input(1));
        if (it == layer_of_input.end()) throw fail(node + ": the added tensor is no layer's input");
        f.shortcut_from = it->second;
      }
    } else if (op == "Gemm") {
      const auto& w = tensor(n.input(1));
      if (w.first.size() != 2) throw fail(node + ": the head weight is not 2-D");
      m.num_classes = intOf(w.first[0], node + ": classes", path);
      m.head_weight = w.second;
      m.head_bias = tensor(n.input(2)).second;
    } else if (op != "Relu" && op != "GlobalAveragePool" && op != "Flatten") {
      throw fail("unsupported operator " + clippedText(op) + " (node " + node + ")");
    }
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
