// Padding masks and KV-cache parity: ragged, left-padded batches decoded with
// the cache agree with full recomputation row by row, on a random ~1M model and
// on stories260K, in the normal and the batch-invariant mode; right-padded
// batches and bad masks.
#include <torch/nn/functional/linear.h>
#include <torch/utils.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/batch_invariant.h"
#include "policy/model.h"
#include "policy/model_config.h"
#include "tests/stories260k_fixture.h"

namespace grpo::policy {
namespace {

using ::testing::HasSubstr;
using testing::Golden;
using testing::Ids;
using testing::Stories260KTest;

class TwoThreads : public ::testing::Environment {
 public:
  void SetUp() override { torch::set_num_threads(2); }  // the CI machines have 2 cores
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new TwoThreads);

// --- padding masks and KV-cache parity ---

// A random ~1M-parameter Llama-like model (hidden 128, 4 layers, GQA 4/2).
CausalLM RandomSmallModel(bool tied) {
  ModelConfig c;
  c.vocab_size = 512;
  c.hidden_size = 128;
  c.intermediate_size = 344;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 32;
  c.max_position_embeddings = 512;
  c.tie_word_embeddings = tied;
  auto lm = MakeCausalLM(c, /*seed=*/3);
  EXPECT_TRUE(lm.ok()) << lm.status();
  return *std::move(lm);
}

// Left-pads `rows` to one batch: ids (pads hold `pad_id`) and the 0/1 mask.
std::pair<torch::Tensor, torch::Tensor> LeftPad(const std::vector<std::vector<int64_t>>& rows,
                                                int64_t pad_id) {
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.size());
  torch::Tensor ids = torch::full({static_cast<int64_t>(rows.size()), static_cast<int64_t>(width)},
                                  pad_id, torch::kLong);
  torch::Tensor mask = torch::zeros_like(ids);
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t off = static_cast<int64_t>(width - rows[i].size());
    ids[static_cast<int64_t>(i)]
        .narrow(0, off, static_cast<int64_t>(rows[i].size()))
        .copy_(torch::tensor(rows[i], torch::kLong));
    mask[static_cast<int64_t>(i)].narrow(0, off, static_cast<int64_t>(rows[i].size())).fill_(1);
  }
  return {ids, mask};
}

// Prefills a left-padded batch of prompts (lengths 3, 17, 40), then decodes
// `steps` tokens per row with the cache; each step's logits are compared with
// a full, unpadded, uncached pass over that row alone. Returns max |diff|.
double RaggedKvVersusRecompute(CausalLM& lm, int steps) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(11);
  const int64_t vocab = lm->config().vocab_size;
  std::vector<std::vector<int64_t>> seqs;
  for (int64_t len : {3, 17, 40}) {
    const torch::Tensor r = torch::randint(3, vocab, {len}, torch::kLong);
    seqs.emplace_back(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + len);
  }
  auto [ids, mask] = LeftPad(seqs, /*pad_id=*/0);
  KvCache cache;
  auto logits = ComputeLogits(lm, ids, &cache, mask);
  EXPECT_TRUE(logits.ok()) << logits.status();
  if (!logits.ok()) return 1e9;
  double worst = 0;
  // The prefill's real positions against each row alone.
  for (size_t r = 0; r < seqs.size(); ++r) {
    const int64_t len = static_cast<int64_t>(seqs[r].size());
    auto alone = ComputeLogits(lm, Ids(seqs[r]));
    EXPECT_TRUE(alone.ok());
    const torch::Tensor got = (*logits)[static_cast<int64_t>(r)].narrow(0, ids.size(1) - len, len);
    worst = std::max(worst, (got - (*alone)[0]).abs().max().item<double>());
  }
  torch::Tensor last = logits->select(1, -1);
  std::vector<torch::Tensor> steps_logits;  // [3,V] per step
  for (int step = 0; step < steps; ++step) {
    // Half the rows follow the argmax, half a random token, so rows differ.
    const torch::Tensor next = torch::where(torch::rand({3}) < 0.5, last.argmax(-1),
                                            torch::randint(3, vocab, {3}, torch::kLong));
    for (size_t r = 0; r < seqs.size(); ++r)
      seqs[r].push_back(next[static_cast<int64_t>(r)].item<int64_t>());
    auto step_logits = ComputeLogits(lm, next.unsqueeze(1), &cache);
    EXPECT_TRUE(step_logits.ok()) << step_logits.status();
    if (!step_logits.ok()) return 1e9;
    last = step_logits->select(1, 0);
    steps_logits.push_back(last);
  }
  // One uncached pass per row over its final sequence is the recomputation of
  // every step at once (causal: position p sees only tokens 0..p).
  for (size_t r = 0; r < seqs.size(); ++r) {
    auto full = ComputeLogits(lm, Ids(seqs[r]));
    EXPECT_TRUE(full.ok());
    const int64_t len = static_cast<int64_t>(seqs[r].size());
    for (int step = 0; step < steps; ++step) {
      const torch::Tensor want = (*full)[0][len - steps + step];
      worst =
          std::max(worst, (steps_logits[static_cast<size_t>(step)][static_cast<int64_t>(r)] - want)
                              .abs()
                              .max()
                              .item<double>());
    }
  }
  EXPECT_EQ(cache.length(), 40 + steps);
  EXPECT_EQ(cache.mask.sizes(), (std::vector<int64_t>{3, 40 + steps}));
  return worst;
}

// stories260K in fp32 does not reach 1e-5: OpenBLAS rounds a row of a linear
// layer differently with the number of rows in the call (model.h), and this
// trained model's logits (up to ~20) are ~1e-5 from float64 in one pass
// already. Measured 2-3e-5; a mask or position bug is off by whole units. In
// fp64 weights the two paths agree to 1e-12.
TEST_F(Stories260KTest, RaggedLeftPaddedKvDecodingEqualsRecomputation) {
  const double fp32 = RaggedKvVersusRecompute(lm_, 64);
  lm_->to(torch::kDouble);
  const double fp64 = RaggedKvVersusRecompute(lm_, 64);
  std::printf(
      "stories260K ragged KV decode (64 steps) vs full recompute, max |logit diff|: "
      "fp32 %.3g, fp64 weights %.3g\n",
      fp32, fp64);
  EXPECT_LE(fp32, 5e-5);
  EXPECT_LE(fp64, 1e-12);
}

TEST(PaddingTest, RandomModelRaggedKvDecodingEqualsRecomputationWithin1e5) {
  CausalLM lm = RandomSmallModel(/*tied=*/false);
  lm->eval();
  int64_t params = 0;
  for (const auto& p : lm->parameters()) params += p.numel();
  const double worst = RaggedKvVersusRecompute(lm, 64);
  std::printf(
      "random %lld-param model ragged KV decode vs full recompute, max |logit diff|: %.3g\n",
      static_cast<long long>(params), worst);
  EXPECT_LE(worst, 1e-5);
}

// --- batch-invariant mode (CausalLMImpl::set_batch_invariant) ---

// The blocked kernels against the plain ones, and a row's result independent
// of how many rows the call has.
TEST(BatchInvariantTest, BlockedLinearAndWideAttentionMatchPlainAndIgnoreBatchSize) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(5);
  const torch::Tensor w = torch::randn({172, 64}), bias = torch::randn({172});
  const torch::Tensor x = torch::randn({3, 67, 64}) * 3;
  const torch::Tensor got = BlockedLinear(x, w, bias);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{3, 67, 172}));
  EXPECT_LE((got - torch::nn::functional::linear(x, w, bias)).abs().max().item<double>(), 1e-4);
  const torch::Tensor rows = x.reshape({-1, 64});
  const torch::Tensor all = BlockedLinear(rows, w);
  for (int64_t n : {1, 2, 7, 8, 9, 23, 190}) {
    EXPECT_TRUE(torch::equal(BlockedLinear(rows.narrow(0, 0, n), w), all.narrow(0, 0, n))) << n;
    // The same rows at another offset in the call.
    EXPECT_TRUE(torch::equal(BlockedLinear(rows.narrow(0, 3, n), w), all.narrow(0, 3, n))) << n;
  }
  // Attention: q [1,2,T,8] against 30 keys, the last ones hidden; the same
  // query alone with only the keys it sees gives the same row.
  const torch::Tensor q = torch::randn({1, 2, 5, 8}), k = torch::randn({1, 2, 30, 8}),
                      v = torch::randn({1, 2, 30, 8});
  const torch::Tensor hidden = torch::ones({5, 30}, torch::kBool).triu(26);  // query i sees 0..25+i
  const torch::Tensor out = WideAttention(q, k, v, hidden, 0.3);
  const torch::Tensor plain =
      torch::matmul(torch::softmax((torch::matmul(q, k.transpose(-2, -1)) * 0.3)
                                       .masked_fill(hidden, -std::numeric_limits<float>::infinity()),
                                   -1),
                    v);
  EXPECT_LE((out - plain).abs().max().item<double>(), 1e-5);
  for (int64_t i = 0; i < 5; ++i) {
    const torch::Tensor alone = WideAttention(q.narrow(2, i, 1), k.narrow(2, 0, 26 + i),
                                              v.narrow(2, 0, 26 + i), torch::Tensor(), 0.3);
    EXPECT_TRUE(torch::equal(alone, out.narrow(2, i, 1))) << i;
  }
}

// The acceptance check: stories260K in fp32, ragged left-padded prompts, 64
// cached decode steps against full recomputation.
TEST_F(Stories260KTest, BatchInvariantKvDecodingEqualsRecomputationWithin1e5) {
  lm_->set_batch_invariant(true);
  ASSERT_TRUE(lm_->batch_invariant());
  const double worst = RaggedKvVersusRecompute(lm_, 64);
  std::printf(
      "stories260K batch-invariant ragged KV decode (64 steps) vs full recompute, max |logit "
      "diff|: %.3g\n",
      worst);
  EXPECT_LE(worst, 1e-5);
}

// Untied lm_head and q/k/v/o biases take the blocked path too.
TEST(PaddingTest, BatchInvariantRandomQwen2LikeModelWithBiasesWithin1e5) {
  ModelConfig c;
  c.vocab_size = 300;
  c.hidden_size = 48;
  c.intermediate_size = 100;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 256;
  c.qkv_bias = true;
  c.o_proj_bias = true;
  c.tie_word_embeddings = false;
  auto lm = MakeCausalLM(c, /*seed=*/9);
  ASSERT_TRUE(lm.ok()) << lm.status();
  (*lm)->eval();
  (*lm)->set_batch_invariant(true);
  const double worst = RaggedKvVersusRecompute(*lm, 24);
  std::printf("random Qwen2-like batch-invariant KV decode vs recompute, max |logit diff|: %.3g\n",
              worst);
  EXPECT_LE(worst, 1e-5);
}

// The mode changes results only by fp32 rounding: golden logits within 1e-4,
// the default mode's within 1e-4; and a row's logits in a padded batch are
// those of the row alone.
TEST_F(Stories260KTest, BatchInvariantModeKeepsTheLogitsAndIgnoresTheBatch) {
  const nlohmann::json check = Golden()["logits_check"];
  const std::vector<int64_t> ids = check["input_ids"].get<std::vector<int64_t>>();
  auto plain = ComputeLogits(lm_, Ids(ids));
  ASSERT_TRUE(plain.ok()) << plain.status();
  lm_->set_batch_invariant(true);
  auto inv = ComputeLogits(lm_, Ids(ids));
  ASSERT_TRUE(inv.ok()) << inv.status();
  const auto golden = check["logits"].get<std::vector<std::vector<double>>>();
  torch::Tensor want = torch::empty({static_cast<int64_t>(golden.size()), 512}, torch::kDouble);
  for (size_t i = 0; i < golden.size(); ++i) {
    want[static_cast<int64_t>(i)].copy_(torch::tensor(golden[i], torch::kDouble));
  }
  const double vs_golden = ((*inv)[0].to(torch::kDouble) - want).abs().max().item<double>();
  const double vs_plain = (*inv - *plain).abs().max().item<double>();
  std::printf("stories260K batch-invariant logits: vs float64 golden %.3g, vs default mode %.3g\n",
              vs_golden, vs_plain);
  EXPECT_LT(vs_golden, 1e-4);
  EXPECT_LT(vs_plain, 1e-4);

  const std::vector<int64_t> g = Golden()["generation"]["ids"].get<std::vector<int64_t>>();
  const std::vector<std::vector<int64_t>> rows = {{g.begin(), g.begin() + 5},
                                                  {g.begin() + 10, g.begin() + 47},
                                                  {g.begin() + 50, g.begin() + 63}};
  auto [batch, mask] = LeftPad(rows, /*pad_id=*/3);
  auto padded = ComputeLogits(lm_, batch, nullptr, mask);
  ASSERT_TRUE(padded.ok()) << padded.status();
  double worst = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto len = static_cast<int64_t>(rows[r].size());
    auto alone = ComputeLogits(lm_, Ids(rows[r]));
    ASSERT_TRUE(alone.ok());
    worst = std::max(worst, ((*padded)[static_cast<int64_t>(r)].narrow(0, batch.size(1) - len, len) -
                             (*alone)[0])
                                .abs()
                                .max()
                                .item<double>());
  }
  std::printf("stories260K batch-invariant padded batch vs each row alone, max |logit diff|: %.3g\n",
              worst);
  EXPECT_LE(worst, 1e-5);
  lm_->set_batch_invariant(false);
  auto back = ComputeLogits(lm_, Ids(ids));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(torch::equal(*back, *plain));  // switching off restores the default path
}

TEST_F(Stories260KTest, RightPaddedBatchGivesEachRowsOwnLogits) {
  const std::vector<int64_t> g = Golden()["generation"]["ids"].get<std::vector<int64_t>>();
  const std::vector<int64_t> a(g.begin(), g.begin() + 9), b(g.begin() + 30, g.begin() + 50);
  torch::Tensor ids = torch::full({2, 20}, 7, torch::kLong);  // pads hold a real id
  ids[0].narrow(0, 0, 9).copy_(torch::tensor(a));
  ids[1].copy_(torch::tensor(b));
  torch::Tensor mask = torch::ones({2, 20}, torch::kBool);
  mask[0].narrow(0, 9, 11).fill_(false);
  auto padded = ComputeLogits(lm_, ids, nullptr, mask);
  ASSERT_TRUE(padded.ok()) << padded.status();
  EXPECT_TRUE(torch::isfinite(*padded).all().item<bool>());  // pad queries too
  auto ra = ComputeLogits(lm_, Ids(a));
  auto rb = ComputeLogits(lm_, Ids(b));
  ASSERT_TRUE(ra.ok() && rb.ok());
  const double da = ((*padded)[0].narrow(0, 0, 9) - (*ra)[0]).abs().max().item<double>();
  const double db = ((*padded)[1] - (*rb)[0]).abs().max().item<double>();
  EXPECT_LE(da, 5e-5);  // fp32 rounding of different matmul shapes, as above
  EXPECT_LE(db, 5e-5);
  // An all-ones mask is the no-mask path.
  auto ones = ComputeLogits(lm_, Ids(b), nullptr, torch::ones({1, 20}, torch::kLong));
  ASSERT_TRUE(ones.ok());
  EXPECT_LE((*ones - *rb).abs().max().item<double>(), 1e-6);
  // A row that is all padding stays finite.
  auto empty_row = ComputeLogits(
      lm_, ids, nullptr, torch::cat({torch::zeros({1, 20}, torch::kBool), mask[1].unsqueeze(0)}));
  ASSERT_TRUE(empty_row.ok());
  EXPECT_TRUE(torch::isfinite(*empty_row).all().item<bool>());
}

TEST_F(Stories260KTest, BadMasksAndCacheRowsAreInvalidArgument) {
  const torch::Tensor ids = torch::ones({2, 4}, torch::kLong);
  auto code = [&](const torch::Tensor& mask) {
    return ComputeLogits(lm_, ids, nullptr, mask).status().code();
  };
  EXPECT_EQ(code(torch::ones({2, 5}, torch::kLong)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(torch::ones({2}, torch::kLong)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(torch::full({2, 4}, 2, torch::kLong)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(torch::ones({2, 4}, torch::kFloat)), absl::StatusCode::kInvalidArgument);
  auto msg = ComputeLogits(lm_, ids, nullptr, torch::ones({3, 4}, torch::kLong)).status();
  EXPECT_THAT(std::string(msg.message()), HasSubstr("[2, 4]"));
  // With a cache the mask covers the cached columns too.
  KvCache cache;
  ASSERT_TRUE(ComputeLogits(lm_, ids, &cache).ok());
  EXPECT_EQ(ComputeLogits(lm_, ids.narrow(1, 0, 1), &cache, torch::ones({2, 1}, torch::kLong))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.length(), 4);
  EXPECT_TRUE(
      ComputeLogits(lm_, ids.narrow(1, 0, 1), &cache, torch::ones({2, 5}, torch::kLong)).ok());
  EXPECT_EQ(cache.length(), 5);
  // Pad positions may hold any id.
  torch::Tensor bad_pad = ids.clone();
  bad_pad[0][0] = -1;
  torch::Tensor m = torch::ones({2, 4}, torch::kLong);
  m[0][0] = 0;
  EXPECT_TRUE(ComputeLogits(lm_, bad_pad, nullptr, m).ok());
  EXPECT_FALSE(ComputeLogits(lm_, bad_pad).ok());
  // Cache rows: out of range is refused, selection reorders and repeats.
  EXPECT_EQ(SelectCacheRows(cache, torch::tensor({0, 2}, torch::kLong)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.batch(), 2);
  const torch::Tensor k1 = cache.keys[1][1].clone();
  ASSERT_TRUE(SelectCacheRows(cache, torch::tensor({1, 1, 0}, torch::kLong)).ok());
  EXPECT_EQ(cache.batch(), 3);
  EXPECT_TRUE(torch::equal(cache.keys[1][0], k1));
  EXPECT_TRUE(torch::equal(cache.keys[1][1], k1));
}

}  // namespace
}  // namespace grpo::policy
