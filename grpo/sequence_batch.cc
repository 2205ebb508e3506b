#include "grpo/sequence_batch.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace grpo::train {

absl::StatusOr<SequenceBatch> PackSequences(const std::vector<std::vector<int64_t>>& prompts,
                                            const std::vector<std::vector<int64_t>>& completions,
                                            int64_t pad_id, const std::vector<std::vector<float>>& values) {
  const size_t n = prompts.size();
  if (n == 0 || completions.size() != n || (!values.empty() && values.size() != n)) {
    return absl::InvalidArgumentError(absl::StrCat("need one completion (and value row) per prompt: ", n,
                                                   " prompts, ", completions.size(), " completions, ",
                                                   values.size(), " value rows"));
  }
  size_t longest = 0, completion_tokens = 0;
  for (size_t i = 0; i < n; ++i) {
    if (prompts[i].empty()) return absl::InvalidArgumentError(absl::StrCat("prompt ", i, " is empty"));
    if (!values.empty() && values[i].size() != completions[i].size()) {
      return absl::InvalidArgumentError(absl::StrCat("row ", i, " has ", completions[i].size(),
                                                     " completion tokens but ", values[i].size(), " values"));
    }
    longest = std::max(longest, prompts[i].size() + completions[i].size());
    completion_tokens += completions[i].size();
  }
  if (completion_tokens == 0) return absl::InvalidArgumentError("no completion token in the batch");
  const int64_t rows = static_cast<int64_t>(n), width = static_cast<int64_t>(longest);
  SequenceBatch b;
  b.ids = torch::full({rows, width}, pad_id, torch::kLong);
  b.attention_mask = torch::zeros({rows, width}, torch::kLong);
  b.completion_mask = torch::zeros({rows, width - 1}, torch::kFloat);
  if (!values.empty()) b.completion_values = torch::zeros({rows, width - 1}, torch::kFloat);
  auto ids = b.ids.accessor<int64_t, 2>();
  auto attention = b.attention_mask.accessor<int64_t, 2>();
  auto mask = b.completion_mask.accessor<float, 2>();
  // A [1,1] stand-in when there are no values, so the accessor always exists.
  torch::Tensor value_storage = values.empty() ? torch::zeros({1, 1}) : b.completion_values;
  auto value = value_storage.accessor<float, 2>();
  for (size_t i = 0; i < n; ++i) {
    const auto r = static_cast<int64_t>(i), p = static_cast<int64_t>(prompts[i].size());
    for (int64_t t = 0; t < p; ++t) ids[r][t] = prompts[i][static_cast<size_t>(t)];
    for (size_t j = 0; j < completions[i].size(); ++j) {
      const int64_t t = p + static_cast<int64_t>(j);
      ids[r][t] = completions[i][j];
      mask[r][t - 1] = 1;  // position t-1 predicts token t
      if (!values.empty()) value[r][t - 1] = values[i][j];
    }
    for (int64_t t = 0; t < p + static_cast<int64_t>(completions[i].size()); ++t) attention[r][t] = 1;
  }
  return b;
}

}  // namespace grpo::train
