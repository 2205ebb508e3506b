#include "policy/batch_invariant.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace grpo::policy {

torch::Tensor MapRowBlocks(const torch::Tensor& x,
                           const std::function<torch::Tensor(const torch::Tensor&)>& fn) {
  const int64_t d = x.size(-1);
  const torch::Tensor rows = x.reshape({-1, d});
  const int64_t n = rows.size(0);
  const int64_t padded = std::max<int64_t>(1, (n + kInvariantRowBlock - 1) / kInvariantRowBlock) *
                         kInvariantRowBlock;
  // One contiguous buffer, so every block is a plain [block, D] matrix.
  torch::Tensor in = rows.contiguous();
  if (padded != n) in = torch::cat({in, torch::zeros({padded - n, d}, rows.options())});
  std::vector<torch::Tensor> outs;
  outs.reserve(static_cast<size_t>(padded / kInvariantRowBlock));
  for (int64_t i = 0; i < padded; i += kInvariantRowBlock) {
    outs.push_back(fn(in.narrow(0, i, kInvariantRowBlock)));
  }
  const torch::Tensor out = torch::cat(outs).narrow(0, 0, n);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = out.size(1);
  return out.reshape(shape);
}

torch::Tensor BlockedLinear(const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias) {
  const torch::Tensor wt = weight.t();
  // mm, then the bias: addmm would fold the bias into the gemm's accumulation.
  torch::Tensor out = MapRowBlocks(x, [&](const torch::Tensor& block) { return torch::mm(block, wt); });
  return bias.defined() ? out + bias : out;
}

torch::Tensor WideAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& hidden, double scale) {
  // fp32 products are exact in float64 and the sums' order differences stay
  // ~1e-16, far below fp32's rounding step; wider inputs stay as they are.
  const auto wide = c10::promoteTypes(q.scalar_type(), torch::kDouble);
  torch::Tensor scores = torch::matmul(q.to(wide), k.to(wide).transpose(-2, -1)) * scale;
  if (hidden.defined()) {
    scores = scores.masked_fill(hidden, -std::numeric_limits<double>::infinity());
  }
  return torch::matmul(torch::softmax(scores, -1), v.to(wide)).to(q.scalar_type());
}

}  // namespace grpo::policy
