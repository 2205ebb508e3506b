// One GRPO update of the policy from a scored rollout: pack the rows, count
// the step's tokens globally, then `epochs` (mu) passes over the micro-batches,
// each pass accumulating gradients and ending in one optimizer step.
//
// Legend: N completion rows (prompt-major), T scored positions of the packed
// batch.
#ifndef GRPO_GRPO_POLICY_UPDATE_H_
#define GRPO_GRPO_POLICY_UPDATE_H_

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "grpo/data_parallel.h"
#include "grpo/objective.h"
#include "grpo/optimizer.h"
#include "policy/model.h"
#include "policy/sampler.h"

namespace grpo::train {

struct UpdateOptions {
  PolicyLossOptions loss;
  // Passes over the batch (GRPO's mu), one optimizer step each. With more than
  // one, old_logp is recomputed by the policy before the first pass; with one,
  // the sampler's log-probs are used (they are of the same distribution).
  int epochs = 1;
  int micro_batch_rows = 0;     // rows per forward/backward; 0: all at once
  bool mask_truncated = false;  // DAPO: completions cut at max_new_tokens do not train
  int64_t pad_id = 0;
  // Data-parallel ranks (null: one process): the step's token and sequence
  // counts and the gradients are summed over every rank's rows, so each rank
  // makes the step the whole batch would make in one process.
  DataParallel* data_parallel = nullptr;
};

struct UpdateInput {
  std::vector<std::vector<int64_t>> prompts;    // [N] the prompt ids of each row
  std::vector<policy::Completion> completions;  // [N] ids, sampler log-probs, finish reason
  torch::Tensor advantages;                     // [N]
};

// With data_parallel, every figure is over all ranks' rows.
struct UpdateStats {
  int64_t tokens_trained = 0;       // unmasked completion tokens (0: nothing to learn, no step made)
  int optimizer_steps = 0;
  double loss = 0;                  // first pass
  double entropy = 0;               // first pass, token mean
  double kl = 0;                    // first pass, token mean; 0 when beta == 0
  double clip_frac_low = 0;         // token means over all passes
  double clip_frac_high = 0;
  double logprob_mismatch_max = 0;  // sampler against teacher-forced, first pass
  double grad_norm = 0;             // of the last step
  double learning_rate = 0;
  bool skipped = false;             // the last step's gradient was not finite
};

// `reference` is the frozen policy for the KL term (null when beta == 0).
// InvalidArgument for mismatched sizes or options; errors of the policy as
// they come.
absl::StatusOr<UpdateStats> UpdatePolicy(policy::CausalLM& model, policy::CausalLM* reference,
                                         Optimizer& optimizer, const UpdateInput& input,
                                         const UpdateOptions& options);

}  // namespace grpo::train

#endif  // GRPO_GRPO_POLICY_UPDATE_H_
