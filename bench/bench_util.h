#pragma once
// Small helpers shared by the benchmark programs.

#include <nlohmann/json.hpp>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "repnas/events.h"

namespace repnas::bench {

/// @brief Now, UTC, ISO 8601 (e.g. 2026-11-23T15:04:05Z).
inline std::string utcNow() {
  char buf[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

/// @brief Writes `j` (pretty) to path.tmp, then renames it over `path`: an earlier result is
/// never left half-written.
inline void writeJsonAtomically(const std::filesystem::path& path, const nlohmann::json& j) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace repnas::bench
