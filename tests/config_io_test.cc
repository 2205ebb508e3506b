#include "proto/config_io.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace grpo::config {
namespace {

// gmock is not linked; a substring check with a readable failure.
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// A file under the test's temp dir, removed when the test ends.
class TempFile {
 public:
  TempFile(const std::string& name, const std::string& contents)
      : path_(::testing::TempDir() + name) {
    std::ofstream(path_) << contents;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(LoadConfigFileTest, ReadsValidFile) {
  TempFile file("valid.textproto",
                "# comment\n"
                "reward { math { percent_policy: STRICT float_rel_tolerance: 1e-4 } }\n"
                "eval_rewards { input: \"in.jsonl\" threads: 3 }\n");
  absl::StatusOr<Config> config = LoadConfigFile(file.path());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->reward().math().percent_policy(), STRICT);
  EXPECT_DOUBLE_EQ(config->reward().math().float_rel_tolerance(), 1e-4);
  EXPECT_EQ(config->eval_rewards().input(), "in.jsonl");
  EXPECT_EQ(config->eval_rewards().threads(), 3);
  // Untouched fields keep the defaults written in config.proto.
  EXPECT_EQ(config->reward().math().time_limit_ms(), 1000);
  EXPECT_EQ(config->eval_rewards().completion_field(), "completion");
}

TEST(LoadConfigFileTest, MisspelledKeyReportsFileLineColumn) {
  TempFile file("typo.textproto",
                "reward {\n"
                "  math {\n"
                "    percent_polcy: STRICT\n"
                "  }\n"
                "}\n");
  absl::StatusOr<Config> config = LoadConfigFile(file.path());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  // Line 3, column 5 (1-based): where "percent_polcy" starts.
  EXPECT_TRUE(Contains(Message(config.status()), file.path() + ":3:5: "));
  EXPECT_TRUE(Contains(Message(config.status()), "percent_polcy"));
  // The hint lists the real fields.
  EXPECT_TRUE(Contains(Message(config.status()), "percent_policy"));
}

TEST(LoadConfigFileTest, BadEnumAndTypeErrorsAreLocated) {
  TempFile bad_enum("enum.textproto", "reward { math { gold_format: GSM9K } }\n");
  absl::StatusOr<Config> config = LoadConfigFile(bad_enum.path());
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(Contains(Message(config.status()), bad_enum.path() + ":1:"));
  EXPECT_TRUE(Contains(Message(config.status()), "GSM9K"));

  TempFile bad_type("type.textproto", "\neval_rewards { threads: \"four\" }\n");
  config = LoadConfigFile(bad_type.path());
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(Contains(Message(config.status()), bad_type.path() + ":2:"));
}

TEST(LoadConfigFileTest, SingularFieldTwiceIsAnError) {
  TempFile file("twice.textproto", "eval_rewards { threads: 1 threads: 2 }\n");
  absl::StatusOr<Config> config = LoadConfigFile(file.path());
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(Contains(Message(config.status()), "threads"));
}

TEST(LoadConfigFileTest, MissingFileIsNotFound) {
  const std::string path = ::testing::TempDir() + "does_not_exist.textproto";
  absl::StatusOr<Config> config = LoadConfigFile(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(Message(config.status()), path));
}

TEST(LoadConfigFileTest, ShippedExampleConfigLoads) {
  absl::StatusOr<Config> config =
      LoadConfigFile(std::string(GRPO_DATA_DIR) + "/../configs/eval_math.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->eval_rewards().checker(), "math");
  EXPECT_EQ(config->reward().math().extraction_priority_size(), 5);
}

// `grpo train` with no config runs the schema's defaults; the README says that
// is configs/mini_r1.textproto, so the file must only restate defaults.
TEST(LoadConfigFileTest, MainJobConfigEqualsTheSchemaDefaults) {
  absl::StatusOr<Config> config =
      LoadConfigFile(std::string(GRPO_DATA_DIR) + "/../configs/mini_r1.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  // The file spells out the reward spec that an empty one stands for
  // (grpo/run_inputs.h RewardSpec: math_accuracy 1 + format 0.1).
  const auto& rewards = config->train().grpo().rewards();
  ASSERT_EQ(rewards.size(), 2);
  EXPECT_EQ(rewards[0].name(), "math_accuracy");
  EXPECT_EQ(rewards[0].weight(), 1.0);
  EXPECT_EQ(rewards[1].name(), "format");
  EXPECT_EQ(rewards[1].weight(), 0.1);
  config->mutable_train()->mutable_grpo()->clear_rewards();
  google::protobuf::util::MessageDifferencer differ;
  differ.set_message_field_comparison(google::protobuf::util::MessageDifferencer::EQUIVALENT);
  std::string diff;
  differ.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differ.Compare(Config().train(), config->train())) << diff;
}

TEST(ApplyOverrideTest, SetsNestedEnum) {
  Config config;
  ASSERT_TRUE(ApplyOverride("reward.math.percent_policy=STRICT", &config).ok());
  EXPECT_EQ(config.reward().math().percent_policy(), STRICT);
  ASSERT_TRUE(ApplyOverride("reward.math.percent_policy=IGNORE_SIGN", &config).ok());
  EXPECT_EQ(config.reward().math().percent_policy(), IGNORE_SIGN);
}

TEST(ApplyOverrideTest, SetsDoubleIntAndBool) {
  Config config;
  ASSERT_TRUE(ApplyOverride("reward.math.float_rel_tolerance=1e-6", &config).ok());
  EXPECT_DOUBLE_EQ(config.reward().math().float_rel_tolerance(), 1e-6);
  ASSERT_TRUE(ApplyOverride("eval_rewards.threads=7", &config).ok());
  EXPECT_EQ(config.eval_rewards().threads(), 7);
  ASSERT_TRUE(ApplyOverride("reward.math.symbolic=false", &config).ok());
  EXPECT_FALSE(config.reward().math().symbolic());
  EXPECT_TRUE(config.reward().math().has_symbolic());
}

TEST(ApplyOverrideTest, SetsStringWithoutQuotes) {
  Config config;
  ASSERT_TRUE(ApplyOverride("eval_rewards.input=data/x y.jsonl", &config).ok());
  EXPECT_EQ(config.eval_rewards().input(), "data/x y.jsonl");
  // Characters that mean something in text format are taken literally.
  ASSERT_TRUE(ApplyOverride("reward.format.think_open=<t \"a\": b\\c>", &config).ok());
  EXPECT_EQ(config.reward().format().think_open(), "<t \"a\": b\\c>");
  // A value the user quoted is read as a text-format string literal.
  ASSERT_TRUE(ApplyOverride("eval_rewards.output=\"out.jsonl\"", &config).ok());
  EXPECT_EQ(config.eval_rewards().output(), "out.jsonl");
  // Empty is a valid string.
  ASSERT_TRUE(ApplyOverride("eval_rewards.output=", &config).ok());
  EXPECT_TRUE(config.eval_rewards().has_output());
  EXPECT_EQ(config.eval_rewards().output(), "");
}

TEST(ApplyOverrideTest, RepeatedFieldIsReplacedNotAppended) {
  Config config;
  ASSERT_TRUE(
      ApplyOverride("reward.math.extraction_priority=[BOXED, ANSWER_TAG, LATEX_MATH]", &config)
          .ok());
  ASSERT_EQ(config.reward().math().extraction_priority_size(), 3);
  ASSERT_TRUE(ApplyOverride("reward.math.extraction_priority=[BOXED, LAST_NUMBER]", &config).ok());
  ASSERT_EQ(config.reward().math().extraction_priority_size(), 2);
  EXPECT_EQ(config.reward().math().extraction_priority(0), BOXED);
  EXPECT_EQ(config.reward().math().extraction_priority(1), LAST_NUMBER);
  // One bare value is a list of one; [] empties the list.
  ASSERT_TRUE(ApplyOverride("reward.math.extraction_priority=GSM8K_HASHES", &config).ok());
  ASSERT_EQ(config.reward().math().extraction_priority_size(), 1);
  EXPECT_EQ(config.reward().math().extraction_priority(0), GSM8K_HASHES);
  ASSERT_TRUE(ApplyOverride("reward.math.extraction_priority=[]", &config).ok());
  EXPECT_EQ(config.reward().math().extraction_priority_size(), 0);
}

TEST(ApplyOverrideTest, SetsWholeMessage) {
  Config config;
  ASSERT_TRUE(ApplyOverride("reward.math.numeric_points=3", &config).ok());
  ASSERT_TRUE(ApplyOverride("reward.math={percent_policy: STRICT}", &config).ok());
  EXPECT_EQ(config.reward().math().percent_policy(), STRICT);
  // The leaf is cleared first: the earlier numeric_points is gone.
  EXPECT_FALSE(config.reward().math().has_numeric_points());
}

TEST(ApplyOverrideTest, UnknownSegmentNamesItAndTheValidFields) {
  Config config;
  absl::Status status = ApplyOverride("reward.mth.percent_policy=STRICT", &config);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(Message(status), "\"mth\""));
  EXPECT_TRUE(Contains(Message(status), "math, format"));

  status = ApplyOverride("reward.math.percent=STRICT", &config);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(Contains(Message(status), "\"percent\""));
  EXPECT_TRUE(Contains(Message(status), "percent_policy"));
  EXPECT_FALSE(config.has_reward()) << "a failed override must not touch the config";
}

TEST(ApplyOverrideTest, BadValuesAreErrorsNamingTheAssignment) {
  Config config;
  ASSERT_TRUE(ApplyOverride("reward.math.percent_policy=STRICT", &config).ok());

  absl::Status status = ApplyOverride("reward.math.percent_policy=STRCT", &config);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(Contains(Message(status), "--set reward.math.percent_policy=STRCT: "));
  EXPECT_TRUE(Contains(Message(status), "IGNORE_SIGN"));  // the valid values
  EXPECT_EQ(config.reward().math().percent_policy(), STRICT) << "unchanged after an error";

  EXPECT_FALSE(ApplyOverride("eval_rewards.threads=many", &config).ok());
  EXPECT_FALSE(ApplyOverride("eval_rewards.threads", &config).ok());
  EXPECT_FALSE(ApplyOverride("=3", &config).ok());
  EXPECT_FALSE(ApplyOverride("reward..math=3", &config).ok());
  // A scalar cannot be walked into.
  status = ApplyOverride("eval_rewards.threads.x=1", &config);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(Contains(Message(status), "\"threads\" is not a message"));
  // A value cannot smuggle in a second field.
  EXPECT_FALSE(ApplyOverride("reward.math.numeric_points=5 symbolic: false", &config).ok());
  EXPECT_TRUE(config.reward().math().symbolic());
}

TEST(LoadConfigTest, OverridesApplyInOrderAfterTheFile) {
  TempFile file("base.textproto", "eval_rewards { threads: 2 input: \"a.jsonl\" }\n");
  absl::StatusOr<Config> config =
      LoadConfig(file.path(), {"eval_rewards.threads=4", "eval_rewards.threads=5"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->eval_rewards().threads(), 5);
  EXPECT_EQ(config->eval_rewards().input(), "a.jsonl");

  config = LoadConfig("", {"eval_rewards.checker=format"});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->eval_rewards().checker(), "format");

  config = LoadConfig(file.path(), {"eval_rewards.nope=1"});
  EXPECT_FALSE(config.ok());
}

TEST(ToTextProtoTest, RoundTrips) {
  absl::StatusOr<Config> config =
      LoadConfig("", {"reward.math.percent_policy=STRICT",
                      "reward.math.extraction_priority=[LATEX_MATH, BOXED]",
                      "eval_rewards.input=in \"quoted\".jsonl"});
  ASSERT_TRUE(config.ok());
  const std::string text = ToTextProto(*config);
  EXPECT_TRUE(Contains(text, "percent_policy: STRICT"));
  absl::StatusOr<Config> again = ParseConfigText(text, "roundtrip");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*config, *again));
}

}  // namespace
}  // namespace grpo::config
