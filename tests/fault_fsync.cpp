// LD_PRELOAD fault injection for the write-path tests: fsync fails with EIO (as on a disk that
// lost the data) for every file whose name starts with $REPNAS_TEST_FAIL_FSYNC, e.g.
// "weights.pt.tmp" for the temporary of weights.pt; every other fsync is the real one.
#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" int fsync(int fd) {
  using Fsync = int (*)(int);
  static const auto real_fsync = reinterpret_cast<Fsync>(dlsym(RTLD_NEXT, "fsync"));
  const char* prefix = std::getenv("REPNAS_TEST_FAIL_FSYNC");
  if (prefix && *prefix) {
    char link[64], target[4096];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0) {
      target[n] = '\0';
      const char* slash = std::strrchr(target, '/');
      const char* name = slash ? slash + 1 : target;
      if (std::strncmp(name, prefix, std::strlen(prefix)) == 0) {
        errno = EIO;
        return -1;
      }
    }
  }
  return real_fsync(fd);
}
