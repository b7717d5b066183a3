#include "formats/run_files.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <zlib.h>

#include "formats/input_file.h"
#include "repnas/error.h"
#include "repnas/run_folder.h"

namespace repnas {

namespace fs = std::filesystem;

namespace {

std::string firstLine(const std::string& text) {
  return clippedText(text.substr(0, text.find('\n')), 200);
}

std::string serialize(torch::serialize::OutputArchive& archive) {
  std::string bytes;
  archive.save_to([&bytes](const void* data, size_t n) {
    bytes.append(static_cast<const char*>(data), n);
    return n;
  });
  return bytes;
}

int64_t checksum(const std::string& meta, const std::string& content) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(meta.data()), meta.size());
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(content.data()), content.size());
  return static_cast<int64_t>(crc);
}

}  // namespace

void writeRunArchive(const std::string& path, const std::string& meta,
                     torch::serialize::OutputArchive& content) {
  std::string bytes;
  try {
    std::string inner = serialize(content);
    torch::serialize::OutputArchive outer;
    outer.write("meta", c10::IValue(meta));
    outer.write("crc32", c10::IValue(checksum(meta, inner)));
    auto tensor = torch::empty({static_cast<int64_t>(inner.size())}, torch::kUInt8);
    std::memcpy(tensor.data_ptr(), inner.data(), inner.size());
    inner = std::string();
    outer.write("content", tensor);
    bytes = serialize(outer);
  } catch (const c10::Error& e) {
    throw Error("cannot write " + path + ": " + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw Error("cannot write " + path + ": out of memory");
  }
  writeTextAtomically(path, bytes);
}

RunArchive readRunArchive(const std::string& path) {
  auto fail = [&](const std::string& why) { return Error("cannot read " + path + ": " + why); };
  if (const auto problem = notARegularFile(path, false); !problem.empty()) throw fail("it " + problem);
  RunArchive run;
  torch::serialize::InputArchive outer;
  try {
    outer.load_from(path);
  } catch (const c10::Error& e) {
    throw fail(std::string("not a readable archive (") + firstLine(e.what_without_backtrace()) + ")");
  }
  try {
    c10::IValue meta;
    outer.read("meta", meta);
    if (!meta.isString()) throw fail("its meta entry is not text");
    run.meta = meta.toStringRef();
    torch::Tensor content;
    if (!outer.try_read("content", content)) {  // format 1: the entries sit beside the meta
      run.content = std::move(outer);
      return run;
    }
    c10::IValue crc;
    outer.read("crc32", crc);
    if (!crc.isInt()) throw fail("its checksum entry is not an integer");
    if (content.scalar_type() != torch::kUInt8 || content.dim() != 1 || !content.is_contiguous())
      throw fail("its content entry is not a byte string");
    const std::string inner(static_cast<const char*>(content.data_ptr()), static_cast<size_t>(content.numel()));
    if (checksum(run.meta, inner) != crc.toInt())
      throw fail("damaged: the checksum of its contents does not match (the file changed after "
                 "it was written; restore it from a copy)");
    run.content.load_from(inner.data(), inner.size());
    run.checked = true;
  } catch (const c10::Error& e) {
    throw fail(std::string("unexpected contents (") + firstLine(e.what_without_backtrace()) + ")");
  }
  return run;
}

int removeStaleTemporaryFiles(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    for (const auto& base : RunFolder::atomicallyWrittenFiles()) {
      const std::string prefix = base + ".tmp";
      if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) continue;
      const std::string pid = name.substr(prefix.size());
      if (pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
      // A process that still runs may be writing it (another run in this folder).
      const int owner = std::stoi(pid);
      if (owner != ::getpid() && ::kill(owner, 0) == 0) continue;
      std::error_code rm;
      if (fs::remove(it->path(), rm)) ++removed;
    }
  }
  return removed;
}

}  // namespace repnas
