// Reading a run's weights.pt or checkpoint.pt back into a network (export, inspect, the
// explainer, the benchmarks).

#include <torch/torch.h>

#include <filesystem>

#include "export/export_internal.h"
#include "formats/input_file.h"
#include "formats/run_archive_meta.h"
#include "formats/run_files.h"
#include "repnas/block_spec.h"
#include "repnas/config.h"
#include "repnas/costs.h"
#include "repnas/error.h"
#include "repnas/run_folder.h"
#include "search/strategy.h"

namespace repnas {

namespace fs = std::filesystem;

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
    const auto meta = parseRunArchiveMeta(file.meta);
    run.config = configFromJson(meta.config_json, /*version_when_absent=*/1);
    run.norm.mean = meta.mean;
    run.norm.std = meta.std;
    InputShape in;
    if (meta.input) {
      in = *meta.input;
      if (in.channels < 1 || in.channels > kMaxChannels || in.height < 1 || in.height > kMaxInputSide ||
          in.width < 1 || in.width > kMaxInputSide || in.classes < 2 || in.classes > 256)
        throw Error(path + ": its input " + std::to_string(in.channels) + "x" + std::to_string(in.height) +
                    "x" + std::to_string(in.width) + " with " + std::to_string(in.classes) +
                    " classes is outside what RepNAS Studio builds");
    } else if (data) {
      in = {data->info.channels, data->info.height, data->info.width, data->info.num_classes};
    } else {
      throw Error(path + " does not record the input shape");
    }
    run.backbone = backboneFor(run.config, in.channels, in.height, in.width, in.classes);
    run.net = Network(run.backbone);
    torch::serialize::InputArchive net_archive;
    archive.read("network", net_archive);
    run.net->load(net_archive);
    run.net->eval();
    run.complete = meta.kind == RunArchiveMeta::Kind::Weights;
    run.step = meta.step;
    if (const auto arch = meta.architecture()) {  // weights.pt, or a checkpoint after the fix
      run.masks = *arch;
    } else {  // checkpoint.pt during warm-up or search: what the strategy would fix now
      if (!meta.budget) throw Error(path + ": malformed metadata: a checkpoint without its budget");
      const auto strategy = makeStrategy(run.config, run.backbone);
      strategy->load(archive);
      Budget budget = *meta.budget;
      if (budget.costLimited()) {  // counted in the run's own measured costs
        const RunFolder folder(fs::path(path).parent_path().string());
        if (!folder.hasCosts())
          throw Error("its budget has cost limits but " + folder.costs() + " is missing");
        budget.costs = std::make_shared<const BranchCostTable>(trainingCostTable(trainingCostsFromJson(
            readInputFile(folder.costs(), kMaxCostTableBytes, "a cost table"))));
      }
      run.masks = strategy->derive(budget);
    }
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
