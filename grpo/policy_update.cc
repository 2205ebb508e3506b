#include "grpo/policy_update.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpo/sequence_batch.h"
#include "policy/logprobs.h"
#include "policy/torch_status.h"
#include "proto/status_macros.h"

namespace grpo::train {
namespace {

// Teacher-forced log-probs [N,T] of every row, without gradients, micro-batch by micro-batch.
absl::StatusOr<torch::Tensor> ScoreWithoutGrad(policy::CausalLM& model, const SequenceBatch& seq, int64_t rows) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  const int64_t n = seq.ids.size(0);
  for (int64_t start = 0; start < n; start += rows) {
    const int64_t len = std::min(rows, n - start);
    ASSIGN_OR_RETURN(policy::TokenScores s, policy::ScoreTokens(model, seq.ids.narrow(0, start, len), {},
                                                                seq.attention_mask.narrow(0, start, len)));
    parts.push_back(s.logprobs);
  }
  return torch::cat(parts, 0);
}

}  // namespace

absl::StatusOr<UpdateStats> UpdatePolicy(policy::CausalLM& model, policy::CausalLM* reference,
                                         Optimizer& optimizer, const UpdateInput& input,
                                         const UpdateOptions& options) {
  const size_t n = input.completions.size();
  if (n == 0 || input.prompts.size() != n || !input.advantages.defined() ||
      input.advantages.numel() != static_cast<int64_t>(n)) {
    return absl::InvalidArgumentError(absl::StrCat("update: need one prompt and one advantage per completion (",
                                                   n, " completions, ", input.prompts.size(), " prompts)"));
  }
  if (options.epochs < 1 || options.micro_batch_rows < 0) {
    return absl::InvalidArgumentError("update: epochs must be >= 1 and micro_batch_rows >= 0");
  }
  if (options.loss.beta() > 0 && reference == nullptr) {
    return absl::InvalidArgumentError("update: beta > 0 needs a reference model");
  }
  std::vector<std::vector<int64_t>> completions;
  std::vector<std::vector<float>> sampler_logprobs;
  for (const policy::Completion& c : input.completions) {
    completions.push_back(c.ids);
    sampler_logprobs.push_back(c.logprobs);
  }
  ASSIGN_OR_RETURN(SequenceBatch seq, PackSequences(input.prompts, completions, options.pad_id, sampler_logprobs));
  UpdateStats stats;
  DataParallel* const dp = options.data_parallel;
  try {
    torch::Tensor mask = seq.completion_mask;  // [N,T]
    if (options.mask_truncated) {
      std::vector<float> keep(n);
      for (size_t i = 0; i < n; ++i) keep[i] = input.completions[i].finish == policy::FinishReason::kLength ? 0 : 1;
      mask = mask * torch::tensor(keep).unsqueeze(1);
    }
    ASSIGN_OR_RETURN(StepCounts counts, CountStep(mask));
    if (dp != nullptr) {
      torch::Tensor c = torch::tensor({counts.tokens, counts.sequences}, torch::kInt64);
      RETURN_IF_ERROR(dp->AllReduceSum(c));
      counts = {c[0].item<int64_t>(), c[1].item<int64_t>()};
    }
    stats.tokens_trained = counts.tokens;
    if (counts.tokens == 0) return stats;  // e.g. every completion truncated and masked
    const int64_t rows = options.micro_batch_rows > 0 ? options.micro_batch_rows : static_cast<int64_t>(n);
    torch::Tensor old_logp = seq.completion_values;
    if (options.epochs > 1) {
      ASSIGN_OR_RETURN(old_logp, ScoreWithoutGrad(model, seq, rows));
    }
    torch::Tensor ref_logp;
    if (options.loss.beta() > 0) {
      ASSIGN_OR_RETURN(ref_logp, ScoreWithoutGrad(*reference, seq, rows));
    }
    const torch::Tensor advantages = input.advantages.reshape(-1).to(torch::kFloat);
    const double tokens = static_cast<double>(counts.tokens);
    for (int epoch = 0; epoch < options.epochs; ++epoch) {
      for (int64_t start = 0; start < static_cast<int64_t>(n); start += rows) {
        const int64_t len = std::min(rows, static_cast<int64_t>(n) - start);
        const torch::Tensor m = mask.narrow(0, start, len);
        ASSIGN_OR_RETURN(policy::TokenScores s, policy::ScoreTokens(model, seq.ids.narrow(0, start, len), {},
                                                                    seq.attention_mask.narrow(0, start, len)));
        ASSIGN_OR_RETURN(TokenTerms terms,
                         ComputeTokenTerms(s.logprobs, old_logp.narrow(0, start, len),
                                           ref_logp.defined() ? ref_logp.narrow(0, start, len) : torch::Tensor(),
                                           advantages.narrow(0, start, len), options.loss));
        ASSIGN_OR_RETURN(torch::Tensor loss, AggregateLoss(terms.loss, m, counts, options.loss));
        loss.backward();
        auto token_sum = [&](const torch::Tensor& t) { return (t.detach().to(torch::kFloat) * m).sum().item<double>(); };
        stats.clip_frac_low += token_sum(terms.clipped_low) / tokens / options.epochs;
        stats.clip_frac_high += token_sum(terms.clipped_high) / tokens / options.epochs;
        if (epoch == 0) {
          stats.loss += loss.item<double>();
          stats.entropy += token_sum(s.entropy) / tokens;
          if (terms.kl.defined()) stats.kl += token_sum(terms.kl) / tokens;
          const torch::Tensor sampled = seq.completion_values.narrow(0, start, len);
          stats.logprob_mismatch_max = std::max(
              stats.logprob_mismatch_max, ((s.logprobs.detach() - sampled).abs() * m).max().item<double>());
        }
      }
      if (dp != nullptr) RETURN_IF_ERROR(dp->AllReduceGradients(model->parameters()));
      ASSIGN_OR_RETURN(StepStats step, optimizer.Step());
      ++stats.optimizer_steps;
      stats.grad_norm = step.grad_norm;
      stats.learning_rate = step.learning_rate;
      stats.skipped = step.skipped;
    }
    if (dp != nullptr) {  // each rank's figures are its rows' share of the global means
      torch::Tensor sums =
          torch::tensor({stats.loss, stats.entropy, stats.kl, stats.clip_frac_low, stats.clip_frac_high}, torch::kDouble);
      torch::Tensor mismatch = torch::tensor({stats.logprob_mismatch_max}, torch::kDouble);
      RETURN_IF_ERROR(dp->AllReduceSum(sums));
      RETURN_IF_ERROR(dp->AllReduceMax(mismatch));
      stats.loss = sums[0].item<double>();
      stats.entropy = sums[1].item<double>();
      stats.kl = sums[2].item<double>();
      stats.clip_frac_low = sums[3].item<double>();
      stats.clip_frac_high = sums[4].item<double>();
      stats.logprob_mismatch_max = mismatch[0].item<double>();
    }
  } catch (...) {
    return policy::StatusFromCurrentException("policy update");
  }
  return stats;
}

}  // namespace grpo::train
