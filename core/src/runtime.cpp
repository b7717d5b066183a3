#include "repnas/runtime.h"

#include <torch/torch.h>

#include <algorithm>
#include <thread>

#include "repnas_version.h"

namespace repnas {

int hardwareThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

int setComputeThreads(int n) {
  at::set_num_threads(n > 0 ? n : hardwareThreads());
  return at::get_num_threads();
}

std::string version() { return REPNAS_VERSION; }

std::string torchVersion() { return TORCH_VERSION; }

std::string releaseDate() { return REPNAS_RELEASE_DATE; }

}  // namespace repnas
