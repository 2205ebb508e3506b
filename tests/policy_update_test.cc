// One GRPO update (grpo/policy_update.h) on a real random policy with real
// sampled completions: micro-batching leaves the update unchanged, and so does
// splitting the rows over two data-parallel ranks (grpo/data_parallel.h, Gloo
// over loopback, one thread per rank); mu > 1 makes one optimizer step per
// pass, masked truncations do not train, and bad input is an error.
#include "grpo/policy_update.h"

#include <torch/utils.h>

#include <functional>
#include <thread>
#include <vector>

#include "grpo/data_parallel.h"
#include "gtest/gtest.h"
#include "policy/model.h"
#include "policy/model_config.h"
#include "policy/sampler.h"
#include "tests/tiny_policy.h"

namespace grpo::train {
namespace {

policy::CausalLM Model() { return grpo::testing::TinyPolicy(/*vocab_size=*/40, /*seed=*/11); }

// 3 prompts x 4 samples of up to 10 tokens (token 3 stops), with advantages.
UpdateInput Rollout(policy::CausalLM& model, int64_t max_new_tokens = 10) {
  const std::vector<std::vector<int64_t>> prompts = {{1, 5, 6}, {1, 7}, {1, 8, 9, 10}};
  auto sampled = policy::Sample(model, prompts,
                                policy::SamplerOptions().n(4).max_new_tokens(max_new_tokens).seed(2).stop_token_ids({3}));
  EXPECT_TRUE(sampled.ok()) << sampled.status();
  UpdateInput in;
  for (const policy::Completion& c : sampled->completions) {
    in.prompts.push_back(prompts[static_cast<size_t>(c.prompt_index)]);
    in.completions.push_back(c);
  }
  torch::manual_seed(4);
  in.advantages = torch::randn({12});
  return in;
}

// Plain gradient steps in effect: with eps >> |g| AdamW's first step is ~ g * lr / eps.
OptimizerOptions LinearSteps() { return OptimizerOptions().learning_rate(1.0).eps(1e3).max_grad_norm(0); }

double MaxParamDiff(policy::CausalLM& a, policy::CausalLM& b) {
  double d = 0;
  const auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) d = std::max(d, (pa[i] - pb[i]).abs().max().item<double>());
  return d;
}

TEST(PolicyUpdateTest, MicroBatchesGiveTheSameUpdate) {
  policy::CausalLM whole = Model(), split = Model(), start = Model();
  const UpdateInput in = Rollout(whole);
  UpdateOptions o;
  o.loss = PolicyLossOptions().eps_high(0.28);
  auto opt_whole = *Optimizer::Create(whole->parameters(), LinearSteps());
  auto opt_split = *Optimizer::Create(split->parameters(), LinearSteps());
  auto a = UpdatePolicy(whole, nullptr, *opt_whole, in, o);
  o.micro_batch_rows = 5;  // 5 + 5 + 2 rows
  auto b = UpdatePolicy(split, nullptr, *opt_split, in, o);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_NEAR(a->loss, b->loss, 1e-6);
  EXPECT_EQ(a->tokens_trained, b->tokens_trained);
  EXPECT_LT(a->logprob_mismatch_max, 1e-4);  // the sampler's log-probs are the policy's
  EXPECT_GT(MaxParamDiff(whole, start), 1e-5) << "the update changed nothing";
  EXPECT_LT(MaxParamDiff(whole, split), 1e-7);
}

// Runs body(rank, group) on `world` threads, each joined to one group.
void OnRanks(int world, const std::function<void(int, DataParallel&)>& body) {
  const absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      DataParallelOptions o;
      o.rank = rank;
      o.world_size = world;
      o.master_port = *port;
      o.timeout = absl::Seconds(60);
      auto dp = DataParallel::Create(o);
      ASSERT_TRUE(dp.ok()) << dp.status();
      body(rank, **dp);
    });
  }
  for (std::thread& t : threads) t.join();
}

TEST(DataParallelTest, CollectivesSumMaxAndBroadcast) {
  OnRanks(2, [](int rank, DataParallel& dp) {
    EXPECT_EQ(dp.world_size(), 2);
    torch::Tensor sum = torch::tensor({1.0 + rank, 10.0});
    ASSERT_TRUE(dp.AllReduceSum(sum).ok());
    EXPECT_EQ(sum[0].item<double>(), 3.0);
    EXPECT_EQ(sum[1].item<double>(), 20.0);
    torch::Tensor max = torch::tensor({static_cast<int64_t>(5 - 4 * rank)});
    ASSERT_TRUE(dp.AllReduceMax(max).ok());
    EXPECT_EQ(max[0].item<int64_t>(), 5);
    torch::Tensor b = torch::full({3}, static_cast<float>(rank + 7));
    ASSERT_TRUE(dp.Broadcast(b, /*root=*/1).ok());
    EXPECT_EQ(b.sum().item<float>(), 24.0f);
    EXPECT_TRUE(dp.Barrier().ok());
  });
}

TEST(DataParallelTest, BadRankIsInvalidArgument) {
  DataParallelOptions o;
  o.rank = 2;
  o.world_size = 2;
  EXPECT_EQ(DataParallel::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

// Rows 0-7 (two prompts) on rank 0 and rows 8-11 on rank 1 give the update of
// all 12 rows in one process, for every loss aggregation, with two epochs
// (old_logp recomputed) and micro-batches; both ranks end bitwise equal.
TEST(PolicyUpdateTest, TwoRanksGiveTheWholeBatchUpdate) {
  for (LossAggregation mode : {LossAggregation::kTokenMean, LossAggregation::kSeqMeanTokenMean,
                               LossAggregation::kSeqMeanTokenSumNorm}) {
    policy::CausalLM whole = Model(), start = Model();
    const UpdateInput in = Rollout(whole);
    UpdateOptions o;
    o.loss = PolicyLossOptions().eps_high(0.28).aggregation(mode).sum_norm(10);
    o.epochs = 2;
    o.micro_batch_rows = 3;
    auto opt_whole = *Optimizer::Create(whole->parameters(), LinearSteps());
    auto a = UpdatePolicy(whole, nullptr, *opt_whole, in, o);
    ASSERT_TRUE(a.ok()) << a.status();
    std::vector<policy::CausalLM> ranks = {Model(), Model()};
    std::vector<UpdateStats> stats(2);
    OnRanks(2, [&](int rank, DataParallel& dp) {
      const int64_t first = rank == 0 ? 0 : 8, count = rank == 0 ? 8 : 4;
      UpdateInput part;
      for (int64_t i = first; i < first + count; ++i) {
        part.prompts.push_back(in.prompts[static_cast<size_t>(i)]);
        part.completions.push_back(in.completions[static_cast<size_t>(i)]);
      }
      part.advantages = in.advantages.narrow(0, first, count);
      UpdateOptions ro = o;
      ro.data_parallel = &dp;
      auto opt = *Optimizer::Create(ranks[static_cast<size_t>(rank)]->parameters(), LinearSteps());
      auto s = UpdatePolicy(ranks[static_cast<size_t>(rank)], nullptr, *opt, part, ro);
      ASSERT_TRUE(s.ok()) << s.status();
      stats[static_cast<size_t>(rank)] = *s;
    });
    EXPECT_GT(MaxParamDiff(whole, start), 1e-5) << "the update changed nothing";
    EXPECT_LT(MaxParamDiff(whole, ranks[0]), 1e-6);
    EXPECT_EQ(MaxParamDiff(ranks[0], ranks[1]), 0.0);
    for (const UpdateStats& s : stats) {
      EXPECT_EQ(s.tokens_trained, a->tokens_trained);
      EXPECT_NEAR(s.loss, a->loss, 1e-6);
      EXPECT_NEAR(s.entropy, a->entropy, 1e-6);
      EXPECT_NEAR(s.clip_frac_low + s.clip_frac_high, a->clip_frac_low + a->clip_frac_high, 1e-9);
      EXPECT_NEAR(s.grad_norm, a->grad_norm, 1e-6);
    }
  }
}

TEST(PolicyUpdateTest, SeveralEpochsStepOncePerPassAndClip) {
  policy::CausalLM model = Model();
  const UpdateInput in = Rollout(model);
  UpdateOptions o;
  o.epochs = 3;
  o.micro_batch_rows = 4;
  auto opt = *Optimizer::Create(model->parameters(), OptimizerOptions().learning_rate(0.05));
  auto stats = UpdatePolicy(model, nullptr, *opt, in, o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->optimizer_steps, 3);
  EXPECT_EQ(opt->steps_done(), 3);
  // A large learning rate moves the ratio out of [0.8, 1.2] in later passes.
  EXPECT_GT(stats->clip_frac_low + stats->clip_frac_high, 0.0);
}

TEST(PolicyUpdateTest, MaskedTruncationsDoNotTrain) {
  policy::CausalLM model = Model(), start = Model();
  UpdateInput in = Rollout(model, /*max_new_tokens=*/2);
  for (policy::Completion& c : in.completions) c.finish = policy::FinishReason::kLength;
  UpdateOptions o;
  o.mask_truncated = true;
  auto opt = *Optimizer::Create(model->parameters(), LinearSteps());
  auto stats = UpdatePolicy(model, nullptr, *opt, in, o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->tokens_trained, 0);
  EXPECT_EQ(stats->optimizer_steps, 0);
  EXPECT_EQ(MaxParamDiff(model, start), 0.0);
}

TEST(PolicyUpdateTest, BadInputIsInvalidArgument) {
  policy::CausalLM model = Model();
  UpdateInput in = Rollout(model);
  auto opt = *Optimizer::Create(model->parameters(), LinearSteps());
  UpdateOptions o;
  in.advantages = torch::zeros({5});
  EXPECT_EQ(UpdatePolicy(model, nullptr, *opt, in, o).status().code(), absl::StatusCode::kInvalidArgument);
  in.advantages = torch::zeros({12});
  o.loss.beta(0.1);
  EXPECT_EQ(UpdatePolicy(model, nullptr, *opt, in, o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace grpo::train
