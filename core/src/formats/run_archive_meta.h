#pragma once
// The metadata of a run archive: the JSON object that weights.pt and checkpoint.pt carry beside
// their tensors (formats/run_files.h). Written and read here only: the engine saves and resumes
// through it, export, inspect and retrain read it. No torch.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "repnas/branch_kind.h"
#include "repnas/budget.h"

namespace repnas {

/// @brief Running sums of the current epoch (saved in checkpoints, so a resumed epoch reports
/// the same totals as an uninterrupted one).
struct EpochTotals {
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t count = 0;
  double seconds = 0;
};

/// @brief The input a run's network was built for.
struct InputShape {
  int channels = 0, height = 0, width = 0, classes = 0;
};

/// @brief What a run archive's metadata says. weights.pt (format "repnas-weights-2"): the final
/// architecture in `mask`. checkpoint.pt ("repnas-checkpoint-2"): the step, the fix, the
/// budget, the journal and the epoch's totals. Both: the configuration, the normalisation and
/// (since 0.1) the input shape.
struct RunArchiveMeta {
  enum class Kind { Weights, Checkpoint };
  Kind kind = Kind::Checkpoint;
  std::string config_json;  ///< as written (a file without config_version is version 1)
  std::vector<double> mean, std;  ///< the input normalisation, per channel
  std::optional<InputShape> input;  ///< absent in archives written before it was recorded
  std::vector<BranchMask> mask;     ///< weights.pt: the architecture trained
  int64_t step = 0;                 ///< checkpoint.pt: steps completed
  bool fixed = false;               ///< checkpoint.pt: past the fix
  std::vector<BranchMask> fixed_masks;  ///< checkpoint.pt after the fix
  std::optional<Budget> budget;     ///< checkpoint.pt
  std::optional<std::string> journal_json;  ///< checkpoint.pt since 0.2: the budget-edit journal
  EpochTotals epoch_totals;         ///< checkpoint.pt
  /// checkpoint.pt: the step time spent before the fix, and the part of it in the search phase
  /// (search_seconds: the time limit counts on after a resume); 0 in checkpoints without them.
  double seconds_before_fix = 0, search_phase_seconds = 0;

  /// @brief The architecture it records, if any: `mask` (weights.pt), or `fixed_masks` of a
  /// checkpoint after the fix; nullopt for a checkpoint before the fix.
  std::optional<std::vector<BranchMask>> architecture() const;
};

/// @brief The metadata as the JSON text an archive carries.
std::string runArchiveMetaJson(const RunArchiveMeta& meta);

/// @brief Parses an archive's metadata; Error("malformed metadata: …") when it is not a JSON
/// object of either kind with the fields of its kind.
RunArchiveMeta parseRunArchiveMeta(const std::string& text);

}  // namespace repnas
