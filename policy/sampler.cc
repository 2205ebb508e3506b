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

// Samples the n completions of one prompt into out[0..n).
void SamplePrompt(CausalLM& model, const std::vector<int64_t>& prompt, const SamplerOptions& o,
                  const Tokenizer* tokenizer, at::Generator& gen, Completion* out,
                  SamplerStats& stats) {
  const torch::Device device = model->parameters().front().device();
  const int64_t n = o.n();
  KvCache cache;
  torch::Tensor logits =
      model->forward(torch::tensor(prompt, torch::kLong).unsqueeze(0).to(device), &cache)
          .select(1, -1);
  ++stats.prefill_calls;
  stats.prefill_tokens += static_cast<int64_t>(prompt.size());
  if (o.max_new_tokens() == 0) return;
  // One prefill, then n copies of its cache and last logits.
  for (auto* list : {&cache.keys, &cache.values}) {
    for (torch::Tensor& t : *list) t = t.expand({n, -1, -1, -1}).contiguous();
  }
  logits = logits.expand({n, -1});
  std::vector<int64_t> active(n);  // completion index of each batch row
  for (int64_t i = 0; i < n; ++i) active[i] = i;
  const bool greedy = o.temperature() == 0;
  const LogitsProcessing processing = o.processing();
  size_t longest_stop = 0;
  for (const std::string& s : o.stop_strings()) longest_stop = std::max(longest_stop, s.size());
  std::vector<std::string> texts(o.stop_strings().empty() ? 0
                                                          : n);  // decoded so far, per completion
  for (int64_t step = 0;; ++step) {
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
    }
    if (still_active.empty()) return;
    torch::Tensor next = tokens;
    if (still_active.size() != active.size()) {
      // Drop finished rows from the batch and the cache.
      const torch::Tensor rows = torch::tensor(keep_rows, torch::kLong);
      next = next.index_select(0, rows);
      const torch::Tensor rows_dev = rows.to(device);
      for (auto* list : {&cache.keys, &cache.values}) {
        for (torch::Tensor& t : *list) t = t.index_select(0, rows_dev);
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
    for (size_t i = 0; i < prompts.size(); ++i) {
      Completion* out = &result.completions[i * static_cast<size_t>(options.n())];
      for (int64_t j = 0; j < options.n(); ++j) out[j].prompt_index = static_cast<int64_t>(i);
      SamplePrompt(model, prompts[i], options, tokenizer, gen, out, result.stats);
    }
    return result;
  } catch (...) {
    return StatusFromCurrentException("sampling");
  }
}

}  // namespace grpo::policy
