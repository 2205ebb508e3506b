// Per-token log-probs of given tokens under the policy (teacher forcing), and
// the logit processing (temperature, top-k, top-p, min-p) that the sampler
// shares, so a sampled token's log-prob and its re-scored log-prob are one
// formula.
//
//   ASSIGN_OR_RETURN(TokenScores s, ScoreTokens(lm, ids));  // ids [B,T]
//   // s.logprobs[b][t-1] = log p(ids[b][t] | ids[b][:t]), autograd attached
//
// The processed distribution, for logits z of one position:
//   1. temperature: z / temperature (temperature > 0);
//   2. top-k: keep the k largest (ties at the k-th value are all kept);
//   3. top-p: keep the smallest prefix, by descending probability, whose mass
//      reaches top_p (the first token always kept);
//   4. min-p: keep tokens with p >= min_p * max p;
//   5. renormalize: log_softmax over the kept tokens, -inf elsewhere.
// Steps 3 and 4 use the probabilities after the preceding steps. This is the
// distribution the sampler draws from, and the log-prob it reports; GRPO's
// importance ratio must score old and new policy with the same options.
#ifndef GRPO_POLICY_LOGPROBS_H_
#define GRPO_POLICY_LOGPROBS_H_

#include <torch/arg.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "policy/model.h"

namespace grpo::policy {

struct LogitsProcessing {
  TORCH_ARG(double, temperature) = 1.0;  // must be > 0 here (0 = greedy is the sampler's)
  TORCH_ARG(int64_t, top_k) = 0;         // 0: off
  TORCH_ARG(double, top_p) = 1.0;        // 1: off
  TORCH_ARG(double, min_p) = 0.0;        // 0: off
};

// logits [..., V] -> processed log-probs [..., V] (-inf where truncated).
// Differentiable through the kept entries. Throws c10::Error (internal use).
torch::Tensor ProcessedLogProbs(const torch::Tensor& logits, const LogitsProcessing& p);

struct ScoreOptions {
  TORCH_ARG(LogitsProcessing, processing) = {};
  // Positions per chunk of the lm_head + log_softmax (rows of B*(T-1)).
  TORCH_ARG(int64_t, chunk_positions) = 256;
};

// Both [B, T-1]: entry t scores token t+1 given tokens 0..t.
struct TokenScores {
  torch::Tensor logprobs;  // fp32, with autograd when grad mode is on
  torch::Tensor entropy;   // fp32, of the processed distribution
};

// Teacher-forced scoring of input_ids [B,T] (T >= 2, no padding). The decoder
// runs once; lm_head, processing and the gather run over chunks of positions,
// so the [B,T,V] fp32 logits / log-softmax never exist at once in the forward
// pass (autograd still keeps each chunk's activations for backward).
absl::StatusOr<TokenScores> ScoreTokens(CausalLM& model, const torch::Tensor& input_ids,
                                        const ScoreOptions& options = {});

// The plain version: full logits, full processed log-softmax, then gather.
// For tests of ScoreTokens.
absl::StatusOr<TokenScores> ScoreTokensReference(CausalLM& model, const torch::Tensor& input_ids,
                                                 const LogitsProcessing& processing = {});

}  // namespace grpo::policy

#endif  // GRPO_POLICY_LOGPROBS_H_
