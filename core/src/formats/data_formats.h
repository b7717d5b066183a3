#pragma once
// The data set file formats on bytes in memory: IDX (MNIST layout) and CIFAR-10 binary
// batches, plain or gzipped. No torch and no files here, so that a fuzzer can call every
// parser on any bytes. Every problem is a repnas::DataError "NAME: problem".

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "repnas/dataset.h"

namespace repnas::data {

/// @brief Most bytes one data file may decode to (Fashion-MNIST's training images are 47 MB,
/// all of CIFAR-10 180 MB): a header or a gzip stream that claims more is refused before it is
/// decoded.
inline constexpr uint64_t kMaxDataFileBytes = uint64_t{2} << 30;

/// @brief The decoded bytes of `data` (gzip when it starts with the gzip magic, plain
/// otherwise), read on demand: nothing is decoded before it is asked for, so a gzip bomb costs
/// only what a reader takes from it. Concatenated gzip members decode as one stream, as
/// gunzip does.
class ByteStream {
 public:
  ByteStream(const uint8_t* data, size_t size, std::string name);
  ~ByteStream();
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  /// @brief Up to `n` decoded bytes into `out`; fewer only at the end. DataError on a corrupt
  /// or truncated gzip stream.
  size_t read(uint8_t* out, size_t n);
  /// @brief True when no decoded byte is left (decodes at most one byte to find out).
  bool atEnd();
  const std::string& name() const { return name_; }
  bool gzipped() const { return gzip_; }

 private:
  struct Inflater;
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string name_;
  bool gzip_ = false;
  std::unique_ptr<Inflater> inflater_;
  int peeked_ = -1;  ///< a byte atEnd() decoded ahead, or -1
};

/// @brief Every decoded byte, at most `max_bytes` (DataError "too large" beyond).
std::vector<uint8_t> readAll(ByteStream& in, uint64_t max_bytes = kMaxDataFileBytes);

/// @brief IDX images (magic 0x00000803, dims N, H, W) as N×1×H×W bytes.
struct IdxImages {
  uint64_t n = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;
};
IdxImages parseIdxImages(ByteStream& in);

/// @brief IDX labels (magic 0x00000801, dim N), each < num_classes (1..256).
std::vector<uint8_t> parseIdxLabels(ByteStream& in, int num_classes);

/// @brief One CIFAR-10 binary batch: records of 1 label byte (< 10) + 3072 image bytes (CHW).
struct CifarBatch {
  uint64_t n = 0;
  std::vector<uint8_t> labels;
  std::vector<uint8_t> pixels;  ///< n × 3 × 32 × 32
};
CifarBatch parseCifar10Batch(ByteStream& in);

}  // namespace repnas::data
