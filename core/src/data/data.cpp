// Data set readers, validation, normalisation, augmentation and batching (see data.h).
//
// The formats themselves are parsed on bytes by data_formats.cpp (no torch, fuzzed): a file is
// read as stored (a regular file, bounded), decoded only as far as its header says it holds,
// and turned into tensors here once it is valid, so no c10::Error escapes on a bad file.
#include "data/data.h"

#include "formats/data_formats.h"
#include "formats/input_file.h"

#include <ATen/CPUGeneratorImpl.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>
#include <sstream>

namespace repnas {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kCifarSide = 32;
constexpr int64_t kCifarChannels = 3;

std::string shapeText(const torch::Tensor& images) {
  return std::to_string(images.size(1)) + "x" + std::to_string(images.size(2)) + "x" +
         std::to_string(images.size(3));
}

// splitmix64 finaliser: a bijection that scatters nearby inputs.
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

constexpr uint64_t kValidationStream = 0x7A11DA7EULL;  // "validate"

}  // namespace

// ---------------------------------------------------------------------------------------------
// DatasetSpec and inspectDataset (public API, repnas/dataset.h)

DatasetFormat DatasetSpec::format() const {
  if (name == "fashion-mnist" || name == "mnist" || name == "idx") return DatasetFormat::Idx;
  if (name == "cifar10") return DatasetFormat::Cifar10;
  throw DataError("unknown data set \"" + name +
                  "\": expected fashion-mnist, mnist, idx or cifar10");
}

std::string DatasetSpec::resolvedDir() const {
  format();  // an unknown name is reported as such, not as a missing folder
  if (!dir.empty()) return dir;
  if (name == "fashion-mnist") return kDefaultFashionMnistDir;
  throw DataError("data set \"" + name + "\" has no default folder: give the folder that holds its files");
}

DatasetInfo inspectDataset(const DatasetSpec& spec) { return data::loadDataset(spec).info; }

namespace data {

// ---------------------------------------------------------------------------------------------
// Files

namespace {

// The raw bytes of a data file: a regular file (not a folder, a device or a FIFO, also not
// through a symlink), at most kMaxDataFileBytes as stored.
std::string readDataFile(const std::string& path) {
  try {
    return readInputFile(path, kMaxDataFileBytes, "a data file");
  } catch (const DataError&) {
    throw;
  } catch (const Error& e) {
    throw DataError(e.what());
  }
}

const uint8_t* bytesOf(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// Owns the decoded bytes: a uint8 tensor of `sizes` copied from `bytes`.
torch::Tensor toTensor(const std::vector<uint8_t>& bytes, std::vector<int64_t> sizes) {
  return torch::from_blob(const_cast<uint8_t*>(bytes.data()), sizes, torch::kUInt8).clone();
}

}  // namespace

std::vector<uint8_t> readFileMaybeGzip(const std::string& path) {
  const auto raw = readDataFile(path);
  ByteStream in(bytesOf(raw), raw.size(), path);
  return readAll(in);
}

torch::Tensor readIdxImages(const std::string& path) {
  const auto raw = readDataFile(path);
  ByteStream in(bytesOf(raw), raw.size(), path);
  const auto images = parseIdxImages(in);
  return toTensor(images.pixels, {static_cast<int64_t>(images.n), 1, static_cast<int64_t>(images.height),
                                  static_cast<int64_t>(images.width)});
}

torch::Tensor readIdxLabels(const std::string& path, int num_classes) {
  if (num_classes < 1 || num_classes > 256)
    throw DataError(path + ": number of classes " + std::to_string(num_classes) +
                    " is outside 1..256 (labels are single bytes)");
  const auto raw = readDataFile(path);
  ByteStream in(bytesOf(raw), raw.size(), path);
  const auto labels = parseIdxLabels(in, num_classes);
  return toTensor(labels, {static_cast<int64_t>(labels.size())}).to(torch::kLong);
}

ImageSet readIdxPair(const std::string& images_path, const std::string& labels_path,
                     int num_classes) {
  ImageSet set;
  set.images = readIdxImages(images_path);
  set.labels = readIdxLabels(labels_path, num_classes);
  if (set.images.size(0) != set.labels.size(0))
    throw DataError("image count " + std::to_string(set.images.size(0)) +
                    " does not match label count " + std::to_string(set.labels.size(0)) +
                    " (" + images_path + ", " + labels_path + ")");
  return set;
}

ImageSet readCifar10Batches(const std::vector<std::string>& paths) {
  if (paths.empty()) throw DataError("CIFAR-10: no batch files given");
  std::vector<torch::Tensor> images, labels;
  for (const auto& path : paths) {
    const auto raw = readDataFile(path);
    ByteStream in(bytesOf(raw), raw.size(), path);
    const auto batch = parseCifar10Batch(in);
    const auto n = static_cast<int64_t>(batch.n);
    images.push_back(toTensor(batch.pixels, {n, kCifarChannels, kCifarSide, kCifarSide}));
    labels.push_back(toTensor(batch.labels, {n}).to(torch::kLong));
  }
  ImageSet set;
  set.images = images.size() == 1 ? images[0] : torch::cat(images, 0);
  set.labels = labels.size() == 1 ? labels[0] : torch::cat(labels, 0);
  return set;
}

// ---------------------------------------------------------------------------------------------
// Data sets

namespace {

// `base` or `base`.gz in `dir`, plain preferred; DataError when neither exists.
std::string findIdxFile(const fs::path& dir, const std::string& base) {
  std::error_code ec;
  for (const auto& candidate : {dir / base, dir / (base + ".gz")})
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
  throw DataError("missing file: no " + base + " or " + base + ".gz in " + dir.string());
}

// The folder holding data_batch_1.bin: `dir`, or the cifar-10-batches-bin folder of the
// official archive inside it.
fs::path cifarFolder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / "data_batch_1.bin", ec) &&
      fs::exists(dir / "cifar-10-batches-bin" / "data_batch_1.bin", ec))
    return dir / "cifar-10-batches-bin";
  return dir;
}

std::string findCifarFile(const fs::path& dir, const std::string& name) {
  std::error_code ec;
  const auto path = dir / name;
  if (!fs::is_regular_file(path, ec))
    throw DataError("missing file: no " + name + " in " + dir.string());
  return path.string();
}

}  // namespace

LoadedDataset loadDataset(const DatasetSpec& spec) {
  const DatasetFormat format = spec.format();
  const fs::path dir = spec.resolvedDir();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw DataError(dir.string() + ": missing folder: it does not exist or is not a folder (data set " +
                    spec.name + ")");

  LoadedDataset out;
  std::string train_first, test_first;
  if (format == DatasetFormat::Idx) {
    const auto train_images = findIdxFile(dir, "train-images-idx3-ubyte");
    const auto train_labels = findIdxFile(dir, "train-labels-idx1-ubyte");
    const auto test_images = findIdxFile(dir, "t10k-images-idx3-ubyte");
    const auto test_labels = findIdxFile(dir, "t10k-labels-idx1-ubyte");
    out.train = readIdxPair(train_images, train_labels);
    out.test = readIdxPair(test_images, test_labels);
    out.info.files = {train_images, train_labels, test_images, test_labels};
    train_first = train_images;
    test_first = test_images;
  } else {
    const fs::path folder = cifarFolder(dir);
    std::vector<std::string> train_files;
    for (int i = 1; i <= 5; ++i)
      train_files.push_back(findCifarFile(folder, "data_batch_" + std::to_string(i) + ".bin"));
    const auto test_file = findCifarFile(folder, "test_batch.bin");
    out.train = readCifar10Batches(train_files);
    out.test = readCifar10Batches({test_file});
    out.info.files = train_files;
    out.info.files.push_back(test_file);
    train_first = train_files.front();
    test_first = test_file;
  }

  const auto& tr = out.train.images;
  const auto& te = out.test.images;
  if (tr.size(1) != te.size(1) || tr.size(2) != te.size(2) || tr.size(3) != te.size(3))
    throw DataError("train images are " + shapeText(tr) + " but test images are " + shapeText(te) +
                    " (" + train_first + ", " + test_first + ")");
  if (tr.size(1) > std::numeric_limits<int>::max() || tr.size(2) > std::numeric_limits<int>::max() ||
      tr.size(3) > std::numeric_limits<int>::max())
    throw DataError(train_first + ": image size " + shapeText(tr) + " is too large");

  out.info.name = spec.name;
  out.info.dir = dir.string();
  out.info.train_count = out.train.size();
  out.info.test_count = out.test.size();
  out.info.channels = static_cast<int>(tr.size(1));
  out.info.height = static_cast<int>(tr.size(2));
  out.info.width = static_cast<int>(tr.size(3));
  out.info.num_classes = 10;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Normalisation and augmentation

Normalization computeNormalization(const torch::Tensor& images) {
  if (!images.defined() || images.dim() != 4 || images.size(0) == 0 || images.numel() == 0)
    throw DataError("normalisation: expected non-empty images [N, C, H, W]");
  const int64_t n = images.size(0), c = images.size(1);
  const int64_t per_image = images.numel() / n;
  // About 4M values (32 MB of float64) per chunk.
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 22) / per_image);
  const int64_t per_channel_image = per_image / c;

  // Chan et al.'s parallel combination of per-chunk means and sums of squared deviations.
  torch::NoGradGuard no_grad;
  auto mean = torch::zeros({c}, torch::kDouble);
  auto m2 = torch::zeros({c}, torch::kDouble);
  double count = 0;
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t len = std::min(chunk, n - start);
    const auto x = images.narrow(0, start, len).to(torch::kDouble).div_(255.0);
    const double k = static_cast<double>(len * per_channel_image);
    const auto chunk_mean = x.mean({0, 2, 3});
    const auto chunk_m2 = (x - chunk_mean.view({1, c, 1, 1})).square_().sum({0, 2, 3});
    const auto delta = chunk_mean - mean;
    const double total = count + k;
    m2 += chunk_m2 + delta.square() * (count * k / total);
    mean += delta * (k / total);
    count = total;
  }
  const auto stddev = (m2 / count).sqrt_();
  Normalization norm;
  norm.mean.resize(c);
  norm.std.resize(c);
  for (int64_t i = 0; i < c; ++i) {
    norm.mean[i] = mean[i].item<double>();
    norm.std[i] = stddev[i].item<double>();
  }
  return norm;
}

torch::Tensor prepareBatch(const torch::Tensor& images, const Normalization& norm,
                           const AugmentOptions& augment, torch::Generator* generator) {
  if (!images.defined() || images.dim() != 4)
    throw DataError("prepareBatch: expected images [B, C, H, W]");
  const int64_t b = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  if (static_cast<int64_t>(norm.mean.size()) != c || static_cast<int64_t>(norm.std.size()) != c)
    throw DataError("prepareBatch: normalisation has " + std::to_string(norm.mean.size()) +
                    " means and " + std::to_string(norm.std.size()) + " stds but the images have " +
                    std::to_string(c) + " channels");
  if (augment.crop_padding < 0)
    throw DataError("prepareBatch: crop padding " + std::to_string(augment.crop_padding) +
                    " is negative");
  torch::NoGradGuard no_grad;

  torch::Tensor x = images;
  if (generator && b > 0) {
    const int64_t p = augment.crop_padding;
    if (p > 0) {
      const auto padded = torch::constant_pad_nd(x, {p, p, p, p}, 0);
      const auto offsets = torch::randint(0, 2 * p + 1, {b, 2}, *generator, torch::kLong);
      const auto off = offsets.accessor<int64_t, 2>();
      auto cropped = torch::empty_like(x, torch::MemoryFormat::Contiguous);
      for (int64_t i = 0; i < b; ++i)
        cropped[i].copy_(padded[i].narrow(1, off[i][0], h).narrow(2, off[i][1], w));
      x = cropped;
    }
    if (augment.horizontal_flip) {
      const auto flip = torch::randint(0, 2, {b}, *generator, torch::kLong).to(torch::kBool);
      x = torch::where(flip.view({b, 1, 1, 1}), x.flip({3}), x);
    }
  }

  std::vector<double> inv_std(c);
  for (int64_t i = 0; i < c; ++i) {
    const double s = norm.std[i];
    // A constant channel has std 0: leave its scale alone rather than divide by zero.
    inv_std[i] = (std::isfinite(s) && s > 1e-12) ? 1.0 / s : 1.0;
  }
  const auto mean = torch::tensor(norm.mean, torch::kDouble).to(torch::kFloat).view({1, c, 1, 1});
  const auto scale = torch::tensor(inv_std, torch::kDouble).to(torch::kFloat).view({1, c, 1, 1});
  return x.to(torch::kFloat).div_(255.0f).sub_(mean).mul_(scale);
}

// ---------------------------------------------------------------------------------------------
// Subsets

std::pair<ImageSet, ImageSet> splitValidation(const ImageSet& set, int64_t val_count,
                                              uint64_t seed) {
  const int64_t n = set.size();
  if (val_count < 0)
    throw DataError("validation size " + std::to_string(val_count) + " is negative");
  if (val_count >= n)
    throw DataError("validation size " + std::to_string(val_count) + " leaves no training image (" +
                    std::to_string(n) + " images)");
  auto gen = makeGenerator(seed, {kValidationStream});
  const auto perm = torch::randperm(n, gen, torch::kLong);
  // Each part keeps the original order of its images.
  const auto train_idx = std::get<0>(perm.narrow(0, 0, n - val_count).sort());
  const auto val_idx = std::get<0>(perm.narrow(0, n - val_count, val_count).sort());
  ImageSet train{set.images.index_select(0, train_idx), set.labels.index_select(0, train_idx)};
  ImageSet val{set.images.index_select(0, val_idx), set.labels.index_select(0, val_idx)};
  return {std::move(train), std::move(val)};
}

ImageSet takeFirst(const ImageSet& set, int64_t limit) {
  if (limit <= 0 || limit >= set.size()) return set;
  return {set.images.narrow(0, 0, limit).clone(), set.labels.narrow(0, 0, limit).clone()};
}

// ---------------------------------------------------------------------------------------------
// Batching

BatchSampler::BatchSampler(int64_t dataset_size, int64_t batch_size, uint64_t seed, bool drop_last)
    : size_(dataset_size), batch_size_(batch_size), seed_(seed), drop_last_(drop_last) {
  if (batch_size < 1)
    throw DataError("batch size " + std::to_string(batch_size) + " must be at least 1");
  if (dataset_size < 1) throw DataError("empty data set: no images to sample batches from");
}

int64_t BatchSampler::batchesPerEpoch() const {
  if (drop_last_) return std::max<int64_t>(1, size_ / batch_size_);
  return (size_ + batch_size_ - 1) / batch_size_;
}

torch::Tensor BatchSampler::permutation(int64_t epoch) const {
  if (epoch != cached_epoch_ || !cached_perm_.defined()) {
    auto gen = makeGenerator(seed_, {static_cast<uint64_t>(epoch)});
    cached_perm_ = torch::randperm(size_, gen, torch::kLong);
    cached_epoch_ = epoch;
  }
  return cached_perm_;
}

torch::Tensor BatchSampler::batchIndices(int64_t epoch, int64_t step) const {
  if (epoch < 0) throw DataError("epoch " + std::to_string(epoch) + " is negative");
  const int64_t batches = batchesPerEpoch();
  if (step < 0 || step >= batches)
    throw DataError("batch step " + std::to_string(step) + " is outside 0.." +
                    std::to_string(batches - 1));
  const auto perm = permutation(epoch);
  if (size_ < batch_size_) return perm;  // one batch of the whole set
  const int64_t start = step * batch_size_;
  return perm.narrow(0, start, std::min(batch_size_, size_ - start));
}

ImageSet BatchSampler::batch(const ImageSet& set, int64_t epoch, int64_t step) const {
  if (set.size() != size_)
    throw DataError("batch: the sampler was made for " + std::to_string(size_) +
                    " images but the set has " + std::to_string(set.size()));
  const auto idx = batchIndices(epoch, step);
  return {set.images.index_select(0, idx), set.labels.index_select(0, idx)};
}

torch::Generator makeGenerator(uint64_t seed, std::initializer_list<uint64_t> stream) {
  uint64_t x = splitmix64(seed);
  for (const uint64_t v : stream) x = splitmix64(x ^ splitmix64(v ^ 0xD1B54A32D192ED03ULL));
  // CPUGeneratorImpl's mt19937 uses the low 32 bits of the seed: fold the high half in.
  return at::make_generator<at::CPUGeneratorImpl>(x ^ (x >> 32));
}

double classificationAccuracy(const ImageSet& set, const Normalization& norm, int64_t batch,
                              const std::function<torch::Tensor(const torch::Tensor&)>& forward) {
  torch::NoGradGuard no_grad;
  int64_t correct = 0;
  for (int64_t i = 0; i < set.size(); i += batch) {
    const int64_t n = std::min<int64_t>(batch, set.size() - i);
    const auto x = prepareBatch(set.images.narrow(0, i, n), norm, {}, nullptr);
    correct += forward(x).argmax(1).eq(set.labels.narrow(0, i, n)).sum().item<int64_t>();
  }
  return set.size() ? static_cast<double>(correct) / set.size() : 0.0;
}

}  // namespace data
}  // namespace repnas
