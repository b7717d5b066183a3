#pragma once
/// @file runtime.h
/// @brief Process-wide engine settings that need no torch types.

#include <string>

namespace repnas {

/// @brief Sets LibTorch's intra-op thread count; n <= 0 means "all cores".
/// @return the thread count now in force.
int setComputeThreads(int n);

/// @brief Keeps freed memory in the process for reuse while training runs. A training step
/// frees and allocates dozens of tensors of several MiB; by default glibc serves such blocks
/// with fresh mappings or hands the top of the heap back after each free, so every step pays
/// page faults to get zeroed pages again (measured: `dbb` training 1.4× faster, `search`
/// 1.15×, `plain` about the same; see bench/README.md). It also keeps threads started
/// afterwards on the main heap: glibc's per-thread heaps are given back whole when they empty,
/// whatever the trim threshold (measured: an engine on a worker thread 3–4% slower). So programs
/// call it first thing in main(), before any thread starts; the engine calls it again when a
/// run starts. Idempotent.
void reuseFreedMemory();

/// @brief Hands unused heap memory back to the system (after a run).
void releaseUnusedMemory();

/// @brief Number of hardware threads (at least 1).
int hardwareThreads();

/// @brief Version string of RepNAS Studio, e.g. "0.1.0".
std::string version();

/// @brief Version string of the LibTorch the engine was built against.
std::string torchVersion();

/// @brief Date of this release (YYYY-MM-DD), as in the AppStream metainfo and the man page.
std::string releaseDate();

}  // namespace repnas
