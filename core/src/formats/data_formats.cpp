#include "formats/data_formats.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace repnas::data {

namespace {

constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;
constexpr uint64_t kCifarImageBytes = 3 * 32 * 32;
constexpr uint64_t kCifarRecordBytes = 1 + kCifarImageBytes;
constexpr int kCifarClasses = 10;

[[noreturn]] void fail(const std::string& name, const std::string& problem) {
  throw DataError(name + ": " + problem);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

uint32_t bigEndian32(const uint8_t* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

bool mulChecked(uint64_t a, uint64_t b, uint64_t& out) { return !__builtin_mul_overflow(a, b, &out); }

/// Reads exactly `n` bytes into a buffer grown as they arrive (a header that claims more than
/// the stream holds costs only what it holds); the count read when the stream ends early.
uint64_t readUpTo(ByteStream& in, std::vector<uint8_t>& out, uint64_t n) {
  out.clear();
  constexpr uint64_t kChunk = uint64_t{1} << 22;
  while (out.size() < n) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, n - out.size()));
    const size_t old = out.size();
    out.resize(old + want);
    const size_t got = in.read(out.data() + old, want);
    out.resize(old + got);
    if (got < want) break;
  }
  return out.size();
}

std::string bytesText(uint64_t n) { return std::to_string(n) + " bytes"; }

// "the file has N bytes" after `expected` valid ones, counting what is left without keeping
// it, and at most 64 MiB of it (a gzip bomb behind a valid header costs no more than that).
std::string trailingText(ByteStream& in, uint64_t expected) {
  constexpr uint64_t kCountLimit = uint64_t{64} << 20;
  std::vector<uint8_t> scratch(1 << 16);
  uint64_t more = 0;
  while (more <= kCountLimit) {
    const size_t got = in.read(scratch.data(), scratch.size());
    more += got;
    if (got < scratch.size()) return "the file has " + bytesText(expected + more);
  }
  return "the file has more than " + bytesText(expected + kCountLimit);
}

}  // namespace

// ---------------------------------------------------------------- ByteStream

struct ByteStream::Inflater {
  z_stream zs{};
  bool ended = false;  ///< the last member ended and no further member follows
};

ByteStream::ByteStream(const uint8_t* data, size_t size, std::string name)
    : data_(data), size_(size), name_(std::move(name)) {
  gzip_ = size_ >= 2 && data_[0] == 0x1f && data_[1] == 0x8b;
  if (gzip_) {
    inflater_ = std::make_unique<Inflater>();
    if (inflateInit2(&inflater_->zs, 16 + MAX_WBITS) != Z_OK) fail(name_, "cannot start zlib");
    inflater_->zs.next_in = const_cast<Bytef*>(data_);
    inflater_->zs.avail_in = 0;
  }
}

ByteStream::~ByteStream() {
  if (inflater_) inflateEnd(&inflater_->zs);
}

size_t ByteStream::read(uint8_t* out, size_t n) {
  size_t done = 0;
  if (peeked_ >= 0 && n > 0) {
    out[done++] = static_cast<uint8_t>(peeked_);
    peeked_ = -1;
  }
  if (!gzip_) {
    const size_t take = std::min(n - done, size_ - pos_);
    if (take) std::memcpy(out + done, data_ + pos_, take);
    pos_ += take;
    return done + take;
  }
  auto& z = inflater_->zs;
  while (done < n && !inflater_->ended) {
    if (z.avail_in == 0) {  // feed at most 1 GiB at a time (avail_in is 32-bit)
      const size_t left = size_ - pos_;
      if (left == 0) fail(name_, "corrupt gzip stream: unexpected end of file");
      const size_t feed = std::min<size_t>(left, size_t{1} << 30);
      z.next_in = const_cast<Bytef*>(data_ + pos_);
      z.avail_in = static_cast<uInt>(feed);
      pos_ += feed;
    }
    const size_t want = std::min<size_t>(n - done, size_t{1} << 30);
    z.next_out = out + done;
    z.avail_out = static_cast<uInt>(want);
    const int rc = inflate(&z, Z_NO_FLUSH);
    done += want - z.avail_out;
    if (rc == Z_STREAM_END) {
      // Another member may follow (as gunzip reads them); anything else is not gzip data.
      const size_t rest = z.avail_in + (size_ - pos_);
      if (rest == 0) {
        inflater_->ended = true;
      } else {
        const Bytef* next = z.avail_in ? z.next_in : data_ + pos_;
        if (rest < 2 || next[0] != 0x1f || next[1] != 0x8b)
          fail(name_, "trailing data: " + std::to_string(rest) + " bytes after the gzip stream");
        inflateReset(&z);
      }
    } else if (rc == Z_BUF_ERROR) {
      if (z.avail_in == 0 && pos_ == size_) fail(name_, "corrupt gzip stream: unexpected end of file");
      if (z.avail_in > 0) fail(name_, "corrupt gzip stream: no progress");
    } else if (rc != Z_OK) {
      fail(name_, std::string("corrupt gzip stream: ") + (z.msg ? z.msg : "zlib error " + std::to_string(rc)));
    }
  }
  return done;
}

bool ByteStream::atEnd() {
  if (peeked_ >= 0) return false;
  uint8_t b;
  if (read(&b, 1) == 0) return true;
  peeked_ = b;
  return false;
}

std::vector<uint8_t> readAll(ByteStream& in, uint64_t max_bytes) {
  std::vector<uint8_t> out;
  readUpTo(in, out, max_bytes);
  if (!in.atEnd())
    fail(in.name(), "too large: more than " + std::to_string(max_bytes >> 20) + " MiB of data (not a data set file?)");
  return out;
}

// ---------------------------------------------------------------- IDX

namespace {

// The `size`-byte header of an IDX file of `kind` ("image", "label"): the magic number first
// (so that a wrong file is named as such), then the dimensions.
void readIdxHeader(ByteStream& in, uint8_t* header, size_t size, uint32_t expected_magic,
                   const std::string& kind) {
  const auto& name = in.name();
  const std::string shorter = "-byte IDX " + kind + " header";
  const size_t got = in.read(header, 4);
  if (got < 4) fail(name, "truncated: " + bytesText(got) + ", shorter than the " + std::to_string(size) + shorter);
  const uint32_t magic = bigEndian32(header);
  if (magic != expected_magic)
    fail(name, "wrong magic number " + hex32(magic) + ", expected " + hex32(expected_magic) + " (IDX " + kind + "s)");
  const size_t rest = in.read(header + 4, size - 4);
  if (rest < size - 4)
    fail(name, "truncated: " + bytesText(4 + rest) + ", shorter than the " + std::to_string(size) + shorter);
}

}  // namespace

IdxImages parseIdxImages(ByteStream& in) {
  const auto& name = in.name();
  uint8_t header[16];
  readIdxHeader(in, header, sizeof header, kIdxImagesMagic, "image");
  IdxImages out;
  out.n = bigEndian32(header + 4);
  out.height = bigEndian32(header + 8);
  out.width = bigEndian32(header + 12);
  const std::string described = std::to_string(out.n) + " images of " + std::to_string(out.height) + "x" +
                                std::to_string(out.width);
  if (out.n == 0 || out.height == 0 || out.width == 0) fail(name, "empty: header says " + described);
  uint64_t pixels = 0;
  const bool fits = mulChecked(out.n, out.height, pixels) && mulChecked(pixels, out.width, pixels);
  if (!fits || pixels > kMaxDataFileBytes)
    fail(name, "too large: header says " + described + " (more than the " +
                   std::to_string(kMaxDataFileBytes >> 30) + " GiB a data file may hold)");
  const uint64_t have = readUpTo(in, out.pixels, pixels);
  if (have < pixels)
    fail(name, "truncated: header says " + described + " (" + bytesText(16 + pixels) +
                   ") but the file has " + bytesText(16 + have));
  if (!in.atEnd())
    fail(name, "trailing data: header says " + described + " (" + bytesText(16 + pixels) +
                   ") but " + trailingText(in, 16 + pixels));
  return out;
}

std::vector<uint8_t> parseIdxLabels(ByteStream& in, int num_classes) {
  const auto& name = in.name();
  if (num_classes < 1 || num_classes > 256)
    fail(name, "number of classes " + std::to_string(num_classes) + " is outside 1..256 (labels are single bytes)");
  uint8_t header[8];
  readIdxHeader(in, header, sizeof header, kIdxLabelsMagic, "label");
  const uint64_t n = bigEndian32(header + 4);
  if (n == 0) fail(name, "empty: header says 0 labels");
  std::vector<uint8_t> labels;
  const uint64_t have = readUpTo(in, labels, n);
  if (have < n)
    fail(name, "truncated: header says " + std::to_string(n) + " labels (" + bytesText(8 + n) +
                   ") but the file has " + bytesText(8 + have));
  if (!in.atEnd())
    fail(name, "trailing data: header says " + std::to_string(n) + " labels (" + bytesText(8 + n) +
                   ") but " + trailingText(in, 8 + n));
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= num_classes)
      fail(name, "label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                     " is outside 0.." + std::to_string(num_classes - 1));
  return labels;
}

// ---------------------------------------------------------------- CIFAR-10

CifarBatch parseCifar10Batch(ByteStream& in) {
  const auto& name = in.name();
  const auto bytes = readAll(in);
  if (bytes.empty()) fail(name, "empty file (expected CIFAR-10 records of 3073 bytes)");
  if (bytes.size() % kCifarRecordBytes != 0)
    fail(name, "size " + std::to_string(bytes.size()) + " bytes is not a multiple of " +
                   std::to_string(kCifarRecordBytes) + " (CIFAR-10 record: 1 label byte + 3072 image bytes)");
  CifarBatch out;
  out.n = bytes.size() / kCifarRecordBytes;
  out.labels.resize(out.n);
  out.pixels.resize(out.n * kCifarImageBytes);
  for (uint64_t i = 0; i < out.n; ++i) {
    const uint8_t* record = bytes.data() + i * kCifarRecordBytes;
    if (record[0] >= kCifarClasses)
      fail(name, "label " + std::to_string(record[0]) + " at record " + std::to_string(i) +
                     " is outside 0.." + std::to_string(kCifarClasses - 1));
    out.labels[i] = record[0];
    std::memcpy(out.pixels.data() + i * kCifarImageBytes, record + 1, kCifarImageBytes);
  }
  return out;
}

}  // namespace repnas::data
