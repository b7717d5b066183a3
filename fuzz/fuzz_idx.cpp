// IDX images and labels, plain and gzipped: any bytes give images, labels or a DataError.
#include <cstddef>
#include <cstdint>

#include "formats/data_formats.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace repnas::data;
  try {
    ByteStream in(data, size, "fuzz");
    const auto images = parseIdxImages(in);
    if (images.pixels.size() != images.n * images.height * images.width) __builtin_trap();
  } catch (const repnas::DataError&) {
  }
  try {
    ByteStream in(data, size, "fuzz");
    const auto labels = parseIdxLabels(in, 10);
    for (uint8_t l : labels)
      if (l >= 10) __builtin_trap();
  } catch (const repnas::DataError&) {
  }
  return 0;
}
