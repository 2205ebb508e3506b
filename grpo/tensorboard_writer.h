// TensorBoard event files for the trainer's scalars, written with protobuf
// only (no TensorFlow): TFRecord framing (length, masked CRC-32C of the
// length, the serialized Event, masked CRC-32C of the data) around
// Event/Summary messages (proto/tensorboard.proto).
//
//   ASSIGN_OR_RETURN(auto tb, TensorBoardWriter::Create("runs/mini_r1"));
//   RETURN_IF_ERROR(tb->AddScalar("reward/mean", 0.41, /*step=*/12));
//   RETURN_IF_ERROR(tb->Flush());
#ifndef GRPO_GRPO_TENSORBOARD_WRITER_H_
#define GRPO_GRPO_TENSORBOARD_WRITER_H_

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace grpo::train {

// CRC-32C (Castagnoli) of `data`, and TFRecord's masked form of it.
uint32_t Crc32c(std::string_view data);
uint32_t MaskedCrc32c(std::string_view data);

class TensorBoardWriter {
 public:
  // Creates DIR/events.out.tfevents.<unix seconds>.<host>.<pid> and writes
  // the file_version record. DataLoss naming the file when it cannot.
  static absl::StatusOr<std::unique_ptr<TensorBoardWriter>> Create(const std::string& dir);

  // One scalar summary event.
  absl::Status AddScalar(const std::string& tag, double value, int64_t step);
  absl::Status Flush();
  const std::string& path() const { return path_; }

 private:
  explicit TensorBoardWriter(std::string path);
  absl::Status WriteRecord(const std::string& data);

  std::string path_;
  std::ofstream out_;
};

// Reads a TFRecord file back into its records, checking both CRCs of each.
// DataLoss naming the file and the record for a bad CRC or a short record.
absl::StatusOr<std::vector<std::string>> ReadTfRecords(const std::string& path);

}  // namespace grpo::train

#endif  // GRPO_GRPO_TENSORBOARD_WRITER_H_
