// The configurations the engine derives from a run folder: a search's found architecture set up
// to train from scratch (retrain), and what a resume may change.
#include "repnas/engine.h"

#include <filesystem>
#include <optional>

#include "formats/run_archive_meta.h"
#include "formats/run_files.h"
#include "repnas/error.h"
#include "repnas/run_folder.h"
#include "repnas/strategy_info.h"

namespace repnas {

namespace fs = std::filesystem;

RunConfig retrainConfig(const std::string& run_dir) {
  const RunFolder folder(run_dir);
  if (!folder.hasConfig())
    throw Error(run_dir + " has no " + RunFolder::kConfig + ": not a RepNAS run folder");
  RunConfig config = loadRunConfig(run_dir);
  if (!config.isSearch())
    throw Error(run_dir + " is a " + config.mode + " run, not a search: it has no architecture to retrain");
  // weights.pt of a completed run, else the checkpoint once the mask is fixed.
  std::optional<std::vector<BranchMask>> mask;
  std::string from;
  for (const auto& path : {folder.weights(), folder.checkpoint()}) {
    if (mask || !fs::exists(path)) continue;
    try {
      mask = parseRunArchiveMeta(readRunArchive(path).meta).architecture();
    } catch (const Error& e) {
      const std::string what = e.what();
      throw Error(what.rfind("cannot read", 0) == 0 ? what : path + ": " + what);
    }
    if (mask) from = fs::path(path).filename().string();
  }
  if (!mask)
    throw Error(run_dir + " has not fixed its architecture yet (no weights.pt, and its "
                "checkpoint.pt is from before the fix): let the search reach its fixed phase");
  // The found mask is trained as the baselines are: a validation split the strategy held out
  // to choose it (GDAS) goes back to training.
  if (strategyInfo(config.mode).capabilities.needs_validation_split) config.val_split = 0;
  config.mode = "odbb";
  config.mask = {MaskSetting::Kind::Given, *mask};
  config.mask_source = "the search in " + run_dir + " (" + from + ", seed " +
                       std::to_string(config.seed) + ", k=" + std::to_string(countBranches(*mask)) + ")";
  config.warmup_epochs = config.search_epochs = config.fixed_epochs = -1;
  config.arch_lr = config.gdas_arch_lr = -1;  // the search's resolved α rates do not apply
  config.validate();
  return config;
}

const std::vector<std::string>& resumeChangeableKeys() {
  static const std::vector<std::string> keys = {"lr", "epochs", "fixed_epochs"};
  return keys;
}

}  // namespace repnas
