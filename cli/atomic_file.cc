#include "cli/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace grpo::cli {
namespace {
constexpr size_t kBufferBytes = 1 << 16;  // fewer write(2) calls for many short lines
}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {}

AtomicFile::~AtomicFile() {
  if (opened_ && !committed_) {
    stream_.close();
    std::remove(tmp_.c_str());
  }
}

absl::Status AtomicFile::Open() {
  // runs/NAME/out.jsonl: the folders are part of asking for the file.
  std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  std::error_code ec;
  if (!parent.empty() && !std::filesystem::create_directories(parent, ec) && ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", parent.string(), ": ", ec.message()));
  }
  buffer_ = std::make_unique<char[]>(kBufferBytes);
  stream_.rdbuf()->pubsetbuf(buffer_.get(), kBufferBytes);  // before open(), or it is ignored
  stream_.open(tmp_, std::ios::binary | std::ios::trunc);
  if (!stream_) return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", tmp_));
  opened_ = true;
  return absl::OkStatus();
}

absl::Status AtomicFile::Commit() {
  stream_.close();
  if (stream_.fail()) return absl::DataLossError(absl::StrCat("write failed: ", tmp_));
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot rename ", tmp_, " to ", path_, ": ", ec.message()));
  }
  committed_ = true;
  return absl::OkStatus();
}

}  // namespace grpo::cli
