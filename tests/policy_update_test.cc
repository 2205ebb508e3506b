// One GRPO update (grpo/policy_update.h) on a real random policy with real
// sampled completions: micro-batching leaves the update unchanged, mu > 1
// makes one optimizer step per pass, masked truncations do not train, and
// bad input is an error.
#include "grpo/policy_update.h"

#include <torch/utils.h>

#include <vector>

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
