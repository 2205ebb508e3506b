// Kernels for the batch-invariant numerics mode (CausalLMImpl::set_batch_invariant):
// each output row is computed by the same kernel calls on the same shapes,
// whatever the number of rows, padding or cached columns around it.
//
// Why: OpenBLAS sgemm rounds a row differently with the number of rows (M) in
// the call, and attention's reductions run over as many key columns as the
// call has. Linear layers here run as matmuls over fixed blocks of
// kInvariantRowBlock rows (the last one zero-padded); attention runs in
// float64, where the order of its sums no longer shows after rounding back.
//
// These throw c10::Error like any LibTorch op (internal use; the policy/
// boundary in model.h catches).
#ifndef GRPO_POLICY_BATCH_INVARIANT_H_
#define GRPO_POLICY_BATCH_INVARIANT_H_

#include <torch/types.h>

#include <cstdint>
#include <functional>

namespace grpo::policy {

// Rows per block. 8 is a full register tile for common sgemm kernels and
// keeps the padding of a one-token decode step small.
inline constexpr int64_t kInvariantRowBlock = 8;

// x [..., D] -> [..., D_out]: the rows of x (all leading dims flattened) in
// blocks of kInvariantRowBlock, the last padded with zero rows, each block
// [kInvariantRowBlock, D] mapped by `fn` to [kInvariantRowBlock, D_out]; the
// padding rows are dropped. Differentiable when fn is.
torch::Tensor MapRowBlocks(const torch::Tensor& x,
                           const std::function<torch::Tensor(const torch::Tensor&)>& fn);

// x [..., in] W^T (+ bias) for weight [out, in] and bias [out] or undefined,
// over row blocks: a row's result does not depend on the other rows.
torch::Tensor BlockedLinear(const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias = {});

// softmax(q k^T * scale, masking `hidden`) v in float64, returned in q's
// dtype. q [B,H,T,hd], k and v [B,H,S,hd], hidden bool broadcastable to
// [B,H,T,S] (true: the key is not seen) or undefined (all seen). Every row of
// hidden must leave at least one key.
torch::Tensor WideAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& hidden, double scale);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_BATCH_INVARIANT_H_
