// The metadata of a run archive (weights.pt, checkpoint.pt): parsed or an Error; what parses
// writes a text that parses back to the same.
#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/run_archive_meta.h"
#include "repnas/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto meta = repnas::parseRunArchiveMeta(text);
    const auto written = repnas::runArchiveMetaJson(meta);
    if (repnas::runArchiveMetaJson(repnas::parseRunArchiveMeta(written)) != written) __builtin_trap();
  } catch (const repnas::Error&) {
  }
  return 0;
}
