// TensorBoard event files (grpo/tensorboard_writer.h): CRC-32C against the
// standard check values, the TFRecord framing read back with both CRCs
// checked, the events parsed as TensorFlow's messages, and damage detected.
// (scripts/check_tensorboard.py reads a run's files with stock TensorBoard.)
#include "grpo/tensorboard_writer.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/tensorboard.pb.h"

namespace grpo::train {
namespace {

using ::testing::HasSubstr;

TEST(Crc32cTest, StandardCheckValues) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);  // the CRC-32C check value
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720 B.4, 32 zero bytes
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);  // RFC 3720 B.4, 32 0xFF bytes
}

TEST(TensorBoardWriterTest, ScalarsReadBackAsEvents) {
  const std::string dir = ::testing::TempDir() + "/grpo_tb_" + std::to_string(::getpid());
  std::string path;
  {
    auto w = TensorBoardWriter::Create(dir);
    ASSERT_TRUE(w.ok()) << w.status();
    path = (*w)->path();
    EXPECT_THAT(path, HasSubstr("/events.out.tfevents."));
    ASSERT_TRUE((*w)->AddScalar("reward/mean", 0.25, 1).ok());
    ASSERT_TRUE((*w)->AddScalar("reward/mean", 0.75, 2).ok());
    ASSERT_TRUE((*w)->Flush().ok());
  }
  auto records = ReadTfRecords(path);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  tensorboard::Event first, third;
  ASSERT_TRUE(first.ParseFromString((*records)[0]));
  EXPECT_EQ(first.file_version(), "brain.Event:2");
  ASSERT_TRUE(third.ParseFromString((*records)[2]));
  EXPECT_EQ(third.step(), 2);
  ASSERT_EQ(third.summary().value_size(), 1);
  EXPECT_EQ(third.summary().value(0).tag(), "reward/mean");
  EXPECT_FLOAT_EQ(third.summary().value(0).simple_value(), 0.75f);
  EXPECT_GT(third.wall_time(), 1.6e9);
  // One flipped byte in the data is caught by its CRC, and named.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-6, std::ios::end);
    f.put('\x5a');
  }
  auto damaged = ReadTfRecords(path);
  EXPECT_EQ(damaged.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(damaged.status().message(), HasSubstr("record 2"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace grpo::train
