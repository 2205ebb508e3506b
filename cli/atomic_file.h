// An output file that appears only when complete: written as PATH.tmp, then
// renamed onto PATH by Commit(). A run that fails (or is never committed)
// removes PATH.tmp and leaves any older PATH untouched.
#ifndef GRPO_CLI_ATOMIC_FILE_H_
#define GRPO_CLI_ATOMIC_FILE_H_

#include <fstream>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace grpo::cli {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  // Creates PATH's missing folders and PATH.tmp; the error names what
  // failed and says why.
  absl::Status Open();
  std::ostream& stream() { return stream_; }
  // Flushes, closes and renames into place; DataLoss if any write failed.
  absl::Status Commit();

 private:
  std::string path_;
  std::string tmp_;
  std::unique_ptr<char[]> buffer_;
  std::ofstream stream_;
  bool opened_ = false;
  bool committed_ = false;
};

}  // namespace grpo::cli

#endif  // GRPO_CLI_ATOMIC_FILE_H_
