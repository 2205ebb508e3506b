#include "grpo/objective.h"

#include <torch/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "policy/torch_status.h"

namespace grpo::train {
namespace {

std::string ShapeOf(const torch::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) absl::StrAppend(&s, d ? "," : "", t.size(d));
  return s + "]";
}

absl::Status CheckRewards(const torch::Tensor& rewards) {
  if (!rewards.defined() || rewards.dim() != 2 || rewards.size(1) < 1 ||
      !rewards.is_floating_point()) {
    return absl::InvalidArgumentError(
        absl::StrCat("rewards must be a floating [B,G] tensor, got ", ShapeOf(rewards)));
  }
  return absl::OkStatus();
}

absl::Status CheckSameShape(const char* name, const torch::Tensor& t, const torch::Tensor& like) {
  if (!t.defined() || t.sizes() != like.sizes()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be ", ShapeOf(like), " like logp, got ", ShapeOf(t)));
  }
  return absl::OkStatus();
}

absl::Status CheckLossOptions(const PolicyLossOptions& o) {
  if (!(o.eps_low() >= 0 && o.eps_low() < 1) || !(o.eps_high() >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat("clip range needs 0 <= eps_low < 1 and eps_high >= 0, got ",
                                                   o.eps_low(), " and ", o.eps_high()));
  }
  if (o.dual_clip() != 0 && !(o.dual_clip() > 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dual_clip must be 0 (off) or > 1, got ", o.dual_clip()));
  }
  if (!(o.beta() >= 0)) return absl::InvalidArgumentError(absl::StrCat("beta must be >= 0, got ", o.beta()));
  if (o.aggregation() == LossAggregation::kSeqMeanTokenSumNorm && !(o.sum_norm() > 0)) {
    return absl::InvalidArgumentError(
        "seq-mean-token-sum-norm needs sum_norm > 0 (e.g. the max completion length)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<torch::Tensor> ComputeAdvantages(const torch::Tensor& rewards,
                                                const AdvantageOptions& options) {
  if (absl::Status s = CheckRewards(rewards); !s.ok()) return s;
  const int64_t g = rewards.size(1);
  if (options.estimator() == AdvantageEstimator::kRloo && g < 2) {
    return absl::InvalidArgumentError("rloo needs at least 2 samples per group");
  }
  if (!(options.std_eps() >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat("std_eps must be >= 0, got ", options.std_eps()));
  }
  try {
    const torch::Tensor mean = rewards.mean(1, /*keepdim=*/true);  // [B,1]
    // A constant group's mean can differ from its value in the last bit; its
    // advantage is exactly 0, not 1e-16 / (std + eps).
    const torch::Tensor has_spread =
        (std::get<0>(rewards.max(1, true)) != std::get<0>(rewards.min(1, true))).to(rewards.scalar_type());
    const torch::Tensor centered = (rewards - mean) * has_spread;  // [B,G]
    switch (options.estimator()) {
      case AdvantageEstimator::kDrGrpo:
        return centered;
      case AdvantageEstimator::kRloo:
        // r_i - (sum - r_i)/(G-1) = G/(G-1) * (r_i - mean)
        return centered * (static_cast<double>(g) / static_cast<double>(g - 1));
      case AdvantageEstimator::kGrpo:
        break;
    }
    switch (options.std_scope()) {
      case StdScope::kNone:
        return centered;
      case StdScope::kGroup: {
        // A group of one has no spread: its std is taken as 0, not NaN.
        const torch::Tensor std =
            g > 1 ? rewards.std(1, /*unbiased=*/true, /*keepdim=*/true) : torch::zeros_like(mean);
        return centered / (std + options.std_eps());
      }
      case StdScope::kBatch: {
        const torch::Tensor std = rewards.numel() > 1 ? rewards.std(/*unbiased=*/true)
                                                      : torch::zeros({}, rewards.options());
        return centered / (std + options.std_eps());
      }
    }
    return absl::InternalError("unknown std scope");
  } catch (...) {
    return policy::StatusFromCurrentException("computing advantages");
  }
}

absl::StatusOr<torch::Tensor> GroupsWithSignal(const torch::Tensor& rewards) {
  if (absl::Status s = CheckRewards(rewards); !s.ok()) return s;
  try {
    return std::get<0>(rewards.max(1)) != std::get<0>(rewards.min(1));  // [B]
  } catch (...) {
    return policy::StatusFromCurrentException("finding groups with signal");
  }
}

absl::StatusOr<torch::Tensor> KlPenalty(const torch::Tensor& logp, const torch::Tensor& ref_logp,
                                        KlEstimator estimator, double clamp) {
  if (!logp.defined()) return absl::InvalidArgumentError("logp is undefined");
  if (absl::Status s = CheckSameShape("ref_logp", ref_logp, logp); !s.ok()) return s;
  if (!(clamp >= 0)) return absl::InvalidArgumentError(absl::StrCat("kl clamp must be >= 0, got ", clamp));
  try {
    const torch::Tensor d = ref_logp.detach() - logp;  // [N,T]
    torch::Tensor kl;
    switch (estimator) {
      case KlEstimator::kK1: kl = -d; break;
      case KlEstimator::kK2: kl = 0.5 * d * d; break;
      case KlEstimator::kK3: kl = d.exp() - d - 1; break;
    }
    return clamp > 0 ? kl.clamp(-clamp, clamp) : kl;
  } catch (...) {
    return policy::StatusFromCurrentException("computing the KL penalty");
  }
}

absl::StatusOr<TokenTerms> ComputeTokenTerms(const torch::Tensor& logp, const torch::Tensor& old_logp,
                                             const torch::Tensor& ref_logp,
                                             const torch::Tensor& advantages,
                                             const PolicyLossOptions& options) {
  if (absl::Status s = CheckLossOptions(options); !s.ok()) return s;
  if (!logp.defined() || logp.dim() != 2) {
    return absl::InvalidArgumentError(absl::StrCat("logp must be [N,T], got ", ShapeOf(logp)));
  }
  if (absl::Status s = CheckSameShape("old_logp", old_logp, logp); !s.ok()) return s;
  if (!advantages.defined() || advantages.dim() != 1 || advantages.size(0) != logp.size(0)) {
    return absl::InvalidArgumentError(absl::StrCat("advantages must be [N] with N = ", logp.size(0),
                                                   ", got ", ShapeOf(advantages)));
  }
  if (options.beta() > 0) {
    if (absl::Status s = CheckSameShape("ref_logp (beta > 0)", ref_logp, logp); !s.ok()) return s;
  }
  try {
    TokenTerms out;
    const torch::Tensor a = advantages.detach().unsqueeze(1).to(logp.scalar_type());  // [N,1]
    const torch::Tensor ratio = (logp - old_logp.detach()).exp();                    // [N,T]
    const double lo = 1 - options.eps_low(), hi = 1 + options.eps_high();
    const torch::Tensor unclipped = -a * ratio;
    const torch::Tensor clipped = -a * ratio.clamp(lo, hi);
    out.pg = torch::max(unclipped, clipped);
    out.ratio = ratio.detach();
    out.clipped_low = (a < 0) & (out.ratio < lo);
    out.clipped_high = (a > 0) & (out.ratio > hi);
    if (options.dual_clip() > 0) {
      const torch::Tensor bound = -options.dual_clip() * a;  // [N,1], > 0 where A < 0
      out.dual_clipped = (a < 0) & (out.pg > bound);
      out.pg = torch::where(a < 0, torch::min(out.pg, bound), out.pg);
    } else {
      out.dual_clipped = torch::zeros_like(out.clipped_low);
    }
    out.loss = out.pg;
    if (options.beta() > 0) {
      absl::StatusOr<torch::Tensor> kl =
          KlPenalty(logp, ref_logp, options.kl_estimator(), options.kl_clamp());
      if (!kl.ok()) return kl.status();
      out.kl = *kl;
      out.loss = out.pg + options.beta() * out.kl;
    }
    return out;
  } catch (...) {
    return policy::StatusFromCurrentException("computing the token losses");
  }
}

absl::StatusOr<StepCounts> CountStep(const torch::Tensor& mask) {
  if (!mask.defined() || mask.dim() != 2) {
    return absl::InvalidArgumentError(absl::StrCat("mask must be [N,T], got ", ShapeOf(mask)));
  }
  try {
    const torch::Tensor per_row = (mask != 0).sum(1);  // [N]
    return StepCounts{per_row.sum().item<int64_t>(), (per_row > 0).sum().item<int64_t>()};
  } catch (...) {
    return policy::StatusFromCurrentException("counting tokens");
  }
}

absl::StatusOr<torch::Tensor> AggregateLoss(const torch::Tensor& token_loss, const torch::Tensor& mask,
                                            const StepCounts& step, const PolicyLossOptions& options) {
  if (absl::Status s = CheckLossOptions(options); !s.ok()) return s;
  if (!token_loss.defined() || token_loss.dim() != 2) {
    return absl::InvalidArgumentError(absl::StrCat("token_loss must be [N,T], got ", ShapeOf(token_loss)));
  }
  if (absl::Status s = CheckSameShape("mask", mask, token_loss); !s.ok()) return s;
  if (step.tokens <= 0 || step.sequences <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("the step has no tokens to learn from (tokens ",
                                                   step.tokens, ", sequences ", step.sequences, ")"));
  }
  try {
    const torch::Tensor m = (mask != 0).to(token_loss.scalar_type());  // [N,T]
    const torch::Tensor row_sum = (token_loss * m).sum(1);              // [N]
    switch (options.aggregation()) {
      case LossAggregation::kTokenMean:
        return row_sum.sum() / static_cast<double>(step.tokens);
      case LossAggregation::kSeqMeanTokenMean:
        // Rows without tokens add 0 (their sum is 0; the clamp only avoids 0/0).
        return (row_sum / m.sum(1).clamp_min(1)).sum() / static_cast<double>(step.sequences);
      case LossAggregation::kSeqMeanTokenSumNorm:
        return (row_sum / options.sum_norm()).sum() / static_cast<double>(step.sequences);
    }
    return absl::InternalError("unknown loss aggregation");
  } catch (...) {
    return policy::StatusFromCurrentException("aggregating the loss");
  }
}

}  // namespace grpo::train
