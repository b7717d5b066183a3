// ONNX models as RepNAS Studio writes them: a validated model or an Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/onnx_io.h"
#include "repnas/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    repnas::parseOnnx(std::string(reinterpret_cast<const char*>(data), size), "fuzz.onnx");
  } catch (const repnas::Error&) {
  }
  return 0;
}
