#include "policy/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/status_macros.h"

namespace grpo::policy {
namespace {

constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 4;

struct TypeLayout {
  uint32_t type;
  const char* name;
  uint32_t block;  // elements per block
  uint32_t bytes;  // bytes per block
};
// ggml's block sizes (ggml.c type_traits; gguf-py GGML_QUANT_SIZES).
constexpr TypeLayout kLayouts[] = {
    {0, "F32", 1, 4},         {1, "F16", 1, 2},        {2, "Q4_0", 32, 18},     {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},     {8, "Q8_0", 32, 34},     {9, "Q8_1", 32, 40},
    {10, "Q2_K", 256, 84},    {11, "Q3_K", 256, 110},  {12, "Q4_K", 256, 144},  {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},  {16, "IQ2_XXS", 256, 66}, {17, "IQ2_XS", 256, 74},
    {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},  {20, "IQ4_NL", 32, 18},  {21, "IQ3_S", 256, 110},
    {22, "IQ2_S", 256, 82},   {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},       {25, "I16", 1, 2},
    {26, "I32", 1, 4},        {27, "I64", 1, 8},       {28, "F64", 1, 8},       {29, "IQ1_M", 256, 56},
    {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},  {35, "TQ2_0", 256, 66},  {39, "MXFP4", 32, 17},
};

const TypeLayout* Layout(uint32_t type) {
  for (const TypeLayout& l : kLayouts) {
    if (l.type == type) return &l;
  }
  return nullptr;
}

uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// A bounds-checked cursor over the header part of the mapped file.
class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size, const std::string& path) : p_(data), size_(size), path_(path) {}
  uint64_t offset() const { return off_; }
  absl::Status Need(uint64_t n, const std::string& what) {
    if (size_ - off_ < n) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": truncated file: ", what, " needs ", n,
                                                     " bytes at offset ", off_, ", the file has ", size_));
    }
    return absl::OkStatus();
  }
  template <typename T>
  absl::StatusOr<T> Read(const std::string& what) {
    RETURN_IF_ERROR(Need(sizeof(T), what));
    T v;
    std::memcpy(&v, p_ + off_, sizeof(T));
    off_ += sizeof(T);
    return v;
  }
  absl::StatusOr<std::string> String(const std::string& what) {
    ASSIGN_OR_RETURN(uint64_t len, Read<uint64_t>(what));
    RETURN_IF_ERROR(Need(len, what));
    std::string s(reinterpret_cast<const char*>(p_ + off_), len);
    off_ += len;
    return s;
  }

 private:
  const uint8_t* p_;
  uint64_t size_;
  uint64_t off_ = 0;
  const std::string& path_;
};

absl::Status ReadValue(Cursor& c, GgufValueType type, const std::string& what, int depth,
                       GgufValue& v) {
  v.type = type;
  switch (type) {
#define GRPO_GGUF_INT(tag, T)                        \
  case GgufValueType::tag: {                         \
    ASSIGN_OR_RETURN(T x, c.Read<T>(what));          \
    v.i = static_cast<int64_t>(x);                   \
    v.u = static_cast<uint64_t>(x);                  \
    v.f = static_cast<double>(x);                    \
    return absl::OkStatus();                         \
  }
    GRPO_GGUF_INT(kUint8, uint8_t)
    GRPO_GGUF_INT(kInt8, int8_t)
    GRPO_GGUF_INT(kUint16, uint16_t)
    GRPO_GGUF_INT(kInt16, int16_t)
    GRPO_GGUF_INT(kUint32, uint32_t)
    GRPO_GGUF_INT(kInt32, int32_t)
    GRPO_GGUF_INT(kUint64, uint64_t)
    GRPO_GGUF_INT(kInt64, int64_t)
#undef GRPO_GGUF_INT
    case GgufValueType::kFloat32: {
      ASSIGN_OR_RETURN(float x, c.Read<float>(what));
      v.f = x;
      return absl::OkStatus();
    }
    case GgufValueType::kFloat64: {
      ASSIGN_OR_RETURN(v.f, c.Read<double>(what));
      return absl::OkStatus();
    }
    case GgufValueType::kBool: {
      ASSIGN_OR_RETURN(uint8_t x, c.Read<uint8_t>(what));
      v.b = x != 0;
      v.i = v.b, v.u = v.b, v.f = v.b;
      return absl::OkStatus();
    }
    case GgufValueType::kString: {
      ASSIGN_OR_RETURN(v.s, c.String(what));
      return absl::OkStatus();
    }
    case GgufValueType::kArray: {
      if (depth >= kMaxArrayDepth) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": arrays nested deeper than ", kMaxArrayDepth));
      }
      ASSIGN_OR_RETURN(uint32_t et, c.Read<uint32_t>(what));
      ASSIGN_OR_RETURN(uint64_t n, c.Read<uint64_t>(what));
      if (et > static_cast<uint32_t>(GgufValueType::kFloat64)) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": unknown array element type ", et));
      }
      // Every element takes at least one byte: a cheap bound before reserving.
      RETURN_IF_ERROR(c.Need(n, what));
      v.elem_type = static_cast<GgufValueType>(et);
      v.array_size = n;
      if (v.elem_type == GgufValueType::kString) {
        v.strings.reserve(n);
        for (uint64_t k = 0; k < n; ++k) {
          ASSIGN_OR_RETURN(std::string s, c.String(what));
          v.strings.push_back(std::move(s));
        }
      } else if (v.elem_type == GgufValueType::kArray) {
        v.items.resize(n);
        for (uint64_t k = 0; k < n; ++k) RETURN_IF_ERROR(ReadValue(c, v.elem_type, what, depth + 1, v.items[k]));
      } else {
        v.numbers.reserve(n);
        GgufValue e;
        for (uint64_t k = 0; k < n; ++k) {
          RETURN_IF_ERROR(ReadValue(c, v.elem_type, what, depth + 1, e));
          const bool is_signed = v.elem_type == GgufValueType::kInt8 || v.elem_type == GgufValueType::kInt16 ||
                                 v.elem_type == GgufValueType::kInt32 || v.elem_type == GgufValueType::kInt64;
          v.numbers.push_back(is_signed ? static_cast<double>(e.i) : e.f);
        }
      }
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(what, ": unknown value type ", static_cast<uint32_t>(type)));
}

// Fast loops: one block at a time, inner loops the compiler vectorizes.
void DequantQ8_0(const uint8_t* src, uint64_t blocks, float* out) {
  for (uint64_t b = 0; b < blocks; ++b, src += 34, out += 32) {
    const float d = HalfToFloat(Load16(src));
    const int8_t* q = reinterpret_cast<const int8_t*>(src + 2);
    for (int j = 0; j < 32; ++j) out[j] = d * static_cast<float>(q[j]);
  }
}
void DequantQ4_0(const uint8_t* src, uint64_t blocks, float* out) {
  for (uint64_t b = 0; b < blocks; ++b, src += 18, out += 32) {
    const float d = HalfToFloat(Load16(src));
    const uint8_t* q = src + 2;
    for (int j = 0; j < 16; ++j) {
      out[j] = d * static_cast<float>((q[j] & 0x0F) - 8);
      out[j + 16] = d * static_cast<float>((q[j] >> 4) - 8);
    }
  }
}
void DequantQ4_1(const uint8_t* src, uint64_t blocks, float* out) {
  for (uint64_t b = 0; b < blocks; ++b, src += 20, out += 32) {
    const float d = HalfToFloat(Load16(src)), m = HalfToFloat(Load16(src + 2));
    const uint8_t* q = src + 4;
    for (int j = 0; j < 16; ++j) {
      out[j] = d * static_cast<float>(q[j] & 0x0F) + m;
      out[j + 16] = d * static_cast<float>(q[j] >> 4) + m;
    }
  }
}

}  // namespace

// --- types ---

std::string GgmlTypeName(uint32_t type) {
  const TypeLayout* l = Layout(type);
  return l != nullptr ? l->name : absl::StrCat("type ", type);
}

bool GgmlTypeCanDequantize(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::kF32: case GgmlType::kF16: case GgmlType::kBF16:
    case GgmlType::kQ8_0: case GgmlType::kQ4_0: case GgmlType::kQ4_1:
      return true;
    default:
      return false;
  }
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: mant * 2^-24, exact in float
    float f = static_cast<float>(mant) * 5.9604644775390625e-8f;
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float Bf16ToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint64_t GgufTensorInfo::num_elements() const {
  uint64_t n = 1;
  for (uint64_t d : ne) n *= d;
  return n;
}

std::vector<int64_t> GgufTensorInfo::torch_shape() const {
  return std::vector<int64_t>(ne.rbegin(), ne.rend());
}

absl::Status DequantizeRow(uint32_t type, const uint8_t* src, uint64_t n, float* out) {
  const TypeLayout* l = Layout(type);
  if (l == nullptr || !GgmlTypeCanDequantize(type)) {
    return absl::InvalidArgumentError("cannot dequantize ggml type " + GgmlTypeName(type) +
                                      " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)");
  }
  if (n % l->block != 0) {
    return absl::InvalidArgumentError(absl::StrCat(n, " elements is not a multiple of the ", l->name,
                                                   " block size ", l->block));
  }
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::kF32:
      std::memcpy(out, src, n * 4);
      break;
    case GgmlType::kF16:
      for (uint64_t k = 0; k < n; ++k) out[k] = HalfToFloat(Load16(src + 2 * k));
      break;
    case GgmlType::kBF16:
      for (uint64_t k = 0; k < n; ++k) out[k] = Bf16ToFloat(Load16(src + 2 * k));
      break;
    case GgmlType::kQ8_0:
      DequantQ8_0(src, n / 32, out);
      break;
    case GgmlType::kQ4_0:
      DequantQ4_0(src, n / 32, out);
      break;
    case GgmlType::kQ4_1:
      DequantQ4_1(src, n / 32, out);
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status DequantizeRowReference(uint32_t type, const uint8_t* src, uint64_t n, float* out) {
  const TypeLayout* l = Layout(type);
  if (l == nullptr || !GgmlTypeCanDequantize(type) || n % l->block != 0) {
    return absl::InvalidArgumentError("DequantizeRowReference: bad type or size");
  }
  for (uint64_t k = 0; k < n; ++k) {
    const uint8_t* block = src + (k / l->block) * l->bytes;
    const uint64_t j = k % l->block;
    float v = 0;
    switch (static_cast<GgmlType>(type)) {
      case GgmlType::kF32: std::memcpy(&v, block, 4); break;
      case GgmlType::kF16: v = HalfToFloat(Load16(block)); break;
      case GgmlType::kBF16: v = Bf16ToFloat(Load16(block)); break;
      case GgmlType::kQ8_0: v = HalfToFloat(Load16(block)) * static_cast<float>(static_cast<int8_t>(block[2 + j])); break;
      case GgmlType::kQ4_0: {
        const int q = j < 16 ? block[2 + j] & 0x0F : block[2 + j - 16] >> 4;
        v = HalfToFloat(Load16(block)) * static_cast<float>(q - 8);
        break;
      }
      case GgmlType::kQ4_1: {
        const int q = j < 16 ? block[4 + j] & 0x0F : block[4 + j - 16] >> 4;
        v = HalfToFloat(Load16(block)) * static_cast<float>(q) + HalfToFloat(Load16(block + 2));
        break;
      }
      default: break;
    }
    out[k] = v;
  }
  return absl::OkStatus();
}

// --- the file ---

GgufFile::GgufFile(GgufFile&& o) noexcept { *this = std::move(o); }

GgufFile& GgufFile::operator=(GgufFile&& o) noexcept {
  if (this != &o) {
    if (map_ != nullptr) munmap(const_cast<uint8_t*>(map_), size_);
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    size_ = std::exchange(o.size_, 0);
    version_ = o.version_;
    alignment_ = o.alignment_;
    data_offset_ = o.data_offset_;
    metadata_ = std::move(o.metadata_);
    tensors_ = std::move(o.tensors_);
    tensor_index_ = std::move(o.tensor_index_);
  }
  return *this;
}

GgufFile::~GgufFile() {
  if (map_ != nullptr) munmap(const_cast<uint8_t*>(map_), size_);
}

absl::StatusOr<GgufFile> GgufFile::Open(const std::string& path) {
  GgufFile f;
  f.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return absl::NotFoundError("cannot open GGUF file " + path);
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 24) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": too short for a GGUF header (",
                                                   static_cast<int64_t>(st.st_size), " bytes)"));
  }
  f.size_ = static_cast<uint64_t>(st.st_size);
  void* m = mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return absl::InternalError("cannot mmap " + path);
  f.map_ = static_cast<const uint8_t*>(m);

  Cursor c(f.map_, f.size_, path);
  if (std::memcmp(f.map_, "GGUF", 4) != 0) {
    return absl::InvalidArgumentError(path + ": bad magic (not a GGUF file)");
  }
  ASSIGN_OR_RETURN(uint32_t magic, c.Read<uint32_t>("magic"));
  (void)magic;
  ASSIGN_OR_RETURN(f.version_, c.Read<uint32_t>("version"));
  if (f.version_ != 2 && f.version_ != 3) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": GGUF version ", f.version_, " (only 2 and 3)"));
  }
  ASSIGN_OR_RETURN(uint64_t n_tensors, c.Read<uint64_t>("tensor count"));
  ASSIGN_OR_RETURN(uint64_t n_kv, c.Read<uint64_t>("metadata count"));
  if (n_tensors > f.size_ / 8 || n_kv > f.size_ / 8) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", n_tensors, " tensors and ", n_kv,
                                                   " metadata entries cannot fit in ", f.size_, " bytes"));
  }
  for (uint64_t k = 0; k < n_kv; ++k) {
    ASSIGN_OR_RETURN(std::string key, c.String(absl::StrCat(path, ": metadata key #", k)));
    const std::string what = absl::StrCat(path, ": metadata '", key, "'");
    ASSIGN_OR_RETURN(uint32_t type, c.Read<uint32_t>(what));
    if (type > static_cast<uint32_t>(GgufValueType::kFloat64)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": unknown value type ", type));
    }
    GgufValue v;
    RETURN_IF_ERROR(ReadValue(c, static_cast<GgufValueType>(type), what, 0, v));
    if (!f.metadata_.emplace(key, std::move(v)).second) {
      return absl::InvalidArgumentError(what + ": duplicate key");
    }
  }
  if (const GgufValue* a = f.Find("general.alignment")) {
    if (a->type != GgufValueType::kUint32 || a->u == 0 || (a->u & (a->u - 1)) != 0) {
      return absl::InvalidArgumentError(path + ": general.alignment must be a uint32 power of two");
    }
    f.alignment_ = a->u;
  }
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    ASSIGN_OR_RETURN(t.name, c.String(absl::StrCat(path, ": tensor info #", k)));
    const std::string what = absl::StrCat(path, ": tensor '", t.name, "'");
    ASSIGN_OR_RETURN(uint32_t n_dims, c.Read<uint32_t>(what));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", n_dims, " dims (1 to ", kMaxDims, ")"));
    }
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      ASSIGN_OR_RETURN(uint64_t ne, c.Read<uint64_t>(what));
      if (ne == 0 || ne > (uint64_t{1} << 40) || elements > (uint64_t{1} << 40) / ne) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": dimension ", d, " is ", ne,
                                                       " (empty or more than 2^40 elements)"));
      }
      elements *= ne;
      t.ne.push_back(ne);
    }
    ASSIGN_OR_RETURN(t.type, c.Read<uint32_t>(what));
    ASSIGN_OR_RETURN(t.offset, c.Read<uint64_t>(what));
    const TypeLayout* l = Layout(t.type);
    if (l == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, ": unknown ggml type ", t.type));
    if (t.ne[0] % l->block != 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": row length ", t.ne[0],
                                                     " is not a multiple of the ", l->name, " block size ", l->block));
    }
    t.nbytes = elements / l->block * l->bytes;
    if (t.offset % f.alignment_ != 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": data offset ", t.offset,
                                                     " is not a multiple of the alignment ", f.alignment_));
    }
    if (!f.tensor_index_.emplace(t.name, f.tensors_.size()).second) {
      return absl::InvalidArgumentError(what + ": duplicate tensor name");
    }
    f.tensors_.push_back(std::move(t));
  }
  f.data_offset_ = (c.offset() + f.alignment_ - 1) / f.alignment_ * f.alignment_;
  // Every tensor inside the file, none overlapping another.
  std::vector<std::pair<uint64_t, size_t>> spans;
  for (size_t k = 0; k < f.tensors_.size(); ++k) {
    const GgufTensorInfo& t = f.tensors_[k];
    if (f.data_offset_ > f.size_ || t.offset > f.size_ - f.data_offset_ ||
        t.nbytes > f.size_ - f.data_offset_ - t.offset) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", t.name, "' data [",
                                                     f.data_offset_ + t.offset, ", +", t.nbytes,
                                                     ") runs past the end of the file (", f.size_, " bytes)"));
    }
    spans.emplace_back(t.offset, k);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t k = 1; k < spans.size(); ++k) {
    const GgufTensorInfo& a = f.tensors_[spans[k - 1].second];
    const GgufTensorInfo& b = f.tensors_[spans[k].second];
    if (a.offset + a.nbytes > b.offset) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensors '", a.name, "' and '", b.name, "' overlap"));
    }
  }
  return f;
}

const GgufValue* GgufFile::Find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

namespace {
bool IsInteger(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8: case GgufValueType::kInt8: case GgufValueType::kUint16:
    case GgufValueType::kInt16: case GgufValueType::kUint32: case GgufValueType::kInt32:
    case GgufValueType::kUint64: case GgufValueType::kInt64:
      return true;
    default:
      return false;
  }
}
}  // namespace

absl::StatusOr<std::string> GgufFile::GetString(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": metadata key '", key, "' is missing"));
  if (v->type != GgufValueType::kString) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata '", key, "' is not a string"));
  }
  return v->s;
}

absl::StatusOr<uint64_t> GgufFile::GetUint(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": metadata key '", key, "' is missing"));
  const bool is_signed = v->type == GgufValueType::kInt8 || v->type == GgufValueType::kInt16 ||
                         v->type == GgufValueType::kInt32 || v->type == GgufValueType::kInt64;
  if (!IsInteger(v->type) || (is_signed && v->i < 0)) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata '", key, "' is not a non-negative integer"));
  }
  return v->u;
}

absl::StatusOr<double> GgufFile::GetFloat(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": metadata key '", key, "' is missing"));
  if (!IsInteger(v->type) && v->type != GgufValueType::kFloat32 && v->type != GgufValueType::kFloat64) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata '", key, "' is not a number"));
  }
  return v->f;
}

absl::StatusOr<bool> GgufFile::GetBool(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": metadata key '", key, "' is missing"));
  if (v->type != GgufValueType::kBool) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata '", key, "' is not a bool"));
  }
  return v->b;
}

const GgufTensorInfo* GgufFile::FindTensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

absl::Span<const uint8_t> GgufFile::Bytes(const GgufTensorInfo& t) const {
  return absl::Span<const uint8_t>(map_ + data_offset_ + t.offset, t.nbytes);
}

absl::Status GgufFile::Dequantize(const GgufTensorInfo& t, float* out) const {
  if (!GgmlTypeCanDequantize(t.type)) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": tensor '", t.name, "' has type ", GgmlTypeName(t.type),
                                                   ", which cannot be dequantized (supported: F32, F16, BF16, "
                                                   "Q8_0, Q4_0, Q4_1)"));
  }
  const TypeLayout* l = Layout(t.type);
  const uint8_t* src = Bytes(t).data();
  const uint64_t blocks = t.num_elements() / l->block;
  // Split big tensors over a few threads, on block boundaries.
  const uint64_t threads = t.nbytes < (uint64_t{4} << 20)
                               ? 1
                               : std::min<uint64_t>(std::max(1u, std::thread::hardware_concurrency()), 8);
  const uint64_t per = (blocks + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (uint64_t k = 0; k < threads; ++k) {
    const uint64_t b0 = k * per, b1 = std::min(blocks, b0 + per);
    if (b0 >= b1) break;
    auto work = [=] {
      (void)DequantizeRow(t.type, src + b0 * l->bytes, (b1 - b0) * l->block, out + b0 * l->block);
    };
    if (k + 1 == threads) work(); else pool.emplace_back(work);
  }
  for (std::thread& th : pool) th.join();
  return absl::OkStatus();  // the type and block multiple were checked above and at Open
}

}  // namespace grpo::policy
