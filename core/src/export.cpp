// Fold, verify and export a trained run; evaluate exported files.
#include "repnas/export.h"

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

#include "data.h"
#include "export_internal.h"
#include "folded_model.h"
#include "input_file.h"
#include "json_fields.h"
#include "network.h"
#include "onnx_io.h"
#include "repnas/config.h"
#include "repnas/events.h"
#include "repnas/run_folder.h"
#include "repnas/runtime.h"
#include "run_files.h"
#include "search/strategy.h"
#include "spec_io.h"

namespace repnas {

namespace fs = std::filesystem;
using nlohmann::json;

std::string VerificationReport::summary() const {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "%s: %lld test images, max abs error %.3e (tolerance %.3e), max rel error %.3e, "
                "accuracy multi-branch %.2f%% folded %.2f%%, %lld arg-max mismatches",
                pass ? "verified" : "NOT verified", static_cast<long long>(images), max_abs_err,
                tolerance, max_rel_err, 100 * accuracy_multi_branch, 100 * accuracy_folded,
                static_cast<long long>(prediction_mismatches));
  std::string text = buf;
  if (parameters_folded > 0) {
    std::snprintf(buf, sizeof buf, "; parameters %lld multi-branch, %lld folded",
                  static_cast<long long>(parameters_multi_branch),
                  static_cast<long long>(parameters_folded));
    text += buf;
  }
  if (latency_folded_ms > 0) {
    std::snprintf(buf, sizeof buf, "; latency (batch %d) %.3f ms multi-branch, %.3f ms folded",
                  latency_batch, latency_multi_branch_ms, latency_folded_ms);
    text += buf;
  }
  return text;
}

namespace {

// The first line of a LibTorch message (no backtrace, no TorchScript source excerpt).
std::string torchMessage(const c10::Error& e) {
  const std::string text = e.what_without_backtrace();
  return clippedText(text.substr(0, text.find('\n')), 200);
}

}  // namespace

LoadedRun loadRunArchive(const std::string& path, const data::LoadedDataset* data) {
  auto file = readRunArchive(path);
  auto& archive = file.content;
  LoadedRun run;
  run.source = path;
  try {
    const auto meta = json::parse(file.meta);
    run.config = configFromJson(meta.at("config").dump(), /*version_when_absent=*/1);
    run.norm.mean = meta.at("normalization").at("mean").get<std::vector<double>>();
    run.norm.std = meta.at("normalization").at("std").get<std::vector<double>>();
    int channels, height, width, classes;
    if (meta.contains("input")) {
      const auto& in = meta["input"];
      channels = in.at("channels").get<int>();
      height = in.at("height").get<int>();
      width = in.at("width").get<int>();
      classes = in.at("classes").get<int>();
      if (channels < 1 || channels > kMaxChannels || height < 1 || height > kMaxInputSide ||
          width < 1 || width > kMaxInputSide || classes < 2 || classes > 256)
        throw Error(path + ": its input " + std::to_string(channels) + "x" + std::to_string(height) +
                    "x" + std::to_string(width) + " with " + std::to_string(classes) +
                    " classes is outside what RepNAS Studio builds");
    } else if (data) {
      channels = data->info.channels;
      height = data->info.height;
      width = data->info.width;
      classes = data->info.num_classes;
    } else {
      throw Error(path + " does not record the input shape");
    }
    run.backbone = backboneFor(run.config, channels, height, width, classes);
    run.net = Network(run.backbone);
    torch::serialize::InputArchive net_archive;
    archive.read("network", net_archive);
    run.net->load(net_archive);
    run.net->eval();
    if (meta.contains("mask")) {  // weights.pt: the final architecture
      run.masks = maskFromBits(meta.at("mask").get<std::vector<int>>());
      run.complete = true;
    } else if (meta.at("fixed").get<bool>()) {  // checkpoint.pt after the fix
      run.masks = maskFromBits(meta.at("fixed_mask").get<std::vector<int>>());
      run.step = meta.at("step");
    } else {  // checkpoint.pt during warm-up or search: what the strategy would fix now
      run.step = meta.at("step");
      const auto strategy = makeStrategy(run.config, run.backbone);
      strategy->load(archive);
      run.masks = strategy->derive(budgetFromJson(meta.at("budget").dump()));
    }
  } catch (const json::exception& e) {
    throw Error(path + ": unexpected contents: " + jsonMessage(e));
  } catch (const c10::Error& e) {
    throw Error(path + ": unexpected contents: " + torchMessage(e));
  } catch (const ConfigError& e) {
    throw Error(path + ": its configuration: " + e.what());
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(path, 0) == 0) throw;
    throw Error(path + ": " + what);
  }
  return run;
}

LoadedRun loadRun(const std::string& run_dir, const data::LoadedDataset* data) {
  const auto path = RunFolder(run_dir).weights();
  if (!fs::exists(path))
    throw Error("no trained network in " + run_dir + " (weights.pt is written when a run completes)");
  return loadRunArchive(path, data);
}

namespace {

std::vector<float> toVector(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

torch::Tensor fromVector(const std::vector<float>& v, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  if (n != static_cast<int64_t>(v.size()))
    throw Error("a weight holds " + std::to_string(v.size()) + " values, its shape needs " +
                std::to_string(n));
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat).clone();
}

FoldedModel toFoldedModel(const LoadedRun& run, FoldedNetworkImpl& folded) {
  return makeFoldedModel(run.backbone, run.config.mode, run.masks, run.norm.mean, run.norm.std,
                         folded);
}

}  // namespace

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
    f.kernel_size = spec.block.kernel_size;
    f.stride = spec.block.stride;
    f.padding = spec.block.padding();
    f.groups = spec.block.groups;
    f.weight = toVector(folded.convs_[l]->weight);
    f.bias = toVector(folded.convs_[l]->bias);
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

namespace {

/// Runs a FoldedModel with plain torch ops (what the ONNX and spec files describe).
torch::Tensor runFoldedModel(const FoldedModel& m, const torch::Tensor& x) {
  std::vector<torch::Tensor> inputs(m.layers.size());
  torch::Tensor h = x;
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const auto& f = m.layers[l];
    inputs[l] = h;
    const auto w = fromVector(f.weight, {f.out_channels, f.in_channels / f.groups, f.kernel_size,
                                         f.kernel_size});
    const std::vector<int64_t> stride{f.stride, f.stride}, pad{f.padding, f.padding}, one{1, 1};
    auto pre = torch::conv2d(h, w, fromVector(f.bias, {f.out_channels}), stride, pad, one, f.groups);
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

}  // namespace

// ---------------------------------------------------------------- TorchScript

void writeTorchScript(const FoldedModel& m, const std::string& path) {
  torch::jit::Module module("RepNASFolded");
  std::ostringstream src;
  src << "def forward(self, input):\n";
  src << "    x0 = input\n";
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const auto& f = m.layers[l];
    const std::string w = f.name + "_weight", b = f.name + "_bias";
    module.register_parameter(w, fromVector(f.weight, {f.out_channels, f.in_channels / f.groups,
                                                       f.kernel_size, f.kernel_size}), false);
    module.register_parameter(b, fromVector(f.bias, {f.out_channels}), false);
    src << "    y = torch.conv2d(x" << l << ", self." << w << ", self." << b << ", ["
        << f.stride << ", " << f.stride << "], [" << f.padding << ", " << f.padding
        << "], [1, 1], " << f.groups << ")\n";
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

json specJson(const FoldedModel& m, const VerificationReport& r, const std::string& weights_file) {
  json layers = json::array();
  for (const auto& f : m.layers) {
    json kept = json::array();
    std::stringstream ss(f.kept);
    for (std::string item; std::getline(ss, item, '+');)
      if (item != "none") kept.push_back(item);
    layers.push_back({{"name", f.name}, {"kept", kept}, {"in_channels", f.in_channels},
                      {"out_channels", f.out_channels}, {"kernel_size", f.kernel_size},
                      {"stride", f.stride}, {"padding", f.padding}, {"groups", f.groups},
                      {"shortcut_from", f.shortcut_from}, {"shortcut_projection", f.shortcut_projection},
                      {"projection_stride", f.projection_stride}});
  }
  return {{"format", "repnas-spec-1"},
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

void writeSpec(const FoldedModel& m, const VerificationReport& r, const std::string& path) {
  const fs::path spec(path);
  const std::string weights_file = spec.stem().string() + ".safetensors";
  std::vector<std::pair<std::string, std::pair<std::vector<int64_t>, const std::vector<float>*>>> tensors;
  for (const auto& f : m.layers) {
    tensors.push_back({f.name + ".weight", {{f.out_channels, f.in_channels / f.groups, f.kernel_size, f.kernel_size}, &f.weight}});
    tensors.push_back({f.name + ".bias", {{f.out_channels}, &f.bias}});
    if (f.shortcut_projection) {
      const int64_t in = static_cast<int64_t>(f.projection_weight.size() / f.out_channels);
      tensors.push_back({f.name + ".shortcut.weight", {{f.out_channels, in, 1, 1}, &f.projection_weight}});
      tensors.push_back({f.name + ".shortcut.bias", {{f.out_channels}, &f.projection_bias}});
    }
  }
  tensors.push_back({"head.weight", {{m.num_classes, m.features()}, &m.head_weight}});
  tensors.push_back({"head.bias", {{m.num_classes}, &m.head_bias}});
  writeTextAtomically((spec.parent_path() / weights_file).string(),
                      safetensorsBytes(tensors, {{"format", "repnas-spec-1"}, {"backbone", m.backbone}}));
  writeTextAtomically(path, specJson(m, r, weights_file).dump(2) + "\n");
}

FoldedModel readSpec(const std::string& path) {
  const std::string text = readInputFile(path, kMaxModelFileBytes, "a model spec");
  const fs::path dir = fs::path(path).parent_path();
  return parseSpec(text, path, [&](const std::string& file) {
    return readInputFile((dir / file).string(), kMaxModelFileBytes, "a safetensors file");
  });
}

int64_t countParameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

/// Parameters the multi-branch and the folded network use at inference, and their latency.
void measureInferenceCost(NetworkImpl& net, const std::vector<BranchMask>& masks,
                          FoldedNetworkImpl& folded, const data::ImageSet& test,
                          const data::Normalization& norm, VerificationReport& r) {
  int64_t multi = countParameters(*net.head);
  for (int l = 0; l < net.spec().numLayers(); ++l) {
    const auto block = net.block(l);
    for (int b = 0; b < kNumBranchKinds; ++b)
      if (masks[l].test(b) && block->branch(static_cast<BranchKind>(b)))
        multi += countParameters(*block->branch(static_cast<BranchKind>(b)));
    if (block->identity()) multi += countParameters(*block->identity());
    if (net.shortcuts_[l]) multi += countParameters(*net.shortcuts_[l]);
  }
  r.parameters_multi_branch = multi;
  r.parameters_folded = countParameters(folded);
  if (test.size() == 0) return;
  r.latency_batch = 1;
  const auto x = data::prepareBatch(test.images.narrow(0, 0, 1), norm, {}, nullptr);
  using Clock = std::chrono::steady_clock;
  auto time = [&](auto&& forward) {
    const auto t0 = Clock::now();
    for (int i = 0; i < 4; ++i) forward();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / 4;
  };
  auto run_multi = [&] { net.forward(x, masks); };
  auto run_folded = [&] { folded.forward(x); };
  run_multi();  // warm-up (allocator, oneDNN primitives)
  run_folded();
  std::vector<double> a, b;
  for (int round = 0; round < 15; ++round) {
    a.push_back(time(run_multi));
    b.push_back(time(run_folded));
  }
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  r.latency_multi_branch_ms = a[a.size() / 2];
  r.latency_folded_ms = b[b.size() / 2];
}

data::LoadedDataset loadData(const RunConfig& config, const std::string& dir_override) {
  DatasetSpec ds{config.dataset, dir_override.empty() ? config.data_dir : dir_override};
  return data::loadDataset(ds);
}

}  // namespace

ExportResult exportRun(const ExportRequest& request) {
  ExportResult result;
  auto stopNow = [&] {
    if (!request.cancelled || !request.cancelled()) return false;
    result.cancelled = true;
    result.message = "cancelled: nothing was written";
    return true;
  };
  setComputeThreads(request.threads);
  const auto config = loadRunConfig(request.run_dir);
  const auto data = loadData(config, request.data_dir);
  if (stopNow()) return result;
  auto run = loadRun(request.run_dir, &data);
  // The file must describe the network that the verification images go through.
  if (run.backbone.in_channels != data.info.channels || run.backbone.input_height != data.info.height ||
      run.backbone.input_width != data.info.width)
    throw Error(run.source + " records a " + std::to_string(run.backbone.in_channels) + "x" +
                std::to_string(run.backbone.input_height) + "x" + std::to_string(run.backbone.input_width) +
                " input but the verification images of " + data.info.name + " are " +
                std::to_string(data.info.channels) + "x" + std::to_string(data.info.height) + "x" +
                std::to_string(data.info.width));
  torch::NoGradGuard no_grad;
  FoldedNetwork folded(*run.net, run.masks);
  folded->eval();

  // Verify on real test images before anything is written.
  // At least 1,000 images (or the whole test split when it is smaller).
  auto test = data::takeFirst(
      data.test, request.verify_images > 0 ? std::max<int64_t>(1000, request.verify_images) : 0);
  auto& r = result.report;
  r.images = test.size();
  int64_t correct_multi = 0, correct_folded = 0;
  for (int64_t i = 0; i < test.size(); i += 500) {
    if (stopNow()) return result;
    const int64_t n = std::min<int64_t>(500, test.size() - i);
    const auto x = data::prepareBatch(test.images.narrow(0, i, n), run.norm, {}, nullptr);
    const auto labels = test.labels.narrow(0, i, n);
    const auto a = run.net->forward(x, run.masks);
    const auto b = folded->forward(x);
    // NaN must stick (std::max would drop it): a network that gives NaN does not verify.
    const double err = (a - b).abs().max().item<double>();
    const double logit = a.abs().max().item<double>();
    r.max_abs_err = std::isnan(err) || std::isnan(r.max_abs_err) ? NAN : std::max(r.max_abs_err, err);
    r.max_abs_logit = std::isnan(logit) || std::isnan(r.max_abs_logit) ? NAN : std::max(r.max_abs_logit, logit);
    correct_multi += a.argmax(1).eq(labels).sum().item<int64_t>();
    correct_folded += b.argmax(1).eq(labels).sum().item<int64_t>();
    r.prediction_mismatches += a.argmax(1).ne(b.argmax(1)).sum().item<int64_t>();
  }
  r.max_rel_err = r.max_abs_logit > 0 ? r.max_abs_err / r.max_abs_logit : r.max_abs_err;
  r.tolerance = 1e-5 * std::max(1.0, r.max_abs_logit);
  if (std::isnan(r.max_abs_logit)) r.tolerance = NAN;
  r.accuracy_multi_branch = r.images ? static_cast<double>(correct_multi) / r.images : 0;
  r.accuracy_folded = r.images ? static_cast<double>(correct_folded) / r.images : 0;
  r.pass = r.images >= 1 && std::isfinite(r.max_abs_err) && std::isfinite(r.max_abs_logit) &&
           r.max_abs_err <= r.tolerance;
  measureInferenceCost(*run.net, run.masks, *folded, test, run.norm, r);
  // A layer with no searchable branch left still folds to a dense KxK conv (its identity BN
  // becomes a scaled identity kernel): often the largest layer, so say what it costs.
  for (int l = 0; l < static_cast<int>(run.masks.size()) && l < static_cast<int>(folded->convs_.size()); ++l) {
    if (run.masks[l].any()) continue;
    const auto& conv = folded->convs_[static_cast<size_t>(l)];
    int64_t n = conv->weight.numel() + (conv->bias.defined() ? conv->bias.numel() : 0);
    const double share = r.parameters_folded > 0 ? 100.0 * static_cast<double>(n) / static_cast<double>(r.parameters_folded) : 0;
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.1f", share);
    r.notes.push_back("layer " + run.backbone.layerLabel(l) + " kept no searchable branch (identity + BN "
                      "only) yet is exported as a dense " + std::to_string(conv->weight.size(2)) + "x" +
                      std::to_string(conv->weight.size(3)) + " conv: " + std::to_string(n) + " of the " +
                      std::to_string(r.parameters_folded) + " folded parameters (" + pct + "%)");
  }
  // The last point of cancellation: the files are then written and checked as one stage
  // (milliseconds each), so that a cancelled export never leaves some of them.
  if (stopNow()) return result;
  if (!r.pass && !request.force) {
    result.message = "refusing to export: " + r.summary() +
                     (r.images == 0 ? " (no test images)" : "") + "; use --force to export anyway";
    return result;
  }

  const auto model = toFoldedModel(run, *folded);
  // After writing, every file is loaded back and must give the folded network's logits.
  const auto probe = data::prepareBatch(test.images.narrow(0, 0, std::min<int64_t>(64, test.size())),
                                        run.norm, {}, nullptr);
  const auto reference = folded->forward(probe);
  const auto finite = torch::isfinite(reference);
  const auto finite_reference = reference.masked_select(finite);
  const double reload_limit =
      1e-5 * std::max(1.0, finite_reference.numel() ? finite_reference.abs().max().item<double>() : 0.0);
  auto checkReloaded = [&](const std::string& file, const torch::Tensor& logits) {
    // Non-finite logits (a forced export of a broken network) must be non-finite in the same
    // places; the finite ones must agree.
    const bool same_places = torch::equal(finite, torch::isfinite(logits));
    const auto diff = (logits - reference).masked_select(finite);
    const double err = !same_places ? INFINITY : diff.numel() ? diff.abs().max().item<double>() : 0.0;
    if (!(err <= reload_limit))
      throw Error("the written file " + file + " does not reproduce the folded network (max abs "
                  "error " + std::to_string(err) + ")");
  };
  if (!request.onnx_path.empty()) {
    writeOnnx(model, request.onnx_path);
    checkReloaded(request.onnx_path, runFoldedModel(readOnnx(request.onnx_path), probe));
    result.written.push_back(request.onnx_path);
  }
  if (!request.torchscript_path.empty()) {
    writeTorchScript(model, request.torchscript_path);
    auto reloaded = torch::jit::load(request.torchscript_path);
    reloaded.eval();
    checkReloaded(request.torchscript_path, reloaded.forward({probe}).toTensor());
    result.written.push_back(request.torchscript_path);
  }
  if (!request.spec_path.empty()) {
    writeSpec(model, r, request.spec_path);
    checkReloaded(request.spec_path, runFoldedModel(readSpec(request.spec_path), probe));
    result.written.push_back(request.spec_path);
    result.written.push_back(
        (fs::path(request.spec_path).parent_path() / (fs::path(request.spec_path).stem().string() + ".safetensors")).string());
  }
  result.exported = true;
  return result;
}

Evaluation evaluateExport(const std::string& path, const DatasetSpec& spec, int64_t limit,
                          int threads) {
  setComputeThreads(threads);
  const auto data = data::loadDataset(spec);
  const auto test = data::takeFirst(data.test, limit);
  Evaluation e;
  e.images = test.size();
  torch::NoGradGuard no_grad;
  auto checkShape = [&](int channels, int height, int width) {
    if (channels != data.info.channels || height != data.info.height || width != data.info.width)
      throw Error(path + " expects " + std::to_string(channels) + "x" + std::to_string(height) +
                  "x" + std::to_string(width) + " inputs but " + data.info.name + " has " +
                  std::to_string(data.info.channels) + "x" + std::to_string(data.info.height) +
                  "x" + std::to_string(data.info.width));
  };
  if (fs::is_directory(path)) {
    e.format = "run";
    auto run = loadRun(path, &data);
    checkShape(run.backbone.in_channels, run.backbone.input_height, run.backbone.input_width);
    FoldedNetwork folded(*run.net, run.masks);
    folded->eval();
    e.accuracy = data::classificationAccuracy(test, run.norm, 500, [&](const torch::Tensor& x) { return folded->forward(x); });
    return e;
  }
  const auto ext = fs::path(path).extension().string();
  if (ext == ".onnx" || ext == ".json") {
    e.format = ext == ".onnx" ? "onnx" : "spec";
    const auto model = ext == ".onnx" ? readOnnx(path) : readSpec(path);
    checkShape(model.in_channels, model.height, model.width);
    data::Normalization norm{model.mean, model.std};
    e.accuracy = data::classificationAccuracy(test, norm, 500, [&](const torch::Tensor& x) { return runFoldedModel(model, x); });
    return e;
  }
  if (ext == ".pt") {
    e.format = "torchscript";
    torch::jit::Module module;
    if (const auto problem = notARegularFile(path, false); !problem.empty())
      throw Error("cannot load TorchScript " + path + ": it " + problem);
    try {
      std::istringstream in(readInputFile(path, kMaxModelFileBytes, "a TorchScript file"));
      module = torch::jit::load(in);
    } catch (const c10::Error& err) {
      throw Error("cannot load TorchScript " + path + ": " + torchMessage(err));
    }
    module.eval();
    data::Normalization norm;
    try {
      for (float v : toVector(module.attr("input_mean").toTensor())) norm.mean.push_back(v);
      for (float v : toVector(module.attr("input_std").toTensor())) norm.std.push_back(v);
    } catch (const c10::Error&) {
      throw Error(path + " has no input_mean / input_std (not written by RepNAS Studio)");
    }
    if (norm.mean.size() != static_cast<size_t>(data.info.channels) || norm.std.size() != norm.mean.size())
      throw Error(path + ": input_mean / input_std have " + std::to_string(norm.mean.size()) +
                  " channels but " + data.info.name + " has " + std::to_string(data.info.channels));
    try {
      e.accuracy = data::classificationAccuracy(test, norm, 500, [&](const torch::Tensor& x) {
        const auto out = module.forward({x});
        if (!out.isTensor() || out.toTensor().dim() != 2 || out.toTensor().size(0) != x.size(0))
          throw Error(path + ": forward() does not return logits [N, classes]");
        return out.toTensor();
      });
    } catch (const c10::Error& err) {
      throw Error(path + ": running it failed: " + torchMessage(err));
    }
    return e;
  }
  throw Error("cannot evaluate " + path + ": expected a run folder, .onnx, .pt or .json");
}

}  // namespace repnas
