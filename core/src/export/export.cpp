// Fold, verify and export a trained run; evaluate exported files.

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

FoldedModel toFoldedModel(const LoadedRun& run, FoldedNetworkImpl& folded) {
  return makeFoldedModel(run.backbone, run.config.mode, run.masks, run.norm.mean, run.norm.std,
                         folded);
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

bool compareOnImages(VerificationReport& r, const data::ImageSet& set, const data::Normalization& norm,
                     const LogitsFn& reference, const LogitsFn& candidate, const std::function<bool()>& stop) {
  r.images = set.size();
  int64_t correct_reference = 0, correct_candidate = 0;
  for (int64_t i = 0; i < set.size(); i += 500) {
    if (stop && stop()) return false;
    const int64_t n = std::min<int64_t>(500, set.size() - i);
    const auto x = data::prepareBatch(set.images.narrow(0, i, n), norm, {}, nullptr);
    const auto labels = set.labels.narrow(0, i, n);
    const auto a = reference(x);
    const auto b = candidate(x);
    // NaN must stick (std::max would drop it): a network that gives NaN does not verify.
    const double err = (a - b).abs().max().item<double>();
    const double logit = a.abs().max().item<double>();
    r.max_abs_err = std::isnan(err) || std::isnan(r.max_abs_err) ? NAN : std::max(r.max_abs_err, err);
    r.max_abs_logit = std::isnan(logit) || std::isnan(r.max_abs_logit) ? NAN : std::max(r.max_abs_logit, logit);
    correct_reference += a.argmax(1).eq(labels).sum().item<int64_t>();
    correct_candidate += b.argmax(1).eq(labels).sum().item<int64_t>();
    r.prediction_mismatches += a.argmax(1).ne(b.argmax(1)).sum().item<int64_t>();
  }
  r.max_rel_err = r.max_abs_logit > 0 ? r.max_abs_err / r.max_abs_logit : r.max_abs_err;
  r.tolerance = 1e-5 * std::max(1.0, r.max_abs_logit);
  if (std::isnan(r.max_abs_logit)) r.tolerance = NAN;
  r.accuracy_multi_branch = r.images ? static_cast<double>(correct_reference) / r.images : 0;
  r.accuracy_folded = r.images ? static_cast<double>(correct_candidate) / r.images : 0;
  r.pass = r.images >= 1 && std::isfinite(r.max_abs_err) && std::isfinite(r.max_abs_logit) &&
           r.max_abs_err <= r.tolerance;
  return true;
}

std::vector<std::string> writeModelFiles(const FoldedModel& model, const VerificationReport& r,
                                         const torch::Tensor& probe, const torch::Tensor& reference,
                                         const ModelFiles& files) {
  // After writing, every file is loaded back and must give the reference logits.
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
      throw Error("the written file " + file + " does not reproduce the network (max abs error " +
                  std::to_string(err) + ")");
  };
  std::vector<std::string> written;
  if (!files.onnx.empty()) {
    writeOnnx(model, files.onnx);
    checkReloaded(files.onnx, runFoldedModel(readOnnx(files.onnx), probe));
    written.push_back(files.onnx);
  }
  if (!files.torchscript.empty()) {
    writeTorchScript(model, files.torchscript);
    auto reloaded = torch::jit::load(files.torchscript);
    reloaded.eval();
    checkReloaded(files.torchscript, reloaded.forward({probe}).toTensor());
    written.push_back(files.torchscript);
  }
  if (!files.spec.empty()) {
    writeSpec(model, r, files.spec);
    checkReloaded(files.spec, runFoldedModel(readSpec(files.spec), probe));
    written.push_back(files.spec);
    written.push_back((fs::path(files.spec).parent_path() / (fs::path(files.spec).stem().string() + ".safetensors")).string());
  }
  return written;
}

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
  const bool complete = compareOnImages(
      r, test, run.norm, [&](const torch::Tensor& x) { return run.net->forward(x, run.masks); },
      [&](const torch::Tensor& x) { return folded->forward(x); }, stopNow);
  if (!complete) return result;
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
  const auto probe = data::prepareBatch(test.images.narrow(0, 0, std::min<int64_t>(64, test.size())),
                                        run.norm, {}, nullptr);
  result.written = writeModelFiles(model, r, probe, folded->forward(probe),
                                   {request.onnx_path, request.torchscript_path, request.spec_path});
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

