// One line of events.jsonl: an event or an Error; an event that parses writes a line that
// parses back.
#include <cstddef>
#include <cstdint>
#include <string>

#include "repnas/events.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string line(reinterpret_cast<const char*>(data), size);
  try {
    const auto event = repnas::eventFromJson(line);
    repnas::eventFromJson(repnas::eventToJson(event));
    if (const auto* info = std::get_if<repnas::RunInfo>(&event)) {
      repnas::StepSnapshot step;
      step.mask.resize(info->layers.size());
      if (repnas::eventMismatch(step, *info)) __builtin_trap();
    }
  } catch (const repnas::Error&) {
  }
  return 0;
}
