#pragma once
/// @file dataset.h
/// @brief Which data set a run uses, and what is in it (plain C++; loading lives in core).

#include <cstdint>
#include <string>
#include <vector>

#include "repnas/error.h"

namespace repnas {

/// @brief Folder of Debian's dataset-fashion-mnist package.
inline constexpr const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// @brief A problem with a data file; what() names the file and the problem.
class DataError : public Error {
 public:
  using Error::Error;
};

/// @brief File formats the readers understand.
enum class DatasetFormat {
  Idx,      ///< MNIST layout: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
  Cifar10,  ///< CIFAR-10 binary: data_batch_{1..5}.bin, test_batch.bin
};

/// @brief A data set by name and folder.
struct DatasetSpec {
  /// "fashion-mnist" (default folder kDefaultFashionMnistDir), "mnist" or "idx" (IDX files in
  /// `dir`), "cifar10" (binary batches in `dir`).
  std::string name = "fashion-mnist";
  std::string dir;  ///< empty: the default folder for `name` (only fashion-mnist has one)

  /// @brief The format for `name`; throws DataError for an unknown name.
  DatasetFormat format() const;
  /// @brief `dir`, or the default folder; throws DataError when there is none.
  std::string resolvedDir() const;
};

/// @brief What a data set holds.
struct DatasetInfo {
  std::string name;
  std::string dir;
  int64_t train_count = 0;
  int64_t test_count = 0;
  int channels = 0;
  int height = 0;
  int width = 0;
  int num_classes = 10;
  std::vector<std::string> files;  ///< the files read, train first
};

/// @brief Reads and validates the whole data set and describes it. Throws DataError.
DatasetInfo inspectDataset(const DatasetSpec& spec);

}  // namespace repnas
