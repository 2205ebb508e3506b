#include "grpo/tensorboard_writer.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "proto/tensorboard.pb.h"

namespace grpo::train {
namespace {

// Table of the reflected Castagnoli polynomial 0x82F63B78.
std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

double UnixSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string LittleEndian(uint64_t v, int bytes) {
  std::string out(static_cast<size_t>(bytes), '\0');
  for (int i = 0; i < bytes; ++i) out[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

}  // namespace

uint32_t Crc32c(std::string_view data) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t MaskedCrc32c(std::string_view data) {
  const uint32_t crc = Crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(std::string path) : path_(std::move(path)) {}

absl::StatusOr<std::unique_ptr<TensorBoardWriter>> TensorBoardWriter::Create(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  const std::string path = absl::StrCat(dir, "/events.out.tfevents.", static_cast<int64_t>(UnixSeconds()), ".",
                                        host, ".", getpid());
  std::unique_ptr<TensorBoardWriter> w(new TensorBoardWriter(path));
  w->out_.open(path, std::ios::binary | std::ios::trunc);
  if (!w->out_) return absl::DataLossError(absl::StrCat("cannot create ", path));
  tensorboard::Event version;
  version.set_wall_time(UnixSeconds());
  version.set_file_version("brain.Event:2");
  if (absl::Status s = w->WriteRecord(version.SerializeAsString()); !s.ok()) return s;
  if (absl::Status s = w->Flush(); !s.ok()) return s;
  return w;
}

absl::Status TensorBoardWriter::AddScalar(const std::string& tag, double value, int64_t step) {
  tensorboard::Event event;
  event.set_wall_time(UnixSeconds());
  event.set_step(step);
  tensorboard::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  return WriteRecord(event.SerializeAsString());
}

absl::Status TensorBoardWriter::WriteRecord(const std::string& data) {
  const std::string length = LittleEndian(data.size(), 8);
  out_ << length << LittleEndian(MaskedCrc32c(length), 4) << data << LittleEndian(MaskedCrc32c(data), 4);
  if (!out_) return absl::DataLossError(absl::StrCat("cannot write ", path_));
  return absl::OkStatus();
}

absl::Status TensorBoardWriter::Flush() {
  if (!out_.flush()) return absl::DataLossError(absl::StrCat("cannot write ", path_));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ReadTfRecords(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + static_cast<size_t>(i)]);
    return v;
  };
  std::vector<std::string> records;
  size_t at = 0;
  while (at < bytes.size()) {
    const std::string where = absl::StrCat(path, ": record ", records.size(), " at byte ", at);
    if (bytes.size() - at < 12) return absl::DataLossError(absl::StrCat(where, ": truncated header"));
    uint64_t length = 0;
    for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes[at + static_cast<size_t>(i)]);
    if (u32(at + 8) != MaskedCrc32c(std::string_view(bytes).substr(at, 8))) {
      return absl::DataLossError(absl::StrCat(where, ": bad length CRC"));
    }
    if (bytes.size() - at - 12 < length + 4) return absl::DataLossError(absl::StrCat(where, ": truncated data"));
    const std::string_view data = std::string_view(bytes).substr(at + 12, length);
    if (u32(at + 12 + length) != MaskedCrc32c(data)) return absl::DataLossError(absl::StrCat(where, ": bad data CRC"));
    records.emplace_back(data);
    at += 12 + length + 4;
  }
  return records;
}

}  // namespace grpo::train
