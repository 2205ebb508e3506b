// Prompt sets for GRPO from JSONL files, one problem per line: math problems
// with the question and the gold answer in named fields (GSM8K:
// question/answer; MATH-500: problem/answer), or code tasks with their tests
// (MBPP: text/test_list; HumanEval: prompt/test/entry_point; stdin/stdout).
#ifndef GRPO_GRPO_PROMPT_DATASET_H_
#define GRPO_GRPO_PROMPT_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpo/problem.h"
#include "proto/config.pb.h"

namespace grpo::train {

// Reads at most `limit` problems (0: all) from `path`, after skipping its
// first `skip` lines, as `format` says (its fields, task and code style; its
// file paths and counts are not read). Every line must be a JSON object with
// a string question; a math problem's answer is a string or a number (taken
// as its text), a code task's tests are as reward/task_json.h reads them.
// NotFound for a missing file; InvalidArgument "PATH:LINE: ..." naming what
// was expected for a bad line.
absl::StatusOr<std::vector<Problem>> LoadPromptDataset(const std::string& path, const config::PromptDataset& format,
                                                       int64_t skip = 0, int64_t limit = 0);

}  // namespace grpo::train

#endif  // GRPO_GRPO_PROMPT_DATASET_H_
