#include "policy/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "proto/status_macros.h"

namespace grpo::policy {
namespace {

// The reference implementation refuses headers above 100 MB; so do we, so a
// corrupt length cannot make us allocate gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;
constexpr char kSingleFile[] = "model.safetensors";
constexpr char kIndexFile[] = "model.safetensors.index.json";

struct DTypeInfo {
  SafetensorsDType dtype;
  const char* name;
  int size;
};
constexpr DTypeInfo kDTypes[] = {
    {SafetensorsDType::kF64, "F64", 8},   {SafetensorsDType::kF32, "F32", 4},
    {SafetensorsDType::kF16, "F16", 2},   {SafetensorsDType::kBF16, "BF16", 2},
    {SafetensorsDType::kI64, "I64", 8},   {SafetensorsDType::kI32, "I32", 4},
    {SafetensorsDType::kI16, "I16", 2},   {SafetensorsDType::kI8, "I8", 1},
    {SafetensorsDType::kU8, "U8", 1},     {SafetensorsDType::kBool, "BOOL", 1},
};

absl::Status Bad(const std::string& source, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
}

// Element count x element size; false on overflow or a negative dim.
bool ByteSize(const std::vector<int64_t>& shape, int elem_size, uint64_t* out) {
  uint64_t n = static_cast<uint64_t>(elem_size);
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  }
  *out = n;
  return true;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) absl::StrAppend(&s, i ? ", " : "", shape[i]);
  return s + "]";
}

absl::StatusOr<SafetensorsEntry> ParseEntry(const std::string& source, const std::string& name,
                                            const nlohmann::json& j) {
  const std::string where = absl::StrCat("tensor '", name, "': ");
  if (!j.is_object()) return Bad(source, where + "header entry is not an object");
  auto dt = j.find("dtype");
  auto sh = j.find("shape");
  auto off = j.find("data_offsets");
  if (dt == j.end() || !dt->is_string()) return Bad(source, where + "missing string 'dtype'");
  if (sh == j.end() || !sh->is_array()) return Bad(source, where + "missing array 'shape'");
  if (off == j.end() || !off->is_array() || off->size() != 2) {
    return Bad(source, where + "'data_offsets' is not [begin, end]");
  }
  SafetensorsEntry e;
  e.name = name;
  const std::string dtype_name = dt->get<std::string>();
  bool known = false;
  for (const DTypeInfo& info : kDTypes) {
    if (dtype_name == info.name) {
      e.dtype = info.dtype;
      known = true;
    }
  }
  if (!known) return Bad(source, where + "unsupported dtype '" + dtype_name + "'");
  for (const nlohmann::json& d : *sh) {
    if (!d.is_number_unsigned()) return Bad(source, where + "shape has a non-integer or negative dim");
    e.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }
  if (!(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned()) {
    return Bad(source, where + "data_offsets are not non-negative integers");
  }
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.end < e.begin) return Bad(source, where + "data_offsets end before they begin");
  uint64_t want = 0;
  if (!ByteSize(e.shape, SafetensorsDTypeSize(e.dtype), &want) || want != e.end - e.begin) {
    return Bad(source, absl::StrCat(where, "shape ", ShapeString(e.shape), " x ", dtype_name,
                                    " needs ", want, " bytes but data_offsets span ",
                                    e.end - e.begin));
  }
  return e;
}

}  // namespace

const char* SafetensorsDTypeName(SafetensorsDType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.name;
  }
  return "?";
}

int SafetensorsDTypeSize(SafetensorsDType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.size;
  }
  return 0;
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open safetensors file"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::InternalError(absl::StrCat(path, ": read failed"));
  return Parse(std::move(ss).str(), path);
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Parse(std::string bytes, const std::string& source) {
  if (bytes.size() < 8) {
    return Bad(source, absl::StrCat("file is ", bytes.size(), " bytes, shorter than the 8-byte header length"));
  }
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);  // little-endian host
  if (header_len > kMaxHeaderBytes || header_len > bytes.size() - 8) {
    return Bad(source, absl::StrCat("header length ", header_len, " does not fit in the file (",
                                    bytes.size(), " bytes); truncated or not safetensors"));
  }
  const nlohmann::json header =
      nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) {
    return Bad(source, "header is not a JSON object");
  }
  SafetensorsFile file;
  file.source_ = source;
  file.data_start_ = 8 + header_len;
  const uint64_t data_size = bytes.size() - file.data_start_;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return Bad(source, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) return Bad(source, "__metadata__ value '" + m.key() + "' is not a string");
        file.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    auto entry = ParseEntry(source, it.key(), *it);
    if (!entry.ok()) return entry.status();
    if (entry->end > data_size) {
      return Bad(source, absl::StrCat("tensor '", it.key(), "': data_offsets end at ", entry->end,
                                      " but the data region is ", data_size,
                                      " bytes; file truncated?"));
    }
    file.entries_.push_back(*std::move(entry));
  }
  // Overlap check on a copy sorted by offset; entries_ stays sorted by name.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const SafetensorsEntry& e : file.entries_) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return Bad(source, absl::StrCat("tensors '", by_offset[i - 1]->name, "' and '",
                                      by_offset[i]->name, "' overlap"));
    }
  }
  file.bytes_ = std::move(bytes);
  return file;
}

const SafetensorsEntry* SafetensorsFile::Find(const std::string& name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const SafetensorsEntry& e, const std::string& n) { return e.name < n; });
  return it != entries_.end() && it->name == name ? &*it : nullptr;
}

absl::Span<const uint8_t> SafetensorsFile::Bytes(const SafetensorsEntry& entry) const {
  return absl::Span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bytes_.data()) + data_start_ + entry.begin,
      entry.end - entry.begin);
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat(tmp, ": cannot create: ", std::strerror(errno)));
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat(tmp, ": write failed: ", err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat(tmp, ": fsync/close failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat(path, ": rename failed: ", err));
  }
  // Make the rename itself durable; best effort (some filesystems refuse).
  const std::string parent = std::filesystem::path(path).parent_path().string();
  const int dir_fd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<SafetensorsTensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const SafetensorsTensorToWrite& t : tensors) {
    if (t.name == "__metadata__" || !names.insert(t.name).second) {
      return Bad(path, "duplicate or reserved tensor name '" + t.name + "'");
    }
    uint64_t want = 0;
    if (!ByteSize(t.shape, SafetensorsDTypeSize(t.dtype), &want) || want != t.bytes.size()) {
      return Bad(path, absl::StrCat("tensor '", t.name, "': shape ", ShapeString(t.shape),
                                    " needs ", want, " bytes, got ", t.bytes.size()));
    }
    header[t.name] = {{"dtype", SafetensorsDTypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + want}}};
    offset += want;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // align the data region to 8 bytes
  const uint64_t header_len = json.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &header_len, 8);
  out.reserve(8 + json.size() + offset);
  out += json;
  for (const SafetensorsTensorToWrite& t : tensors) {
    out.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  }
  return WriteFileAtomically(path, out);
}

absl::StatusOr<std::vector<SafetensorsFile>> ReadSafetensorsDir(const std::string& dir) {
  std::vector<SafetensorsFile> files;
  const std::string single = absl::StrCat(dir, "/", kSingleFile);
  std::error_code ec;
  if (std::filesystem::exists(single, ec)) {
    ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Read(single));
    files.push_back(std::move(f));
    return files;
  }
  const std::string index_path = absl::StrCat(dir, "/", kIndexFile);
  std::ifstream in(index_path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(dir, ": neither ", kSingleFile, " nor ", kIndexFile));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  const nlohmann::json index = nlohmann::json::parse(ss.str(), nullptr, false);
  if (index.is_discarded() || !index.is_object() || !index.contains("weight_map") ||
      !index["weight_map"].is_object()) {
    return Bad(index_path, "not a JSON object with a 'weight_map' object");
  }
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  std::vector<std::string> shards;                // in order of first mention
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    if (!it->is_string()) return Bad(index_path, "tensor '" + it.key() + "': shard is not a string");
    const std::string shard = it->get<std::string>();
    // Shards are plain names in DIR; a path could read files outside it.
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") {
      return Bad(index_path, "tensor '" + it.key() + "': shard '" + shard + "' is not a file name in the directory");
    }
    if (std::find(shards.begin(), shards.end(), shard) == shards.end()) shards.push_back(shard);
    weight_map[it.key()] = shard;
  }
  std::map<std::string, std::string> seen;  // tensor -> the file holding it
  for (const std::string& shard : shards) {
    ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Read(absl::StrCat(dir, "/", shard)));
    for (const SafetensorsEntry& e : f.entries()) {
      auto [prev, fresh] = seen.emplace(e.name, f.source());
      if (!fresh) {
        return Bad(index_path, "tensor '" + e.name + "' is in both " + prev->second + " and " + f.source());
      }
      auto m = weight_map.find(e.name);
      if (m == weight_map.end() || m->second != shard) {
        return Bad(index_path, "tensor '" + e.name + "' is in shard " + shard + " but the weight_map says '" +
                                   (m == weight_map.end() ? std::string("(absent)") : m->second) + "'");
      }
    }
    files.push_back(std::move(f));
  }
  for (const auto& [name, shard] : weight_map) {
    if (seen.count(name) == 0) return Bad(index_path, "tensor '" + name + "' is not in its shard " + shard);
  }
  return files;
}

absl::Status WriteSafetensorsDir(const std::string& dir,
                                 const std::vector<SafetensorsTensorToWrite>& tensors,
                                 const std::map<std::string, std::string>& metadata,
                                 uint64_t max_shard_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create directory: ", ec.message()));
  const std::string single = absl::StrCat(dir, "/", kSingleFile);
  const std::string index_path = absl::StrCat(dir, "/", kIndexFile);
  uint64_t total = 0;
  std::set<std::string> names;
  for (const SafetensorsTensorToWrite& t : tensors) {
    total += t.bytes.size();
    if (!names.insert(t.name).second) return Bad(dir, "duplicate tensor name '" + t.name + "'");
  }
  if (max_shard_bytes == 0 || total <= max_shard_bytes) {
    RETURN_IF_ERROR(WriteSafetensors(single, tensors, metadata));
    std::filesystem::remove(index_path, ec);
    return absl::OkStatus();
  }
  std::vector<std::vector<SafetensorsTensorToWrite>> shards;
  uint64_t in_shard = 0;
  for (const SafetensorsTensorToWrite& t : tensors) {
    if (shards.empty() || (in_shard > 0 && in_shard + t.bytes.size() > max_shard_bytes)) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(t);
    in_shard += t.bytes.size();
  }
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    RETURN_IF_ERROR(WriteSafetensors(absl::StrCat(dir, "/", name), shards[i], metadata));
    for (const SafetensorsTensorToWrite& t : shards[i]) weight_map[t.name] = name;
  }
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total}};
  index["weight_map"] = std::move(weight_map);
  RETURN_IF_ERROR(WriteFileAtomically(index_path, index.dump(2) + "\n"));
  std::filesystem::remove(single, ec);  // the index is the entry point now
  return absl::OkStatus();
}

}  // namespace grpo::policy
