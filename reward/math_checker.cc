#include "reward/math_checker.h"

#include <cctype>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "reward/answer_extract.h"
#include "reward/latex_lex.h"
#include "reward/latex_normalize.h"
#include "reward/latex_parse.h"
#include "reward/math_equiv.h"
#include "reward/text_util.h"

namespace grpo::reward {
namespace {

using math::Deadline;

// Extracted text kept in a result, enough to read why.
constexpr size_t kMaxExtractedBytes = 512;

std::string Clip(std::string_view s) {
  return std::string(s.substr(0, kMaxExtractedBytes));
}

// "B", "(B)", "\text{(B)}", "B." -> 'B'; anything else -> 0.
char ChoiceLetter(std::string_view answer) {
  std::string s = math::CanonicalText(answer);
  std::string letters;
  for (char c : s) {
    if (c == '(' || c == ')' || c == '.' || c == ':') continue;
    letters += absl::ascii_tolower(c);
  }
  if (letters.size() != 1 || letters[0] < 'a' || letters[0] > 'j') return 0;
  // Either case matches; only a gold written in capitals is a choice.
  return letters[0];
}

bool GoldIsChoice(std::string_view gold) {
  std::string_view t = TrimSpace(gold);
  for (char c : t) {
    if (c >= 'A' && c <= 'J') return ChoiceLetter(gold) != 0;
  }
  return false;
}

RewardResult Verdict(bool equal, std::string reason) {
  RewardResult r;
  r.status = RewardStatus::kOk;
  r.value = equal ? 1.0 : 0.0;
  r.reason = std::move(reason);
  return r;
}

RewardResult Failure(RewardStatus status, std::string reason) {
  RewardResult r;
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

// A parse or compare error as a result: time-outs are kTimeout, the rest `other`.
RewardResult FromStatus(const absl::Status& s, RewardStatus other, std::string_view what) {
  if (s.code() == absl::StatusCode::kDeadlineExceeded) {
    return Failure(RewardStatus::kTimeout, std::string(s.message()));
  }
  return Failure(other, absl::StrCat(std::string(what), ": ", std::string(s.message())));
}

}  // namespace

absl::StatusOr<MathChecker> MathChecker::Create(const config::MathRewardOptions& options) {
  if (options.time_limit_ms() <= 0) {
    return absl::InvalidArgumentError("reward.math.time_limit_ms must be positive");
  }
  if (options.float_rel_tolerance() < 0 || options.float_rel_tolerance() >= 1) {
    return absl::InvalidArgumentError("reward.math.float_rel_tolerance must be in [0, 1)");
  }
  if (options.numeric_points() < 0 || options.numeric_points() > 1000) {
    return absl::InvalidArgumentError("reward.math.numeric_points must be in [0, 1000]");
  }
  if (options.max_completion_bytes() <= 0) {
    return absl::InvalidArgumentError("reward.math.max_completion_bytes must be positive");
  }
  return MathChecker(options);
}

MathChecker::MathChecker(const config::MathRewardOptions& options)
    : options_(options), order_(ExtractionOrder(options)) {}

absl::StatusOr<std::string> MathChecker::GoldAnswer(std::string_view gold_field) const {
  auto after_hashes = [&]() -> std::optional<std::string> {
    auto e = ExtractGsm8kHashes(gold_field);
    return e ? std::optional<std::string>(e->text) : std::nullopt;
  };
  switch (options_.gold_format()) {
    case config::PLAIN:
      return std::string(TrimSpace(gold_field));
    case config::GSM8K:
      if (auto a = after_hashes()) return *a;
      return absl::InvalidArgumentError("gold has no '####' answer");
    case config::EXTRACT:
      if (auto e = ExtractAnswer(gold_field, order_)) return e->text;
      return absl::InvalidArgumentError("no answer found in the gold text");
    case config::AUTO:
    default:
      if (auto a = after_hashes()) return *a;
      if (auto b = ExtractBoxed(gold_field)) return b->text;
      // A worked solution rather than an answer: find its answer.
      if (gold_field.find('\n') != std::string_view::npos) {
        if (auto e = ExtractAnswer(gold_field, order_)) return e->text;
      }
      return std::string(TrimSpace(gold_field));
  }
}

RewardResult MathChecker::Check(std::string_view completion, std::string_view gold) const {
  absl::StatusOr<std::string> gold_answer = GoldAnswer(gold);
  if (!gold_answer.ok() || gold_answer->empty()) {
    return Failure(RewardStatus::kUnparseableGold,
                   gold_answer.ok() ? "gold answer is empty"
                                    : std::string(gold_answer.status().message()));
  }
  // Answers sit at the end; a megabyte of preamble is not our problem.
  size_t cap = static_cast<size_t>(options_.max_completion_bytes());
  if (completion.size() > cap) completion = completion.substr(completion.size() - cap);
  std::optional<Extraction> extraction = ExtractAnswer(completion, order_);
  if (!extraction || TrimSpace(extraction->text).empty()) {
    return Failure(RewardStatus::kNoAnswer, "no final answer found in the completion");
  }
  RewardResult result = CompareAnswers(extraction->text, *gold_answer);
  result.extracted = Clip(extraction->text);
  return result;
}

RewardResult MathChecker::CompareAnswers(std::string_view prediction,
                                         std::string_view gold_answer) const {
  Deadline deadline{std::chrono::milliseconds(options_.time_limit_ms())};
  std::string gold_text = math::CanonicalText(gold_answer);
  std::string pred_text = math::CanonicalText(prediction);
  RewardResult result;
  if (gold_text.empty()) {
    result = Failure(RewardStatus::kUnparseableGold, "gold answer is empty");
  } else if (pred_text == gold_text) {
    result = Verdict(true, "identical after normalization");
  } else if (math::LooksLikeWords(gold_text) && math::LooksLikeWords(pred_text) &&
             absl::AsciiStrToLower(gold_text) == absl::AsciiStrToLower(pred_text)) {
    result = Verdict(true, "same words");  // "Yes" and "yes"; x and X stay different
  } else if (options_.multiple_choice() && GoldIsChoice(gold_answer)) {
    bool same = ChoiceLetter(prediction) == ChoiceLetter(gold_answer);
    result = Verdict(same, same ? "same choice" : "different choice");
  } else {
    result = CompareParsed(prediction, gold_answer, deadline);
  }
  result.extracted = Clip(prediction);
  return result;
}

RewardResult MathChecker::CompareParsed(std::string_view prediction, std::string_view gold_answer,
                                        const Deadline& deadline) const {
  absl::StatusOr<math::NodePtr> gold = math::ParseAnswer(gold_answer, deadline);
  if (!gold.ok()) return FromStatus(gold.status(), RewardStatus::kUnparseableGold, "gold");
  absl::StatusOr<math::NodePtr> pred = math::ParseAnswer(prediction, deadline);
  if (!pred.ok()) {
    if (pred.status().code() == absl::StatusCode::kInvalidArgument) {
      return Verdict(false, absl::StrCat("prediction is not readable math: ",
                                         std::string(pred.status().message())));
    }
    return FromStatus(pred.status(), RewardStatus::kError, "prediction");
  }
  if ((*gold)->op == math::Op::kText || (*pred)->op == math::Op::kText) {
    // Text is compared as text, without regard to case.
    bool same = absl::AsciiStrToLower(math::CanonicalText(prediction)) ==
                absl::AsciiStrToLower(math::CanonicalText(gold_answer));
    return Verdict(same, same ? "same text" : "text answers differ");
  }
  math::EquivOptions equiv;
  equiv.percent = options_.percent_policy();
  equiv.float_rel_tolerance = options_.float_rel_tolerance();
  equiv.symbolic = options_.symbolic();
  equiv.numeric_points = options_.numeric_points();
  equiv.strip_variable_assignment = options_.strip_variable_assignment();
  absl::StatusOr<math::Equivalence> eq = math::Equivalent(*pred, *gold, equiv, deadline);
  if (!eq.ok()) return FromStatus(eq.status(), RewardStatus::kError, "compare");
  return Verdict(eq->equal, absl::StrCat(eq->equal ? "equal" : "not equal", " (", eq->how, ")"));
}

}  // namespace grpo::reward
