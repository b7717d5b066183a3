// Reading a run's weights.pt or checkpoint.pt back into a network (export, inspect, the
// explainer, the benchmarks).

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

std::string torchMessage(const c10::Error& e) {
  const std::string text = e.what_without_backtrace();
  return clippedText(text.substr(0, text.find('\n')), 200);
}

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

}  // namespace repnas
