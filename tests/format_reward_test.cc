#include "reward/format_reward.h"

#include <string>

#include <gtest/gtest.h>

namespace grpo::reward {
namespace {

config::FormatRewardOptions R1() { return config::FormatRewardOptions(); }

config::FormatRewardOptions R1Zero() {
  config::FormatRewardOptions options;
  options.set_require_answer_tag(true);
  return options;
}

config::FormatRewardOptions OpenInPrompt() {
  config::FormatRewardOptions options;
  options.set_think_open_in_prompt(true);
  return options;
}

// Checks a verdict of 0 with `reason`.
void ExpectFail(std::string_view completion, const config::FormatRewardOptions& options,
                std::string_view reason) {
  const RewardResult r = FormatReward(completion, options);
  EXPECT_EQ(r.value, 0.0) << completion;
  EXPECT_EQ(r.status, RewardStatus::kOk) << completion;
  EXPECT_EQ(r.reason, reason) << completion;
}

// ------------------------------------------------------------ FormatReward --

TEST(FormatRewardTest, GoodR1Output) {
  const RewardResult r =
      FormatReward("<think>\n2 + 2 = 4.\n</think>\n\nThe answer is $\\boxed{4}$.\n", R1());
  EXPECT_EQ(r.value, 1.0);
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.reason, "ok");
  EXPECT_EQ(r.extracted, "The answer is $\\boxed{4}$.");
}

TEST(FormatRewardTest, LeadingWhitespaceAllowed) {
  EXPECT_EQ(FormatReward("\n  <think>x</think>4", R1()).value, 1.0);
}

TEST(FormatRewardTest, MissingOrMisplacedThinkOpen) {
  ExpectFail("reasoning</think>4", R1(), "missing <think>");
  ExpectFail("Sure! <think>x</think>4", R1(), "text before <think>");
}

TEST(FormatRewardTest, TwoThinks) {
  ExpectFail("<think>a</think><think>b</think>4", R1(), "2 <think> tags");
  ExpectFail("<think>a</think>b</think>4", R1(), "2 </think> tags");
}

TEST(FormatRewardTest, MissingClose) {
  ExpectFail("<think>still thinking", R1(), "missing </think>");
}

TEST(FormatRewardTest, CloseBeforeOpenIsCaught) {
  // Only reachable with tags that overlap; the rule still holds.
  config::FormatRewardOptions options;
  options.set_think_open("<t>");
  options.set_think_close("t>");
  ExpectFail("<t>answer", options, "t> before <t>");
}

TEST(FormatRewardTest, EmptyAnswer) {
  ExpectFail("<think>x</think>", R1(), "empty answer after </think>");
  ExpectFail("<think>x</think>  \n\t", R1(), "empty answer after </think>");
}

TEST(FormatRewardTest, AnswerTagRequired) {
  const RewardResult r = FormatReward("<think>x</think>\n<answer> 42 </answer>\n", R1Zero());
  EXPECT_EQ(r.value, 1.0);
  EXPECT_EQ(r.reason, "ok");
  EXPECT_EQ(r.extracted, "42");
}

TEST(FormatRewardTest, AnswerTagProblems) {
  ExpectFail("<think>x</think>42", R1Zero(), "missing <answer>");
  ExpectFail("<think>x</think><answer>42", R1Zero(), "missing </answer>");
  ExpectFail("<think>x</think>so <answer>42</answer>", R1Zero(),
             "text between </think> and <answer>");
  ExpectFail("<think>x</think><answer>42</answer> done", R1Zero(), "text after </answer>");
  ExpectFail("<think>x</think><answer>4</answer><answer>2</answer>", R1Zero(), "2 <answer> tags");
  ExpectFail("<think>x</think><answer>4</answer></answer>", R1Zero(), "2 </answer> tags");
  ExpectFail("<think>x</think><answer> </answer>", R1Zero(), "empty <answer>");
  ExpectFail("<think>x</think>", R1Zero(), "empty answer after </think>");
}

TEST(FormatRewardTest, AnswerTagNotRequiredByDefault) {
  EXPECT_EQ(FormatReward("<think>x</think><answer>42</answer> extra", R1()).value, 1.0);
}

TEST(FormatRewardTest, ThinkOpenInPrompt) {
  EXPECT_EQ(FormatReward("reasoning...\n</think>\n42", OpenInPrompt()).value, 1.0);
  ExpectFail("<think>reasoning</think>42", OpenInPrompt(),
             "<think> in the completion, but the prompt already opens it");
  ExpectFail("reasoning without end", OpenInPrompt(), "missing </think>");
  ExpectFail("a</think>b</think>42", OpenInPrompt(), "2 </think> tags");
  ExpectFail("a</think>", OpenInPrompt(), "empty answer after </think>");
  config::FormatRewardOptions zero = OpenInPrompt();
  zero.set_require_answer_tag(true);
  EXPECT_EQ(FormatReward("a</think><answer>1</answer>", zero).value, 1.0);
}

TEST(FormatRewardTest, CustomTags) {
  config::FormatRewardOptions options;
  options.set_think_open("<reasoning>");
  options.set_think_close("</reasoning>");
  EXPECT_EQ(FormatReward("<reasoning>r</reasoning>7", options).value, 1.0);
  ExpectFail("<think>r</think>7", options, "missing <reasoning>");
}

TEST(FormatRewardTest, ExtractedIsTruncated) {
  const std::string long_answer(10000, 'x');
  const RewardResult r = FormatReward("<think>x</think>" + long_answer, R1());
  EXPECT_EQ(r.value, 1.0);
  EXPECT_LE(r.extracted.size(), 210u);
  EXPECT_GE(r.extracted.size(), 100u);
  // Never cut inside a UTF-8 character.
  std::string accents;
  for (int k = 0; k < 500; ++k) accents += "\xc3\xa9";
  const RewardResult u = FormatReward("<think>x</think>a" + accents, R1());
  size_t body = u.extracted.size();
  if (u.extracted.size() >= 3 && u.extracted.compare(body - 3, 3, "...") == 0) body -= 3;
  EXPECT_EQ((body - 1) % 2, 0u) << u.extracted;
}

TEST(FormatRewardTest, HostileInputIsLinear) {
  const std::string many_opens(1 << 20, '<');
  EXPECT_EQ(FormatReward(many_opens, R1()).value, 0.0);
  std::string thinks;
  for (int k = 0; k < 100000; ++k) thinks += "<think>";
  ExpectFail(thinks, R1(), "100000 <think> tags");
  EXPECT_EQ(FormatReward(std::string("<think>\0</think>\xff", 17), R1()).value, 1.0);
}

// ---------------------------------------------------------- TagCountReward --

TEST(TagCountRewardTest, AllFourTags) {
  const RewardResult r = TagCountReward("<think>x</think><answer>1</answer>", R1());
  EXPECT_EQ(r.value, 1.0);
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.reason, "<think>=1 </think>=1 <answer>=1 </answer>=1");
}

TEST(TagCountRewardTest, PartialCredit) {
  EXPECT_EQ(TagCountReward("", R1()).value, 0.0);
  EXPECT_EQ(TagCountReward("<think>x</think>1", R1()).value, 0.5);
  EXPECT_EQ(TagCountReward("<think>x</think><answer>1", R1()).value, 0.75);
  // Repeated tags earn nothing.
  const RewardResult r = TagCountReward("<think>a</think><think>b</think><answer>1</answer>", R1());
  EXPECT_EQ(r.value, 0.5);
  EXPECT_EQ(r.reason, "<think>=2 </think>=2 <answer>=1 </answer>=1");
}

TEST(TagCountRewardTest, ThinkOpenInPrompt) {
  const RewardResult r = TagCountReward("x</think><answer>1</answer>", OpenInPrompt());
  EXPECT_EQ(r.value, 1.0);
  EXPECT_EQ(r.reason, "<think>=0+1 in prompt </think>=1 <answer>=1 </answer>=1");
  // Opening again in the completion makes two.
  EXPECT_EQ(TagCountReward("<think>x</think><answer>1</answer>", OpenInPrompt()).value, 0.75);
}

}  // namespace
}  // namespace grpo::reward
