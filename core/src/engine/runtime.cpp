#include "repnas/runtime.h"

#include <torch/torch.h>

#include <algorithm>
#include <thread>

#ifdef __GLIBC__
#include <malloc.h>
#endif


namespace repnas {

int setComputeThreads(int n) {
  at::set_num_threads(n > 0 ? n : hardwareThreads());
  return at::get_num_threads();
}

void reuseFreedMemory() {
#ifdef __GLIBC__
  // Blocks up to 1 GiB come from the heap, and the heap is trimmed only when more than 1 GiB at
  // its top is free. Setting either also turns off glibc's own threshold adaptation. One arena:
  // threads that start later share the main heap, which follows these two settings.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_ARENA_MAX, 1);
#endif
}

void releaseUnusedMemory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

std::string torchVersion() { return TORCH_VERSION; }

}  // namespace repnas
