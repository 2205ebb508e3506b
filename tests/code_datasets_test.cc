// Every reference solution of the shipped HumanEval (164) and MBPP (974)
// passes its own tests through the code checker, in the sandbox.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "reward/code_checker.h"
#include "tests/code_test_util.h"

namespace grpo::reward {
namespace {

using testing::DatasetTask;

std::unique_ptr<CodeChecker> MakeChecker(config::CodeTestStyle style, std::string* skip) {
  config::CodeRewardOptions options;
  options.set_test_style(style);
  // Generous limits: MBPP task 123 needs about 3 s of CPU, and a loaded 2-core
  // CI machine can stretch the wall clock several times.
  options.set_cpu_seconds(30);
  options.set_wall_seconds(120);
  absl::StatusOr<std::unique_ptr<CodeChecker>> checker = CodeChecker::Create(options);
  if (!checker.ok()) {
    if (checker.status().code() != absl::StatusCode::kFailedPrecondition) {
      ADD_FAILURE() << checker.status();
    }
    *skip = std::string(checker.status().message());
    return nullptr;
  }
  return std::move(*checker);
}

// Runs every reference solution; returns the ids (and why) of those that did
// not pass.
std::vector<std::string> Failures(const CodeChecker& checker, const std::vector<DatasetTask>& tasks,
                                  const char* name) {
  std::vector<CodeResult> results(tasks.size());
  const auto start = std::chrono::steady_clock::now();
  testing::ParallelFor(tasks.size(), checker.workers(), [&](size_t i) {
    results[i] = checker.Check(tasks[i].solution, tasks[i].task);
  });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<std::string> failures;
  int passed = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (results[i].verdict == CodeVerdict::kPass && results[i].reward.value == 1.0) {
      ++passed;
    } else {
      failures.push_back(tasks[i].id + ": " + std::string(CodeVerdictName(results[i].verdict)) +
                         ": " + results[i].detail);
    }
  }
  std::printf("%s: %d/%zu reference solutions pass (%.1f s, %.1f programs/s on %d workers)\n", name,
              passed, tasks.size(), seconds, tasks.size() / seconds, checker.workers());
  return failures;
}

TEST(CodeDatasetsTest, HumanEvalCanonicalSolutionsAllPass) {
  const std::vector<DatasetTask> tasks = testing::LoadHumanEval(GRPO_DATA_DIR "/humaneval.jsonl");
  ASSERT_EQ(tasks.size(), 164u);
  std::string skip;
  auto checker = MakeChecker(config::HUMANEVAL, &skip);
  if (checker == nullptr) GTEST_SKIP() << "no sandbox: " << skip;
  const std::vector<std::string> failures = Failures(*checker, tasks, "HumanEval");
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
}

TEST(CodeDatasetsTest, MbppReferenceSolutionsAllPass) {
  const std::vector<DatasetTask> tasks = testing::LoadMbpp(GRPO_DATA_DIR "/mbpp.jsonl");
  ASSERT_EQ(tasks.size(), 974u);
  std::string skip;
  auto checker = MakeChecker(config::MBPP, &skip);
  if (checker == nullptr) GTEST_SKIP() << "no sandbox: " << skip;
  const std::vector<std::string> failures = Failures(*checker, tasks, "MBPP");
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
}

// A HumanEval completion may repeat the signature, or the whole prompt, in a
// fenced block after some reasoning: the canonical solutions written that way
// pass too.
TEST(CodeDatasetsTest, HumanEvalFullFunctionCompletionsPass) {
  const std::vector<DatasetTask> tasks = testing::LoadHumanEval(GRPO_DATA_DIR "/humaneval.jsonl");
  std::string skip;
  auto checker = MakeChecker(config::HUMANEVAL, &skip);
  if (checker == nullptr) GTEST_SKIP() << "no sandbox: " << skip;
  std::vector<DatasetTask> rewritten;
  for (size_t i = 0; i < tasks.size(); i += 4) {  // a sample keeps CI fast
    DatasetTask t = tasks[i];
    t.solution = "Let me think step by step.\n\n```python\n" + t.task.prompt + t.solution +
                 "```\nThat is the answer.";
    rewritten.push_back(std::move(t));
  }
  const std::vector<std::string> failures = Failures(*checker, rewritten, "HumanEval (fenced)");
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
}

}  // namespace
}  // namespace grpo::reward
