#include "policy/sampler.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/utils.h>

#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "policy/torch_status.h"

namespace grpo::policy {
namespace {

absl::Status CheckOptions(const CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                          const SamplerOptions& o, const Tokenizer* tokenizer) {
  if (!(o.temperature() >= 0) || o.top_k() < 0 || !(o.top_p() > 0 && o.top_p() <= 1) ||
      !(o.min_p() >= 0 && o.min_p() <= 1)) {
    return absl::InvalidArgumentError(
        "sampler needs temperature >= 0, top_k >= 0, top_p in (0,1], min_p in [0,1]");
  }
  if (o.n() < 1 || o.max_new_tokens() < 0) {
    return absl::InvalidArgumentError("sampler needs n >= 1 and max_new_tokens >= 0");
  }
  if (!o.stop_strings().empty() && tokenizer == nullptr) {
    return absl::InvalidArgumentError("stop strings need a tokenizer");
  }
  const int64_t vocab = model->config().vocab_size;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty())
      return absl::InvalidArgumentError(absl::StrCat("prompt ", i, " is empty"));
    for (int64_t id : prompts[i]) {
      if (id < 0 || id >= vocab) {
        return absl::InvalidArgumentError(
            absl::StrCat("prompt ", i, ": token id ", id, " out of range [0, ", vocab, ")"));
      }
    }
  }
  return absl::OkStatus();
}

// Appends `tok`'s text to `text` and says whether a stop string now occurs;
// only the tail that the new piece could complete is searched, so a
// completion costs O(length) in total.
bool AppendAndFindStop(std::string& text, int64_t tok, const std::vector<std::string>& stops,
                       size_t longest_stop, const Tokenizer& tokenizer) {
  const size_t old_size = text.size();
  const int32_t id = static_cast<int32_t>(tok);
  text += tokenizer.Decode(absl::Span<const int32_t>(&id, 1));
  const size_t from = old_size >= longest_stop ? old_size - longest_stop + 1 : 0;
  for (const std::string& s : stops) {
    if (!s.empty() && text.find(s, from) != std::string::npos) return true;
  }
  return false;
}

// Samples options.n completions of every prompt into out (prompt-major).
void SampleBatch(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                 const SamplerOptions& o, const Tokenizer* tokenizer, at::Generator& gen,
                 std::vector<Completion>& out, SamplerStats& stats) {
  const torch::Device device = model->parameters().front().device();
  const int64_t n = o.n(), num_prompts = static_cast<int64_t>(prompts.size());
  if (num_prompts == 0) return;
  // One left-padded batch of the distinct prompts; no mask when none is padded.
  size_t width = 0, shortest = prompts[0].size();
  for (const auto& p : prompts) {
    width = std::max(width, p.size());
    shortest = std::min(shortest, p.size());
  }
  const int64_t w = static_cast<int64_t>(width);
  torch::Tensor ids = torch::zeros({num_prompts, w}, torch::kLong);
  torch::Tensor mask = torch::zeros({num_prompts, w}, torch::kLong);
  for (int64_t i = 0; i < num_prompts; ++i) {
    const auto len = static_cast<int64_t>(prompts[i].size());
    ids[i].narrow(0, w - len, len).copy_(torch::tensor(prompts[i], torch::kLong));
    mask[i].narrow(0, w - len, len).fill_(1);
    stats.prefill_tokens += len;
  }
  stats.prefill_padding += num_prompts * w - stats.prefill_tokens;
  KvCache cache;
  torch::Tensor logits =
      model->forward(ids.to(device), &cache, shortest == width ? torch::Tensor() : mask.to(device))
          .select(1, -1);
  ++stats.prefill_calls;
  if (o.max_new_tokens() == 0) return;
  // Row r of the decode batch is completion r = prompt r / n: each prompt's
  // cache rows and last logits are shared by its n samples.
  const torch::Tensor group = torch::arange(num_prompts, torch::kLong).repeat_interleave(n);
  if (absl::Status s = SelectCacheRows(cache, group); !s.ok()) {
    TORCH_CHECK(false, std::string(s.message()));
  }
  logits = logits.index_select(0, group.to(device));
  std::vector<int64_t> active(num_prompts * n);  // completion index of each batch row
  for (int64_t i = 0; i < num_prompts * n; ++i) active[i] = i;
  const bool greedy = o.temperature() == 0;
  const LogitsProcessing processing = o.processing();
  size_t longest_stop = 0;
  for (const std::string& s : o.stop_strings()) longest_stop = std::max(longest_stop, s.size());
  // Decoded text so far, per completion (only with stop strings).
  std::vector<std::string> texts(o.stop_strings().empty() ? 0 : active.size());
  for (;;) {
    torch::Tensor tokens, lps;
    if (greedy) {
      tokens = logits.argmax(-1, /*keepdim=*/true);
      lps = logits.log_softmax(-1).gather(1, tokens);
    } else {
      const torch::Tensor lp = ProcessedLogProbs(logits, processing);
      tokens =
          torch::multinomial(lp.exp().to(torch::kCPU), 1, /*replacement=*/false, gen).to(device);
      lps = lp.gather(1, tokens);
    }
    tokens = tokens.squeeze(1).to(torch::kCPU);
    lps = lps.squeeze(1).to(torch::kCPU, torch::kFloat);
    std::vector<int64_t> keep_rows, still_active;
    for (size_t r = 0; r < active.size(); ++r) {
      Completion& c = out[active[r]];
      const int64_t tok = tokens[static_cast<int64_t>(r)].item<int64_t>();
      c.ids.push_back(tok);
      c.logprobs.push_back(lps[static_cast<int64_t>(r)].item<float>());
      const auto& stop_ids = o.stop_token_ids();
      if (std::find(stop_ids.begin(), stop_ids.end(), tok) != stop_ids.end()) {
        c.finish = FinishReason::kStopToken;
      } else if (!texts.empty() && AppendAndFindStop(texts[active[r]], tok, o.stop_strings(),
                                                     longest_stop, *tokenizer)) {
        c.finish = FinishReason::kStopString;
      } else if (static_cast<int64_t>(c.ids.size()) < o.max_new_tokens()) {
        keep_rows.push_back(static_cast<int64_t>(r));
        still_active.push_back(active[r]);
      }  // else: kLength, the default
      if (o.on_token()) {
        const bool last = still_active.empty() || still_active.back() != active[r];
        o.on_token()(active[r], tok, last);
      }
    }
    if (still_active.empty()) return;
    torch::Tensor next = tokens;
    if (still_active.size() != active.size()) {
      // Drop finished rows from the batch, the cache and its mask.
      const torch::Tensor rows = torch::tensor(keep_rows, torch::kLong);
      next = next.index_select(0, rows);
      if (absl::Status s = SelectCacheRows(cache, rows); !s.ok()) {
        TORCH_CHECK(false, std::string(s.message()));
      }
      active = std::move(still_active);
    }
    logits = model->forward(next.unsqueeze(1).to(device), &cache).select(1, -1);
    ++stats.decode_calls;
    stats.decode_tokens += static_cast<int64_t>(active.size());
  }
}

}  // namespace

absl::StatusOr<SampleResult> Sample(CausalLM& model,
                                    const std::vector<std::vector<int64_t>>& prompts,
                                    const SamplerOptions& options, const Tokenizer* tokenizer) {
  if (absl::Status s = CheckOptions(model, prompts, options, tokenizer); !s.ok()) return s;
  try {
    torch::NoGradGuard no_grad;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(options.seed());
    SampleResult result;
    result.completions.resize(prompts.size() * static_cast<size_t>(options.n()));
    for (size_t c = 0; c < result.completions.size(); ++c) {
      result.completions[c].prompt_index =
          static_cast<int64_t>(c / static_cast<size_t>(options.n()));
    }
    SampleBatch(model, prompts, options, tokenizer, gen, result.completions, result.stats);
    return result;
  } catch (...) {
    return StatusFromCurrentException("sampling");
  }
}

}  // namespace grpo::policy
