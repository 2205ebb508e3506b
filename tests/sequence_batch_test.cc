// PackSequences (grpo/sequence_batch.h): ids, attention and the completion
// mask line up with ScoreTokens' positions (t predicts t+1), values land on
// the completion positions, and bad input is an error.
#include "grpo/sequence_batch.h"

#include <vector>

#include "gtest/gtest.h"

namespace grpo::train {
namespace {

std::vector<float> RowOf(const torch::Tensor& t, int64_t r) {
  const torch::Tensor row = t[r].to(torch::kFloat).contiguous();
  return std::vector<float>(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
}

TEST(SequenceBatchTest, CompletionPositionsPredictCompletionTokens) {
  auto b = PackSequences({{1, 5, 6}, {1, 7}}, {{8, 9}, {10, 11, 12}}, /*pad_id=*/0, {{-0.5f, -1.5f}, {-1, -2, -3}});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->ids.sizes(), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(RowOf(b->ids, 0), (std::vector<float>{1, 5, 6, 8, 9}));
  EXPECT_EQ(RowOf(b->ids, 1), (std::vector<float>{1, 7, 10, 11, 12}));
  EXPECT_EQ(RowOf(b->attention_mask, 0), (std::vector<float>{1, 1, 1, 1, 1}));
  // Row 0: prompt of 3, so positions 2 and 3 predict tokens 8 and 9.
  EXPECT_EQ(RowOf(b->completion_mask, 0), (std::vector<float>{0, 0, 1, 1}));
  EXPECT_EQ(RowOf(b->completion_mask, 1), (std::vector<float>{0, 1, 1, 1}));
  EXPECT_EQ(RowOf(b->completion_values, 0), (std::vector<float>{0, 0, -0.5f, -1.5f}));
  EXPECT_EQ(RowOf(b->completion_values, 1), (std::vector<float>{0, -1, -2, -3}));
}

TEST(SequenceBatchTest, ShortRowsArePaddedAndMasked) {
  auto b = PackSequences({{1, 2, 3, 4}, {1}}, {{5}, {}}, /*pad_id=*/9);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(RowOf(b->ids, 1), (std::vector<float>{1, 9, 9, 9, 9}));
  EXPECT_EQ(RowOf(b->attention_mask, 1), (std::vector<float>{1, 0, 0, 0, 0}));
  EXPECT_EQ(RowOf(b->completion_mask, 1), (std::vector<float>{0, 0, 0, 0}));
  EXPECT_FALSE(b->completion_values.defined());
}

TEST(SequenceBatchTest, BadInputIsInvalidArgument) {
  EXPECT_FALSE(PackSequences({}, {}, 0).ok());
  EXPECT_FALSE(PackSequences({{1}}, {{2}, {3}}, 0).ok());
  EXPECT_FALSE(PackSequences({{}}, {{2}}, 0).ok());
  EXPECT_FALSE(PackSequences({{1}}, {{}}, 0).ok());
  EXPECT_FALSE(PackSequences({{1}}, {{2, 3}}, 0, {{0.5f}}).ok());
}

}  // namespace
}  // namespace grpo::train
