// Rotary position embedding tables, with Hugging Face's rope_scaling variants
// (transformers' modeling_rope_utils is the reference for the formulas).
//
//   const RopeParams p = RopeParamsFromConfig(config);
//   auto [cos, sin] = RopeTables(p, /*start=*/past, /*count=*/t);  // [t, head_dim] fp32
//
// Frequencies are computed in float64 and the tables rounded once to fp32.
// Each type changes the inverse frequencies inv_freq[i] = theta^(-2i/head_dim):
//  - "default": as is;
//  - "linear": inv_freq / factor (positions squeezed by factor);
//  - "dynamic" (dynamic NTK): for a sequence of L > max_position_embeddings
//    positions, theta becomes theta * (factor*L/max - (factor-1))^(d/(d-2));
//  - "llama3": wavelengths 2*pi/inv_freq longer than original/low_freq_factor
//    are divided by factor, shorter than original/high_freq_factor kept, and
//    those between interpolated smoothly;
//  - "yarn": a linear ramp over the frequency index, between the
//    beta_fast/beta_slow correction dimensions, blends interpolated
//    (inv_freq/factor) and original frequencies, and cos/sin are multiplied by
//    the attention factor (0.1*ln(factor)+1 unless given; mscale/mscale_all_dim
//    as DeepSeek's ratio).
//
// Dynamic NTK and the KV cache: HF recomputes inv_freq whenever a forward sees a
// longer sequence than before. Here the rule is deterministic and stateless:
// the tables of a call are computed for L = start + count, the total length the
// sequence has after the call. Positions already in a KV cache keep the
// rotation they were cached with (as in HF), so once L exceeds
// max_position_embeddings, cached decoding and one full pass over the same
// tokens see different keys for the early positions; below it they agree.
//
// These functions take validated parameters (ValidateModelConfig) and, like a
// module's forward(), may throw c10::Error; the policy/ boundary is model.h.
#ifndef GRPO_POLICY_ROPE_H_
#define GRPO_POLICY_ROPE_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>

#include "policy/model_config.h"

namespace grpo::policy {

struct RopeParams {
  int64_t head_dim = 0;  // rotated dimension (even)
  double theta = 10000.0;
  int64_t max_position_embeddings = 2048;
  RopeScaling scaling;  // rope_type "default": none
};

RopeParams RopeParamsFromConfig(const ModelConfig& config);

struct RopeFrequencies {
  at::Tensor inv_freq;            // [head_dim/2] float64
  double attention_factor = 1.0;  // cos and sin are multiplied by it
};

// HF's (inv_freq, attention_factor) for a sequence of `seq_len` positions
// (only "dynamic" depends on seq_len).
RopeFrequencies RopeInvFreq(const RopeParams& params, int64_t seq_len);

// cos and sin [count, head_dim] fp32 for positions start .. start+count-1, in
// HF's layout (the half-size frequency table repeated twice), times the
// attention factor. "dynamic" uses seq_len = start + count (see above).
std::pair<at::Tensor, at::Tensor> RopeTables(const RopeParams& params, int64_t start, int64_t count);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_ROPE_H_
