// The miniature R1's task: multi-digit addition with a written-out chain of
// thought, generated procedurally and deterministically from a seed.
//
//   prompt:   "4821+397="
//   solution: "<think>1+7=8 2+9=11 8+3+1=12 4+0+1=5</think><answer>5218</answer>"
//
// The thought adds column by column from the right, writing the carry in as
// "+1". Cold-start SFT data is deliberately imperfect: each carry of a worked
// solution is forgotten with some probability, and the solution then reaches
// the wrong answer its own thought leads to. A policy imitating that data
// forgets carries too, sampling finds the answers that carry, and GRPO has a
// habit to fix. No LibTorch here.
#ifndef GRPO_GRPO_ARITHMETIC_TASK_H_
#define GRPO_GRPO_ARITHMETIC_TASK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpo/problem.h"

namespace grpo::train {

struct ArithmeticTaskOptions {
  int min_digits = 2;  // operand lengths are drawn uniformly from [min, max]
  int max_digits = 4;
  // Probability that a worked solution forgets each of its carries, one draw
  // per column that receives a carry.
  double carry_drop_rate = 0.3;
};

// The correct worked solution of a + b (both non-negative decimal strings).
std::string WorkedSolution(const std::string& a, const std::string& b);

// `count` distinct problems from `seed`. Problems whose prompt is in `exclude`
// (e.g. the held-out split) are skipped, so splits never overlap.
// InvalidArgument for digits outside [1, 18] or a drop rate outside [0, 1];
// FailedPrecondition when the digit range has too few distinct problems.
absl::StatusOr<std::vector<Problem>> GenerateArithmetic(
    const ArithmeticTaskOptions& options, int64_t count, uint64_t seed,
    const std::vector<std::string>& exclude = {});

}  // namespace grpo::train

#endif  // GRPO_GRPO_ARITHMETIC_TASK_H_
