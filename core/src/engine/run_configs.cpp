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

namespace {
/// The search `config` turned into the training of `mask` from scratch, as the baselines train:
/// a validation split the strategy held out to choose it (GDAS, RENA) goes back to training.
RunConfig retrainingOf(RunConfig config, const std::vector<BranchMask>& mask, const std::string& source) {
  if (strategyInfo(config.mode).capabilities.needs_validation_split) config.val_split = 0;
  config.mode = "odbb";
  config.mask = {MaskSetting::Kind::Given, mask};
  config.mask_source = source;
  config.warmup_epochs = config.search_epochs = config.fixed_epochs = -1;
  config.arch_lr = config.gdas_arch_lr = -1;  // the search's resolved α rates do not apply
  config.validate();
  return config;
}

/// The configuration of the search in `run_dir`; Error naming the folder when it holds none
/// (`what`: what a search has that another run has not, for the message).
RunConfig searchConfigIn(const std::string& run_dir, const std::string& what) {
  if (!RunFolder(run_dir).hasConfig())
    throw Error(run_dir + " has no " + RunFolder::kConfig + ": not a RepNAS run folder");
  RunConfig config = loadRunConfig(run_dir);
  if (!config.isSearch())
    throw Error(run_dir + " is a " + config.mode + " run, not a search: it has no " + what);
  return config;
}
}  // namespace

RunConfig retrainConfig(const std::string& run_dir) {
  const RunFolder folder(run_dir);
  const RunConfig config = searchConfigIn(run_dir, "architecture to retrain");
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
  return retrainingOf(config, *mask,
                      "the search in " + run_dir + " (" + from + ", seed " + std::to_string(config.seed) +
                          ", k=" + std::to_string(countBranches(*mask)) + ")");
}

RunConfig trialRetrainConfig(const std::string& run_dir, const std::vector<BranchMask>& mask,
                             const std::string& source) {
  const RunConfig config = searchConfigIn(run_dir, "trials to retrain");
  return retrainingOf(config, mask, source + " of the search in " + run_dir + " (seed " +
                                        std::to_string(config.seed) + ", k=" + std::to_string(countBranches(mask)) + ")");
}

const std::vector<std::string>& resumeChangeableKeys() {
  static const std::vector<std::string> keys = {"lr", "epochs", "fixed_epochs"};
  return keys;
}

}  // namespace repnas
