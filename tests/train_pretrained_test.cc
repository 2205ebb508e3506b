// The real-checkpoint configs (configs/qwen2.5_*.textproto) run for a couple of
// GRPO steps on a 2-layer random-init Qwen2-family model (Qwen2 attention
// biases, tied embeddings, the real Qwen tokenizer and its ChatML tokens),
// with their JSONL prompt sets and the R1 chat prompt, through a loopback
// reward server; and a checkpoint without a dataset is a clear error.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "grpo/run_inputs.h"
#include "grpo/trainer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "policy/model.h"
#include "policy/model_config.h"
#include "proto/config_io.h"
#include "reward/reward_registry.h"
#include "reward/reward_service.h"
#include "tests/reward_service_test_util.h"

namespace grpo::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kWork = ::testing::TempDir() + "/grpo_pretrained_" + std::to_string(::getpid());

// A Qwen2-shaped checkpoint scaled down to 2 layers of width 64, with the
// shipped Qwen tokenizer, written as a Hugging Face directory.
std::string TinyQwenDir() {
  const std::string dir = kWork + "/tiny-qwen2";
  if (fs::exists(dir + "/model.safetensors")) return dir;
  policy::ModelConfig c;
  c.model_type = "qwen2";
  c.architecture = "Qwen2ForCausalLM";
  c.vocab_size = 151669;  // tokenizer.json's 151,643 tokens + 26 added
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = 1024;
  c.rope_theta = 1000000.0;
  c.tie_word_embeddings = true;
  c.qkv_bias = true;
  c.eos_token_id = 151645;  // <|im_end|>
  auto lm = policy::MakeCausalLM(c, /*seed=*/1);
  EXPECT_TRUE(lm.ok()) << lm.status();
  EXPECT_TRUE(policy::SaveCausalLM(*lm, dir).ok());
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    fs::copy_file(std::string(GRPO_DATA_DIR) + "/tokenizers/qwen3/" + f, dir + "/" + f,
                  fs::copy_options::overwrite_existing);
  }
  return dir;
}

class TrainPretrainedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = reward::testing::TestRegistry();
    auto server = reward::RewardServer::Start(reward::testing::LoopbackOptions(1), registry_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void TearDown() override { server_->Shutdown(absl::ZeroDuration()); }

  // The shipped config, shortened and pointed at the tiny checkpoint.
  absl::StatusOr<config::Config> Config(const std::string& file, const std::string& name) {
    return config::LoadConfig(std::string(GRPO_SOURCE_DIR) + "/configs/" + file,
                              {"train.model_dir=" + TinyQwenDir(), "train.output_dir=" + kWork, "train.name=" + name,
                               "train.threads=1", "train.grpo.steps=2", "train.grpo.prompts_per_step=2",
                               "train.grpo.group_size=2", "train.grpo.max_new_tokens=12",
                               "train.grpo.micro_batch_rows=2", "train.grpo.eval_every=0",
                               "train.dataset.train_problems=20", "train.dataset.heldout_problems=3"});
  }

  absl::StatusOr<TrainSummary> Run(const config::TrainJob& job, std::ostringstream* log) {
    return RunTraining(job, reward::testing::Target(*server_), log);
  }

  std::unique_ptr<reward::ComponentRegistry> registry_;
  std::unique_ptr<reward::RewardServer> server_;
};

TEST_F(TrainPretrainedTest, Gsm8kConfigRunsTwoStepsOnATinyQwen2) {
  auto cfg = Config("qwen2.5_0.5b_gsm8k.textproto", "gsm8k");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  // The data paths in the config are relative to the repository root.
  cfg->mutable_train()->mutable_dataset()->set_train(std::string(GRPO_SOURCE_DIR) + "/data/gsm8k_train.jsonl");
  cfg->mutable_train()->mutable_dataset()->set_heldout(std::string(GRPO_SOURCE_DIR) + "/data/gsm8k_test.jsonl");
  // The prompt is the R1 system prompt and the question in ChatML.
  auto policy = RunPolicy::Create(cfg->train());
  ASSERT_TRUE(policy.ok()) << policy.status();
  const std::vector<int64_t> ids = policy->PromptIds({"What is 2+3?", "5", "", true});
  const std::vector<int32_t> ids32(ids.begin(), ids.end());
  const std::string text = policy->tokenizer->Decode(ids32);
  EXPECT_THAT(text, HasSubstr("<|im_start|>system\nThe user asks a question"));
  EXPECT_THAT(text, HasSubstr("<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"));
  EXPECT_EQ(policy->stop_ids.front(), 151645);
  std::ostringstream log;
  auto summary = Run(cfg->train(), &log);
  ASSERT_TRUE(summary.ok()) << summary.status() << "\n" << log.str();
  EXPECT_EQ(summary->failed_rewards, 0);
  std::ifstream metrics(summary->run_dir + "/metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(metrics, line)) {
    const nlohmann::json m = nlohmann::json::parse(line);
    EXPECT_LT(m["logprob_mismatch_max"].get<double>(), 1e-3);
    ++lines;
  }
  EXPECT_EQ(lines, 2);
  EXPECT_TRUE(fs::exists(summary->run_dir + "/model/model.safetensors"));
}

TEST_F(TrainPretrainedTest, MathConfigReadsProblemAndBoxedSolution) {
  auto cfg = Config("qwen2.5_1.5b_math.textproto", "math");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  const std::string math500 = std::string(GRPO_SOURCE_DIR) + "/data/math500_test.jsonl";
  cfg->mutable_train()->mutable_dataset()->set_train(math500);  // MATH's train split is not shipped
  cfg->mutable_train()->mutable_dataset()->set_heldout(math500);
  cfg->mutable_train()->mutable_grpo()->set_steps(1);
  std::ostringstream log;
  auto summary = Run(cfg->train(), &log);
  ASSERT_TRUE(summary.ok()) << summary.status() << "\n" << log.str();
  EXPECT_EQ(summary->failed_rewards, 0);
}

TEST_F(TrainPretrainedTest, CheckpointWithoutDatasetOrWithSftIsInvalidArgument) {
  config::TrainJob job;
  job.set_model_dir(TinyQwenDir());
  std::ostringstream log;
  auto no_data = Run(job, &log);
  EXPECT_EQ(no_data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_data.status().message(), HasSubstr("train.dataset"));
  auto cfg = Config("qwen2.5_0.5b_gsm8k.textproto", "sft");
  ASSERT_TRUE(cfg.ok());
  cfg->mutable_train()->mutable_dataset()->set_train(std::string(GRPO_SOURCE_DIR) + "/data/gsm8k_train.jsonl");
  cfg->mutable_train()->mutable_dataset()->set_heldout(std::string(GRPO_SOURCE_DIR) + "/data/gsm8k_test.jsonl");
  cfg->mutable_train()->mutable_sft()->set_steps(5);
  auto sft = Run(cfg->train(), &log);
  EXPECT_EQ(sft.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sft.status().message(), HasSubstr("sft"));
}

}  // namespace
}  // namespace grpo::train
