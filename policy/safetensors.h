// The safetensors file format (Hugging Face), read and written without LibTorch.
//
//   ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Read("model.safetensors"));
//   const SafetensorsEntry* e = f.Find("model.norm.weight");
//   absl::Span<const uint8_t> bytes = f.Bytes(*e);   // little-endian, e->dtype
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "value"}}, then the data region; offsets are relative
// to its start. Read checks everything it can (header length vs file size,
// offsets inside the data region, no two tensors overlapping, shape x dtype
// size == byte span) and names the file and the tensor in every error.
// Write goes through PATH.tmp + fsync + rename, so a reader never sees half a file.
// This code assumes a little-endian host (x86-64, aarch64).
#ifndef GRPO_POLICY_SAFETENSORS_H_
#define GRPO_POLICY_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace grpo::policy {

enum class SafetensorsDType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// "F32" etc.; bytes per element.
const char* SafetensorsDTypeName(SafetensorsDType dtype);
int SafetensorsDTypeSize(SafetensorsDType dtype);

struct SafetensorsEntry {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets in the data region
  uint64_t end = 0;
};

class SafetensorsFile {
 public:
  // Reads and validates the whole file into memory. NotFound when it cannot
  // be opened; InvalidArgument (naming the file and tensor) when malformed.
  static absl::StatusOr<SafetensorsFile> Read(const std::string& path);
  // The same from bytes already in memory; `source` names them in errors.
  static absl::StatusOr<SafetensorsFile> Parse(std::string bytes, const std::string& source);

  const std::string& source() const { return source_; }
  // Sorted by name.
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  // nullptr when absent.
  const SafetensorsEntry* Find(const std::string& name) const;
  absl::Span<const uint8_t> Bytes(const SafetensorsEntry& entry) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string source_;
  std::string bytes_;  // the whole file
  uint64_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

struct SafetensorsTensorToWrite {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::kF32;
  std::vector<int64_t> shape;
  absl::Span<const uint8_t> bytes;  // must be shape x dtype size long
};

// Writes `tensors` (data in the given order, 8-byte aligned data region) with
// optional string metadata, atomically. InvalidArgument on a duplicate or
// reserved name or a size mismatch; Internal on I/O failure.
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<SafetensorsTensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

// --- Hugging Face model directories ---
//
// DIR/model.safetensors, or shards DIR/model-0000K-of-0000N.safetensors listed
// in DIR/model.safetensors.index.json ({"metadata": {...}, "weight_map":
// {"tensor": "shard file"}}).

// Reads DIR/model.safetensors when present, else every shard of the index.
// The index must be consistent: each tensor it maps sits in the named shard
// and no tensor is in two files. NotFound when neither file exists.
absl::StatusOr<std::vector<SafetensorsFile>> ReadSafetensorsDir(const std::string& dir);

// Writes `tensors` into DIR as one model.safetensors, or, when their data
// exceeds `max_shard_bytes` (> 0), as shards of at most that size (a bigger
// tensor gets a shard of its own) plus the index, which is written last. The
// other layout's entry file is then removed, so a reader sees the new one.
absl::Status WriteSafetensorsDir(const std::string& dir,
                                 const std::vector<SafetensorsTensorToWrite>& tensors,
                                 const std::map<std::string, std::string>& metadata = {},
                                 uint64_t max_shard_bytes = 0);

// Writes `contents` to `path` through PATH.tmp + fsync + rename.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_SAFETENSORS_H_
