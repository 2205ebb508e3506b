// libFuzzer target for the math reward: extraction, parsing and comparison.
//
// Input layout: COMPLETION [\0 GOLD [\0 OPTIONS]]. Without a NUL the input is
// both the completion and the gold (so a plain text seed exercises every
// stage). OPTIONS bytes, when present, pick the checker options, so the
// fuzzer can reach the non-default policies:
//   [0] bits 0-1 gold_format, 2-3 percent_policy, 4 last_number_fallback,
//       5 symbolic off, 6 multiple_choice off, 7 strip_variable_assignment off
//   [1] numeric_points (mod 13)   [2] float_rel_tolerance (x/2560)
//   [3] max_completion_bytes (1 + 16x)
//
// Properties checked beyond "no crash, no leak, no hang": a verdict is 0 or 1
// and is 0 unless the status is kOk; extraction offsets lie in the input.
// Built two ways: with -fsanitize=fuzzer (GRPO_BUILD_FUZZ), and with
// replay_main.cc as the CTest replay of the seed corpus.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reward/answer_extract.h"
#include "reward/latex_normalize.h"
#include "reward/latex_parse.h"
#include "reward/math_checker.h"

namespace {

using grpo::config::MathRewardOptions;
using grpo::reward::Extraction;
using grpo::reward::MathChecker;
using grpo::reward::RewardResult;
using grpo::reward::RewardStatus;
namespace math = grpo::reward::math;

// Short, so that a slow input shows up as slow work rather than a long wait;
// libFuzzer's -timeout is the hang detector.
constexpr int kTimeLimitMs = 100;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "math_fuzz: property violated: %s\n", what);
  std::abort();
}

void CheckResult(const RewardResult& r) {
  if (r.value != 0.0 && r.value != 1.0) Fail("value is neither 0 nor 1");
  if (r.status != RewardStatus::kOk && r.value != 0.0) Fail("non-zero value without kOk");
  (void)grpo::reward::RewardStatusName(r.status);
}

void CheckExtraction(const std::optional<Extraction>& e, std::string_view text) {
  if (!e) return;
  if (e->offset > text.size()) Fail("extraction offset past the end of the text");
  if (e->text.size() > text.size()) Fail("extraction longer than the text");
}

MathRewardOptions OptionsFrom(std::string_view bytes) {
  MathRewardOptions o;
  o.set_time_limit_ms(kTimeLimitMs);
  if (bytes.empty()) return o;
  auto b = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  o.set_gold_format(static_cast<grpo::config::GoldFormat>(b(0) & 3));
  o.set_percent_policy(static_cast<grpo::config::PercentPolicy>(((b(0) >> 2) & 3) % 3));
  o.set_last_number_fallback(b(0) & 16);
  o.set_symbolic(!(b(0) & 32));
  o.set_multiple_choice(!(b(0) & 64));
  o.set_strip_variable_assignment(!(b(0) & 128));
  if (bytes.size() > 1) o.set_numeric_points(b(1) % 13);
  if (bytes.size() > 2) o.set_float_rel_tolerance(b(2) / 2560.0);
  if (bytes.size() > 3) o.set_max_completion_bytes(1 + 16 * b(3));
  return o;
}

// Parse, print and canonicalize one answer; errors are fine, crashes are not.
void ParseOne(std::string_view answer) {
  (void)math::LooksLikeWords(math::CanonicalText(answer));
  (void)math::DropThousandsSeparators(answer);
  math::Deadline deadline{std::chrono::milliseconds(kTimeLimitMs)};
  auto node = math::ParseAnswer(answer, deadline);
  if (node.ok() && *node) (void)math::DebugString(**node);
}

}  // namespace

// CLN (under GiNaC) allocates a string in a static initializer and keeps it
// where LeakSanitizer cannot see it, so every run "leaks" 26 bytes at load.
// Frame pointers stop at libcln, so the library is all a suppression can name.
// A leak made per input by GiNaC shows our frames and is still reported.
extern "C" const char* __lsan_default_suppressions() { return "leak:libcln.so\n"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view completion = input, gold = input, option_bytes;
  if (size_t nul = input.find('\0'); nul != std::string_view::npos) {
    completion = input.substr(0, nul);
    gold = input.substr(nul + 1);
    if (size_t nul2 = gold.find('\0'); nul2 != std::string_view::npos) {
      option_bytes = gold.substr(nul2 + 1);
      gold = gold.substr(0, nul2);
    }
  }

  auto checker = MathChecker::Create(OptionsFrom(option_bytes));
  if (!checker.ok()) Fail("fuzzer-made options rejected");

  // Every source alone, then the configured order.
  CheckExtraction(grpo::reward::ExtractBoxed(completion), completion);
  CheckExtraction(grpo::reward::ExtractAnswerTag(completion), completion);
  CheckExtraction(grpo::reward::ExtractAnswerPhrase(completion), completion);
  CheckExtraction(grpo::reward::ExtractGsm8kHashes(completion), completion);
  CheckExtraction(grpo::reward::ExtractLatexMath(completion), completion);
  CheckExtraction(grpo::reward::ExtractLastNumber(completion), completion);
  auto extraction =
      grpo::reward::ExtractAnswer(completion, grpo::reward::ExtractionOrder(checker->options()));
  CheckExtraction(extraction, completion);

  // The parser on what a real check would feed it, and on the raw bytes.
  if (extraction) ParseOne(extraction->text);
  ParseOne(gold);
  if (auto g = checker->GoldAnswer(gold); g.ok()) ParseOne(*g);

  CheckResult(checker->Check(completion, gold));
  CheckResult(checker->CompareAnswers(completion, gold));
  CheckResult(checker->CompareAnswers(gold, completion));
  return 0;
}
