// The length, repetition and language_consistency components: hand-computed
// values, open-r1 parity cases, and their params through the registry.
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

#include "reward/declared_params.h"
#include "reward/language_consistency.h"
#include "reward/length_reward.h"
#include "reward/repetition_reward.h"
#include "reward/unicode_text.h"

namespace grpo::reward {
namespace {

RewardResult ScoreVia(const ComponentRegistry& registry, std::string_view name,
                      std::string_view completion, const ComponentParams& params = {}) {
  const RewardComponent* c = registry.Find(name);
  EXPECT_NE(c, nullptr) << name;
  ComponentInput input;
  input.completion = completion;
  const absl::Status valid = c->Validate(input, params);
  EXPECT_TRUE(valid.ok()) << valid;
  return c->Score(input, params);
}

absl::Status ValidateVia(const ComponentRegistry& registry, std::string_view name,
                         const ComponentParams& params) {
  ComponentInput input;
  input.completion = "x";
  return registry.Find(name)->Validate(input, params);
}

class BuiltinRewardsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(RegisterBuiltinComponents(config::RewardConfig(), &registry_).ok());
  }
  ComponentRegistry registry_;
};

// ------------------------------------------------------------------ length --

TEST(LengthPenaltyTest, DapoPiecewise) {
  const LengthOptions o{10, 4};  // free up to 6, -1 at 10
  EXPECT_EQ(LengthPenalty(0, o).value, 0.0);
  EXPECT_EQ(LengthPenalty(6, o).value, 0.0);
  EXPECT_DOUBLE_EQ(LengthPenalty(7, o).value, -0.25);
  EXPECT_DOUBLE_EQ(LengthPenalty(8, o).value, -0.5);
  EXPECT_DOUBLE_EQ(LengthPenalty(10, o).value, -1.0);
  EXPECT_EQ(LengthPenalty(11, o).value, -1.0);
  EXPECT_EQ(LengthPenalty(1000000, o).value, -1.0);
  EXPECT_EQ(LengthPenalty(7, o).status, RewardStatus::kOk);
  EXPECT_EQ(LengthPenalty(7, o).extracted, "7");
}

TEST_F(BuiltinRewardsTest, LengthUnits) {
  const ComponentParams base{{"max_length", "10"}, {"cache_length", "4"}};
  // 8 code points (é and ü are two bytes each): -0.5.
  EXPECT_DOUBLE_EQ(ScoreVia(registry_, "length", "héllo wü", base).value, -0.5);
  ComponentParams words = base;
  words["unit"] = "words";
  EXPECT_DOUBLE_EQ(ScoreVia(registry_, "length", "a b c d e f g h", words).value, -0.5);
  EXPECT_EQ(ScoreVia(registry_, "length", "a b c d e f", words).value, 0.0);
  ComponentParams tokens = base;
  tokens["unit"] = "tokens";
  tokens["num_tokens"] = "9";
  EXPECT_DOUBLE_EQ(ScoreVia(registry_, "length", "short", tokens).value, -0.75);
}

TEST_F(BuiltinRewardsTest, LengthBadParams) {
  EXPECT_EQ(ValidateVia(registry_, "length", {{"unit", "tokens"}}).code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status s =
      ValidateVia(registry_, "length", {{"max_length", "10"}, {"cache_length", "11"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("cache_length"), std::string_view::npos) << s;
  EXPECT_EQ(ValidateVia(registry_, "length", {{"unit", "bytes"}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateVia(registry_, "length", {{"max_length", "ten"}}).code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status unknown = ValidateVia(registry_, "length", {{"max_len", "10"}});
  EXPECT_NE(unknown.message().find("valid params: max_length, cache_length, unit, num_tokens"),
            std::string_view::npos)
      << unknown;
}

// -------------------------------------------------------------- repetition --

// The cases of open-r1's tests/test_rewards.py (repetition penalty), values
// worked out by hand from its formula.
TEST(RepetitionPenaltyTest, OpenR1Cases) {
  const RepetitionOptions bigram{2, -1.0};
  EXPECT_EQ(RepetitionPenalty("this is a test sentence", bigram).value, 0.0);
  // 4 bigrams, all "this this": 1 - 1/4.
  EXPECT_DOUBLE_EQ(RepetitionPenalty("this this this this this", bigram).value, -0.75);
  // this is | is a | a this | this is | is a | a test: 4 distinct of 6.
  EXPECT_DOUBLE_EQ(RepetitionPenalty("this is a this is a test", bigram).value, -1.0 / 3.0);
  // Trigrams of the same: 4 distinct of 5.
  EXPECT_DOUBLE_EQ(RepetitionPenalty("this is a this is a test", {3, -1.0}).value, -0.2);
  // max_penalty scales: -0.5 * 0.75.
  EXPECT_DOUBLE_EQ(RepetitionPenalty("this this this this this", {2, -0.5}).value, -0.375);
  EXPECT_EQ(RepetitionPenalty("", bigram).value, 0.0);
  EXPECT_EQ(RepetitionPenalty("one two", {3, -1.0}).value, 0.0);  // fewer words than n
}

TEST(RepetitionPenaltyTest, CaseAndWhitespaceLikePython) {
  // lower() then split(): tabs, newlines, NBSP (U+00A0) and U+3000 separate words.
  EXPECT_DOUBLE_EQ(RepetitionPenalty("This IS\ta\nthis is\xC2\xA0" "a\xE3\x80\x80test", {2, -1.0}).value,
                   -1.0 / 3.0);
  EXPECT_EQ(RepetitionPenalty("this this this this this", {2, -1.0}).extracted, "1/4");
}

// Parity with open-r1's formula run in Python (tests/data/make_repetition_golden.py)
// on 200 GSM8K lines x 2 model solutions x 4 (ngram_size, max_penalty).
TEST(RepetitionPenaltyTest, OpenR1GoldenParity) {
  std::vector<nlohmann::json> lines;
  std::ifstream data(std::string(GRPO_DATA_DIR) + "/gsm8k_example_model_solutions.jsonl");
  for (std::string raw; std::getline(data, raw);) lines.push_back(nlohmann::json::parse(raw));
  std::ifstream golden(std::string(GRPO_TEST_DATA_DIR) + "/repetition_golden.jsonl");
  int checked = 0, nonzero = 0;
  for (std::string raw; std::getline(golden, raw); ++checked) {
    const nlohmann::json g = nlohmann::json::parse(raw);
    const nlohmann::json& line = lines.at(g["line"].get<size_t>());
    const std::string text =
        line[g["field"] == "6b" ? "6b_finetuning" : "175b_verification"]["solution"];
    const RepetitionOptions options{g["ngram_size"].get<int>(), g["max_penalty"].get<double>()};
    const double want = g["value"].get<double>();
    EXPECT_NEAR(RepetitionPenalty(text, options).value, want, 1e-12) << raw;
    nonzero += want != 0;
  }
  EXPECT_EQ(checked, 1600);
  EXPECT_GT(nonzero, 1000);  // the golden is not a column of zeros
}

TEST_F(BuiltinRewardsTest, RepetitionParams) {
  EXPECT_DOUBLE_EQ(
      ScoreVia(registry_, "repetition", "a b a b", {{"ngram_size", "2"}}).value, -1.0 / 3.0);
  EXPECT_EQ(ValidateVia(registry_, "repetition", {{"max_penalty", "0.5"}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateVia(registry_, "repetition", {{"ngram_size", "0"}}).code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------- language_consistency --

TEST(LanguageConsistencyTest, WordsByScript) {
  // Let me think = 3 Latin words; 让我想想 = 4 Han words.
  const std::string mixed = "<think>Let me think, 让我想想.</think>The answer is 4.";
  EXPECT_DOUBLE_EQ(LanguageConsistency(mixed, "en", "<think>", "</think>").value, 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(LanguageConsistency(mixed, "zh", "<think>", "</think>").value, 4.0 / 7.0);
  EXPECT_EQ(LanguageConsistency(mixed, "en", "<think>", "</think>").extracted, "3/7");
  // Digits and symbols are no words; x is one.
  EXPECT_EQ(LanguageConsistency("<think>x^2 + 3 = 7</think>", "en", "<think>", "</think>").value, 1.0);
  // Accented letters stay in their word; a change of script starts a new one.
  EXPECT_EQ(CountScriptWords("café naïve", "fr").total, 2u);
  EXPECT_EQ(CountScriptWords("abcабв", "ru").total, 2u);
  EXPECT_EQ(CountScriptWords("abcабв", "ru").target, 1u);
  // Japanese: kana and kanji are both the language, one word per character.
  const ScriptWords ja = CountScriptWords("これは漢字 test", "ja");
  EXPECT_EQ(ja.total, 6u);
  EXPECT_EQ(ja.target, 5u);
}

TEST(LanguageConsistencyTest, ChainOfThoughtBounds) {
  EXPECT_EQ(ChainOfThought("<think>a b</think>c", "<think>", "</think>"), "a b");
  EXPECT_EQ(ChainOfThought("reasoning</think>answer", "<think>", "</think>"), "reasoning");
  EXPECT_EQ(ChainOfThought("cut off mid thought", "<think>", "</think>"), "cut off mid thought");
  // The answer after </think> does not count: all-Chinese answer, English CoT.
  EXPECT_EQ(LanguageConsistency("<think>two plus two</think>答案是四", "en", "<think>", "</think>").value,
            1.0);
  const RewardResult empty = LanguageConsistency("<think></think>4", "en", "<think>", "</think>");
  EXPECT_EQ(empty.value, 0.0);
  EXPECT_EQ(empty.reason, "no words in the chain of thought");
}

TEST_F(BuiltinRewardsTest, LanguageParams) {
  EXPECT_DOUBLE_EQ(ScoreVia(registry_, "language_consistency", "<t>Привет мир hi</t>",
                            {{"language", "ru"}, {"think_open", "<t>"}, {"think_close", "</t>"}})
                       .value,
                   2.0 / 3.0);
  const absl::Status s = ValidateVia(registry_, "language_consistency", {{"language", "xx"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("unknown language \"xx\""), std::string_view::npos) << s;
}

// --------------------------------------------------------------- registry --

TEST_F(BuiltinRewardsTest, ListedWithParamsAndVersions) {
  int found = 0;
  for (const ComponentInfo& info : registry_.List()) {
    if (info.name == "length" || info.name == "repetition" || info.name == "language_consistency") {
      ++found;
      EXPECT_EQ(info.version, "1");
      EXPECT_EQ(info.reference, "none");
      EXPECT_FALSE(info.params.empty());
    }
    if (info.name == "repetition") {
      EXPECT_EQ(info.params[0].name, "ngram_size");
      EXPECT_EQ(info.params[0].default_value, "3");
      EXPECT_EQ(info.params[1].default_value, "-1");
    }
  }
  EXPECT_EQ(found, 3);
}

TEST(UnicodeTextTest, CodePointsAndSplit) {
  EXPECT_EQ(CountCodePoints("héllo"), 5u);
  EXPECT_EQ(CountCodePoints("让我"), 2u);
  EXPECT_EQ(CountCodePoints("\xFF" "a"), 2u);  // a stray byte is one U+FFFD
  const auto words = SplitOnSpace("  a\x1f" "b  c ");
  ASSERT_EQ(words.size(), 3u);
  EXPECT_EQ(words[0], "a");
  EXPECT_EQ(words[2], "c");
}

}  // namespace
}  // namespace grpo::reward
