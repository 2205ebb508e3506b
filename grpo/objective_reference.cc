#include "grpo/objective_reference.h"

#include <algorithm>
#include <cmath>

namespace grpo::train::reference {
namespace {

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Unbiased (n - 1) standard deviation; 0 for a single value.
double UnbiasedStd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = Mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

}  // namespace

Matrix Advantages(const Matrix& rewards, const AdvantageOptions& options) {
  std::vector<double> all;
  for (const auto& group : rewards) all.insert(all.end(), group.begin(), group.end());
  const double batch_std = UnbiasedStd(all);
  Matrix out = rewards;
  for (size_t b = 0; b < rewards.size(); ++b) {
    const std::vector<double>& r = rewards[b];
    const double n = static_cast<double>(r.size());
    double sum = 0;
    for (double x : r) sum += x;
    for (size_t g = 0; g < r.size(); ++g) {
      const double mean = sum / n;
      switch (options.estimator()) {
        case AdvantageEstimator::kDrGrpo:
          out[b][g] = r[g] - mean;
          break;
        case AdvantageEstimator::kRloo:
          out[b][g] = r[g] - (sum - r[g]) / (n - 1);
          break;
        case AdvantageEstimator::kGrpo: {
          double scale = 1;
          if (options.std_scope() == StdScope::kGroup) scale = UnbiasedStd(r) + options.std_eps();
          if (options.std_scope() == StdScope::kBatch) scale = batch_std + options.std_eps();
          out[b][g] = (r[g] - mean) / scale;
          break;
        }
      }
    }
  }
  return out;
}

double Kl(double logp, double ref_logp, KlEstimator estimator) {
  const double d = ref_logp - logp;
  switch (estimator) {
    case KlEstimator::kK1: return logp - ref_logp;
    case KlEstimator::kK2: return 0.5 * d * d;
    case KlEstimator::kK3: return std::exp(d) - d - 1;
  }
  return 0;
}

double TokenLoss(double logp, double old_logp, double ref_logp, double advantage,
                 const PolicyLossOptions& options) {
  const double ratio = std::exp(logp - old_logp);
  const double clipped_ratio = std::clamp(ratio, 1 - options.eps_low(), 1 + options.eps_high());
  double loss = std::max(-advantage * ratio, -advantage * clipped_ratio);
  if (options.dual_clip() > 0 && advantage < 0) loss = std::min(loss, -options.dual_clip() * advantage);
  if (options.beta() > 0) loss += options.beta() * Kl(logp, ref_logp, options.kl_estimator());
  return loss;
}

double Aggregate(const Matrix& token_loss, const Matrix& mask, const StepCounts& step,
                 const PolicyLossOptions& options) {
  double total = 0;
  for (size_t n = 0; n < token_loss.size(); ++n) {
    double row_sum = 0, row_tokens = 0;
    for (size_t t = 0; t < token_loss[n].size(); ++t) {
      if (mask[n][t] == 0) continue;
      row_sum += token_loss[n][t];
      row_tokens += 1;
    }
    switch (options.aggregation()) {
      case LossAggregation::kTokenMean:
        total += row_sum / static_cast<double>(step.tokens);
        break;
      case LossAggregation::kSeqMeanTokenMean:
        if (row_tokens > 0) total += row_sum / row_tokens / static_cast<double>(step.sequences);
        break;
      case LossAggregation::kSeqMeanTokenSumNorm:
        total += row_sum / options.sum_norm() / static_cast<double>(step.sequences);
        break;
    }
  }
  return total;
}

}  // namespace grpo::train::reference
