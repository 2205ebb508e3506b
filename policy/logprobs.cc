#include "policy/logprobs.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "policy/torch_status.h"

namespace grpo::policy {
namespace {

absl::Status CheckInput(const CausalLM& model, const torch::Tensor& ids,
                        const LogitsProcessing& p) {
  if (ids.dim() != 2 || ids.size(1) < 2 || !at::isIntegralType(ids.scalar_type(), false)) {
    return absl::InvalidArgumentError("input_ids must be a [B,T] integer tensor with T >= 2");
  }
  const int64_t vocab = model->config().vocab_size;
  if (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= vocab) {
    return absl::InvalidArgumentError(
        absl::StrCat("input_ids: token id out of range [0, ", vocab, ")"));
  }
  if (!(p.temperature() > 0) || p.top_k() < 0 || !(p.top_p() > 0 && p.top_p() <= 1) ||
      !(p.min_p() >= 0 && p.min_p() <= 1)) {
    return absl::InvalidArgumentError(
        "processing needs temperature > 0, top_k >= 0, top_p in (0,1], min_p in [0,1]");
  }
  return absl::OkStatus();
}

// Entropy of a processed distribution; truncated entries (-inf) contribute 0.
torch::Tensor Entropy(const torch::Tensor& lp) {
  const torch::Tensor finite = torch::isfinite(lp);
  const torch::Tensor safe = torch::where(finite, lp, torch::zeros_like(lp));
  return -(safe.exp() * safe).sum(-1);
}

}  // namespace

torch::Tensor ProcessedLogProbs(const torch::Tensor& logits, const LogitsProcessing& p) {
  const double neg_inf = -std::numeric_limits<double>::infinity();
  torch::Tensor z = logits.to(torch::kFloat) / p.temperature();
  const int64_t vocab = z.size(-1);
  if (p.top_k() > 0 && p.top_k() < vocab) {
    const torch::Tensor kth = std::get<0>(z.topk(p.top_k(), -1)).narrow(-1, p.top_k() - 1, 1);
    z = z.masked_fill(z < kth, neg_inf);
  }
  if (p.top_p() < 1.0) {
    const auto [sorted, order] = z.sort(-1, /*descending=*/true);
    const torch::Tensor probs = sorted.softmax(-1);
    // Mass strictly before each token; drop a token once that already reaches top_p.
    const torch::Tensor before = probs.cumsum(-1) - probs;
    const torch::Tensor drop_sorted = before >= p.top_p();
    z = z.masked_fill(torch::zeros_like(drop_sorted).scatter(-1, order, drop_sorted), neg_inf);
  }
  if (p.min_p() > 0.0) {
    const torch::Tensor probs = z.softmax(-1);
    z = z.masked_fill(probs < p.min_p() * std::get<0>(probs.max(-1, true)), neg_inf);
  }
  return z.log_softmax(-1);
}

absl::StatusOr<TokenScores> ScoreTokens(CausalLM& model, const torch::Tensor& input_ids,
                                        const ScoreOptions& options) {
  try {
    if (absl::Status s = CheckInput(model, input_ids, options.processing()); !s.ok()) return s;
    if (options.chunk_positions() < 1)
      return absl::InvalidArgumentError("chunk_positions must be >= 1");
    const torch::Tensor ids = input_ids.to(torch::kLong);
    const int64_t b = ids.size(0), t = ids.size(1) - 1;
    // Hidden states of the positions that predict a next token, flattened.
    const torch::Tensor h = model->model(ids.narrow(1, 0, t)).reshape({b * t, -1});
    const torch::Tensor targets = ids.narrow(1, 1, t).reshape({b * t, 1});
    std::vector<torch::Tensor> lps, ents;
    for (int64_t begin = 0; begin < b * t; begin += options.chunk_positions()) {
      const int64_t len = std::min(options.chunk_positions(), b * t - begin);
      const torch::Tensor hc = h.narrow(0, begin, len);
      const torch::Tensor logits =
          (model->lm_head ? model->lm_head(hc)
                          : torch::matmul(hc, model->model->embed_tokens->weight.t()))
              .to(torch::kFloat);
      const torch::Tensor lp = ProcessedLogProbs(logits, options.processing());
      lps.push_back(lp.gather(1, targets.narrow(0, begin, len)).squeeze(1));
      ents.push_back(Entropy(lp));
    }
    return TokenScores{torch::cat(lps).reshape({b, t}), torch::cat(ents).reshape({b, t})};
  } catch (...) {
    return StatusFromCurrentException("scoring tokens");
  }
}

absl::StatusOr<TokenScores> ScoreTokensReference(CausalLM& model, const torch::Tensor& input_ids,
                                                 const LogitsProcessing& processing) {
  try {
    if (absl::Status s = CheckInput(model, input_ids, processing); !s.ok()) return s;
    const torch::Tensor ids = input_ids.to(torch::kLong);
    const int64_t t = ids.size(1) - 1;
    const torch::Tensor lp = ProcessedLogProbs(model->forward(ids.narrow(1, 0, t)), processing);
    return TokenScores{lp.gather(2, ids.narrow(1, 1, t).unsqueeze(2)).squeeze(2), Entropy(lp)};
  } catch (...) {
    return StatusFromCurrentException("scoring tokens (reference)");
  }
}

}  // namespace grpo::policy
