// The rollout worker (rollout/rollout_worker.h) against a real reward server
// on loopback: every completion gets its result, rewards are what the service
// gives for the decoded text, behaviour log-probs come with the ids, and a
// dead reward server yields explicit failed results rather than a hang.
#include "rollout/rollout_worker.h"

#include <torch/utils.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "policy/model.h"
#include "policy/model_config.h"
#include "policy/tokenizer.h"
#include "reward/reward_client.h"
#include "reward/reward_registry.h"
#include "reward/reward_service.h"
#include "tests/reward_service_test_util.h"

namespace grpo::rollout {
namespace {

struct TinyPolicy {
  std::unique_ptr<policy::Tokenizer> tokenizer;
  policy::CausalLM model{nullptr};
};

// A random model over a digit/tag alphabet: its completions are noise, some
// of which contain digits (so math answers can be extracted and compared).
TinyPolicy MakeTinyPolicy() {
  TinyPolicy p;
  policy::CharTokenizerOptions to;
  to.special_tokens = {"<pad>", "<s>", "</s>"};
  to.alphabet = "0123456789+= <>/thinkaswer";
  p.tokenizer = policy::MakeCharTokenizer(to);
  policy::ModelConfig c;
  c.vocab_size = p.tokenizer->vocab_size();
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = 64;
  p.model = *policy::MakeCausalLM(c, /*seed=*/4);
  p.model->eval();
  return p;
}

std::vector<RolloutPrompt> Prompts(const policy::Tokenizer& tok) {
  std::vector<RolloutPrompt> out;
  for (const std::string text : {"12+34=", "5+5="}) {
    RolloutPrompt p;
    p.ids = {1};
    for (int32_t id : tok.Encode(text)) p.ids.push_back(id);
    p.text = text;
    p.reference.set_math_answer(text == "12+34=" ? "46" : "10");
    out.push_back(p);
  }
  return out;
}

RolloutOptions Options() {
  RolloutOptions o;
  o.sampler.n(4).temperature(1.0).max_new_tokens(12).stop_token_ids({2});
  reward::v1::Component math, format;
  math.set_name("math_accuracy");
  math.set_weight(1.0);
  format.set_name("format");
  format.set_weight(0.1);
  o.components = {math, format};
  return o;
}

TEST(RolloutWorkerTest, EveryCompletionIsScoredByTheServiceForItsDecodedText) {
  std::unique_ptr<reward::ComponentRegistry> registry = reward::testing::TestRegistry();
  auto server = reward::RewardServer::Start(reward::testing::LoopbackOptions(1), registry.get());
  ASSERT_TRUE(server.ok()) << server.status();
  reward::ClientOptions co;
  co.target = reward::testing::Target(**server);
  auto client = reward::RewardClient::Create(co);
  ASSERT_TRUE(client.ok()) << client.status();
  TinyPolicy p = MakeTinyPolicy();
  RolloutWorker worker(&p.model, p.tokenizer.get(), client->get(), Options());
  const std::vector<RolloutPrompt> prompts = Prompts(*p.tokenizer);
  auto batch = worker.Run(prompts, /*seed=*/3);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->completions.size(), 8u);
  EXPECT_EQ(batch->failed, 0);
  // Score the same texts with a unary call and compare.
  reward::v1::ScoreRequest request;
  for (size_t i = 0; i < 8; ++i) {
    const policy::Completion& c = batch->completions[i];
    EXPECT_EQ(c.prompt_index, static_cast<int64_t>(i / 4));
    EXPECT_EQ(c.ids.size(), c.logprobs.size());
    EXPECT_EQ(batch->statuses[i], "ok");
    EXPECT_EQ(batch->components[i].count("math_accuracy"), 1u);
    EXPECT_EQ(batch->components[i].count("format"), 1u);
    reward::v1::Sample* s = request.add_samples();
    s->set_id(std::to_string(i));
    s->set_prompt(prompts[i / 4].text);
    s->set_completion(batch->texts[i]);
    *s->mutable_reference() = prompts[i / 4].reference;
    for (const auto& comp : Options().components) *s->add_components() = comp;
  }
  auto direct = (*client)->ScoreBatch(request);
  ASSERT_TRUE(direct.ok()) << direct.status();
  for (size_t i = 0; i < 8; ++i) EXPECT_DOUBLE_EQ(batch->rewards[i], direct->results(static_cast<int>(i)).reward());
  // The seed makes the rollout reproducible.
  auto again = worker.Run(prompts, /*seed=*/3);
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(again->completions[i].ids, batch->completions[i].ids);
  (*server)->Shutdown(absl::ZeroDuration());
}

TEST(RolloutWorkerTest, DeadRewardServerGivesExplicitFailuresNotAHang) {
  reward::ClientOptions co;
  co.target = "127.0.0.1:1";  // nothing listens there
  co.per_sample_timeout = absl::Milliseconds(800);
  auto client = reward::RewardClient::Create(co);
  ASSERT_TRUE(client.ok());
  TinyPolicy p = MakeTinyPolicy();
  RolloutWorker worker(&p.model, p.tokenizer.get(), client->get(), Options());
  const auto start = std::chrono::steady_clock::now();
  auto batch = worker.Run(Prompts(*p.tokenizer), 1);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
  EXPECT_EQ(batch->failed, 8);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_NE(batch->statuses[i], "ok");
    EXPECT_EQ(batch->rewards[i], 0.0);
  }
}

}  // namespace
}  // namespace grpo::rollout
