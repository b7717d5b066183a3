#pragma once
// Files of a run directory: the archives (checkpoint.pt, weights.pt), written atomically
// (atomic_file.h), checked on load.

#include <torch/torch.h>

#include "formats/atomic_file.h"

#include <cstdint>
#include <functional>
#include <string>

namespace repnas {

/// @brief A run archive (checkpoint.pt, weights.pt). Written since format 2 as an outer
/// archive of "meta" (the JSON text), "content" (the serialized inner archive: network,
/// optimiser, strategy, as uint8) and "crc32" (of meta and content): LibTorch 1.13 checks no
/// zip CRC, so a flipped bit inside a tensor would otherwise load silently. Format 1 (the
/// inner archive itself, with "meta" beside its entries) still loads, unchecked.
struct RunArchive {
  std::string meta;  ///< JSON text
  torch::serialize::InputArchive content;
  bool checked = false;  ///< false for a format-1 file
};

/// @brief Serializes `meta` and `content` in memory, then writes them to `path` atomically
/// (so that a full disk is an Error naming the path, never an abort from LibTorch's writer,
/// and no temporary file is left).
void writeRunArchive(const std::string& path, const std::string& meta,
                     torch::serialize::OutputArchive& content);

/// @brief Reads and verifies a run archive; Error "cannot read PATH: …" when it is not a
/// regular file, not an archive, or its checksum does not match ("damaged: …").
RunArchive readRunArchive(const std::string& path);

/// @brief Removes temporary files (NAME.tmpPID) of writes that a killed process left in `dir`,
/// for the files a run writes. Returns how many were removed.
int removeStaleTemporaryFiles(const std::string& dir);

}  // namespace repnas
