#pragma once
// Files of a run directory, written atomically: a temporary file beside the target, then
// rename, so a crash or a full disk never leaves a half-written file in place of a good one.

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>

namespace repnas {

/// @brief Running sums of the current epoch (saved in checkpoints, so a resumed epoch reports
/// the same totals as an uninterrupted one).
struct EpochTotals {
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t count = 0;
  double seconds = 0;
};

/// @brief Writes `text` to `path` atomically. Throws repnas::Error naming the path and the
/// reason (e.g. no space left on device); the old file, if any, is untouched.
void writeTextAtomically(const std::string& path, const std::string& text);

/// @brief The one mechanism behind every write below: `write` fills a temporary file beside
/// `path`; then fsync, rename, fsync of the folder. On any failure (an exception from `write`
/// included) the temporary file is removed and repnas::Error names `path` and the reason.
void writeAtomically(const std::string& path,
                     const std::function<void(const std::string& tmp)>& write);

/// @brief Saves `archive` to `path` atomically, with the same guarantees.
void writeArchiveAtomically(torch::serialize::OutputArchive& archive, const std::string& path);

}  // namespace repnas
