// The rule-based math reward: extract the final answer from a completion,
// read it and the gold answer as mathematics, and decide if they are equal.
//
//   auto checker = MathChecker::Create(options);          // once
//   RewardResult r = checker->Check(completion, gold);    // per sample
//
// Equivalence, cheapest first: identical normalized text; exact rational
// arithmetic (GMP) for numbers; then, for expressions, the GiNaC CAS to prove
// the difference zero, with evaluation at random points as the second opinion
// when the CAS cannot decide. Structures (tuples, intervals, sets, matrices,
// equations, inequalities, \pm) are compared part by part. See
// docs/math_checker.md for every normalization rule and the percent policy.
#ifndef GRPO_REWARD_MATH_CHECKER_H_
#define GRPO_REWARD_MATH_CHECKER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/config.pb.h"
#include "reward/reward_result.h"

namespace grpo::reward {

namespace math {
class Deadline;
}  // namespace math

class MathChecker {
 public:
  // InvalidArgument when the options are out of range (negative limits,
  // tolerance outside [0, 1)).
  static absl::StatusOr<MathChecker> Create(const config::MathRewardOptions& options);

  // --- scoring (thread-safe, never throws, bounded by options.time_limit_ms) ---

  // Scores one completion against the raw gold field (read per
  // options.gold_format). value is 1 for an equivalent answer, else 0.
  // status: kOk (verdict reached), kNoAnswer (nothing extracted),
  // kUnparseableGold, kTimeout, kError (hostile or unreadable prediction).
  RewardResult Check(std::string_view completion, std::string_view gold) const;

  // Compares two bare answers (LaTeX or plain text, no extraction).
  // Same statuses as Check, without kNoAnswer.
  RewardResult CompareAnswers(std::string_view prediction, std::string_view gold_answer) const;

  // --- the stages on their own ---

  // The gold answer inside a gold field, per options.gold_format.
  // InvalidArgument when the format expects a marker ("####", \boxed) that
  // is missing.
  absl::StatusOr<std::string> GoldAnswer(std::string_view gold_field) const;

  const config::MathRewardOptions& options() const { return options_; }

 private:
  explicit MathChecker(const config::MathRewardOptions& options);
  RewardResult CompareParsed(std::string_view prediction, std::string_view gold_answer,
                             const math::Deadline& deadline) const;

  config::MathRewardOptions options_;
  std::vector<config::AnswerSource> order_;
};

}  // namespace grpo::reward

#endif  // GRPO_REWARD_MATH_CHECKER_H_
