// The miniature R1's procedural task (grpo/arithmetic_task.h): worked
// solutions are right (checked against integer addition), the imperfect share
// is wrong in exactly one carry, generation is deterministic and splits are
// disjoint.
#include "grpo/arithmetic_task.h"

#include <cstdint>
#include <regex>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace grpo::train {
namespace {

using ::testing::HasSubstr;

TEST(ArithmeticTaskTest, WorkedSolutionWritesEveryColumnAndTheCarries) {
  EXPECT_EQ(WorkedSolution("4821", "397"),
            "<think>1+7=8 2+9=11 8+3+1=12 4+0+1=5</think><answer>5218</answer>");
  EXPECT_EQ(WorkedSolution("99", "1"), "<think>9+1=10 9+0+1=10</think><answer>100</answer>");
  EXPECT_EQ(WorkedSolution("12", "34"), "<think>2+4=6 1+3=4</think><answer>46</answer>");
}

TEST(ArithmeticTaskTest, CorrectSolutionsAgreeWithIntegerAddition) {
  auto problems = GenerateArithmetic({1, 6, 0.0}, 2000, 1);
  ASSERT_TRUE(problems.ok()) << problems.status();
  const std::regex prompt_re(R"((\d+)\+(\d+)=)");
  for (const Problem& p : *problems) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(p.prompt, m, prompt_re)) << p.prompt;
    const uint64_t sum = std::stoull(m[1]) + std::stoull(m[2]);
    EXPECT_EQ(p.answer, std::to_string(sum)) << p.prompt;
    EXPECT_TRUE(p.solution_correct);
    EXPECT_THAT(p.solution, HasSubstr("<answer>" + p.answer + "</answer>"));
  }
}

TEST(ArithmeticTaskTest, ImperfectSolutionsForgetCarriesAndSayTheAnswerTheirThoughtGives) {
  auto problems = GenerateArithmetic({3, 4, 0.5}, 4000, 2);
  ASSERT_TRUE(problems.ok());
  const std::regex column_re(R"((\d)\+(\d)(\+1)?=(\d+))");
  int wrong = 0, carries_in = 0, carries_written = 0;
  for (const Problem& p : *problems) {
    const bool says_gold = p.solution.find("<answer>" + p.answer + "</answer>") != std::string::npos;
    EXPECT_EQ(says_gold, p.solution_correct) << p.prompt << " " << p.solution;
    if (!p.solution_correct) ++wrong;
    // Every column's sum is right for what it writes, and a dropped carry is
    // the only way a column differs from the correct addition.
    int carry = 0;
    for (std::sregex_iterator it(p.solution.begin(), p.solution.end(), column_re), end; it != end; ++it) {
      const int x = std::stoi((*it)[1]), y = std::stoi((*it)[2]), wrote = (*it)[3].matched ? 1 : 0;
      EXPECT_EQ(std::stoi((*it)[4]), x + y + wrote) << p.solution;
      EXPECT_LE(wrote, carry) << "a carry out of nowhere: " << p.solution;
      carries_in += carry;
      carries_written += wrote;
      carry = (x + y + wrote) / 10;
    }
  }
  // Half of the carries are forgotten.
  EXPECT_NEAR(static_cast<double>(carries_written) / carries_in, 0.5, 0.03);
  EXPECT_GT(wrong, 4000 * 0.4);
  EXPECT_EQ(GenerateArithmetic({3, 4, 0.0}, 500, 2)->at(0).solution_correct, true);
}

TEST(ArithmeticTaskTest, DeterministicAndSplitsAreDisjoint) {
  const ArithmeticTaskOptions o{2, 3, 0.3};  // digits 2-3, carries dropped at 0.3
  auto a = GenerateArithmetic(o, 300, 7), b = GenerateArithmetic(o, 300, 7);
  ASSERT_TRUE(a.ok() && b.ok());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ((*a)[i].prompt, (*b)[i].prompt);
    EXPECT_EQ((*a)[i].solution, (*b)[i].solution);
  }
  std::vector<std::string> held_out;
  for (const auto& p : *a) held_out.push_back(p.prompt);
  auto train = GenerateArithmetic(o, 3000, 8, held_out);
  ASSERT_TRUE(train.ok());
  std::set<std::string> prompts(held_out.begin(), held_out.end());
  for (const auto& p : *train) EXPECT_TRUE(prompts.insert(p.prompt).second) << "duplicate " << p.prompt;
}

TEST(ArithmeticTaskTest, BadOptionsAreErrors) {
  EXPECT_EQ(GenerateArithmetic({0, 3, 0.3}, 1, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GenerateArithmetic({2, 3, 1.5}, 1, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GenerateArithmetic({1, 1, 0.0}, 1000, 1).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace grpo::train
