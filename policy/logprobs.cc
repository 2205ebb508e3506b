#include "policy/logprobs.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "policy/batch_invariant.h"
#include "policy/torch_status.h"
#include "proto/status_macros.h"

namespace grpo::policy {
namespace {

// Validates the arguments; on success `ids` holds the ids as int64 with pad
// positions set to 0 and `mask` the mask as int64 (undefined if none given).
absl::Status CheckInput(const CausalLM& model, const torch::Tensor& input_ids,
                        const torch::Tensor& attention_mask, const LogitsProcessing& p,
                        torch::Tensor* ids, torch::Tensor* mask) {
  if (input_ids.dim() != 2 || input_ids.size(1) < 2 ||
      !at::isIntegralType(input_ids.scalar_type(), false)) {
    return absl::InvalidArgumentError("input_ids must be a [B,T] integer tensor with T >= 2");
  }
  *ids = input_ids.to(torch::kLong);
  if (attention_mask.defined()) {
    if (attention_mask.sizes() != input_ids.sizes() ||
        !at::isIntegralType(attention_mask.scalar_type(), /*includeBool=*/true)) {
      return absl::InvalidArgumentError(
          absl::StrCat("attention_mask must be a 0/1 tensor of input_ids' shape [",
                       input_ids.size(0), ", ", input_ids.size(1), "]"));
    }
    *mask = attention_mask.to(ids->device(), torch::kLong);
    if (mask->min().item<int64_t>() < 0 || mask->max().item<int64_t>() > 1) {
      return absl::InvalidArgumentError("attention_mask: values must be 0 or 1");
    }
    *ids = ids->masked_fill(*mask == 0, 0);
  }
  const int64_t vocab = model->config().vocab_size;
  if (ids->min().item<int64_t>() < 0 || ids->max().item<int64_t>() >= vocab) {
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

// [B,T-1]: whether entry t (token t+1 given 0..t) is scored.
torch::Tensor Scored(const torch::Tensor& mask) {
  const int64_t t = mask.size(1) - 1;
  return (mask.narrow(1, 0, t) * mask.narrow(1, 1, t)).to(torch::kBool);
}

torch::Tensor LmHeadWeight(CausalLM& model) {
  return model->lm_head ? model->lm_head->weight : model->model->embed_tokens->weight;
}

// hidden [N,D] x weight [V,D] -> fp32 logits, as CausalLMImpl::forward
// computes them: in row blocks when the model is batch-invariant (model.h).
torch::Tensor ChunkLogits(const torch::Tensor& hidden, const torch::Tensor& weight, bool blocked) {
  return (blocked ? BlockedLinear(hidden, weight) : torch::matmul(hidden, weight.t())).to(torch::kFloat);
}

// log_softmax(ChunkLogits / temperature); the division is in place on the
// fresh logits, the same values as the reference's out-of-place one.
torch::Tensor ScaledLogSoftmax(const torch::Tensor& hidden, const torch::Tensor& weight,
                               double temperature, bool blocked) {
  torch::Tensor z = ChunkLogits(hidden, weight, blocked);
  return z.div_(temperature).log_softmax(-1);
}

// The lean head (see LeanTokenScores): saves hidden, weight, targets and the
// per-position entropy; backward recomputes a chunk's log-softmax p and uses
//   d logprob / dz = onehot(target) - p,   d entropy / dz = -p (log p + H)
// for z = logits / temperature.
class LeanHead : public torch::autograd::Function<LeanHead> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& hidden,
                                                const torch::Tensor& weight,
                                                const torch::Tensor& targets, double temperature,
                                                int64_t chunk, bool blocked) {
    const int64_t n = hidden.size(0);
    torch::Tensor lp_out = torch::empty({n}, hidden.options().dtype(torch::kFloat));
    torch::Tensor ent_out = torch::empty({n}, hidden.options().dtype(torch::kFloat));
    for (int64_t begin = 0; begin < n; begin += chunk) {
      const int64_t len = std::min(chunk, n - begin);
      // In-place steps keep at most two [chunk,V] tensors alive.
      const torch::Tensor lp =
          ScaledLogSoftmax(hidden.narrow(0, begin, len), weight, temperature, blocked);
      lp_out.narrow(0, begin, len)
          .copy_(lp.gather(1, targets.narrow(0, begin, len).unsqueeze(1)).squeeze(1));
      ent_out.narrow(0, begin, len).copy_(lp.exp().mul_(lp).sum(-1).neg_());
    }
    ctx->save_for_backward({hidden, weight, targets, ent_out});
    ctx->saved_data["temperature"] = temperature;
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["blocked"] = blocked;
    return {lp_out, ent_out};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &hidden = saved[0], &weight = saved[1], &targets = saved[2],
                        &entropy = saved[3];
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const bool blocked = ctx->saved_data["blocked"].toBool();
    const torch::Tensor g_lp = grads[0].defined() ? grads[0] : torch::zeros_like(entropy);
    const torch::Tensor g_ent = grads[1].defined() ? grads[1] : torch::zeros_like(entropy);
    const int64_t n = hidden.size(0);
    torch::Tensor d_hidden = torch::empty_like(hidden);
    // Accumulate the weight gradient at least in fp32.
    torch::Tensor d_weight = torch::zeros(
        weight.sizes(),
        weight.options().dtype(c10::promoteTypes(weight.scalar_type(), torch::kFloat)));
    for (int64_t begin = 0; begin < n; begin += chunk) {
      const int64_t len = std::min(chunk, n - begin);
      const torch::Tensor hc = hidden.narrow(0, begin, len);
      torch::Tensor lp = ScaledLogSoftmax(hc, weight, temperature, blocked);
      const torch::Tensor p = lp.exp();
      const torch::Tensor gl = g_lp.narrow(0, begin, len).unsqueeze(1);
      const torch::Tensor ge = g_ent.narrow(0, begin, len).unsqueeze(1);
      // dz = -p * (gl + ge * (lp + H)), built in lp's buffer.
      torch::Tensor dz = lp.add_(entropy.narrow(0, begin, len).unsqueeze(1)).mul_(ge).add_(gl);
      dz.mul_(p).neg_();
      dz.scatter_add_(1, targets.narrow(0, begin, len).unsqueeze(1), gl);
      const torch::Tensor d_logits = dz.div_(temperature).to(weight.scalar_type());
      d_hidden.narrow(0, begin, len).copy_(torch::matmul(d_logits, weight));
      d_weight.add_(torch::matmul(d_logits.t(), hc).to(d_weight.scalar_type()));
    }
    return {d_hidden, d_weight.to(weight.scalar_type()), torch::Tensor(), torch::Tensor(),
            torch::Tensor(), torch::Tensor()};
  }
};

bool Truncates(const LogitsProcessing& p, int64_t vocab) {
  return (p.top_k() > 0 && p.top_k() < vocab) || p.top_p() < 1.0 || p.min_p() > 0.0;
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

namespace {

TokenScores LeanTokenScoresIn(const torch::Tensor& hidden, const torch::Tensor& weight,
                              const torch::Tensor& targets, double temperature, int64_t chunk,
                              bool blocked) {
  TORCH_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1) &&
                  targets.dim() == 1 && targets.size(0) == hidden.size(0) && chunk >= 1 &&
                  temperature > 0,
              "LeanTokenScores: needs hidden [N,D], weight [V,D], targets [N], chunk >= 1, "
              "temperature > 0");
  const torch::autograd::variable_list out =
      LeanHead::apply(hidden, weight, targets.to(torch::kLong), temperature, chunk, blocked);
  return TokenScores{out[0], out[1]};
}

}  // namespace

TokenScores LeanTokenScores(const torch::Tensor& hidden, const torch::Tensor& weight,
                            const torch::Tensor& targets, double temperature, int64_t chunk) {
  return LeanTokenScoresIn(hidden, weight, targets, temperature, chunk, /*blocked=*/false);
}

absl::StatusOr<TokenScores> ScoreTokens(CausalLM& model, const torch::Tensor& input_ids,
                                        const ScoreOptions& options,
                                        const torch::Tensor& attention_mask) {
  try {
    const LogitsProcessing& p = options.processing();
    torch::Tensor ids, mask;
    RETURN_IF_ERROR(CheckInput(model, input_ids, attention_mask, p, &ids, &mask));
    if (options.chunk_positions() < 1)
      return absl::InvalidArgumentError("chunk_positions must be >= 1");
    const int64_t b = ids.size(0), t = ids.size(1) - 1;
    // Hidden states of the positions that predict a next token, flattened.
    const torch::Tensor h =
        model->model(ids.narrow(1, 0, t), nullptr, mask.defined() ? mask.narrow(1, 0, t) : mask)
            .reshape({b * t, -1});
    torch::Tensor targets = ids.narrow(1, 1, t).reshape({b * t});
    // Only scored positions go through the head; the rest are 0.
    torch::Tensor rows;
    torch::Tensor hs = h;
    if (mask.defined()) {
      rows = Scored(mask).reshape({b * t}).nonzero().squeeze(1);
      hs = h.index_select(0, rows);
      targets = targets.index_select(0, rows);
    }
    const torch::Tensor weight = LmHeadWeight(model);
    TokenScores s;
    if (hs.size(0) == 0) {
      s = TokenScores{torch::zeros({0}, h.options().dtype(torch::kFloat)),
                      torch::zeros({0}, h.options().dtype(torch::kFloat))};
    } else if (!Truncates(p, model->config().vocab_size)) {
      s = LeanTokenScoresIn(hs, weight, targets, p.temperature(), options.chunk_positions(),
                            model->batch_invariant());
    } else {
      // Truncation (top-k/top-p/min-p) has no lean backward: plain autograd per chunk.
      std::vector<torch::Tensor> lps, ents;
      const int64_t n = hs.size(0);
      for (int64_t begin = 0; begin < n; begin += options.chunk_positions()) {
        const int64_t len = std::min(options.chunk_positions(), n - begin);
        const torch::Tensor lp =
            ProcessedLogProbs(ChunkLogits(hs.narrow(0, begin, len), weight, model->batch_invariant()), p);
        lps.push_back(lp.gather(1, targets.narrow(0, begin, len).unsqueeze(1)).squeeze(1));
        ents.push_back(Entropy(lp));
      }
      s = TokenScores{torch::cat(lps), torch::cat(ents)};
    }
    if (mask.defined()) {
      const torch::Tensor zeros = torch::zeros({b * t}, s.logprobs.options());
      s.logprobs = zeros.index_copy(0, rows, s.logprobs);
      s.entropy = zeros.index_copy(0, rows, s.entropy);
    }
    return TokenScores{s.logprobs.reshape({b, t}), s.entropy.reshape({b, t})};
  } catch (...) {
    return StatusFromCurrentException("scoring tokens");
  }
}

absl::StatusOr<TokenScores> ScoreTokensReference(CausalLM& model, const torch::Tensor& input_ids,
                                                 const LogitsProcessing& processing,
                                                 const torch::Tensor& attention_mask) {
  try {
    torch::Tensor ids, mask;
    RETURN_IF_ERROR(CheckInput(model, input_ids, attention_mask, processing, &ids, &mask));
    const int64_t t = ids.size(1) - 1;
    const torch::Tensor lp = ProcessedLogProbs(
        model->forward(ids.narrow(1, 0, t), nullptr, mask.defined() ? mask.narrow(1, 0, t) : mask),
        processing);
    torch::Tensor logprobs = lp.gather(2, ids.narrow(1, 1, t).unsqueeze(2)).squeeze(2);
    torch::Tensor entropy = Entropy(lp);
    if (mask.defined()) {
      const torch::Tensor scored = Scored(mask);
      logprobs = torch::where(scored, logprobs, torch::zeros_like(logprobs));
      entropy = torch::where(scored, entropy, torch::zeros_like(entropy));
    }
    return TokenScores{logprobs, entropy};
  } catch (...) {
    return StatusFromCurrentException("scoring tokens (reference)");
  }
}

}  // namespace grpo::policy
