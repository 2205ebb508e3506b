// The GRPO objective (grpo/objective.h): the numbers that define "done" in
// docs/grpo.md, agreement with the plain-loop reference, gradients against
// finite differences, and invariance of loss and gradients to how a step is
// split into micro-batches (on a real policy model).
#include "grpo/objective.h"

#include <torch/autograd.h>
#include <torch/types.h>

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpo/objective_reference.h"
#include "gtest/gtest.h"
#include "policy/logprobs.h"
#include "policy/model.h"
#include "policy/model_config.h"
#include "tests/tiny_policy.h"

namespace grpo::train {
namespace {

using ::testing::HasSubstr;
using reference::Matrix;

torch::Tensor Row(const std::vector<double>& r) {
  return torch::tensor(r, torch::kDouble).unsqueeze(0);
}

std::vector<double> Flat(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kDouble).contiguous().reshape(-1);
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

Matrix ToMatrix(const torch::Tensor& t) {
  Matrix m;
  for (int64_t i = 0; i < t.size(0); ++i) m.push_back(Flat(t[i]));
  return m;
}

torch::Tensor Advantages(const torch::Tensor& r, const AdvantageOptions& o) {
  absl::StatusOr<torch::Tensor> a = ComputeAdvantages(r, o);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *a : torch::Tensor();
}

// --- advantages ---

TEST(AdvantagesTest, PinnedNumbersForBothEpsConventionsAndDrGrpo) {
  const torch::Tensor r = Row({1, 0, 0, 1});
  const auto trl = Flat(Advantages(r, AdvantageOptions().std_eps(1e-4)));
  const auto verl = Flat(Advantages(r, AdvantageOptions().std_eps(1e-6)));
  const auto dr = Flat(Advantages(r, AdvantageOptions().estimator(AdvantageEstimator::kDrGrpo)));
  const std::vector<double> sign = {1, -1, -1, 1};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(trl[i], sign[i] * 0.8658754298, 1e-10);
    EXPECT_NEAR(verl[i], sign[i] * 0.8660239038, 1e-10);
    EXPECT_NEAR(dr[i], sign[i] * 0.5, 1e-12);
  }
  const auto one = Flat(Advantages(Row({1, 0, 0, 0}), AdvantageOptions().std_eps(1e-4)));
  EXPECT_NEAR(one[0], 1.4997000600, 1e-10);
  for (int i = 1; i < 4; ++i) EXPECT_NEAR(one[i], -0.4999000200, 1e-10);
}

TEST(AdvantagesTest, ConstantGroupGivesZeroForEveryEstimator) {
  for (auto e : {AdvantageEstimator::kGrpo, AdvantageEstimator::kDrGrpo, AdvantageEstimator::kRloo}) {
    for (auto s : {StdScope::kGroup, StdScope::kBatch, StdScope::kNone}) {
      const auto a = Flat(Advantages(Row({0.7, 0.7, 0.7}), AdvantageOptions().estimator(e).std_scope(s)));
      for (double x : a) EXPECT_EQ(x, 0.0);
    }
  }
}

TEST(AdvantagesTest, RlooIsLeaveOneOutAndBatchScopeUsesTheWholeBatchStd) {
  const auto rloo = Flat(Advantages(Row({1, 0, 0, 0}), AdvantageOptions().estimator(AdvantageEstimator::kRloo)));
  EXPECT_NEAR(rloo[0], 1.0, 1e-12);        // 1 - (0+0+0)/3
  EXPECT_NEAR(rloo[1], -1.0 / 3.0, 1e-12);  // 0 - (1+0+0)/3
  // Batch scope: group means, one std over all 8 rewards.
  const torch::Tensor r = torch::tensor({{1.0, 0.0, 0.0, 1.0}, {1.0, 1.0, 1.0, 0.0}}, torch::kDouble);
  const torch::Tensor a = Advantages(r, AdvantageOptions().std_scope(StdScope::kBatch).std_eps(0));
  const double batch_std = r.std().item<double>();
  EXPECT_NEAR(a[1][3].item<double>(), (0 - 0.75) / batch_std, 1e-12);
  EXPECT_NEAR(a[0][0].item<double>(), 0.5 / batch_std, 1e-12);
}

TEST(AdvantagesTest, TensorVersionAgreesWithThePlainLoop) {
  torch::manual_seed(7);
  const torch::Tensor r = torch::randint(0, 3, {5, 6}, torch::kDouble) / 2;  // ties and constant groups
  for (auto e : {AdvantageEstimator::kGrpo, AdvantageEstimator::kDrGrpo, AdvantageEstimator::kRloo}) {
    for (auto s : {StdScope::kGroup, StdScope::kBatch, StdScope::kNone}) {
      const AdvantageOptions o = AdvantageOptions().estimator(e).std_scope(s).std_eps(1e-6);
      const Matrix want = reference::Advantages(ToMatrix(r), o);
      const Matrix got = ToMatrix(Advantages(r, o));
      for (size_t b = 0; b < want.size(); ++b) {
        for (size_t g = 0; g < want[b].size(); ++g) EXPECT_NEAR(got[b][g], want[b][g], 1e-12);
      }
    }
  }
}

TEST(AdvantagesTest, GroupsWithSignalAndBadInput) {
  const torch::Tensor r = torch::tensor({{1.0, 1.0}, {0.0, 1.0}, {0.5, 0.5}}, torch::kDouble);
  absl::StatusOr<torch::Tensor> signal = GroupsWithSignal(r);
  ASSERT_TRUE(signal.ok());
  EXPECT_EQ(Flat(*signal), (std::vector<double>{0, 1, 0}));
  EXPECT_THAT(ComputeAdvantages(torch::zeros({4}), {}).status().message(), HasSubstr("[B,G]"));
  EXPECT_THAT(ComputeAdvantages(torch::zeros({2, 1}), AdvantageOptions().estimator(AdvantageEstimator::kRloo))
                  .status()
                  .message(),
              HasSubstr("at least 2"));
  EXPECT_FALSE(ComputeAdvantages(torch::zeros({2, 2}, torch::kLong), {}).ok());
}

// --- KL ---

TEST(KlTest, PinnedValuesAndK3Gradient) {
  const torch::Tensor logp = torch::full({1, 1}, -1.0, torch::kDouble).requires_grad_(true);
  const torch::Tensor ref = torch::full({1, 1}, -1.5, torch::kDouble);
  EXPECT_NEAR(KlPenalty(logp, ref, KlEstimator::kK1)->item<double>(), 0.5, 1e-12);
  EXPECT_NEAR(KlPenalty(logp, ref, KlEstimator::kK2)->item<double>(), 0.125, 1e-12);
  const torch::Tensor k3 = *KlPenalty(logp, ref, KlEstimator::kK3);
  EXPECT_NEAR(k3.item<double>(), 0.1065306597, 1e-10);
  k3.sum().backward();
  EXPECT_NEAR(logp.grad().item<double>(), 0.3934693403, 1e-10);
  for (auto e : {KlEstimator::kK1, KlEstimator::kK2, KlEstimator::kK3}) {
    EXPECT_NEAR(KlPenalty(logp, ref, e)->item<double>(), reference::Kl(-1.0, -1.5, e), 1e-12);
  }
  // The clamp bounds a reference far above the policy (exp(d) would explode).
  EXPECT_EQ(KlPenalty(torch::full({1, 1}, -30.0), torch::full({1, 1}, -0.1), KlEstimator::kK3, 10)
                ->item<double>(),
            10.0);
  EXPECT_THAT(KlPenalty(logp, torch::zeros({2, 1}), KlEstimator::kK1).status().message(),
              HasSubstr("ref_logp"));
}

// --- clipping ---

// The loss and d loss / d logp of one token at the given ratio.
std::pair<double, double> OneToken(double ratio, double advantage, const PolicyLossOptions& o) {
  const torch::Tensor old = torch::full({1, 1}, -2.0, torch::kDouble);
  const torch::Tensor logp = (old + std::log(ratio)).detach().requires_grad_(true);
  absl::StatusOr<TokenTerms> terms = ComputeTokenTerms(logp, old, {}, torch::full({1}, advantage, torch::kDouble), o);
  EXPECT_TRUE(terms.ok()) << terms.status();
  terms->loss.sum().backward();
  return {terms->loss.item<double>(), logp.grad().item<double>()};
}

TEST(ClipTest, PinnedClipHigherAndDualClip) {
  const PolicyLossOptions o = PolicyLossOptions().eps_low(0.2).eps_high(0.28);
  auto [l1, g1] = OneToken(1.5, +1, o);
  EXPECT_NEAR(l1, -1.28, 1e-12);
  EXPECT_EQ(g1, 0.0);
  auto [l2, g2] = OneToken(0.5, -1, o);
  EXPECT_NEAR(l2, 0.8, 1e-12);
  EXPECT_EQ(g2, 0.0);
  auto [l3, g3] = OneToken(5, -1, o);
  EXPECT_NEAR(l3, 5.0, 1e-12);
  EXPECT_NEAR(g3, 5.0, 1e-12);  // d(-A*ratio)/dlogp = ratio
  auto [l4, g4] = OneToken(5, -1, PolicyLossOptions(o).dual_clip(3));
  EXPECT_NEAR(l4, 3.0, 1e-12);
  EXPECT_EQ(g4, 0.0);
  // Inside the range the gradient is -A * ratio.
  auto [l5, g5] = OneToken(1.1, +2, o);
  EXPECT_NEAR(l5, -2.2, 1e-12);
  EXPECT_NEAR(g5, -2.2, 1e-12);
}

TEST(ClipTest, ClipFractionsMarkTheRightTokens) {
  const torch::Tensor old = torch::zeros({2, 3}, torch::kDouble);
  const torch::Tensor logp = torch::log(torch::tensor({{1.5, 1.0, 0.5}, {0.5, 1.5, 5.0}}, torch::kDouble));
  const torch::Tensor adv = torch::tensor({1.0, -1.0}, torch::kDouble);
  const auto terms =
      ComputeTokenTerms(logp, old, {}, adv, PolicyLossOptions().eps_high(0.28).dual_clip(3));
  ASSERT_TRUE(terms.ok());
  EXPECT_EQ(Flat(terms->clipped_high), (std::vector<double>{1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(Flat(terms->clipped_low), (std::vector<double>{0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(Flat(terms->dual_clipped), (std::vector<double>{0, 0, 0, 0, 0, 1}));
}

TEST(ClipTest, BadOptionsAndShapesAreInvalidArgument) {
  const torch::Tensor x = torch::zeros({2, 3});
  EXPECT_THAT(ComputeTokenTerms(x, x, {}, torch::zeros({2}), PolicyLossOptions().dual_clip(0.5))
                  .status()
                  .message(),
              HasSubstr("dual_clip"));
  EXPECT_THAT(ComputeTokenTerms(x, x, {}, torch::zeros({3}), {}).status().message(), HasSubstr("[N]"));
  EXPECT_THAT(ComputeTokenTerms(x, torch::zeros({2, 2}), {}, torch::zeros({2}), {}).status().message(),
              HasSubstr("old_logp"));
  EXPECT_THAT(ComputeTokenTerms(x, x, {}, torch::zeros({2}), PolicyLossOptions().beta(0.1)).status().message(),
              HasSubstr("ref_logp"));
  EXPECT_THAT(AggregateLoss(x, x, {1, 1}, PolicyLossOptions().aggregation(LossAggregation::kSeqMeanTokenSumNorm))
                  .status()
                  .message(),
              HasSubstr("sum_norm"));
  EXPECT_THAT(AggregateLoss(x, x, {0, 0}, {}).status().message(), HasSubstr("no tokens"));
}

// --- aggregation ---

TEST(AggregateTest, PinnedNumbersForTheThreeModes) {
  const double a = 0.37;
  // Two sequences of 2 and 4 tokens: token loss -a in the first, +a in the second.
  const torch::Tensor loss = torch::tensor({{-a, -a, 9.0, 9.0}, {a, a, a, a}}, torch::kDouble);
  const torch::Tensor mask = torch::tensor({{1, 1, 0, 0}, {1, 1, 1, 1}}, torch::kLong);
  const StepCounts step = *CountStep(mask);
  EXPECT_EQ(step.tokens, 6);
  EXPECT_EQ(step.sequences, 2);
  auto agg = [&](LossAggregation m) {
    return AggregateLoss(loss, mask, step, PolicyLossOptions().aggregation(m).sum_norm(8))->item<double>();
  };
  EXPECT_NEAR(agg(LossAggregation::kSeqMeanTokenMean), 0.0, 1e-15);
  EXPECT_NEAR(agg(LossAggregation::kTokenMean), a / 3, 1e-15);
  EXPECT_NEAR(agg(LossAggregation::kSeqMeanTokenSumNorm), a / 8, 1e-15);
}

// Random token terms for the property tests: N rows of T tokens with ragged masks.
struct RandomBatch {
  torch::Tensor logp, old_logp, ref_logp, adv, mask;
};

RandomBatch MakeBatch(int64_t n, int64_t t, uint64_t seed) {
  torch::manual_seed(seed);
  RandomBatch b;
  b.old_logp = -torch::rand({n, t}, torch::kDouble) * 3;
  b.logp = b.old_logp + torch::randn({n, t}, torch::kDouble) * 0.3;  // ratios on both sides of the clip
  b.ref_logp = b.old_logp + torch::randn({n, t}, torch::kDouble) * 0.2;
  b.adv = torch::randn({n}, torch::kDouble);
  const torch::Tensor lengths = torch::randint(0, t + 1, {n, 1});
  b.mask = (torch::arange(t).unsqueeze(0) < lengths).to(torch::kLong);
  return b;
}

std::vector<PolicyLossOptions> AllLossOptions() {
  std::vector<PolicyLossOptions> out;
  for (auto agg : {LossAggregation::kTokenMean, LossAggregation::kSeqMeanTokenMean,
                   LossAggregation::kSeqMeanTokenSumNorm}) {
    for (auto kl : {KlEstimator::kK1, KlEstimator::kK2, KlEstimator::kK3}) {
      for (double dual : {0.0, 3.0}) {
        out.push_back(PolicyLossOptions().eps_low(0.2).eps_high(0.28).dual_clip(dual).beta(0.04).kl_estimator(kl)
                          .aggregation(agg).sum_norm(16));
      }
    }
  }
  return out;
}

torch::Tensor Loss(const RandomBatch& b, const torch::Tensor& logp, const StepCounts& step,
                   const PolicyLossOptions& o) {
  absl::StatusOr<TokenTerms> terms = ComputeTokenTerms(logp, b.old_logp, b.ref_logp, b.adv, o);
  EXPECT_TRUE(terms.ok()) << terms.status();
  absl::StatusOr<torch::Tensor> loss = AggregateLoss(terms->loss, b.mask, step, o);
  EXPECT_TRUE(loss.ok()) << loss.status();
  return *loss;
}

TEST(ObjectiveTest, TensorVersionAgreesWithThePlainLoop) {
  const RandomBatch b = MakeBatch(7, 9, 1);
  const StepCounts step = *CountStep(b.mask);
  for (const PolicyLossOptions& o : AllLossOptions()) {
    const Matrix logp = ToMatrix(b.logp), old = ToMatrix(b.old_logp), ref = ToMatrix(b.ref_logp);
    const std::vector<double> adv = Flat(b.adv);
    Matrix token_loss = logp;
    for (size_t n = 0; n < logp.size(); ++n) {
      for (size_t t = 0; t < logp[n].size(); ++t) {
        token_loss[n][t] = reference::TokenLoss(logp[n][t], old[n][t], ref[n][t], adv[n], o);
      }
    }
    const double want = reference::Aggregate(token_loss, ToMatrix(b.mask), step, o);
    EXPECT_NEAR(Loss(b, b.logp, step, o).item<double>(), want, 1e-12);
  }
}

TEST(ObjectiveTest, GradientMatchesFiniteDifferences) {
  const RandomBatch b = MakeBatch(4, 5, 2);
  const StepCounts step = *CountStep(b.mask);
  for (const PolicyLossOptions& o : AllLossOptions()) {
    const torch::Tensor logp = b.logp.clone().requires_grad_(true);
    Loss(b, logp, step, o).backward();
    const std::vector<double> grad = Flat(logp.grad());
    const double h = 1e-6;
    for (int64_t i = 0; i < logp.numel(); ++i) {
      torch::Tensor plus = b.logp.clone(), minus = b.logp.clone();
      plus.view(-1)[i] += h;
      minus.view(-1)[i] -= h;
      const double fd = (Loss(b, plus, step, o).item<double>() - Loss(b, minus, step, o).item<double>()) / (2 * h);
      EXPECT_NEAR(grad[static_cast<size_t>(i)], fd, 1e-7) << "element " << i;
    }
  }
}

// A real policy (random ~0.1M Llama) scores completions; the loss summed over
// micro-batches and its accumulated parameter gradients equal the full step's.
TEST(ObjectiveTest, MicroBatchSplitLeavesLossAndGradientsUnchanged) {
  const int64_t vocab = 64;
  policy::CausalLM model = grpo::testing::TinyPolicy(vocab, /*seed=*/5);
  const int64_t n = 6, t = 12;
  torch::manual_seed(9);
  const torch::Tensor ids = torch::randint(0, vocab, {n, t});
  const torch::Tensor lengths = torch::tensor({12, 3, 7, 12, 5, 9}).unsqueeze(1);
  const torch::Tensor attention = (torch::arange(t).unsqueeze(0) < lengths).to(torch::kLong);
  const torch::Tensor mask = attention.narrow(1, 1, t - 1);  // scored positions [N,T-1]
  torch::Tensor old_logp, ref_logp;
  {
    torch::NoGradGuard no_grad;
    old_logp = policy::ScoreTokens(model, ids, {}, attention)->logprobs + 0.05 * torch::randn({n, t - 1});
    ref_logp = old_logp + 0.1 * torch::randn({n, t - 1});
  }
  const torch::Tensor adv = torch::randn({n});
  const StepCounts step = *CountStep(mask);
  for (const PolicyLossOptions& o : AllLossOptions()) {
    // One micro-batch of everything, then rows {0,1}, {2,3,4}, {5}.
    auto run = [&](const std::vector<std::pair<int64_t, int64_t>>& parts) {
      model->zero_grad();
      double total = 0;
      for (auto [start, len] : parts) {
        absl::StatusOr<policy::TokenScores> s =
            policy::ScoreTokens(model, ids.narrow(0, start, len), {}, attention.narrow(0, start, len));
        EXPECT_TRUE(s.ok()) << s.status();
        absl::StatusOr<TokenTerms> terms =
            ComputeTokenTerms(s->logprobs, old_logp.narrow(0, start, len), ref_logp.narrow(0, start, len),
                              adv.narrow(0, start, len), o);
        EXPECT_TRUE(terms.ok()) << terms.status();
        torch::Tensor loss = *AggregateLoss(terms->loss, mask.narrow(0, start, len), step, o);
        loss.backward();
        total += loss.item<double>();
      }
      std::vector<torch::Tensor> grads;
      for (const torch::Tensor& p : model->parameters()) grads.push_back(p.grad().clone());
      return std::make_pair(total, grads);
    };
    const auto [whole, whole_grads] = run({{0, n}});
    const auto [split, split_grads] = run({{0, 2}, {2, 3}, {5, 1}});
    EXPECT_NEAR(split, whole, 1e-6);
    double max_diff = 0;
    for (size_t i = 0; i < whole_grads.size(); ++i) {
      max_diff = std::max(max_diff, (whole_grads[i] - split_grads[i]).abs().max().item<double>());
    }
    EXPECT_LE(max_diff, 1e-6);
    EXPECT_GT(whole_grads[0].abs().sum().item<double>(), 0.0);  // the gradient is not trivially 0
  }
}

}  // namespace
}  // namespace grpo::train
