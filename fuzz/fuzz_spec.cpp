// The spec export: JSON, a NUL byte, then the bytes of the safetensors file it names.
#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/spec_io.h"
#include "repnas/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string all(reinterpret_cast<const char*>(data), size);
  const auto cut = all.find('\0');
  const std::string spec = all.substr(0, cut);
  const std::string weights = cut == std::string::npos ? std::string() : all.substr(cut + 1);
  try {
    repnas::parseSpec(spec, "fuzz.json", [&](const std::string&) { return weights; });
  } catch (const repnas::Error&) {
  }
  return 0;
}
