// `grpo eval-rewards --checker=code`: reading a code task from one JSONL line
// (HumanEval, MBPP or stdin/stdout fields, as config.eval_rewards.code_fields
// names them) and writing the code checker's extra output fields.
#ifndef GRPO_CLI_CODE_TASK_H_
#define GRPO_CLI_CODE_TASK_H_

#include <string>

#include "nlohmann/json.hpp"
#include "proto/config.pb.h"
#include "reward/code_checker.h"

namespace grpo::cli {

// Plain copies of what the workers need (no protobuf access on their threads).
struct CodeTaskReader {
  explicit CodeTaskReader(const config::Config& config);

  // Fills `task` from the line's JSON; returns why the line cannot be a task
  // ("missing field \"test_list\"; expected ...") or "".
  std::string Read(nlohmann::json* doc, reward::CodeTask* task) const;

  config::CodeTestStyle style;
  bool include_challenge_tests;
  std::string prompt, test, entry_point, test_list, test_setup_code, challenge_test_list, inputs,
      outputs;
};

// Adds "verdict" (null when no program ran: no code, or a task that cannot
// run), "cases_passed", "cases_total", "first_failing_case",
// "wall_ms", "cpu_ms" and "code_source" to an output line.
void AddCodeFields(const reward::CodeResult& result, nlohmann::ordered_json* line);

}  // namespace grpo::cli

#endif  // GRPO_CLI_CODE_TASK_H_
