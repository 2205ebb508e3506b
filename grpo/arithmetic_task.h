// The miniature R1's task: multi-digit addition with a written-out chain of
// thought, generated procedurally and deterministically from a seed.
//
//   prompt:   "4821+397="
//   solution: "<think>1+7=8 2+9=11 8+3+1=12 4+0+1=5</think><answer>5218</answer>"
//
// The thought adds column by column from the right, writing the carry in as
// "+1". Cold-start SFT data is deliberately imperfect: a share of the worked
// solutions forget one carry and reach a wrong answer (consistent with their
// own thought), so the SFT policy is right only some of the time and GRPO has
// something to fix. No LibTorch here.
#ifndef GRPO_GRPO_ARITHMETIC_TASK_H_
#define GRPO_GRPO_ARITHMETIC_TASK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace grpo::train {

struct ArithmeticProblem {
  std::string prompt;    // "4821+397="
  std::string answer;    // "5218", the gold answer
  std::string solution;  // worked solution in the R1 format (maybe imperfect)
  bool solution_correct = true;  // false when the solution forgot a carry
};

struct ArithmeticTaskOptions {
  int min_digits = 2;  // operand lengths are drawn uniformly from [min, max]
  int max_digits = 4;
  // Share of worked solutions with one forgotten carry (only problems that
  // have a carry can be wrong, so the realized share may be lower).
  double solution_error_rate = 0.3;
};

// The correct worked solution of a + b (both non-negative decimal strings).
std::string WorkedSolution(const std::string& a, const std::string& b);

// `count` distinct problems from `seed`. Problems whose prompt is in `exclude`
// (e.g. the held-out split) are skipped, so splits never overlap.
// InvalidArgument for digits outside [1, 18] or an error rate outside [0, 1];
// FailedPrecondition when the digit range has too few distinct problems.
absl::StatusOr<std::vector<ArithmeticProblem>> GenerateArithmetic(
    const ArithmeticTaskOptions& options, int64_t count, uint64_t seed,
    const std::vector<std::string>& exclude = {});

}  // namespace grpo::train

#endif  // GRPO_GRPO_ARITHMETIC_TASK_H_
