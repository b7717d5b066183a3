#pragma once
/// @file runtime.h
/// @brief Process-wide engine settings that need no torch types.

#include <string>

namespace repnas {

/// @brief Sets LibTorch's intra-op thread count; n <= 0 means "all cores".
/// @return the thread count now in force.
int setComputeThreads(int n);

/// @brief Number of hardware threads (at least 1).
int hardwareThreads();

/// @brief Version string of RepNAS Studio, e.g. "0.1.0".
std::string version();

/// @brief Version string of the LibTorch the engine was built against.
std::string torchVersion();

/// @brief Date of this release (YYYY-MM-DD), as in the AppStream metainfo and the man page.
std::string releaseDate();

}  // namespace repnas
