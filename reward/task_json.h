// Reward references from JSONL lines and on the wire: finding a field by its
// dotted path, reading a code task's tests (HumanEval, MBPP or stdin/stdout
// fields, as CodeTaskFields names them), and the CodeTask <-> CodeTests
// conversion. Used by `grpo eval-rewards`, the trainer's prompt sets and the
// reward service.
#ifndef GRPO_REWARD_TASK_JSON_H_
#define GRPO_REWARD_TASK_JSON_H_

#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "proto/config.pb.h"
#include "proto/reward.pb.h"
#include "reward/code_task.h"

namespace grpo::reward {

// The value at a dotted `path` inside `root`: "a.b" walks objects, a numeric
// segment indexes an array ("response.3"). A key that itself contains dots
// matches whole first. nullptr when the path leads nowhere.
nlohmann::json* FindField(nlohmann::json* root, std::string_view path);

// Plain copies of the options (no protobuf access on worker threads).
struct CodeTaskReader {
  CodeTaskReader(config::CodeTestStyle style, bool include_challenge_tests, const config::CodeTaskFields& fields);

  // Fills `task` from the line's JSON; returns why the line cannot be a task
  // ("missing field \"test_list\"; expected ...") or "".
  std::string Read(nlohmann::json* doc, CodeTask* task) const;

  config::CodeTestStyle style;
  bool include_challenge_tests;
  std::string prompt, test, entry_point, test_list, test_setup_code, challenge_test_list, inputs, outputs;
};

// The wire form of a task and back. `style` and `language` name the test
// style and language ("mbpp", "python"); empty: the server's defaults.
v1::CodeTests CodeTestsProto(const CodeTask& task, std::string style, std::string language);
CodeTask CodeTaskFromProto(const v1::CodeTests& tests);

}  // namespace grpo::reward

#endif  // GRPO_REWARD_TASK_JSON_H_
