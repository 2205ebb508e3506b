// The training order (grpo/data_cursor.h): each epoch a permutation, a new
// one each epoch, the same for the same seed, and a cursor restored from
// (epoch, position) continues exactly where the original was.
#include "grpo/data_cursor.h"

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"

namespace grpo::train {
namespace {

std::vector<size_t> Take(DataCursor& c, size_t n) {
  std::vector<size_t> out;
  for (size_t i = 0; i < n; ++i) out.push_back(c.Next());
  return out;
}

TEST(DataCursorTest, EveryEpochIsAPermutationAndEpochsDiffer) {
  DataCursor c(50, /*seed=*/7);
  const std::vector<size_t> first = Take(c, 50), second = Take(c, 50);
  EXPECT_EQ(c.epoch(), 1);
  EXPECT_EQ(c.position(), 50);
  for (std::vector<size_t> epoch : {first, second}) {
    std::sort(epoch.begin(), epoch.end());
    for (size_t i = 0; i < epoch.size(); ++i) ASSERT_EQ(epoch[i], i);
  }
  EXPECT_NE(first, second);
  std::vector<size_t> identity(50);
  for (size_t i = 0; i < 50; ++i) identity[i] = i;
  EXPECT_NE(first, identity);
}

TEST(DataCursorTest, SameSeedSameOrderOtherSeedOther) {
  DataCursor a(30, 1), b(30, 1), c(30, 2);
  const std::vector<size_t> ta = Take(a, 75);
  EXPECT_EQ(ta, Take(b, 75));
  EXPECT_NE(ta, Take(c, 75));
}

TEST(DataCursorTest, SeekContinuesExactly) {
  DataCursor original(17, 3);
  Take(original, 40);  // epoch 2, position 6
  DataCursor restored(17, 3);
  ASSERT_TRUE(restored.Seek(original.epoch(), original.position()).ok());
  EXPECT_EQ(Take(restored, 50), Take(original, 50));
  DataCursor at_end(17, 3);  // an epoch's end: the next index opens the next epoch
  ASSERT_TRUE(at_end.Seek(0, 17).ok());
  DataCursor fresh(17, 3);
  Take(fresh, 17);
  EXPECT_EQ(Take(at_end, 5), Take(fresh, 5));
}

TEST(DataCursorTest, SeekOutOfRangeIsInvalidArgument) {
  DataCursor c(5, 1);
  EXPECT_EQ(c.Seek(-1, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Seek(0, 6).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Seek(0, -2).code(), absl::StatusCode::kInvalidArgument);
}

TEST(DataCursorTest, OneProblemRepeats) {
  DataCursor c(1, 9);
  EXPECT_EQ(Take(c, 3), (std::vector<size_t>{0, 0, 0}));
  EXPECT_EQ(c.epoch(), 2);
}

}  // namespace
}  // namespace grpo::train
