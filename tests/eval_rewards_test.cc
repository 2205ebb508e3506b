#include "cli/eval_rewards.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/jsonl.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace grpo::cli {
namespace {

using Json = nlohmann::json;

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

std::string TempPath(const std::string& name) { return ::testing::TempDir() + name; }

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every line of `path` parsed strictly (nlohmann rejects invalid UTF-8).
std::vector<Json> ReadJsonl(const std::string& path) {
  std::vector<Json> lines;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) lines.push_back(Json::parse(line));
  return lines;
}

config::Config MathJob(const std::string& input, const std::string& output, int threads) {
  config::Config config;
  config.mutable_eval_rewards()->set_input(input);
  config.mutable_eval_rewards()->set_output(output);
  config.mutable_eval_rewards()->set_threads(threads);
  config.mutable_reward()->mutable_math()->set_gold_format(config::PLAIN);
  return config;
}

// One of each kind of line; the last has no trailing newline.
// clang-format off
const char kMixedInput[] =
    "{\"id\": \"a\", \"completion\": \"so \\\\boxed{18}\", \"answer\": \"18\"}\n"  // 1 ok
    "{oops\n"                                                                   // 2 not JSON
    "\n"                                                                        // 3 blank
    "{\"id\": \"d\", \"answer\": \"5\"}\n"                    // 4 no completion
    "{\"id\": \"e\", \"completion\": \"bad \xff\xfe utf8 \\\\boxed{7}\", \"answer\": \"7\"}\n"  // 5
    "[1, 2]\n"                                                                  // 6 not an object
    "{\"id\": 7, \"completion\": 42, \"answer\": \"1\"}\n"    // 7 completion not a string
    "{\"completion\": \"no answer at all\", \"answer\": \"3\"}\n"               // 8 no_answer
    "{\"id\": \"i\", \"completion\": \"\\\\boxed{4}\", \"answer\": \"5\"}\n"    // 9 wrong
    "{\"id\": \"j\", \"completion\": \"x \\udc80 \\\\boxed{2}\", \"answer\": \"2\"}\n"  // 10 lone surrogate
    "{\"id\": \"k\", \"completion\": \"\\\\boxed{3}\", \"answer\": \"\"}";      // 11 empty gold
// clang-format on

TEST(RunEvalRewardsTest, OneOutputLinePerInputLineInOrderWithRightStatuses) {
  const std::string input = TempPath("mixed.jsonl");
  const std::string output = TempPath("mixed.out.jsonl");
  WriteFile(input, kMixedInput);
  std::ostringstream log;
  absl::StatusOr<EvalSummary> summary = RunEvalRewards(MathJob(input, output, 4), &log);
  ASSERT_TRUE(summary.ok()) << summary.status();

  std::vector<Json> out = ReadJsonl(output);
  ASSERT_EQ(out.size(), 11u);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i]["line"], i + 1) << out[i].dump();

  const std::vector<std::string> statuses = {"ok", "error", "error",           "error",
                                             "ok", "error", "error",           "no_answer",
                                             "ok", "ok",    "unparseable_gold"};
  const std::vector<double> rewards = {1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i]["status"], statuses[i]) << "line " << i + 1 << ": " << out[i].dump();
    EXPECT_EQ(out[i]["reward"], rewards[i]) << "line " << i + 1 << ": " << out[i].dump();
  }
  // The id is copied when present, else the line number.
  EXPECT_EQ(out[0]["id"], "a");
  EXPECT_EQ(out[1]["id"], 2);
  EXPECT_EQ(out[6]["id"], 7);
  EXPECT_EQ(out[7]["id"], 8);
  EXPECT_EQ(out[0]["extracted"], "18");
  // Malformed lines carry the reason in the output and on the log.
  EXPECT_TRUE(Contains(out[1]["reason"].get<std::string>(), "not valid JSON"));
  EXPECT_TRUE(Contains(out[2]["reason"].get<std::string>(), "blank line"));
  EXPECT_TRUE(Contains(out[3]["reason"].get<std::string>(), "missing field \"completion\""));
  EXPECT_TRUE(Contains(out[5]["reason"].get<std::string>(), "got array"));
  EXPECT_TRUE(Contains(out[6]["reason"].get<std::string>(), "is a number"));
  const std::string logged = log.str();
  for (int line : {2, 3, 4, 6, 7}) {
    EXPECT_TRUE(Contains(logged, input + ":" + std::to_string(line) + ": "));
  }
  EXPECT_FALSE(Contains(logged, input + ":1: "));

  EXPECT_EQ(summary->lines, 11);
  EXPECT_EQ(summary->checked, 6);
  EXPECT_EQ(summary->malformed, 5);
  EXPECT_EQ(summary->invalid_utf8_lines, 2);
  EXPECT_EQ(summary->status_counts.at("ok"), 4);
  EXPECT_EQ(summary->status_counts.at("no_answer"), 1);
  EXPECT_EQ(summary->status_counts.at("unparseable_gold"), 1);
  EXPECT_EQ(summary->status_counts.at("timeout"), 0);
  EXPECT_EQ(summary->status_counts.at("error"), 5);
  EXPECT_DOUBLE_EQ(summary->accuracy(), 3.0 / 11.0);
  EXPECT_GT(summary->checks_per_second, 0);
  EXPECT_LE(summary->latency_p50_ms, summary->latency_max_ms);
  EXPECT_TRUE(Contains(logged, "accuracy    0.2727"));
  EXPECT_FALSE(std::filesystem::exists(output + ".tmp"));
}

TEST(RunEvalRewardsTest, SameOutputWithOneThreadAndMany) {
  const std::string input = TempPath("order.jsonl");
  std::string text;
  for (int i = 1; i <= 2000; ++i) {
    text += "{\"id\": " + std::to_string(i) + ", \"completion\": \"\\\\boxed{" +
            std::to_string(i % 7) + "}\", \"answer\": \"" + std::to_string(i % 5) + "\"}\n";
  }
  WriteFile(input, text);
  ASSERT_TRUE(RunEvalRewards(MathJob(input, TempPath("order1.jsonl"), 1), nullptr).ok());
  ASSERT_TRUE(RunEvalRewards(MathJob(input, TempPath("order3.jsonl"), 3), nullptr).ok());
  const std::string one = ReadFile(TempPath("order1.jsonl"));
  EXPECT_EQ(one, ReadFile(TempPath("order3.jsonl")));
  std::vector<Json> out = ReadJsonl(TempPath("order3.jsonl"));
  ASSERT_EQ(out.size(), 2000u);
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_EQ(out[i]["id"], i + 1);
    ASSERT_EQ(out[i]["reward"], (i + 1) % 7 == (i + 1) % 5 ? 1.0 : 0.0) << out[i].dump();
  }
}

TEST(RunEvalRewardsTest, CountsLabelAgreement) {
  const std::string input = TempPath("labels.jsonl");
  const std::string output = TempPath("labels.out.jsonl");
  WriteFile(input,
            "{\"r\": [\"x\", \"\\\\boxed{1}\"], \"answer\": \"1\", \"meta\": {\"ok\": true}}\n"
            "{\"r\": [\"x\", \"\\\\boxed{2}\"], \"answer\": \"1\", \"meta\": {\"ok\": true}}\n"
            "{\"r\": [\"x\", \"\\\\boxed{2}\"], \"answer\": \"1\", \"meta\": {\"ok\": false}}\n"
            "{\"r\": [\"x\", \"\\\\boxed{1}\"], \"answer\": \"1\"}\n"
            "{\"r\": [\"x\", \"\\\\boxed{1}\"], \"answer\": \"1\", \"meta\": {\"ok\": \"maybe\"}}\n"
            "{\"r\": [\"x\"], \"answer\": \"1\", \"meta\": {\"ok\": false}}\n");
  config::Config config = MathJob(input, output, 2);
  config.mutable_eval_rewards()->set_completion_field("r.1");
  config.mutable_eval_rewards()->set_label_field("meta.ok");
  config.mutable_eval_rewards()->set_summary(TempPath("labels.summary.json"));
  std::ostringstream log;
  absl::StatusOr<EvalSummary> summary = RunEvalRewards(config, &log);
  ASSERT_TRUE(summary.ok()) << summary.status();

  std::vector<Json> out = ReadJsonl(output);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[0]["label"], true);
  EXPECT_EQ(out[0]["agree"], true);
  EXPECT_EQ(out[1]["agree"], false);
  EXPECT_EQ(out[2]["label"], false);
  EXPECT_EQ(out[2]["agree"], true);
  EXPECT_TRUE(out[3]["label"].is_null());
  EXPECT_TRUE(out[3]["agree"].is_null());
  EXPECT_TRUE(out[4]["label"].is_null());
  // A line that never reached the checker has a label but no verdict to compare.
  EXPECT_EQ(out[5]["status"], "error");
  EXPECT_EQ(out[5]["label"], false);
  EXPECT_TRUE(out[5]["agree"].is_null());

  EXPECT_EQ(summary->labeled, 3);
  EXPECT_EQ(summary->agreed, 2);
  EXPECT_TRUE(Contains(log.str(), input + ":4: no label field \"meta.ok\""));
  EXPECT_TRUE(Contains(log.str(), input + ":5: label field \"meta.ok\" is a string"));
  EXPECT_TRUE(Contains(log.str(), "agreement   2 of 3 labeled lines (66.67%)"));

  Json json = Json::parse(ReadFile(TempPath("labels.summary.json")));
  EXPECT_EQ(json["lines"], 6);
  EXPECT_EQ(json["labeled"], 3);
  EXPECT_EQ(json["agreed"], 2);
  EXPECT_EQ(json["status"]["ok"], 5);
  EXPECT_EQ(json["status"]["error"], 1);
}

TEST(RunEvalRewardsTest, FormatCheckerNeedsNoGold) {
  const std::string input = TempPath("format.jsonl");
  const std::string output = TempPath("format.out.jsonl");
  WriteFile(input,
            "{\"completion\": \"<think>reasoning</think> The answer is 4.\"}\n"
            "{\"completion\": \"The answer is 4.\"}\n");
  config::Config config = MathJob(input, output, 1);
  config.mutable_eval_rewards()->set_checker("format");
  absl::StatusOr<EvalSummary> summary = RunEvalRewards(config, nullptr);
  ASSERT_TRUE(summary.ok()) << summary.status();
  std::vector<Json> out = ReadJsonl(output);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["status"], "ok");
  EXPECT_EQ(out[0]["reward"], 1.0);
  EXPECT_EQ(out[1]["reward"], 0.0);
  EXPECT_EQ(summary->checked, 2);
}

TEST(RunEvalRewardsTest, OneFieldCanBeBothCompletionAndGold) {
  // The self-check: gold solutions scored against themselves.
  const std::string input = TempPath("self.jsonl");
  const std::string output = TempPath("self.out.jsonl");
  WriteFile(input, "{\"answer\": \"9 * 2 = 18\\n#### 18\"}\n");
  config::Config config = MathJob(input, output, 1);
  config.mutable_eval_rewards()->set_completion_field("answer");
  config.mutable_reward()->mutable_math()->set_gold_format(config::GSM8K);
  absl::StatusOr<EvalSummary> summary = RunEvalRewards(config, nullptr);
  ASSERT_TRUE(summary.ok()) << summary.status();
  std::vector<Json> out = ReadJsonl(output);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["status"], "ok") << out[0].dump();
  EXPECT_EQ(out[0]["reward"], 1.0);
}

TEST(RunEvalRewardsTest, BadJobsAreErrors) {
  const std::string input = TempPath("one.jsonl");
  WriteFile(input, "{\"completion\": \"\\\\boxed{1}\", \"answer\": \"1\"}\n");

  config::Config config = MathJob(input, TempPath("x.jsonl"), 1);
  config.mutable_eval_rewards()->set_checker("nonesuch");
  absl::StatusOr<EvalSummary> summary = RunEvalRewards(config, nullptr);
  ASSERT_FALSE(summary.ok());
  EXPECT_TRUE(Contains(std::string(summary.status().message()), "math, format, code"));

  summary = RunEvalRewards(MathJob("", TempPath("x.jsonl"), 1), nullptr);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);

  summary = RunEvalRewards(MathJob(TempPath("absent.jsonl"), TempPath("x.jsonl"), 1), nullptr);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(std::string(summary.status().message()), "absent.jsonl"));

  const std::string unwritable = input + "/out.jsonl";  // under a file, not a folder
  summary = RunEvalRewards(MathJob(input, unwritable, 1), nullptr);
  EXPECT_FALSE(summary.ok());
  EXPECT_FALSE(std::filesystem::exists(unwritable));

  // Missing folders of the output path are made, as `--output=runs/x.jsonl` expects.
  const std::string nested = TempPath("new_dir/deeper/out.jsonl");
  std::filesystem::remove_all(TempPath("new_dir"));
  summary = RunEvalRewards(MathJob(input, nested, 1), nullptr);
  EXPECT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(std::filesystem::exists(nested));

  summary = RunEvalRewards(MathJob(input, input, 1), nullptr);
  EXPECT_FALSE(summary.ok()) << "must refuse to overwrite its input";
  EXPECT_EQ(ReadFile(input), "{\"completion\": \"\\\\boxed{1}\", \"answer\": \"1\"}\n");

  config = MathJob(input, TempPath("x.jsonl"), 1);
  config.mutable_reward()->mutable_math()->set_time_limit_ms(-5);
  EXPECT_FALSE(RunEvalRewards(config, nullptr).ok());
}

TEST(EvalRewardsConfigTest, FlagsOverrideConfigFileAndSetOverridesFlags) {
  const std::string config_path = TempPath("job.textproto");
  WriteFile(config_path, "eval_rewards { threads: 2 answer_field: \"gold\" input: \"a.jsonl\" }\n");
  absl::StatusOr<ParsedFlags> flags =
      ParseFlags({"--config=" + config_path, "--preset=gsm8k", "--input", "b.jsonl", "--set",
                  "eval_rewards.threads=5", "--set=reward.math.percent_policy=STRICT"},
                 EvalRewardsFlags());
  ASSERT_TRUE(flags.ok()) << flags.status();
  absl::StatusOr<config::Config> config = EvalRewardsConfig(*flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->eval_rewards().input(), "b.jsonl");
  EXPECT_EQ(config->eval_rewards().answer_field(), "answer");  // the preset beat the file
  EXPECT_EQ(config->reward().math().gold_format(), config::GSM8K);
  EXPECT_EQ(config->eval_rewards().threads(), 5);
  EXPECT_EQ(config->reward().math().percent_policy(), config::STRICT);

  flags = ParseFlags({"--preset=math500", "--answer-field=solution"}, EvalRewardsFlags());
  ASSERT_TRUE(flags.ok());
  config = EvalRewardsConfig(*flags);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->eval_rewards().answer_field(), "solution");
  EXPECT_EQ(config->reward().math().gold_format(), config::PLAIN);

  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--preset=aime"},
                                              {"--threads=-1"},
                                              {"--threads=two"},
                                              {"--set=eval_rewards.nope=1"},
                                              {"--config=" + TempPath("absent.textproto")}}) {
    flags = ParseFlags(bad, EvalRewardsFlags());
    ASSERT_TRUE(flags.ok());
    EXPECT_FALSE(EvalRewardsConfig(*flags).ok()) << bad[0];
  }
}

TEST(FlagsTest, UnknownAndMalformedFlagsAreErrors) {
  absl::StatusOr<ParsedFlags> flags = ParseFlags({"--inptu=x"}, EvalRewardsFlags());
  ASSERT_FALSE(flags.ok());
  const std::string message(flags.status().message());
  EXPECT_TRUE(Contains(message, "unknown flag --inptu"));
  EXPECT_TRUE(Contains(message, "did you mean --input?"));
  EXPECT_TRUE(Contains(message, "--completion-field"));

  EXPECT_FALSE(ParseFlags({"--input=a", "--input=b"}, EvalRewardsFlags()).ok());
  EXPECT_FALSE(ParseFlags({"--input"}, EvalRewardsFlags()).ok());
  EXPECT_FALSE(ParseFlags({"--input", "--output=x"}, EvalRewardsFlags()).ok());
  EXPECT_FALSE(ParseFlags({"--help=maybe"}, EvalRewardsFlags()).ok());
  EXPECT_FALSE(ParseFlags({"-input=x"}, EvalRewardsFlags()).ok());

  flags = ParseFlags({"--help", "--set=a=1", "--set=b=2", "--", "--rest"}, EvalRewardsFlags());
  ASSERT_TRUE(flags.ok());
  EXPECT_TRUE(flags->GetBool("help"));
  EXPECT_EQ(flags->GetAll("set"), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(flags->positional(), std::vector<std::string>{"--rest"});
  EXPECT_EQ(flags->Get("output", "none"), "none");
}

TEST(JsonlTest, SanitizeUtf8ReplacesOnlyInvalidBytes) {
  std::string valid = "plain, caf\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80";
  const std::string before = valid;
  EXPECT_FALSE(SanitizeUtf8(&valid));
  EXPECT_EQ(valid, before);

  const std::string fffd = "\xef\xbf\xbd";
  std::string text = "a\xc0\x80z";  // overlong NUL
  EXPECT_TRUE(SanitizeUtf8(&text));
  EXPECT_EQ(text, "a" + fffd + fffd + "z");
  text = "\xed\xa0\x80";  // an encoded surrogate
  EXPECT_TRUE(SanitizeUtf8(&text));
  EXPECT_EQ(text, fffd + fffd + fffd);
  text = "end\xe2\x82";  // cut mid-sequence
  EXPECT_TRUE(SanitizeUtf8(&text));
  EXPECT_EQ(text, "end" + fffd + fffd);
  text = "\xf4\x90\x80\x80";  // past U+10FFFF
  EXPECT_TRUE(SanitizeUtf8(&text));
  EXPECT_EQ(text, fffd + fffd + fffd + fffd);
}

TEST(JsonlTest, SanitizeJsonTextFixesLoneSurrogateEscapes) {
  std::string text = R"({"a": "\ud83d\ude00 \udc80 \ud800x \\udc80"})";
  EXPECT_TRUE(SanitizeJsonText(&text));
  EXPECT_EQ(text, R"({"a": "\ud83d\ude00 \ufffd \ufffdx \\udc80"})");
  Json json = Json::parse(text);
  EXPECT_EQ(json["a"], "\xf0\x9f\x98\x80 \xef\xbf\xbd \xef\xbf\xbdx \\udc80");
}

TEST(JsonlTest, FindFieldWalksObjectsAndArrays) {
  Json doc = Json::parse(
      R"({"a": {"b": [10, {"c": "deep"}]}, "6b_finetuning": {"solution": "s"}, "x.y": 1})");
  ASSERT_NE(FindField(&doc, "a.b.1.c"), nullptr);
  EXPECT_EQ(*FindField(&doc, "a.b.1.c"), "deep");
  EXPECT_EQ(*FindField(&doc, "a.b.0"), 10);
  EXPECT_EQ(*FindField(&doc, "6b_finetuning.solution"), "s");
  EXPECT_EQ(*FindField(&doc, "x.y"), 1);
  EXPECT_EQ(FindField(&doc, "a.b.2"), nullptr);
  EXPECT_EQ(FindField(&doc, "a.b.c"), nullptr);
  EXPECT_EQ(FindField(&doc, "a.missing"), nullptr);
  EXPECT_EQ(FindField(&doc, ""), nullptr);
}

}  // namespace
}  // namespace grpo::cli
