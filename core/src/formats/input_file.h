#pragma once
// Reading files that come from outside (configs, specs, model files, data sets, event logs):
// one place that refuses what is not a regular file and bounds what is read. No torch here.

#include <cstdint>
#include <string>

namespace repnas {

/// @brief Reads the regular file `path` whole. Throws repnas::Error "PATH: problem" when it is
/// missing, a folder, not a regular file (a device, a FIFO, a socket — also through a
/// symlink), unreadable, or larger than `max_bytes` ("too large: more than M for WHAT"),
/// without reading more than `max_bytes` + 1 bytes. `what` names the kind of file.
std::string readInputFile(const std::string& path, uint64_t max_bytes, const std::string& what);

/// @brief Why `path` is not a regular file that may be read or replaced (nullopt-like: empty
/// when it is one or does not exist): "is a folder", "is not a regular file (a device, FIFO
/// or socket)", "is a symbolic link" (only when `refuse_symlink`).
std::string notARegularFile(const std::string& path, bool refuse_symlink);

/// @brief A byte count as text for messages: "512 bytes", "3.0 MiB", "2.0 GiB".
std::string byteCountText(uint64_t bytes);

/// @brief `text` for a message: at most `max_chars` characters, "…" when cut.
std::string clippedText(const std::string& text, size_t max_chars = 60);

}  // namespace repnas
