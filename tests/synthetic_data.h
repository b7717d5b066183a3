#pragma once
// Tiny learnable IDX data sets written by tests (plain, uncompressed IDX files).

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace repnas::testing {

inline void writeBigEndian(std::ofstream& out, uint32_t v) {
  const unsigned char b[4] = {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
                              static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
  out.write(reinterpret_cast<const char*>(b), 4);
}

/// Class c shows a bright 3x3 square at a class-specific place over uniform noise.
inline void writeIdxSplit(const std::string& dir, const std::string& prefix, int count, int h,
                          int w, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(0, 60);
  std::vector<unsigned char> images(static_cast<size_t>(count) * h * w);
  std::vector<unsigned char> labels(count);
  for (int i = 0; i < count; ++i) {
    const int label = i % 10;
    labels[i] = static_cast<unsigned char>(label);
    unsigned char* img = images.data() + static_cast<size_t>(i) * h * w;
    for (int p = 0; p < h * w; ++p) img[p] = static_cast<unsigned char>(noise(rng));
    const int cy = 1 + (label / 5) * (h / 2), cx = 1 + (label % 5) * ((w - 3) / 4);
    for (int y = cy; y < cy + 3 && y < h; ++y)
      for (int x = cx; x < cx + 3 && x < w; ++x) img[y * w + x] = 250;
  }
  std::ofstream im(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary);
  writeBigEndian(im, 0x00000803);
  writeBigEndian(im, count);
  writeBigEndian(im, h);
  writeBigEndian(im, w);
  im.write(reinterpret_cast<const char*>(images.data()), images.size());
  std::ofstream lb(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary);
  writeBigEndian(lb, 0x00000801);
  writeBigEndian(lb, count);
  lb.write(reinterpret_cast<const char*>(labels.data()), labels.size());
}

inline void writeIdxDataset(const std::string& dir, int train, int test, int h = 12, int w = 12) {
  writeIdxSplit(dir, "train", train, h, w, 1);
  writeIdxSplit(dir, "t10k", test, h, w, 2);
}

}  // namespace repnas::testing
