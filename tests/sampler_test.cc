// The sampler (policy/sampler.h) and teacher-forced scoring
// (policy/logprobs.h) on the real stories260K model.
#include <torch/utils.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "policy/logprobs.h"
#include "policy/model.h"
#include "policy/sampler.h"
#include "policy/tokenizer.h"

namespace grpo::policy {
namespace {

const std::string kModelDir = std::string(GRPO_DATA_DIR) + "/models/stories260K";

class SamplerTestEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { torch::set_num_threads(2); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new SamplerTestEnvironment);

std::vector<int64_t> GoldenIds() {
  std::ifstream in(kModelDir + "/golden.json", std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str())["generation"]["ids"].get<std::vector<int64_t>>();
}

torch::Tensor Row(const std::vector<int64_t>& ids) {
  return torch::tensor(ids, torch::kLong).unsqueeze(0);
}

// Prompts of three lengths cut from the golden story.
std::vector<std::vector<int64_t>> RaggedPrompts() {
  const std::vector<int64_t> g = GoldenIds();
  return {
      {g.begin(), g.begin() + 3}, {g.begin(), g.begin() + 11}, {g.begin() + 20, g.begin() + 27}};
}

// Decodes id k as the letter 'a' + k % 26, enough to test stop strings.
class LetterTokenizer : public Tokenizer {
 public:
  std::vector<int32_t> Encode(std::string_view) const override { return {}; }
  std::string Decode(absl::Span<const int32_t> ids) const override {
    std::string s;
    for (int32_t id : ids) s.push_back(static_cast<char>('a' + id % 26));
    return s;
  }
  int32_t vocab_size() const override { return 512; }
  std::optional<int32_t> TokenId(std::string_view) const override { return std::nullopt; }
  bool IsSpecial(int32_t) const override { return false; }
};

class SamplerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto lm = LoadCausalLM(kModelDir);
    ASSERT_TRUE(lm.ok()) << lm.status();
    lm_ = *std::move(lm);
    lm_->eval();
  }
  SampleResult MustSample(const std::vector<std::vector<int64_t>>& prompts, const SamplerOptions& o,
                          const Tokenizer* tok = nullptr) {
    auto r = Sample(lm_, prompts, o, tok);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : SampleResult{};
  }
  // max |sampler log-prob - ScoreTokens log-prob| over all completions.
  double MaxLogProbDiff(const std::vector<std::vector<int64_t>>& prompts, const SampleResult& r,
                        const LogitsProcessing& p) {
    torch::NoGradGuard no_grad;
    double worst = 0;
    for (const Completion& c : r.completions) {
      std::vector<int64_t> seq = prompts[c.prompt_index];
      const int64_t start = static_cast<int64_t>(seq.size()) - 1;
      seq.insert(seq.end(), c.ids.begin(), c.ids.end());
      auto s = ScoreTokens(lm_, Row(seq), ScoreOptions().processing(p));
      EXPECT_TRUE(s.ok()) << s.status();
      if (!s.ok()) return 1e9;
      const torch::Tensor want =
          s->logprobs[0].narrow(0, start, static_cast<int64_t>(c.ids.size()));
      const torch::Tensor got = torch::tensor(c.logprobs, torch::kFloat);
      worst = std::max(worst, (got - want).abs().max().item<double>());
    }
    return worst;
  }
  CausalLM lm_{nullptr};
};

TEST_F(SamplerTest, Greedy200TokensFromBosMatchGolden) {
  const std::vector<int64_t> want = GoldenIds();
  const SampleResult r = MustSample({{1}}, SamplerOptions().temperature(0).max_new_tokens(200));
  ASSERT_EQ(r.completions.size(), 1u);
  EXPECT_EQ(r.completions[0].ids, std::vector<int64_t>(want.begin() + 1, want.end()));
  EXPECT_EQ(r.completions[0].finish, FinishReason::kLength);
  EXPECT_EQ(r.stats.decode_calls, 199);
}

TEST_F(SamplerTest, KvCacheDecodingMatchesFullRecomputationOnRaggedBatch) {
  torch::NoGradGuard no_grad;
  const std::vector<int64_t> g = GoldenIds();
  // fp32 weights round differently per matmul shape (~1.5e-5 on logits up to
  // ~20); fp64 weights (the whole forward, softmax included, in fp64) isolate
  // cache bugs, which would be off by whole units.
  for (const auto& [dtype, tol] :
       {std::pair<torch::Dtype, double>{torch::kFloat, 1e-4}, {torch::kDouble, 1e-12}}) {
    lm_->to(dtype);
    double worst = 0;
    // As the sampler does: prefill each prompt alone, replicate its cache to two
    // rows, decode one token per step; rows get different continuations.
    for (const auto& prompt : RaggedPrompts()) {
      KvCache cache;
      ASSERT_TRUE(ComputeLogits(lm_, Row(prompt), &cache).ok());
      for (auto* list : {&cache.keys, &cache.values}) {
        for (torch::Tensor& t : *list) t = t.expand({2, -1, -1, -1}).contiguous();
      }
      std::vector<std::vector<int64_t>> seqs = {prompt, prompt};
      for (int step = 0; step < 15; ++step) {
        const int64_t a = g[40 + step], b = g[100 + step];
        seqs[0].push_back(a);
        seqs[1].push_back(b);
        auto step_logits =
            ComputeLogits(lm_, torch::tensor({a, b}, torch::kLong).unsqueeze(1), &cache);
        ASSERT_TRUE(step_logits.ok()) << step_logits.status();
        for (int row = 0; row < 2; ++row) {
          auto full = ComputeLogits(lm_, Row(seqs[row]));
          ASSERT_TRUE(full.ok());
          worst =
              std::max(worst, ((*step_logits)[row][0] - (*full)[0][-1]).abs().max().item<double>());
        }
      }
    }
    std::printf("ragged KV-cache vs full recomputation, %s weights, max |logit diff|: %.3g\n",
                dtype == torch::kFloat ? "fp32" : "fp64", worst);
    EXPECT_LT(worst, tol);
  }
}

TEST_F(SamplerTest, LogProbsEqualTeacherForcedScores) {
  const auto prompts = RaggedPrompts();
  const SampleResult plain = MustSample(prompts, SamplerOptions().max_new_tokens(30).n(3).seed(1));
  const double d1 = MaxLogProbDiff(prompts, plain, LogitsProcessing());
  const SamplerOptions trunc = SamplerOptions()
                                   .temperature(0.7)
                                   .top_k(40)
                                   .top_p(0.9)
                                   .min_p(0.02)
                                   .max_new_tokens(30)
                                   .n(3)
                                   .seed(2);
  const SampleResult truncated = MustSample(prompts, trunc);
  const double d2 = MaxLogProbDiff(prompts, truncated, trunc.processing());
  const SampleResult greedy =
      MustSample(prompts, SamplerOptions().temperature(0).max_new_tokens(30));
  const double d3 = MaxLogProbDiff(prompts, greedy, LogitsProcessing());
  std::printf(
      "sampler vs teacher-forced log-prob, max diff: T=1 %.3g, truncated %.3g, greedy %.3g\n", d1,
      d2, d3);
  EXPECT_LT(d1, 1e-5);
  EXPECT_LT(d2, 1e-5);
  EXPECT_LT(d3, 1e-5);
  // Truncation really changes the log-probs (they are renormalized upward).
  const double d_wrong = MaxLogProbDiff(prompts, truncated, LogitsProcessing());
  EXPECT_GT(d_wrong, 1e-2);
}

TEST_F(SamplerTest, SeedMakesRunsReproducible) {
  const auto prompts = RaggedPrompts();
  const SamplerOptions o = SamplerOptions().max_new_tokens(40).n(2).seed(11);
  const SampleResult a = MustSample(prompts, o), b = MustSample(prompts, o);
  const SampleResult c = MustSample(prompts, SamplerOptions(o).seed(12));
  ASSERT_EQ(a.completions.size(), 6u);
  bool any_differs = false;
  for (size_t i = 0; i < a.completions.size(); ++i) {
    EXPECT_EQ(a.completions[i].ids, b.completions[i].ids);
    EXPECT_EQ(a.completions[i].logprobs, b.completions[i].logprobs);
    any_differs |= a.completions[i].ids != c.completions[i].ids;
  }
  EXPECT_TRUE(any_differs);
}

TEST_F(SamplerTest, OnTokenStreamsEveryTokenAndMarksTheLast) {
  const auto prompts = RaggedPrompts();
  std::vector<std::vector<int64_t>> streamed(prompts.size() * 2);
  std::vector<int> lasts(streamed.size(), 0);
  bool token_after_last = false;
  const SamplerOptions o = SamplerOptions().max_new_tokens(30).n(2).seed(5).stop_token_ids({13}).on_token(
      [&](int64_t completion, int64_t token, bool last) {
        token_after_last |= lasts[completion] > 0;
        streamed[completion].push_back(token);
        lasts[completion] += last;
      });
  const SampleResult r = MustSample(prompts, o);
  ASSERT_EQ(r.completions.size(), streamed.size());
  EXPECT_FALSE(token_after_last);
  for (size_t i = 0; i < streamed.size(); ++i) {
    EXPECT_EQ(streamed[i], r.completions[i].ids) << "completion " << i;
    EXPECT_EQ(lasts[i], 1) << "completion " << i;
  }
}

TEST_F(SamplerTest, GroupSharesOnePrefillAndFinishedRowsStopCosting) {
  const auto prompts = RaggedPrompts();
  const int64_t eos = GoldenIds()[12];  // a common token, so completions stop early
  const SampleResult r =
      MustSample(prompts, SamplerOptions().max_new_tokens(50).n(4).seed(3).stop_token_ids({eos}));
  ASSERT_EQ(r.completions.size(), 12u);
  EXPECT_EQ(r.stats.prefill_calls, 1);  // all prompts in one left-padded batch
  EXPECT_EQ(r.stats.prefill_padding, 3 * 11 - (3 + 11 + 7));
  EXPECT_EQ(r.stats.prefill_tokens, 3 + 11 + 7);
  int64_t rows_needed = 0, stopped = 0;
  for (size_t i = 0; i < r.completions.size(); ++i) {
    const Completion& c = r.completions[i];
    EXPECT_EQ(c.prompt_index, static_cast<int64_t>(i / 4));
    EXPECT_EQ(c.ids.size(), c.logprobs.size());
    rows_needed +=
        static_cast<int64_t>(c.ids.size()) - 1;  // the first token comes from the prefill
    if (c.finish == FinishReason::kStopToken) {
      ++stopped;
      EXPECT_EQ(c.ids.back(), eos);
      EXPECT_LT(c.ids.size(), 50u);
    } else {
      EXPECT_EQ(c.ids.size(), 50u);
    }
  }
  EXPECT_GT(stopped, 0);
  // Each decode row is a live completion: finished ones were dropped.
  EXPECT_EQ(r.stats.decode_tokens, rows_needed);
}

TEST_F(SamplerTest, GreedyStopsAtStopTokenAndStopString) {
  const std::vector<int64_t> g = GoldenIds();
  const SampleResult r = MustSample({{1}}, SamplerOptions().temperature(0).stop_token_ids({g[6]}));
  EXPECT_EQ(r.completions[0].ids, std::vector<int64_t>(g.begin() + 1, g.begin() + 7));
  EXPECT_EQ(r.completions[0].finish, FinishReason::kStopToken);
  LetterTokenizer tok;
  const std::string stop =
      tok.Decode(std::vector<int32_t>{static_cast<int32_t>(g[4]), static_cast<int32_t>(g[5])});
  const SampleResult s =
      MustSample({{1}}, SamplerOptions().temperature(0).stop_strings({stop}), &tok);
  EXPECT_EQ(s.completions[0].finish, FinishReason::kStopString);
  EXPECT_LE(s.completions[0].ids.size(), 5u);
  EXPECT_FALSE(Sample(lm_, {{1}}, SamplerOptions().stop_strings({"x"})).ok());  // no tokenizer
  EXPECT_FALSE(Sample(lm_, {{}}, SamplerOptions()).ok());
  EXPECT_FALSE(Sample(lm_, {{9999}}, SamplerOptions()).ok());
  EXPECT_FALSE(Sample(lm_, {{1}}, SamplerOptions().top_p(0)).ok());
}

// One padded batch (prompts left-padded, completions right-padded) re-scores
// every completion of a batched ragged, grouped, truncated sampling run.
//
// fp32: the sampler's logits come from a batched decode step, the scorer's
// from one full pass; OpenBLAS rounds a row differently with the matmul's row
// count (model.h), which moves these log-probs by ~1e-5 (measured 7.2e-6
// here; 1.07e-5 with 40 new tokens).
// fp64 weights (logits and processing still fp32) isolate everything but
// that rounding, and must agree within 1e-5.
TEST_F(SamplerTest, BatchedSamplesRescoreInOnePaddedBatch) {
  for (const auto& [dtype, tol] :
       {std::pair<torch::Dtype, double>{torch::kFloat, 2e-5}, {torch::kDouble, 1e-5}}) {
    lm_->to(dtype);
    const std::vector<int64_t> g = GoldenIds();
    const std::vector<std::vector<int64_t>> prompts = {{g.begin(), g.begin() + 3},
                                                       {g.begin() + 5, g.begin() + 22},
                                                       {g.begin() + 60, g.begin() + 100}};
    const SamplerOptions o = SamplerOptions()
                                 .temperature(0.8)
                                 .top_p(0.9)
                                 .top_k(20)
                                 .max_new_tokens(24)
                                 .n(3)
                                 .seed(4)
                                 .stop_token_ids({g[12]});
    const SampleResult r = MustSample(prompts, o);
    ASSERT_EQ(r.completions.size(), 9u);
    EXPECT_EQ(r.stats.prefill_calls, 1);
    int64_t p_len = 0, c_len = 0;
    for (const auto& p : prompts) p_len = std::max<int64_t>(p_len, static_cast<int64_t>(p.size()));
    for (const Completion& c : r.completions)
      c_len = std::max<int64_t>(c_len, static_cast<int64_t>(c.ids.size()));
    const int64_t rows = static_cast<int64_t>(r.completions.size());
    torch::Tensor ids = torch::full({rows, p_len + c_len}, 999, torch::kLong);  // pads: any id
    torch::Tensor mask = torch::zeros({rows, p_len + c_len}, torch::kLong);
    for (int64_t i = 0; i < rows; ++i) {
      const Completion& c = r.completions[static_cast<size_t>(i)];
      const auto& p = prompts[static_cast<size_t>(c.prompt_index)];
      const auto pl = static_cast<int64_t>(p.size()), cl = static_cast<int64_t>(c.ids.size());
      ids[i].narrow(0, p_len - pl, pl).copy_(torch::tensor(p, torch::kLong));
      ids[i].narrow(0, p_len, cl).copy_(torch::tensor(c.ids, torch::kLong));
      mask[i].narrow(0, p_len - pl, pl + cl).fill_(1);
    }
    torch::NoGradGuard no_grad;
    auto s =
        ScoreTokens(lm_, ids, ScoreOptions().processing(o.processing()).chunk_positions(37), mask);
    ASSERT_TRUE(s.ok()) << s.status();
    auto ref = ScoreTokensReference(lm_, ids, o.processing(), mask);
    ASSERT_TRUE(ref.ok()) << ref.status();
    double worst = 0, worst_ref = 0;
    for (int64_t i = 0; i < rows; ++i) {
      const Completion& c = r.completions[static_cast<size_t>(i)];
      const auto cl = static_cast<int64_t>(c.ids.size());
      const torch::Tensor got = torch::tensor(c.logprobs, torch::kFloat);
      worst = std::max(worst,
                       (got - s->logprobs[i].narrow(0, p_len - 1, cl)).abs().max().item<double>());
      worst_ref = std::max(
          worst_ref, (got - ref->logprobs[i].narrow(0, p_len - 1, cl)).abs().max().item<double>());
    }
    // Unscored entries (a pad on either side) are 0.
    const torch::Tensor scored =
        (mask.narrow(1, 0, p_len + c_len - 1) * mask.narrow(1, 1, p_len + c_len - 1)) == 1;
    EXPECT_TRUE(torch::equal(s->logprobs.masked_select(scored.logical_not()),
                             torch::zeros({(~scored).sum().item<int64_t>()})));
    EXPECT_TRUE((s->logprobs.masked_select(scored) <= 0).all().item<bool>());
    EXPECT_LT(s->logprobs.sum().item<double>(), -1.0);
    std::printf(
        "batched sampler (ragged, n=3, T=0.8 top_p=0.9 top_k=20) vs one padded ScoreTokens "
        "batch, %s weights, max |logprob diff|: %.3g (reference scorer %.3g)\n",
        dtype == torch::kFloat ? "fp32" : "fp64", worst, worst_ref);
    EXPECT_LE(worst, tol);
    EXPECT_LE(worst_ref, tol);
  }
}

// Padding changes nothing: greedy completions of a ragged batch are those of
// each prompt sampled alone.
TEST_F(SamplerTest, GreedyRaggedBatchEqualsEachPromptAlone) {
  const auto prompts = RaggedPrompts();
  const SamplerOptions o = SamplerOptions().temperature(0).max_new_tokens(20).n(2);
  const SampleResult batch = MustSample(prompts, o);
  ASSERT_EQ(batch.completions.size(), 6u);
  EXPECT_EQ(batch.stats.prefill_calls, 1);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const SampleResult alone = MustSample({prompts[i]}, o);
    ASSERT_EQ(alone.completions.size(), 2u);
    EXPECT_EQ(alone.stats.prefill_padding, 0);
    for (size_t j = 0; j < 2; ++j) {
      EXPECT_EQ(batch.completions[i * 2 + j].ids, alone.completions[j].ids) << "prompt " << i;
      EXPECT_EQ(batch.completions[i * 2 + j].prompt_index, static_cast<int64_t>(i));
    }
  }
}

// Chunked scoring equals the full log_softmax reference, values and gradients.
TEST_F(SamplerTest, ChunkedScoringMatchesReferenceWithGradients) {
  const std::vector<int64_t> g = GoldenIds();
  const torch::Tensor ids =
      torch::cat({Row({g.begin(), g.begin() + 33}), Row({g.begin() + 50, g.begin() + 83})});
  // Gradients are sums over positions; with fp32 weights they differ by
  // rounding (~4e-5), so the 1e-5 check runs with fp64 weights (logits and
  // log-softmax stay fp32 as in training).
  for (const auto& [dtype, tol] :
       {std::pair<torch::Dtype, double>{torch::kFloat, 1e-4}, {torch::kDouble, 1e-5}}) {
    lm_->to(dtype);
    for (const LogitsProcessing& p :
         {LogitsProcessing(), LogitsProcessing().temperature(0.8).top_k(50)}) {
      torch::manual_seed(5);
      const torch::Tensor w = torch::rand({2, 32});
      auto grads = [&](bool chunked, torch::Tensor* lp, torch::Tensor* ent) {
        lm_->zero_grad();
        auto s = chunked ? ScoreTokens(lm_, ids, ScoreOptions().processing(p).chunk_positions(7))
                         : ScoreTokensReference(lm_, ids, p);
        EXPECT_TRUE(s.ok()) << s.status();
        ((s->logprobs * w).sum() + (s->entropy * w).sum()).backward();
        *lp = s->logprobs.detach();
        *ent = s->entropy.detach();
        std::vector<torch::Tensor> out;
        for (const auto& param : lm_->parameters()) out.push_back(param.grad().clone());
        return out;
      };
      torch::Tensor lp1, ent1, lp2, ent2;
      const auto g1 = grads(true, &lp1, &ent1), g2 = grads(false, &lp2, &ent2);
      double grad_diff = 0;
      for (size_t i = 0; i < g1.size(); ++i)
        grad_diff = std::max(grad_diff, (g1[i] - g2[i]).abs().max().item<double>());
      double grad_norm = 0;
      for (const torch::Tensor& t : g1) grad_norm += t.abs().sum().item<double>();
      const double lp_diff = (lp1 - lp2).abs().max().item<double>();
      const double ent_diff = (ent1 - ent2).abs().max().item<double>();
      std::printf(
          "chunked vs reference, %s weights (T=%.1f top_k=%lld): logprob %.3g entropy %.3g grad "
          "%.3g"
          " (grad sum %.3g)\n",
          dtype == torch::kFloat ? "fp32" : "fp64", p.temperature(),
          static_cast<long long>(p.top_k()), lp_diff, ent_diff, grad_diff, grad_norm);
      EXPECT_LT(lp_diff, 1e-5);
      EXPECT_LT(ent_diff, 1e-5);
      EXPECT_LT(grad_diff, tol);
      EXPECT_GT(lp1.abs().sum().item<double>(), 1.0);  // not trivially zero
      EXPECT_GT(grad_norm, 1e-3);
    }
  }
  EXPECT_EQ(ScoreTokens(lm_, Row({1})).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ScoreTokens(lm_, Row({1, 512})).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      ScoreTokensReference(lm_, Row({1, 2}), LogitsProcessing().temperature(0)).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace grpo::policy
