// Prompt sets for GRPO from JSONL files: one problem per line, the question
// and the gold answer in named fields (GSM8K: question/answer; MATH-500:
// problem/answer).
#ifndef GRPO_GRPO_PROMPT_DATASET_H_
#define GRPO_GRPO_PROMPT_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpo/problem.h"

namespace grpo::train {

// Reads at most `limit` problems (0: all) from `path`. Every line must be a
// JSON object whose `question_field` and `answer_field` are strings (a number
// answer is taken as its text). NotFound for a missing file; InvalidArgument
// "PATH:LINE: ..." naming what was expected for a bad line.
absl::StatusOr<std::vector<Problem>> LoadPromptDataset(const std::string& path, const std::string& question_field,
                                                       const std::string& answer_field, int64_t limit = 0);

}  // namespace grpo::train

#endif  // GRPO_GRPO_PROMPT_DATASET_H_
