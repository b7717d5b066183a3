#pragma once
// Writing a file atomically: a temporary file beside the target, fsync, rename, fsync of the
// folder, so that a crash or a full disk never leaves a half-written file in place of a good
// one. No torch here.

#include <functional>
#include <string>

namespace repnas {

/// @brief Writes `text` to `path` atomically. Throws repnas::Error naming the path and the
/// reason (e.g. no space left on device); the old file, if any, is untouched.
void writeTextAtomically(const std::string& path, const std::string& text);

/// @brief The one mechanism behind every write: `write` fills a temporary file beside `path`;
/// then fsync, rename, fsync of the folder. On any failure (an exception from `write`
/// included) the temporary file is removed and repnas::Error names `path` and the reason.
/// Refuses to replace anything that is not a regular file (a device, a FIFO, a symlink).
void writeAtomically(const std::string& path,
                     const std::function<void(const std::string& tmp)>& write);

}  // namespace repnas
