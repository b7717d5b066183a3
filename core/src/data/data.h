#pragma once
// Data set readers (IDX, gzipped or plain; CIFAR-10 binary), validation, normalisation,
// augmentation and batching. Private to core. Every failure is a repnas::DataError whose
// message names the file and the problem; nothing here aborts on a bad file.

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "repnas/dataset.h"

namespace repnas::data {

/// @brief Images and labels of one split.
struct ImageSet {
  torch::Tensor images;  ///< uint8 [N, C, H, W]
  torch::Tensor labels;  ///< int64 [N], values in [0, num_classes)
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

/// @brief Reads a whole file, transparently gunzipping when it is gzip (zlib's gzread);
/// DataError on a missing/unreadable file or a corrupt gzip stream.
std::vector<uint8_t> readFileMaybeGzip(const std::string& path);

/// @brief IDX image file (magic 0x00000803, dims N, H, W): uint8 [N, 1, H, W].
/// DataError on wrong magic, zero dimensions, or a size that does not match the header
/// (truncated or trailing data).
torch::Tensor readIdxImages(const std::string& path);

/// @brief IDX label file (magic 0x00000801, dim N): int64 [N]. DataError when a label is
/// >= num_classes, on wrong magic or on a size mismatch.
torch::Tensor readIdxLabels(const std::string& path, int num_classes = 10);

/// @brief Both files of one IDX split; DataError when the counts differ.
ImageSet readIdxPair(const std::string& images_path, const std::string& labels_path,
                     int num_classes = 10);

/// @brief CIFAR-10 binary batch files (records of 1 label byte + 3072 image bytes, CHW),
/// concatenated in order. DataError when a file's size is not a multiple of 3073, a label is
/// >= 10, or a file is empty.
ImageSet readCifar10Batches(const std::vector<std::string>& paths);

/// @brief A loaded data set: both splits and its description.
struct LoadedDataset {
  ImageSet train;
  ImageSet test;
  DatasetInfo info;
};

/// @brief Finds the files of `spec` in its folder (for IDX: plain or .gz, plain preferred when
/// both exist) and reads them. DataError names a missing file and the folder searched.
LoadedDataset loadDataset(const DatasetSpec& spec);

/// @brief Per-channel mean and standard deviation, on the [0, 1] pixel scale.
struct Normalization {
  std::vector<double> mean;
  std::vector<double> std;
};

/// @brief Per-channel mean and std of uint8 images [N, C, H, W] (pixels / 255).
Normalization computeNormalization(const torch::Tensor& images);

/// @brief Augmentation of training batches.
struct AugmentOptions {
  int crop_padding = 0;          ///< random crop of the original size after zero-padding (0: off)
  bool horizontal_flip = false;  ///< flip each image left-right with probability 1/2
};

/// @brief uint8 [B, C, H, W] -> float [B, C, H, W], (x/255 − mean)/std. When `generator` is
/// given, each image is independently randomly cropped (padding with pixel value 0 before
/// normalising) and flipped as `augment` says; without a generator no augmentation happens.
torch::Tensor prepareBatch(const torch::Tensor& images, const Normalization& norm,
                           const AugmentOptions& augment, torch::Generator* generator);

/// @brief Fraction of `set` that `forward` (normalised images -> logits) classifies right,
/// in batches of `batch`, without gradients and without augmentation.
double classificationAccuracy(const ImageSet& set, const Normalization& norm, int64_t batch,
                              const std::function<torch::Tensor(const torch::Tensor&)>& forward);

/// @brief Splits off the last `val_count` images of a seeded permutation as validation.
/// DataError when val_count is negative or leaves no training image.
std::pair<ImageSet, ImageSet> splitValidation(const ImageSet& set, int64_t val_count,
                                              uint64_t seed);

/// @brief The first `limit` images (all when limit <= 0 or limit >= size).
ImageSet takeFirst(const ImageSet& set, int64_t limit);

/// @brief Deterministic batching: epoch e visits a permutation seeded by (seed, e), so a run
/// resumed at (epoch, step) sees the same batches as an uninterrupted one.
class BatchSampler {
 public:
  BatchSampler(int64_t dataset_size, int64_t batch_size, uint64_t seed, bool drop_last = true);
  /// @brief Number of batches per epoch.
  int64_t batchesPerEpoch() const;
  /// @brief int64 indices of batch `step` (0-based) of `epoch`.
  torch::Tensor batchIndices(int64_t epoch, int64_t step) const;
  /// @brief Gathers a batch: images uint8 [B, C, H, W] and labels int64 [B].
  ImageSet batch(const ImageSet& set, int64_t epoch, int64_t step) const;

 private:
  torch::Tensor permutation(int64_t epoch) const;
  int64_t size_;
  int64_t batch_size_;
  uint64_t seed_;
  bool drop_last_;
  mutable int64_t cached_epoch_ = -1;
  mutable torch::Tensor cached_perm_;
};

/// @brief A CPU generator seeded from a base seed and a stream of numbers (e.g. epoch, step),
/// mixed so that nearby tuples give unrelated streams.
torch::Generator makeGenerator(uint64_t seed, std::initializer_list<uint64_t> stream);

}  // namespace repnas::data
