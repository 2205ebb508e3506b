// Batched autoregressive sampling from the policy with the KV cache.
//
//   SamplerOptions opt;
//   opt.temperature(1.0).top_p(0.95).max_new_tokens(512).n(8).seed(7).stop_token_ids({eos});
//   ASSIGN_OR_RETURN(SampleResult r, Sample(lm, prompts, opt, tokenizer.get()));
//   // r.completions[i * n + j]: completion j of prompt i
//
// Batching: all prompts are prefilled together, once, as one left-padded
// batch (no mask when they have one length); each prompt's cache rows are then
// replicated n times (repeat_interleave), and all prompts * n completions
// decode as one batch, one token per forward pass. A completion that finishes
// is dropped from the batch (its cache and mask rows are removed), so it costs
// no more compute.
//
// Log-probs: logprobs[t] is log q(ids[t]) where q is the distribution the token
// was drawn from: logits / temperature, then top-k, top-p, min-p, then
// renormalized over the kept tokens (policy/logprobs.h, ProcessedLogProbs, is
// the one formula; ScoreTokens with the same LogitsProcessing re-scores it).
// temperature == 0 is greedy (argmax of the raw logits, truncation ignored),
// and its log-prob is that of the untempered, untruncated softmax
// (temperature 1), i.e. the model's own probability of the token.
//
// Stops: a completion ends at a stop token (kept as its last id, with its
// log-prob), when its decoded text contains a stop string (checked after each
// token; the token that completes the string is kept and nothing is trimmed;
// the text is built by decoding token by token, exact for the byte-level BPE
// and char tokenizers, whose Decode is concatenative), or after
// max_new_tokens.
//
// Randomness: one CPU torch::Generator seeded with `seed` per call, drawn
// from for every live row at each step in row order. Same model, prompts (in
// the same order) and options give the same completions. A completion is not
// independent of the rest of the call: the draws it gets depend on which other
// rows are still live, and its logits may differ in the last fp32 bits with the
// batch shape, so sampling a prompt alone or beside others gives different
// (equally distributed) completions.
#ifndef GRPO_POLICY_SAMPLER_H_
#define GRPO_POLICY_SAMPLER_H_

#include <torch/arg.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/logprobs.h"
#include "policy/model.h"
#include "policy/tokenizer.h"

namespace grpo::policy {

struct SamplerOptions {
  TORCH_ARG(double, temperature) = 1.0;  // 0: greedy
  TORCH_ARG(int64_t, top_k) = 0;         // 0: off
  TORCH_ARG(double, top_p) = 1.0;        // 1: off
  TORCH_ARG(double, min_p) = 0.0;        // 0: off
  TORCH_ARG(int64_t, max_new_tokens) = 256;
  TORCH_ARG(int64_t, n) = 1;  // completions per prompt
  TORCH_ARG(uint64_t, seed) = 0;
  TORCH_ARG(std::vector<int64_t>, stop_token_ids) = {};
  TORCH_ARG(std::vector<std::string>, stop_strings) = {};  // need a tokenizer
  // Called for every generated token, in generation order, with the index of
  // its completion (as in SampleResult::completions) and whether it is that
  // completion's last token; for streaming. Runs on the sampling thread.
  TORCH_ARG(std::function<void(int64_t completion, int64_t token, bool last)>, on_token) = nullptr;

 public:  // TORCH_ARG leaves the struct private
  // The processing these options sample with (temperature > 0).
  LogitsProcessing processing() const {
    return LogitsProcessing().temperature(temperature_).top_k(top_k_).top_p(top_p_).min_p(min_p_);
  }
};

enum class FinishReason { kStopToken, kStopString, kLength };

struct Completion {
  int64_t prompt_index = 0;
  std::vector<int64_t> ids;     // generated tokens only
  std::vector<float> logprobs;  // one per id, see the header comment
  FinishReason finish = FinishReason::kLength;
};

// Work counters, to check that a prompt is prefilled once and that finished
// completions stop costing compute.
struct SamplerStats {
  int64_t prefill_calls = 0;    // forward passes over prompts (1 per Sample call)
  int64_t prefill_tokens = 0;   // real prompt positions run
  int64_t prefill_padding = 0;  // pad positions run beside them (left padding)
  int64_t decode_calls = 0;    // one-token forward passes (per batch)
  int64_t decode_tokens = 0;   // rows run in them
};

struct SampleResult {
  std::vector<Completion> completions;  // prompt-major: prompt i's n at i*n .. i*n+n-1
  SamplerStats stats;
};

// Samples options.n completions for each non-empty prompt. Grad mode is off
// inside. `tokenizer` may be null unless stop_strings is non-empty.
absl::StatusOr<SampleResult> Sample(CausalLM& model,
                                    const std::vector<std::vector<int64_t>>& prompts,
                                    const SamplerOptions& options,
                                    const Tokenizer* tokenizer = nullptr);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_SAMPLER_H_
