// CIFAR-10 binary batches, plain and gzipped.
#include <cstddef>
#include <cstdint>

#include "formats/data_formats.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace repnas::data;
  try {
    ByteStream in(data, size, "fuzz");
    const auto batch = parseCifar10Batch(in);
    if (batch.labels.size() != batch.n || batch.pixels.size() != batch.n * 3072) __builtin_trap();
  } catch (const repnas::DataError&) {
  }
  return 0;
}
