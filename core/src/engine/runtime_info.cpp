// The parts of runtime.h that need no torch (config validation and the ONNX writer use them,
// and the fuzzers build those without torch).
#include "repnas/runtime.h"

#include <algorithm>
#include <thread>

#include "repnas_version.h"

namespace repnas {

int hardwareThreads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

std::string version() { return REPNAS_VERSION; }

std::string releaseDate() { return REPNAS_RELEASE_DATE; }

}  // namespace repnas
