// `grpo eval-rewards --checker=code`: the code checker's extra output fields
// (reading the task from a line is reward/task_json.h's CodeTaskReader).
#ifndef GRPO_CLI_CODE_TASK_H_
#define GRPO_CLI_CODE_TASK_H_

#include "nlohmann/json.hpp"
#include "reward/code_checker.h"

namespace grpo::cli {

// Adds "verdict" (null when no program ran: no code, or a task that cannot
// run), "cases_passed", "cases_total", "first_failing_case",
// "wall_ms", "cpu_ms" and "code_source" to an output line.
void AddCodeFields(const reward::CodeResult& result, nlohmann::ordered_json* line);

}  // namespace grpo::cli

#endif  // GRPO_CLI_CODE_TASK_H_
