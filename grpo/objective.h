// The GRPO objective, top to bottom: group-relative advantages, the clipped
// surrogate with an optional KL penalty to a frozen reference, and the loss
// aggregation over tokens and sequences. No model, no optimizer: tensors in,
// tensors out, so every number in docs/grpo.md can be pinned by a test.
//
// Shape legend (every function states its shapes against it):
//   B  prompts in the batch
//   G  samples (completions) per prompt
//   N  = B*G completion rows, prompt-major: row b*G + g
//   T  completion tokens per row (padded; `mask` says which are real)
//
//   ASSIGN_OR_RETURN(torch::Tensor adv, ComputeAdvantages(rewards, adv_opts));  // [B,G]
//   ASSIGN_OR_RETURN(TokenTerms terms,
//                    ComputeTokenTerms(logp, old_logp, ref_logp, adv.reshape(-1), loss_opts));
//   ASSIGN_OR_RETURN(torch::Tensor loss,
//                    AggregateLoss(terms.loss, mask, counts, loss_opts));   // scalar
//   loss.backward();
//
// Errors: every function returns InvalidArgument for shapes that do not fit the
// legend or options out of range, and Internal for a LibTorch failure.
#ifndef GRPO_GRPO_OBJECTIVE_H_
#define GRPO_GRPO_OBJECTIVE_H_

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>

#include "absl/status/statusor.h"

namespace grpo::train {

// --- advantages ---

enum class AdvantageEstimator {
  kGrpo,    // (r - group mean) / (std + std_eps), std per std_scope
  kDrGrpo,  // r - group mean (Dr. GRPO: no std scaling)
  kRloo,    // r - mean of the other G-1 samples of the group
};

enum class StdScope {
  kGroup,  // unbiased std of the group's G rewards (DeepSeekMath, TRL "group")
  kBatch,  // unbiased std of all N rewards, mean still per group (TRL "batch")
  kNone,   // no scaling (same as kDrGrpo)
};

struct AdvantageOptions {
  TORCH_ARG(AdvantageEstimator, estimator) = AdvantageEstimator::kGrpo;
  TORCH_ARG(StdScope, std_scope) = StdScope::kGroup;  // kGrpo only
  // Added to the std before dividing. TRL uses 1e-4, verl 1e-6.
  TORCH_ARG(double, std_eps) = 1e-4;
};

// rewards [B,G] -> advantages [B,G], same dtype. A constant group gets 0.
// kRloo needs G >= 2.
absl::StatusOr<torch::Tensor> ComputeAdvantages(const torch::Tensor& rewards,
                                                const AdvantageOptions& options);

// rewards [B,G] -> bool [B]: true where the group's rewards are not all equal.
// Dynamic sampling (DAPO) keeps only these; 1 - mean is frac_reward_zero_std.
absl::StatusOr<torch::Tensor> GroupsWithSignal(const torch::Tensor& rewards);

// --- KL to the reference ---

enum class KlEstimator {
  kK1,  // logp - ref_logp
  kK2,  // (logp - ref_logp)^2 / 2
  kK3,  // exp(d) - d - 1 with d = ref_logp - logp (Schulman; unbiased, >= 0)
};

// logp, ref_logp [N,T] -> per-token estimate [N,T], differentiable in logp.
// clamp > 0 clips the estimate to [-clamp, clamp] (verl clips k3 at 10, since
// exp(d) overflows for a reference far from the policy); 0 leaves it as is.
absl::StatusOr<torch::Tensor> KlPenalty(const torch::Tensor& logp, const torch::Tensor& ref_logp,
                                        KlEstimator estimator, double clamp = 0);

// --- the clipped surrogate and the loss ---

enum class LossAggregation {
  kTokenMean,           // sum of token losses / tokens in the batch (DAPO)
  kSeqMeanTokenMean,    // mean over sequences of each one's token mean (GRPO paper)
  kSeqMeanTokenSumNorm, // mean over sequences of token sum / sum_norm (Dr. GRPO)
};

struct PolicyLossOptions {
  // ratio is clipped to [1 - eps_low, 1 + eps_high] (DAPO's clip-higher: 0.2/0.28).
  TORCH_ARG(double, eps_low) = 0.2;
  TORCH_ARG(double, eps_high) = 0.2;
  // Dual clip for A < 0: the token loss is at most -dual_clip * A. 0 = off; else > 1 (3 is usual).
  TORCH_ARG(double, dual_clip) = 0.0;
  // KL coefficient; 0 means no reference model and no KL term.
  TORCH_ARG(double, beta) = 0.0;
  TORCH_ARG(KlEstimator, kl_estimator) = KlEstimator::kK3;
  TORCH_ARG(double, kl_clamp) = 10.0;
  TORCH_ARG(LossAggregation, aggregation) = LossAggregation::kTokenMean;
  // C of kSeqMeanTokenSumNorm, a constant such as the max completion length.
  TORCH_ARG(double, sum_norm) = 0.0;
};

// Per-token terms of the loss, all [N,T].
struct TokenTerms {
  torch::Tensor loss;          // pg + beta * kl: what AggregateLoss reduces
  torch::Tensor pg;            // the clipped surrogate, -A * ratio clipped (and dual-clipped)
  torch::Tensor kl;            // the KL estimate; undefined when beta == 0
  torch::Tensor ratio;         // exp(logp - old_logp), detached
  torch::Tensor clipped_low;   // bool: A < 0 and ratio < 1 - eps_low (no gradient)
  torch::Tensor clipped_high;  // bool: A > 0 and ratio > 1 + eps_high (no gradient)
  torch::Tensor dual_clipped;  // bool: A < 0 and the dual clip bound applies
};

// logp [N,T] (with autograd), old_logp [N,T] (behaviour policy, no gradient),
// ref_logp [N,T] (undefined when beta == 0), advantages [N].
// The token loss is max(-A*ratio, -A*clip(ratio)), then for A < 0 and dual
// clip c: min(that, -c*A); plus beta * KL(logp, ref_logp).
absl::StatusOr<TokenTerms> ComputeTokenTerms(const torch::Tensor& logp, const torch::Tensor& old_logp,
                                             const torch::Tensor& ref_logp,
                                             const torch::Tensor& advantages,
                                             const PolicyLossOptions& options);

// The normalizers of the whole optimizer step: all micro-batches, all ranks.
// Counting them before the step is what makes the loss and its gradient
// independent of how the batch is split.
struct StepCounts {
  int64_t tokens = 0;     // unmasked tokens
  int64_t sequences = 0;  // rows with at least one unmasked token
};

// mask [N,T] (0/1, any dtype) -> this part's counts; add the parts' counts up.
absl::StatusOr<StepCounts> CountStep(const torch::Tensor& mask);

// token_loss [N,T], mask [N,T] -> scalar. With the step's global counts, the
// sum of this over the micro-batches (and ranks) equals it over the whole step.
absl::StatusOr<torch::Tensor> AggregateLoss(const torch::Tensor& token_loss, const torch::Tensor& mask,
                                            const StepCounts& step, const PolicyLossOptions& options);

}  // namespace grpo::train

#endif  // GRPO_GRPO_OBJECTIVE_H_
