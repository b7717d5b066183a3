#include "run_files.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <unistd.h>

#include "repnas/error.h"

namespace repnas {

namespace fs = std::filesystem;

namespace {

std::string temporaryPath(const std::string& path) {
  return path + ".tmp" + std::to_string(::getpid());
}

void syncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void commit(const std::string& tmp, const std::string& path) {
  syncFile(tmp);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error("cannot write " + path + ": rename failed: " + ec.message());
  }
}

}  // namespace

void writeTextAtomically(const std::string& path, const std::string& text) {
  const auto tmp = temporaryPath(path);
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error("cannot write " + path + ": " + std::strerror(errno));
  const size_t written = std::fwrite(text.data(), 1, text.size(), f);
  const int write_errno = errno;
  const bool ok = written == text.size() && std::fflush(f) == 0;
  const int flush_errno = errno;
  std::fclose(f);
  if (!ok) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw Error("cannot write " + path + ": " +
                std::strerror(written != text.size() ? write_errno : flush_errno));
  }
  commit(tmp, path);
}

void writeArchiveAtomically(torch::serialize::OutputArchive& archive, const std::string& path) {
  const auto tmp = temporaryPath(path);
  try {
    archive.save_to(tmp);
  } catch (const c10::Error& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw Error("cannot write " + path + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw Error("cannot write " + path + ": " + e.what());
  }
  commit(tmp, path);
}

}  // namespace repnas
