#include "policy/rope.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace grpo::policy {
namespace {

constexpr double kPi = 3.14159265358979323846;

// theta^(-2i/dim) for i < dim/2, float64. The default path: keep this exact
// expression, the stories260K golden tests were made with it.
at::Tensor BaseInvFreq(double theta, int64_t dim) {
  return at::pow(theta, -at::arange(0, dim, 2, at::kDouble) / static_cast<double>(dim));
}

// YaRN's correction dimension: the (fractional) frequency index that makes
// `rotations` turns over `max_pos` positions.
double CorrectionDim(double rotations, int64_t dim, double theta, double max_pos) {
  return static_cast<double>(dim) * std::log(max_pos / (rotations * 2 * kPi)) / (2 * std::log(theta));
}

double YarnMscale(double scale, double mscale) {
  return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

RopeFrequencies Yarn(const RopeParams& p) {
  const RopeScaling& s = p.scaling;
  const int64_t dim = p.head_dim;
  const double factor = s.factor;
  const double original = static_cast<double>(
      s.original_max_position_embeddings > 0 ? s.original_max_position_embeddings : p.max_position_embeddings);
  RopeFrequencies f;
  if (s.attention_factor > 0) {
    f.attention_factor = s.attention_factor;
  } else if (s.mscale != 0 && s.mscale_all_dim != 0) {
    f.attention_factor = YarnMscale(factor, s.mscale) / YarnMscale(factor, s.mscale_all_dim);
  } else {
    f.attention_factor = YarnMscale(factor, 1.0);
  }
  double low = CorrectionDim(s.beta_fast, dim, p.theta, original);
  double high = CorrectionDim(s.beta_slow, dim, p.theta, original);
  if (s.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // a one-point ramp would divide by zero
  // ramp 0 below `low` (keep the original frequency), 1 above `high` (interpolate).
  const at::Tensor ramp = ((at::arange(dim / 2, at::kDouble) - low) / (high - low)).clamp(0, 1);
  const at::Tensor extrapolated = BaseInvFreq(p.theta, dim);
  const at::Tensor interpolated = extrapolated / factor;
  f.inv_freq = interpolated * ramp + extrapolated * (1 - ramp);
  return f;
}

at::Tensor Llama3(const RopeParams& p) {
  const RopeScaling& s = p.scaling;
  const at::Tensor inv_freq = BaseInvFreq(p.theta, p.head_dim);
  const double original = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = original / s.low_freq_factor;
  const double high_freq_wavelen = original / s.high_freq_factor;
  const at::Tensor wavelen = 2 * kPi / inv_freq;
  // Long wavelengths are interpolated, short ones kept, the band between blended.
  const at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / s.factor, inv_freq);
  const at::Tensor smooth = (original / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  const at::Tensor blended = (1 - smooth) * scaled / s.factor + smooth * scaled;
  const at::Tensor medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
  return at::where(medium, blended, scaled);
}

}  // namespace

RopeParams RopeParamsFromConfig(const ModelConfig& config) {
  RopeParams p;
  p.head_dim = config.head_dim;
  p.theta = config.rope_theta;
  p.max_position_embeddings = config.max_position_embeddings;
  p.scaling = config.rope_scaling;
  return p;
}

RopeFrequencies RopeInvFreq(const RopeParams& p, int64_t seq_len) {
  const std::string& type = p.scaling.rope_type;
  const double factor = p.scaling.factor;
  RopeFrequencies f;
  if (type == "linear") {
    f.inv_freq = BaseInvFreq(p.theta, p.head_dim) / factor;
  } else if (type == "dynamic") {
    const double max_pos = static_cast<double>(p.max_position_embeddings);
    const double len = std::max(static_cast<double>(seq_len), max_pos);
    const double dim = static_cast<double>(p.head_dim);
    const double theta = p.theta * std::pow(factor * len / max_pos - (factor - 1), dim / (dim - 2));
    f.inv_freq = BaseInvFreq(theta, p.head_dim);
  } else if (type == "llama3") {
    f.inv_freq = Llama3(p);
  } else if (type == "yarn") {
    f = Yarn(p);
  } else {
    f.inv_freq = BaseInvFreq(p.theta, p.head_dim);
  }
  return f;
}

std::pair<at::Tensor, at::Tensor> RopeTables(const RopeParams& p, int64_t start, int64_t count) {
  const RopeFrequencies f = RopeInvFreq(p, start + count);
  const at::Tensor positions = at::arange(start, start + count, at::kDouble);
  const at::Tensor freqs = at::outer(positions, f.inv_freq);
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  at::Tensor cos = emb.cos(), sin = emb.sin();
  if (f.attention_factor != 1.0) {
    cos = cos * f.attention_factor;
    sin = sin * f.attention_factor;
  }
  return {cos.to(at::kFloat), sin.to(at::kFloat)};
}

}  // namespace grpo::policy
