// Prompt + completion rows packed into one right-padded batch for teacher-
// forced scoring (policy::ScoreTokens), with the mask of the scored positions
// that predict completion tokens. SFT and the GRPO update both train on it.
//
// Legend: N rows, L = longest prompt + completion, T = L - 1 scored positions
// (position t predicts token t+1).
#ifndef GRPO_GRPO_SEQUENCE_BATCH_H_
#define GRPO_GRPO_SEQUENCE_BATCH_H_

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace grpo::train {

struct SequenceBatch {
  torch::Tensor ids;              // [N,L] int64, pads hold pad_id
  torch::Tensor attention_mask;   // [N,L] int64, 1 on prompt and completion tokens
  torch::Tensor completion_mask;  // [N,T] float, 1 where position t predicts a completion token
  // [N,T] float, the given per-token values (e.g. the sampler's log-probs) at
  // the completion positions, 0 elsewhere; undefined when none were given.
  torch::Tensor completion_values;
};

// prompts[i] (with any BOS already in it, >= 1 token) followed by
// completions[i] (>= 0 tokens). `values`, when not empty, holds one float per
// completion token of every row. InvalidArgument for mismatched sizes, an
// empty prompt, or no completion token in the whole batch.
absl::StatusOr<SequenceBatch> PackSequences(const std::vector<std::vector<int64_t>>& prompts,
                                            const std::vector<std::vector<int64_t>>& completions,
                                            int64_t pad_id,
                                            const std::vector<std::vector<float>>& values = {});

}  // namespace grpo::train

#endif  // GRPO_GRPO_SEQUENCE_BATCH_H_
