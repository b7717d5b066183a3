// Writes the seed corpus of every fuzz target (fuzz/corpus/<target>/): small valid inputs made
// with the product's own writers where they need no torch, so that the fuzzers start from
// what the product reads. Run: build-fuzz/make_corpus fuzz/corpus
#include <zlib.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fold/folded_model.h"
#include "formats/onnx_io.h"
#include "repnas/config.h"
#include "repnas/events.h"
#include "formats/run_archive_meta.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void put(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string gzip(const std::string& plain) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, plain.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  zs.avail_in = static_cast<uInt>(plain.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

repnas::FoldedModel tinyModel() {
  repnas::FoldedModel m;
  m.backbone = "tiny";
  m.mode = "plain";
  m.in_channels = 1;
  m.height = m.width = 28;
  m.num_classes = 2;
  m.mean = {0.5};
  m.std = {0.25};
  repnas::FoldedLayer f;
  f.name = "layer0";
  f.kept = "KxK";
  f.in_channels = 1;
  f.out_channels = 2;
  repnas::FoldedConv c;
  c.in_channels = 1;
  c.out_channels = 2;
  c.weight.assign(18, 0.1f);
  c.bias = {0.f, 1.f};
  f.convs = {c};
  m.layers.push_back(f);
  m.head_weight = {1.f, 0.f, 0.f, 1.f};
  m.head_bias = {0.f, 0.f};
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path out = argc > 1 ? argv[1] : "fuzz/corpus";
  // IDX: 2 images of 3x3, their labels; plain and gzipped.
  const std::string images = be32(0x803) + be32(2) + be32(3) + be32(3) + std::string(18, '\x40');
  const std::string labels = be32(0x801) + be32(2) + std::string("\x01\x09", 2);
  put(out / "idx", "images", images);
  put(out / "idx", "images.gz", gzip(images));
  put(out / "idx", "labels", labels);
  put(out / "idx", "labels.gz", gzip(labels));
  // CIFAR-10: 2 records.
  std::string cifar;
  for (char label : {'\x03', '\x07'}) cifar += label + std::string(3072, '\x20');
  put(out / "cifar", "batch", cifar);
  put(out / "cifar", "batch.gz", gzip(cifar));
  // Configurations: the defaults, and a search with limits, pins and a given odbb mask.
  put(out / "config", "defaults.json", repnas::configToJson(repnas::RunConfig{}));
  repnas::RunConfig search;
  search.budget = 12;
  search.layer_min = {1};
  search.layer_max = {4};
  search.pins = {{2, repnas::BranchKind::OneByOne, repnas::Pin::Keep}};
  put(out / "config", "search.json", repnas::configToJson(search));
  put(out / "config", "version1.json", R"({"mode": "search", "epochs": 10, "arch_lr": 0.0001})");
  // Events: one line of every kind, of a 2-layer run.
  repnas::RunInfo info;
  info.run_dir = "runs/x";
  info.mode = "search";
  info.backbone = "tiny";
  info.config_json = repnas::configToJson(search);
  for (int l = 0; l < 2; ++l) {
    repnas::LayerInfo layer;
    layer.index = l;
    layer.label = "L" + std::to_string(l);
    info.layers.push_back(layer);
  }
  info.dataset = {"fashion-mnist", "/usr/share/datasets/fashion-mnist", 60000, 10000, 1, 28, 28, 10, {}};
  info.epochs = 3;
  info.steps_per_epoch = 10;
  info.total_steps = 30;
  info.budget = repnas::defaultBudget({true, false}, 0.5);
  info.alpha.assign(12, 0.5f);
  put(out / "events", "run_started", repnas::eventToJson(info));
  {
    // A run archive's metadata, as the engine writes it: weights.pt and checkpoint.pt.
    repnas::RunArchiveMeta meta;
    meta.kind = repnas::RunArchiveMeta::Kind::Weights;
    meta.config_json = info.config_json;
    meta.mean = {0.29};
    meta.std = {0.35};
    meta.input = repnas::InputShape{1, 28, 28, 10};
    meta.mask.assign(2, repnas::BranchMask("000101"));
    put(out / "archive_meta", "weights", repnas::runArchiveMetaJson(meta));
    meta.kind = repnas::RunArchiveMeta::Kind::Checkpoint;
    meta.step = 12;
    meta.fixed = true;
    meta.fixed_masks = meta.mask;
    meta.budget = info.budget;
    meta.epoch_totals = {3.5, 40, 64, 1.25};
    put(out / "archive_meta", "checkpoint", repnas::runArchiveMetaJson(meta));
  }
  repnas::StepSnapshot step;
  step.alpha.assign(12, 0.1f);
  step.sigma.assign(12, 0.5f);
  step.mask.assign(2, repnas::allBranches());
  step.topk_mask = step.mask;
  step.alpha_margin = 0.2;
  put(out / "events", "step", repnas::eventToJson(step));
  put(out / "events", "epoch", repnas::eventToJson(repnas::EpochSummary{1, repnas::Phase::Search, 19, 0.5, 0.8, 0.7, 0.69, 3.5}));
  put(out / "events", "phase", repnas::eventToJson(repnas::PhaseChange{repnas::Phase::Search, repnas::Phase::Fixed, 20, 2, step.mask}));
  put(out / "events", "command", repnas::eventToJson(repnas::CommandAck{1, "set budget k=6", true, "", 5, info.budget}));
  put(out / "events", "checkpoint", repnas::eventToJson(repnas::CheckpointSaved{"runs/x/checkpoint.pt", 10, 1}));
  put(out / "events", "finished", repnas::eventToJson(repnas::RunFinished{"completed", "done", 30, 0.91, step.mask}));
  // ONNX, with the product's writer (checked by onnx::checker).
  const auto model = tinyModel();
  fs::create_directories(out / "onnx");
  repnas::writeOnnx(model, (out / "onnx" / "tiny.onnx").string());
  {
    // A HANT student's shapes: a 1xK then Kx1 chain, an identity layer with a shortcut.
    auto chain = model;
    auto& layer = chain.layers[0];
    layer.operation = "1xK+Kx1";
    repnas::FoldedConv a = layer.convs[0], b = layer.convs[0];
    a.kernel_h = 1;
    a.stride_w = 2;
    a.weight.assign(6, 0.2f);
    b.in_channels = 2;
    b.kernel_w = 1;
    b.stride_h = 2;
    b.weight.assign(12, 0.3f);
    layer.convs = {a, b};
    repnas::FoldedLayer identity;
    identity.name = "layer1";
    identity.operation = "identity";
    identity.in_channels = identity.out_channels = 2;
    identity.shortcut_from = 1;
    chain.layers.push_back(identity);
    repnas::writeOnnx(chain, (out / "onnx" / "chain.onnx").string());
  }
  // The spec: JSON, NUL, safetensors (the layout of export/folded_files.cpp's writer).
  json header = {{"__metadata__", {{"format", "repnas-spec-1"}}},
                 {"layer0.weight", {{"dtype", "F32"}, {"shape", {2, 1, 3, 3}}, {"data_offsets", {0, 72}}}},
                 {"layer0.bias", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {72, 80}}}},
                 {"head.weight", {{"dtype", "F32"}, {"shape", {2, 2}}, {"data_offsets", {80, 96}}}},
                 {"head.bias", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {96, 104}}}}};
  std::string h = header.dump();
  while ((h.size() + 8) % 8) h += ' ';
  std::string length(8, '\0');
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((h.size() >> (8 * i)) & 0xff);
  const std::string weights = length + h + floats(model.layers[0].convs[0].weight) + floats(model.layers[0].convs[0].bias) +
                              floats(model.head_weight) + floats(model.head_bias);
  const json spec = {{"format", "repnas-spec-1"}, {"backbone", "tiny"}, {"mode", "plain"},
                     {"input", {{"channels", 1}, {"height", 28}, {"width", 28}, {"mean", {0.5}}, {"std", {0.25}}}},
                     {"num_classes", 2},
                     {"layers", {{{"name", "layer0"}, {"kept", {"KxK"}}, {"in_channels", 1}, {"out_channels", 2},
                                  {"kernel_size", 3}, {"stride", 1}, {"padding", 1}, {"groups", 1},
                                  {"shortcut_from", -1}, {"shortcut_projection", false}, {"projection_stride", 1}}}},
                     {"weights", "tiny.safetensors"}};
  put(out / "spec", "tiny", spec.dump() + std::string(1, '\0') + weights);
  // The same in repnas-spec-2 (each layer lists its convs and names their tensors).
  json spec2 = spec;
  spec2["format"] = "repnas-spec-2";
  auto& layer2 = spec2["layers"][0];
  for (const char* key : {"kernel_size", "stride", "padding", "groups"}) layer2.erase(key);
  layer2["convs"] = {{{"in_channels", 1}, {"out_channels", 2}, {"kernel_h", 3}, {"kernel_w", 3}, {"stride_h", 1},
                      {"stride_w", 1}, {"groups", 1}, {"weight", "layer0.weight"}, {"bias", "layer0.bias"}}};
  put(out / "spec", "tiny2", spec2.dump() + std::string(1, '\0') + weights);
  std::printf("wrote the seed corpus to %s\n", out.c_str());
  return 0;
}
