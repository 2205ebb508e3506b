// Teacher-forced scoring (policy/logprobs.h): the lean chunked head against
// the plain full log-softmax reference, values and gradients of every
// parameter, with padding, tied and untied lm_head, chunk sizes that do not
// divide the positions; and the lean backward against finite differences.
#include <torch/utils.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "policy/logprobs.h"
#include "policy/model.h"
#include "policy/model_config.h"

namespace grpo::policy {
namespace {

const std::string kModelDir = std::string(GRPO_DATA_DIR) + "/models/stories260K";

class LogprobsTestEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { torch::set_num_threads(2); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new LogprobsTestEnvironment);

CausalLM UntiedRandomModel() {
  ModelConfig c;
  c.vocab_size = 300;
  c.hidden_size = 64;
  c.intermediate_size = 160;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.qkv_bias = true;
  c.tie_word_embeddings = false;
  auto lm = MakeCausalLM(c, /*seed=*/9);
  EXPECT_TRUE(lm.ok()) << lm.status();
  return *std::move(lm);
}

// Three rows: a left-padded prompt with a right-padded completion, a full
// row, and a short one; pads hold arbitrary (here out-of-range) ids.
std::pair<torch::Tensor, torch::Tensor> PaddedBatch(int64_t vocab) {
  torch::manual_seed(21);
  torch::Tensor ids = torch::randint(0, vocab, {3, 29}, torch::kLong);
  torch::Tensor mask = torch::ones({3, 29}, torch::kLong);
  mask[0].narrow(0, 0, 6).fill_(0);
  mask[0].narrow(0, 24, 5).fill_(0);
  mask[2].narrow(0, 9, 20).fill_(0);
  ids.masked_fill_(mask == 0, -5);
  return {ids, mask};
}

struct Result {
  torch::Tensor logprobs, entropy;
  std::vector<torch::Tensor> grads;
};

// Scores, then backpropagates sum(w1 * logprobs + w2 * entropy).
Result Run(CausalLM& lm, const torch::Tensor& ids, const torch::Tensor& mask,
           const LogitsProcessing& p, int64_t chunk /* 0: reference */) {
  lm->zero_grad();
  auto s = chunk > 0
               ? ScoreTokens(lm, ids, ScoreOptions().processing(p).chunk_positions(chunk), mask)
               : ScoreTokensReference(lm, ids, p, mask);
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return {};
  torch::manual_seed(5);
  const torch::Tensor w1 = torch::rand(s->logprobs.sizes()), w2 = torch::rand(s->logprobs.sizes());
  ((s->logprobs * w1).sum() + (s->entropy * w2).sum()).backward();
  Result r{s->logprobs.detach(), s->entropy.detach(), {}};
  for (const auto& param : lm->parameters()) {
    r.grads.push_back(param.grad().defined() ? param.grad().clone() : torch::zeros_like(param));
  }
  return r;
}

// max |a - b| / (1 + max |b|) over each gradient: relative-ish, per tensor.
double GradDiff(const Result& a, const Result& b) {
  double worst = 0;
  for (size_t i = 0; i < a.grads.size(); ++i) {
    const double scale = 1.0 + b.grads[i].abs().max().item<double>();
    worst = std::max(worst, (a.grads[i] - b.grads[i]).abs().max().item<double>() / scale);
  }
  return worst;
}

void CompareWithReference(CausalLM& lm, const char* name) {
  auto [ids, mask] = PaddedBatch(lm->config().vocab_size);
  const torch::Tensor scored = (mask.narrow(1, 0, 28) * mask.narrow(1, 1, 28)) == 1;
  for (torch::Dtype dtype : {torch::kFloat, torch::kDouble}) {
    lm->to(dtype);
    for (const LogitsProcessing& p : {LogitsProcessing(), LogitsProcessing().temperature(0.7),
                                      LogitsProcessing().temperature(0.9).top_k(30)}) {
      const Result ref = Run(lm, ids, mask, p, 0);
      for (int64_t chunk : {7, 64, 1000}) {
        const Result got = Run(lm, ids, mask, p, chunk);
        // Random targets may fall outside top-k: -inf in both, compared as equal.
        EXPECT_TRUE(torch::equal(torch::isfinite(got.logprobs), torch::isfinite(ref.logprobs)));
        const torch::Tensor finite = torch::isfinite(ref.logprobs);
        const double lp =
            (got.logprobs - ref.logprobs).masked_select(finite).abs().max().item<double>();
        const double ent = (got.entropy - ref.entropy).abs().max().item<double>();
        const double grad = GradDiff(got, ref);
        std::printf(
            "%s %s T=%.1f top_k=%lld chunk=%lld: logprob %.3g entropy %.3g grad (rel) %.3g\n", name,
            dtype == torch::kFloat ? "fp32" : "fp64", p.temperature(),
            static_cast<long long>(p.top_k()), static_cast<long long>(chunk), lp, ent, grad);
        EXPECT_LE(lp, 1e-5);
        EXPECT_LE(ent, 1e-5);
        EXPECT_LE(grad, 1e-5);
        // Unscored entries are exactly 0; scored ones are real log-probs.
        EXPECT_EQ(got.logprobs.masked_select(scored.logical_not()).abs().max().item<double>(), 0.0);
        EXPECT_EQ(got.entropy.masked_select(scored.logical_not()).abs().max().item<double>(), 0.0);
        EXPECT_LT(got.logprobs.masked_select(scored).max().item<double>(), 0.0);
        for (const auto& g : got.grads) EXPECT_TRUE(torch::isfinite(g).all().item<bool>());
        double norm = 0;
        for (const auto& g : got.grads) norm += g.abs().sum().item<double>();
        EXPECT_GT(norm, 1e-3);
      }
    }
  }
  lm->to(torch::kFloat);
}

TEST(LogprobsTest, LeanChunkedScoringMatchesReferenceTiedLmHead) {
  auto lm = LoadCausalLM(kModelDir);
  ASSERT_TRUE(lm.ok()) << lm.status();
  ASSERT_FALSE((*lm)->lm_head);  // stories260K ties lm_head to the embedding
  CompareWithReference(*lm, "stories260K (tied)");
}

TEST(LogprobsTest, LeanChunkedScoringMatchesReferenceUntiedLmHead) {
  CausalLM lm = UntiedRandomModel();
  ASSERT_TRUE(lm->lm_head);
  CompareWithReference(lm, "random (untied)");
}

// Padding must not change a row's scores: each row alone, unpadded, gives the
// padded batch's scored entries.
TEST(LogprobsTest, PaddedBatchEqualsRowsAlone) {
  CausalLM lm = UntiedRandomModel();
  lm->to(torch::kDouble);  // so the comparison isolates masking from rounding
  auto [ids, mask] = PaddedBatch(lm->config().vocab_size);
  auto batch = ScoreTokens(lm, ids, ScoreOptions().chunk_positions(5), mask);
  ASSERT_TRUE(batch.ok()) << batch.status();
  for (int64_t r = 0; r < 3; ++r) {
    const torch::Tensor real = mask[r].nonzero().squeeze(1);
    const int64_t begin = real[0].item<int64_t>(), len = real.size(0);
    auto alone = ScoreTokens(lm, ids[r].narrow(0, begin, len).unsqueeze(0));
    ASSERT_TRUE(alone.ok()) << alone.status();
    const torch::Tensor got = batch->logprobs[r].narrow(0, begin, len - 1);
    EXPECT_LE((got - alone->logprobs[0]).abs().max().item<double>(), 1e-9) << "row " << r;
  }
}

// The lean backward against central finite differences, in fp64, with
// respect to the hidden states and the lm_head weight.
TEST(LogprobsTest, LeanHeadGradientMatchesFiniteDifferences) {
  torch::manual_seed(3);
  const auto f64 = torch::dtype(torch::kDouble);
  const torch::Tensor hidden = torch::randn({5, 8}, f64).requires_grad_(true);
  const torch::Tensor weight = torch::randn({11, 8}, f64).requires_grad_(true);
  const torch::Tensor targets = torch::randint(0, 11, {5}, torch::kLong);
  const torch::Tensor w1 = torch::rand({5}, f64), w2 = torch::rand({5}, f64);
  auto loss = [&](const torch::Tensor& h, const torch::Tensor& w) {
    const TokenScores s = LeanTokenScores(h, w, targets, /*temperature=*/0.7, /*chunk=*/2);
    return ((s.logprobs.to(torch::kDouble) * w1).sum() + (s.entropy.to(torch::kDouble) * w2).sum());
  };
  loss(hidden, weight).backward();
  torch::NoGradGuard no_grad;
  const double eps = 1e-3;
  double worst = 0, scale = 0;
  for (const auto& [x, grad] :
       {std::pair{hidden, hidden.grad()}, std::pair{weight, weight.grad()}}) {
    for (int64_t i = 0; i < x.numel(); i += 3) {
      torch::Tensor plus = x.detach().clone(), minus = x.detach().clone();
      plus.view(-1)[i] += eps;
      minus.view(-1)[i] -= eps;
      const bool is_h = x.size(0) == 5;
      const double fd = ((is_h ? loss(plus, weight) : loss(hidden, plus)) -
                         (is_h ? loss(minus, weight) : loss(hidden, minus)))
                            .item<double>() /
                        (2 * eps);
      worst = std::max(worst, std::abs(fd - grad.view(-1)[i].item<double>()));
      scale = std::max(scale, std::abs(fd));
    }
  }
  std::printf("lean head gradient vs finite differences: max diff %.3g (max |grad| %.3g)\n", worst,
              scale);
  // The values go through fp32 log-softmax, so differences of fp32 values over 2e-3.
  EXPECT_LE(worst, 1e-3 * std::max(1.0, scale));
  EXPECT_GT(scale, 1e-2);
}

TEST(LogprobsTest, BadArgumentsAreInvalidArgument) {
  CausalLM lm = UntiedRandomModel();
  const torch::Tensor ids = torch::ones({2, 4}, torch::kLong);
  EXPECT_EQ(ScoreTokens(lm, ids, {}, torch::ones({2, 5}, torch::kLong)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ScoreTokens(lm, ids, {}, torch::full({2, 4}, 3, torch::kLong)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ScoreTokensReference(lm, ids, {}, torch::ones({2, 4}, torch::kFloat)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ScoreTokens(lm, ids, ScoreOptions().chunk_positions(0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A fully padded batch scores nothing, and is not an error.
  auto empty = ScoreTokens(lm, ids, {}, torch::zeros({2, 4}, torch::kLong));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->logprobs.abs().sum().item<double>(), 0.0);
}

}  // namespace
}  // namespace grpo::policy
