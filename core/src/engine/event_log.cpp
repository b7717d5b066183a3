// The event log writer (repnas/engine.h): one JSON line per event, appended and flushed, a
// failed write reported as the run's error.
#include "repnas/engine.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/input_file.h"
#include "repnas/error.h"
#include "repnas/events.h"

namespace repnas {

EventLogWriter::EventLogWriter(const std::string& path, bool append) : path_(path) {
  if (const auto problem = notARegularFile(path, /*refuse_symlink=*/false); !problem.empty())
    throw Error("cannot open event log " + path + ": it " + problem);
  // Read-write: appending checks the last byte (a torn line) first.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  if (fd_ < 0) throw Error("cannot open event log " + path + " for writing: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) == 0) size_ = st.st_size;
  if (append && size_ > 0) {
    char last = '\n';
    if (::pread(fd_, &last, 1, st.st_size - 1) == 1 && last != '\n') {
      try {
        writeLine("");  // ends the torn line; the next event starts on a line of its own
      } catch (...) {
        ::close(fd_);
        throw;
      }
    }
  }
}

EventLogWriter::~EventLogWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void EventLogWriter::writeLine(const std::string& line) {
  const std::string bytes = line + '\n';
  const off_t before = size_;  // this writer is the file's only writer: no fstat per line
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      // Back to the last complete line, so that the log never ends in a fragment.
      if (::ftruncate(fd_, before) != 0) {
        // Could not cut it back: readers skip the torn line, the next append starts afresh.
      }
      throw Error("cannot write the event log " + path_ + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  size_ += static_cast<off_t>(bytes.size());
}

void EventLogWriter::onEvent(const Event& e) {
  const std::string line = eventToJson(e);
  std::lock_guard<std::mutex> lock(mutex_);
  writeLine(line);
}

}  // namespace repnas
