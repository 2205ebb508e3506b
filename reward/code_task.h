// A code task's tests as the code checker reads them (reward/code_checker.h),
// plain data with no sandbox attached: the JSONL readers (reward/task_json.h)
// and the wire conversion fill it.
#ifndef GRPO_REWARD_CODE_TASK_H_
#define GRPO_REWARD_CODE_TASK_H_

#include <string>
#include <vector>

namespace grpo::reward {

struct StdioCase {
  std::string input;
  std::string output;
};

// One task. Which fields are read depends on the style.
struct CodeTask {
  // HUMANEVAL
  std::string prompt;
  std::string test;
  std::string entry_point;
  // MBPP: the assert lines are the cases, in order.
  std::string setup;
  std::vector<std::string> asserts;
  // STDIO
  std::vector<StdioCase> cases;
};

}  // namespace grpo::reward

#endif  // GRPO_REWARD_CODE_TASK_H_
