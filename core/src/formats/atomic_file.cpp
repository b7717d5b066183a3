#include "formats/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <fcntl.h>
#include <unistd.h>

#include "formats/input_file.h"
#include "repnas/error.h"

namespace repnas {

namespace fs = std::filesystem;

namespace {

std::string temporaryPath(const std::string& path) {
  return path + ".tmp" + std::to_string(::getpid());
}

void syncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw Error("cannot write " + path + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error("cannot write " + path + ": " + std::strerror(err));
}

void commit(const std::string& tmp, const std::string& path) {
  std::error_code ec;
  try {
    syncPath(tmp, O_RDONLY);
  } catch (const Error&) {
    fs::remove(tmp, ec);
    throw Error("cannot write " + path + ": the data did not reach the disk");
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error("cannot write " + path + ": rename failed: " + ec.message());
  }
  const auto dir = fs::path(path).parent_path();
  try {
    syncPath(dir.empty() ? "." : dir.string(), O_RDONLY | O_DIRECTORY);
  } catch (const Error&) {
    // The file is complete and in place; only the folder entry's durability is unconfirmed.
  }
}

}  // namespace

void writeAtomically(const std::string& path,
                     const std::function<void(const std::string& tmp)>& write) {
  // A rename would replace a device node, a FIFO or a symlink itself: refuse anything that is
  // not a regular file (as root, `--onnx /dev/null` would otherwise replace /dev/null).
  if (const auto problem = notARegularFile(path, /*refuse_symlink=*/true); !problem.empty())
    throw Error("cannot write " + path + ": it " + problem + "; refusing to replace it");
  const auto tmp = temporaryPath(path);
  auto fail = [&](const std::string& why) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return Error("cannot write " + path + ": " + why);
  };
  try {
    write(tmp);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw fail(what.substr(0, what.find('\n')));
  }
  commit(tmp, path);
}

void writeTextAtomically(const std::string& path, const std::string& text) {
  writeAtomically(path, [&](const std::string& tmp) {
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw std::runtime_error(std::strerror(errno));
    errno = 0;
    const size_t written = std::fwrite(text.data(), 1, text.size(), f);
    bool ok = written == text.size();
    int err = errno;
    if (ok && std::fflush(f) != 0) { ok = false; err = errno; }
    if (std::fclose(f) != 0 && ok) { ok = false; err = errno; }
    if (!ok) throw std::runtime_error(std::strerror(err ? err : EIO));
  });
}

}  // namespace repnas
