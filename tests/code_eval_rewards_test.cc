// `grpo eval-rewards --checker=code` through RunEvalRewards: one output line
// per input line, malformed task lines named file:line, the code fields.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/eval_rewards.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace grpo::cli {
namespace {

using Json = nlohmann::json;

std::string TempPath(const std::string& name) { return ::testing::TempDir() + name; }

std::vector<Json> ReadJsonl(const std::string& path) {
  std::vector<Json> lines;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) lines.push_back(Json::parse(line));
  return lines;
}

config::Config CodeJob(const std::string& input, const std::string& output,
                       config::CodeTestStyle style) {
  config::Config config;
  config.mutable_eval_rewards()->set_checker("code");
  config.mutable_eval_rewards()->set_input(input);
  config.mutable_eval_rewards()->set_output(output);
  config.mutable_eval_rewards()->set_threads(2);
  config.mutable_reward()->mutable_code()->set_test_style(style);
  return config;
}

// Skips the test when this machine cannot build the sandbox.
#define RUN_OR_SKIP(summary)                                                                   \
  if (!(summary).ok() && (summary).status().code() == absl::StatusCode::kFailedPrecondition) { \
    GTEST_SKIP() << "no sandbox: " << (summary).status().message();                            \
  }                                                                                            \
  ASSERT_TRUE((summary).ok()) << (summary).status()

TEST(CodeEvalRewardsTest, HumanEvalLines) {
  const Json task = {{"prompt", "def inc(x):\n    \"\"\"x + 1\"\"\"\n"},
                     {"test", "def check(f):\n    assert f(1) == 2\n"},
                     {"entry_point", "inc"}};
  std::ofstream in(TempPath("he.jsonl"));
  Json line = task;
  line["completion"] = "    return x + 1\n";
  in << line.dump() << "\n";
  line["completion"] = "Here:\n```python\ndef inc(x):\n    return x + 2\n```";
  in << line.dump() << "\n";
  line = task;
  line.erase("test");
  line["completion"] = "    return x + 1\n";
  in << line.dump() << "\n";
  line = task;
  line["entry_point"] = 3;
  line["completion"] = "    return x + 1\n";
  in << line.dump() << "\n";
  line = task;
  line["completion"] = "```python\n```";
  in << line.dump() << "\n";
  in.close();

  std::ostringstream log;
  absl::StatusOr<EvalSummary> summary = RunEvalRewards(
      CodeJob(TempPath("he.jsonl"), TempPath("he.out.jsonl"), config::HUMANEVAL), &log);
  RUN_OR_SKIP(summary);
  const std::vector<Json> out = ReadJsonl(TempPath("he.out.jsonl"));
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0]["verdict"], "pass");
  EXPECT_EQ(out[0]["reward"], 1.0);
  EXPECT_EQ(out[0]["cases_passed"], 1);
  EXPECT_TRUE(out[0]["first_failing_case"].is_null());
  EXPECT_GT(out[0]["wall_ms"].get<double>(), 0);
  EXPECT_EQ(out[1]["verdict"], "fail");
  EXPECT_EQ(out[1]["extracted"], "fail");
  EXPECT_EQ(out[1]["first_failing_case"], 0);
  EXPECT_EQ(out[1]["code_source"], "block 1 of 1 (python)");
  EXPECT_EQ(out[2]["status"], "error");
  EXPECT_EQ(out[3]["status"], "error");
  EXPECT_EQ(out[4]["status"], "no_answer");
  EXPECT_TRUE(out[4]["verdict"].is_null());
  const std::string text = log.str();
  EXPECT_NE(text.find("he.jsonl:3: missing field \"test\""), std::string::npos) << text;
  EXPECT_NE(text.find("he.jsonl:4: field \"entry_point\" is a number"), std::string::npos) << text;
  EXPECT_NE(text.find("verdicts    fail 1 pass 1"), std::string::npos) << text;
  EXPECT_EQ(summary->verdict_counts["pass"], 1);
  EXPECT_EQ(summary->lines, 5);
}

TEST(CodeEvalRewardsTest, MbppAndStdioLines) {
  {
    std::ofstream in(TempPath("mbpp.jsonl"));
    in << Json({{"code", "def sq(x): return x * x"},
                {"test_setup_code", ""},
                {"test_list", {"assert sq(2) == 4", "assert sq(3) == 9"}}})
              .dump()
       << "\n";
    in << Json({{"code", "def sq(x): return 4"},
                {"test_list", {"assert sq(2) == 4", "assert sq(3) == 9"}}})
              .dump()
       << "\n";
    in << Json({{"code", "x = 1"}, {"test_list", "assert x"}}).dump() << "\n";
  }
  absl::StatusOr<EvalSummary> summary = RunEvalRewards(
      CodeJob(TempPath("mbpp.jsonl"), TempPath("mbpp.out.jsonl"), config::MBPP), nullptr);
  RUN_OR_SKIP(summary);
  config::Config config = CodeJob(TempPath("mbpp.jsonl"), TempPath("mbpp.out.jsonl"), config::MBPP);
  config.mutable_eval_rewards()->set_completion_field("code");
  summary = RunEvalRewards(config, nullptr);
  ASSERT_TRUE(summary.ok()) << summary.status();
  std::vector<Json> out = ReadJsonl(TempPath("mbpp.out.jsonl"));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]["verdict"], "pass");
  EXPECT_EQ(out[1]["verdict"], "fail");
  EXPECT_EQ(out[1]["reward"], 0.5);
  EXPECT_EQ(out[1]["first_failing_case"], 1);
  EXPECT_EQ(out[2]["status"], "error");  // test_list is not an array

  {
    std::ofstream in(TempPath("stdio.jsonl"));
    in << Json({{"completion", "print(sum(map(int, input().split())))"},
                {"inputs", {"1 2\n", "3 4\n"}},
                {"outputs", {"3\n", "7\n"}}})
              .dump()
       << "\n";
    in << Json({{"completion", "print(1)"}, {"inputs", {"1\n"}}, {"outputs", {"1", "2"}}}).dump()
       << "\n";
  }
  std::ostringstream log;
  summary = RunEvalRewards(
      CodeJob(TempPath("stdio.jsonl"), TempPath("stdio.out.jsonl"), config::STDIO), &log);
  ASSERT_TRUE(summary.ok()) << summary.status();
  out = ReadJsonl(TempPath("stdio.out.jsonl"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["verdict"], "pass");
  EXPECT_EQ(out[0]["cases_total"], 2);
  EXPECT_EQ(out[1]["status"], "error");
  EXPECT_NE(log.str().find("stdio.jsonl:2: fields \"inputs\" and \"outputs\" have 1 and 2"),
            std::string::npos)
      << log.str();
}

}  // namespace
}  // namespace grpo::cli
