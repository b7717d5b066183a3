#include "formats/input_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repnas/error.h"

namespace repnas {

namespace {

std::string kindProblem(mode_t mode) {
  if (S_ISDIR(mode)) return "is a folder, not a file";
  if (!S_ISREG(mode)) return "is not a regular file (a device, FIFO or socket)";
  return "";
}

}  // namespace

std::string byteCountText(uint64_t bytes) {
  char buf[64];
  if (bytes < 1024) std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  else if (bytes < (uint64_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  else if (bytes < (uint64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
  else std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / 1073741824.0);
  return buf;
}

std::string clippedText(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars) return text;
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return text.substr(0, cut) + "… (" + std::to_string(text.size()) + " characters)";
}

std::string notARegularFile(const std::string& path, bool refuse_symlink) {
  struct stat st {};
  if (refuse_symlink) {
    if (::lstat(path.c_str(), &st) != 0) return "";
    if (S_ISLNK(st.st_mode)) return "is a symbolic link";
    return kindProblem(st.st_mode);
  }
  if (::stat(path.c_str(), &st) != 0) return "";
  return kindProblem(st.st_mode);
}

std::string readInputFile(const std::string& path, uint64_t max_bytes, const std::string& what) {
  auto fail = [&](const std::string& problem) { return Error(path + ": " + problem); };
  // O_NONBLOCK: opening a FIFO must not wait for a writer; checked as not regular below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) throw fail("missing file: it does not exist");
    throw fail(std::string("cannot open: ") + std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw fail(std::string("cannot read: ") + std::strerror(errno));
  if (const auto problem = kindProblem(st.st_mode); !problem.empty()) throw fail(problem);
  const auto too_large = [&] {
    return fail("too large: more than " + byteCountText(max_bytes) + " (the limit for " + what + ")");
  };
  if (static_cast<uint64_t>(st.st_size) > max_bytes) throw too_large();
  std::string bytes;
  bytes.resize(static_cast<size_t>(st.st_size));
  size_t have = 0;
  for (;;) {
    if (have == bytes.size()) {  // the file may have grown since fstat
      if (bytes.size() > max_bytes) throw too_large();
      bytes.resize(std::min<uint64_t>(max_bytes + 1, bytes.size() + (uint64_t{1} << 16)));
    }
    const ssize_t got = ::read(fd, bytes.data() + have, bytes.size() - have);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw fail(std::string("cannot read: ") + std::strerror(errno));
    }
    if (got == 0) break;
    have += static_cast<size_t>(got);
  }
  if (have > max_bytes) throw too_large();
  bytes.resize(have);
  return bytes;
}

}  // namespace repnas
