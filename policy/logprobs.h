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
#include <torch/types.h>

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

// Both [B, T-1]: entry t scores token t+1 given tokens 0..t. With an
// attention mask, entry t is 0 (value and gradient) unless tokens t and t+1
// are both real.
struct TokenScores {
  torch::Tensor logprobs;  // fp32, with autograd when grad mode is on
  torch::Tensor entropy;   // fp32, of the processed distribution, with autograd
};

// Teacher-forced scoring of input_ids [B,T] (T >= 2). attention_mask, when
// given, is [B,T] of 0/1 (bool or integer; HF meaning, see model.h): right
// padding for completions of different lengths, left padding for prompts;
// pad positions may hold any id. The decoder runs once over the real and pad
// positions; lm_head, processing and the gather then run over chunks of the
// scored positions, so no [B,T,V] tensor exists at once.
//
// Memory with gradients: with temperature-only processing (top_k 0, top_p 1,
// min_p 0; what GRPO trains with) the chunks run inside one autograd function
// (LeanTokenScores) that keeps only the [N,hidden] states, the targets and
// the entropy for backward and recomputes each chunk's logits there, so the
// backward peak is one chunk's [chunk,V] (plus the [V,hidden] weight
// gradient) too. The entropy's gradient is exact, not detached. With
// truncating processing each chunk's [chunk,V] activations are kept by
// autograd until backward.
//
// InvalidArgument for bad ids, mask, processing or chunk size.
absl::StatusOr<TokenScores> ScoreTokens(CausalLM& model, const torch::Tensor& input_ids,
                                        const ScoreOptions& options = {},
                                        const torch::Tensor& attention_mask = {});

// The plain version: full logits, full processed log-softmax, then gather.
// Same arguments and results as ScoreTokens; for tests and memory baselines.
absl::StatusOr<TokenScores> ScoreTokensReference(CausalLM& model, const torch::Tensor& input_ids,
                                                 const LogitsProcessing& processing = {},
                                                 const torch::Tensor& attention_mask = {});

// The lean chunked head on its own: for hidden [N,D] (the final-norm output),
// lm_head weight [V,D] and targets [N] int64, log softmax(hidden W^T /
// temperature)[target] and the entropy of that distribution, both [N] fp32,
// in chunks of `chunk` rows. Differentiable w.r.t. hidden and weight; backward
// recomputes each chunk's logits from the saved hidden states. Throws
// c10::Error (internal use; ScoreTokens is the boundary).
TokenScores LeanTokenScores(const torch::Tensor& hidden, const torch::Tensor& weight,
                            const torch::Tensor& targets, double temperature, int64_t chunk);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_LOGPROBS_H_
