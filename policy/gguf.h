// The GGUF file format (llama.cpp / ggml), read without LibTorch: header,
// metadata, tensor infos, and dequantization of F32, F16, BF16, Q8_0, Q4_0
// and Q4_1 tensors to fp32.
//
//   ASSIGN_OR_RETURN(GgufFile f, GgufFile::Open("model.gguf"));
//   ASSIGN_OR_RETURN(std::string arch, f.GetString("general.architecture"));
//   const GgufTensorInfo* t = f.FindTensor("token_embd.weight");
//   std::vector<float> w(t->num_elements());
//   RETURN_IF_ERROR(f.Dequantize(*t, w.data()));   // row-major, ne[0] innermost
//
// Layout (versions 2 and 3, little-endian): magic "GGUF", uint32 version,
// uint64 tensor count, uint64 metadata count; metadata as (string key, uint32
// value type, value), strings as uint64 length + bytes, arrays as uint32
// element type + uint64 count + elements; tensor infos as (string name,
// uint32 n_dims, uint64 ne[n_dims], uint32 ggml type, uint64 offset); then
// padding to general.alignment (default 32) and the data region, in which
// each tensor's offset is relative and aligned. ne[0] is the innermost
// (contiguous) dimension, so a [out, in] matrix has ne = {in, out}.
//
// Open maps the file read-only and checks everything it can: magic, version,
// every length against the file size, types, dims, alignment, each tensor's
// bytes inside the file, no two tensors overlapping. Every error names the
// file, and the key or tensor concerned. Assumes a little-endian host.
#ifndef GRPO_POLICY_GGUF_H_
#define GRPO_POLICY_GGUF_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace grpo::policy {

enum class GgufValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};

// ggml tensor types that this code knows the block layout of.
enum class GgmlType : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15, kIQ2_XXS = 16,
  kIQ2_XS = 17, kIQ3_XXS = 18, kIQ1_S = 19, kIQ4_NL = 20, kIQ3_S = 21, kIQ2_S = 22, kIQ4_XS = 23,
  kI8 = 24, kI16 = 25, kI32 = 26, kI64 = 27, kF64 = 28, kIQ1_M = 29, kBF16 = 30, kTQ1_0 = 34,
  kTQ2_0 = 35, kMXFP4 = 39,
};

// "Q4_1" etc.; "type N" for a type this code does not know.
std::string GgmlTypeName(uint32_t type);
// True for the types Dequantize supports: F32, F16, BF16, Q8_0, Q4_0, Q4_1.
bool GgmlTypeCanDequantize(uint32_t type);

// One metadata value. Scalars: integers in `i` (signed) / `u` (unsigned),
// floats in `f`, bools in `b`, strings in `s`. Arrays (type kArray): element
// type in `elem_type`, elements in `strings` (string arrays), `numbers`
// (numeric and bool arrays, as double: exact for integers up to 2^53) or
// `items` (arrays of arrays).
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  GgufValueType elem_type = GgufValueType::kUint8;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  bool b = false;
  std::string s;
  std::vector<std::string> strings;
  std::vector<double> numbers;
  std::vector<GgufValue> items;
  uint64_t array_size = 0;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // dims, innermost first
  uint32_t type = 0;         // GgmlType value
  uint64_t offset = 0;       // in the data region
  uint64_t nbytes = 0;
  uint64_t num_elements() const;
  // The dims outermost first, as a torch/numpy shape.
  std::vector<int64_t> torch_shape() const;
};

class GgufFile {
 public:
  // NotFound when the file cannot be opened; InvalidArgument naming the file
  // (and the key or tensor) when it is not a valid GGUF v2/v3 file.
  static absl::StatusOr<GgufFile> Open(const std::string& path);

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // of the data region in the file

  // --- metadata ---
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const GgufValue* Find(const std::string& key) const;  // nullptr when absent
  // NotFound naming file and key when absent; InvalidArgument when of
  // another type (GetUint takes any non-negative integer, GetFloat any number).
  absl::StatusOr<std::string> GetString(const std::string& key) const;
  absl::StatusOr<uint64_t> GetUint(const std::string& key) const;
  absl::StatusOr<double> GetFloat(const std::string& key) const;
  absl::StatusOr<bool> GetBool(const std::string& key) const;

  // --- tensors ---
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }  // file order
  const GgufTensorInfo* FindTensor(const std::string& name) const;       // nullptr when absent
  // The tensor's bytes in the mapped file.
  absl::Span<const uint8_t> Bytes(const GgufTensorInfo& t) const;
  // Writes num_elements() floats to `out`, in the file's element order.
  // InvalidArgument naming the file, tensor and type for other types.
  // Large tensors are split over a few threads.
  absl::Status Dequantize(const GgufTensorInfo& t, float* out) const;

 private:
  GgufFile() = default;
  std::string path_;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

// --- dequantization of raw blocks (exposed for tests and benchmarks) ---

// fp16 / bf16 bit patterns to float, exact (subnormals, inf, NaN).
float HalfToFloat(uint16_t h);
float Bf16ToFloat(uint16_t h);
// `n` elements of `type` from `src` (n a multiple of the block size) to `out`.
// InvalidArgument for an unsupported type or a bad n.
absl::Status DequantizeRow(uint32_t type, const uint8_t* src, uint64_t n, float* out);
// The same, one element at a time with no tricks: the reference the fast
// loops are tested against.
absl::Status DequantizeRowReference(uint32_t type, const uint8_t* src, uint64_t n, float* out);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_GGUF_H_
