// Deciding whether two parsed answers are the same mathematics. Private to
// reward/; MathChecker is the public face.
#ifndef GRPO_REWARD_MATH_EQUIV_H_
#define GRPO_REWARD_MATH_EQUIV_H_

#include <string>

#include "absl/status/statusor.h"
#include "proto/config.pb.h"
#include "reward/latex_parse.h"

namespace grpo::reward::math {

struct EquivOptions {
  config::PercentPolicy percent = config::LENIENT;
  double float_rel_tolerance = 0.0;  // 0: rationals exact, irrationals to 1e-9
  bool symbolic = true;              // ask GiNaC to prove expressions equal
  int numeric_points = 6;            // random points for expressions with symbols
  bool strip_variable_assignment = true;
};

struct Equivalence {
  bool equal = false;
  std::string how;  // the rule that decided: "exact", "cas", "numeric", "structure", ...
};

// Equal if `prediction` and `gold` denote the same value or structure:
//   numbers          exact rationals (GMP), or within float_rel_tolerance;
//   expressions      GiNaC proves the difference zero, or, where the CAS
//                    cannot decide, they agree at `numeric_points` random points;
//   tuples/intervals same brackets, items equal in order;
//   sets, bare lists unordered, items matched one to one;
//   unions           intervals matched one to one;
//   matrices         same shape, entries equal (a column matches a tuple);
//   relations        same relation after orienting, sides equal, or for
//                    equations the differences equal up to sign;
//   "x = 5"          its right side, when the other answer is no relation.
// Errors: DeadlineExceeded past the deadline; ResourceExhausted when a value
// is too large to compare (10^{10^{10}}). Never throws.
absl::StatusOr<Equivalence> Equivalent(const NodePtr& prediction, const NodePtr& gold,
                                       const EquivOptions& options, const Deadline& deadline);

}  // namespace grpo::reward::math

#endif  // GRPO_REWARD_MATH_EQUIV_H_
