// One training or evaluation problem, whatever its source: the procedural
// task (grpo/arithmetic_task.h) or a JSONL prompt set (grpo/prompt_dataset.h)
// of math problems or code tasks.
#ifndef GRPO_GRPO_PROBLEM_H_
#define GRPO_GRPO_PROBLEM_H_

#include <optional>
#include <string>

#include "proto/reward.pb.h"

namespace grpo::train {

struct Problem {
  std::string prompt;    // the question as the task states it ("4821+397=")
  std::string answer;    // the gold answer, as the math reward reads it
  std::string solution;  // a worked solution for SFT; empty when the source has none
  bool solution_correct = true;  // false when the worked solution is deliberately wrong
  // A code task's tests (code_tests checks the completion against them);
  // `answer` is then unused.
  std::optional<reward::v1::CodeTests> code_tests;
};

}  // namespace grpo::train

#endif  // GRPO_GRPO_PROBLEM_H_
