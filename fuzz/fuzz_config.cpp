// Configuration JSON (config.json, --config FILE): a valid configuration or a ConfigError; a
// configuration that parses writes JSON that parses back to the same.
#include <cstddef>
#include <cstdint>
#include <string>

#include "repnas/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (int version : {1, repnas::kConfigVersion}) {
    try {
      const auto config = repnas::configFromJson(text, version);
      const auto again = repnas::configFromJson(repnas::configToJson(config));
      if (repnas::configToJson(again) != repnas::configToJson(config)) __builtin_trap();
    } catch (const repnas::ConfigError&) {
    }
  }
  return 0;
}
