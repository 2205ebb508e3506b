// The real-checkpoint configs (configs/qwen2.5_*.textproto) run for a couple of
// GRPO steps on a 2-layer random-init Qwen2-family model (Qwen2 attention
// biases, tied embeddings, the real Qwen tokenizer and its ChatML tokens),
// with their JSONL prompt sets (math, and MBPP code tasks checked in the
// sandbox) and the R1 chat prompt, through a loopback reward server; and a
// checkpoint without a dataset is a clear error.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpo/prompt_dataset.h"
#include "grpo/run_inputs.h"
#include "grpo/trainer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "policy/model.h"
#include "policy/model_config.h"
#include "proto/config_io.h"
#include "reward/code_checker.h"
#include "reward/reward_client.h"
#include "reward/reward_registry.h"
#include "reward/reward_service.h"
#include "tests/jsonl_test_util.h"
#include "tests/reward_service_test_util.h"

namespace grpo::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kMbpp = std::string(GRPO_SOURCE_DIR) + "/data/mbpp.jsonl";
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

class TrainPretrainedTest : public reward::testing::LoopbackServerTest {
 protected:
  // The shipped config, shortened and pointed at the tiny checkpoint.
  absl::StatusOr<config::Config> Config(const std::string& file, const std::string& name) {
    return config::LoadConfig(std::string(GRPO_SOURCE_DIR) + "/configs/" + file,
                              {"train.model_dir=" + TinyQwenDir(), "train.output_dir=" + kWork, "train.name=" + name,
                               "train.threads=1", "train.grpo.steps=2", "train.grpo.prompts_per_step=2",
                               "train.grpo.group_size=2", "train.grpo.max_new_tokens=12",
                               "train.grpo.micro_batch_rows=2", "train.grpo.eval_every=0",
                               "train.dataset.train_problems=20", "train.dataset.heldout_problems=3"});
  }

  // Runs `job` expecting every reward back; its metrics lines, or none (and
  // a test failure) when the run fails.
  std::vector<nlohmann::json> RunToMetrics(const config::TrainJob& job, std::string* run_dir = nullptr) {
    std::ostringstream log;
    auto summary = Run(job, &log);
    if (!summary.ok()) {
      ADD_FAILURE() << summary.status() << "\n" << log.str();
      return {};
    }
    EXPECT_EQ(summary->failed_rewards, 0);
    if (run_dir != nullptr) *run_dir = summary->run_dir;
    return grpo::testing::JsonLines(summary->run_dir + "/metrics.jsonl");
  }

  // The MBPP config, both splits from the shipped file.
  absl::StatusOr<config::Config> MbppConfig(const std::string& name) {
    auto cfg = Config("qwen2.5_1.5b_mbpp.textproto", name);
    if (cfg.ok()) {
      cfg->mutable_train()->mutable_dataset()->set_train(kMbpp);
      cfg->mutable_train()->mutable_dataset()->set_heldout(kMbpp);
    }
    return cfg;
  }

  absl::StatusOr<TrainSummary> Run(const config::TrainJob& job, std::ostringstream* log) {
    return RunTraining(job, target_, log);
  }
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
  Problem question;
  question.prompt = "What is 2+3?";
  const std::vector<int64_t> ids = policy->PromptIds(question);
  const std::vector<int32_t> ids32(ids.begin(), ids.end());
  const std::string text = policy->tokenizer->Decode(ids32);
  EXPECT_THAT(text, HasSubstr("<|im_start|>system\nThe user asks a question"));
  EXPECT_THAT(text, HasSubstr("<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"));
  EXPECT_EQ(policy->stop_ids.front(), 151645);
  std::string run_dir;
  const std::vector<nlohmann::json> metrics = RunToMetrics(cfg->train(), &run_dir);
  EXPECT_EQ(metrics.size(), 2u);
  for (const nlohmann::json& m : metrics) EXPECT_LT(m["logprob_mismatch_max"].get<double>(), 1e-3);
  EXPECT_TRUE(fs::exists(run_dir + "/model/model.safetensors"));
}

TEST_F(TrainPretrainedTest, MathConfigReadsProblemAndBoxedSolution) {
  auto cfg = Config("qwen2.5_1.5b_math.textproto", "math");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  const std::string math500 = std::string(GRPO_SOURCE_DIR) + "/data/math500_test.jsonl";
  cfg->mutable_train()->mutable_dataset()->set_train(math500);  // MATH's train split is not shipped
  cfg->mutable_train()->mutable_dataset()->set_heldout(math500);
  cfg->mutable_train()->mutable_grpo()->set_steps(1);
  EXPECT_EQ(RunToMetrics(cfg->train()).size(), 1u);
}

TEST_F(TrainPretrainedTest, MbppConfigReadsTheStandardSplitWithTests) {
  auto cfg = MbppConfig("mbpp_split");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  cfg->mutable_train()->mutable_dataset()->set_train_problems(0);
  auto problems = LoadRunProblems(cfg->train());
  ASSERT_TRUE(problems.ok()) << problems.status();
  ASSERT_EQ(problems->train.size(), 374u);  // task_ids 601-974
  ASSERT_EQ(problems->heldout.size(), 3u);  // the first of task_ids 11-510
  const Problem& first = problems->heldout.front();
  EXPECT_THAT(first.prompt, HasSubstr("Write a python function to remove first and last occurrence"));
  EXPECT_THAT(first.prompt, HasSubstr("Your code should pass these tests:\n\nassert remove_Occ(\"hello\",\"l\") == \"heo\""));
  ASSERT_TRUE(first.code_tests.has_value());
  EXPECT_EQ(first.code_tests->style(), "mbpp");
  EXPECT_EQ(first.code_tests->asserts_size(), 3);
  EXPECT_THAT(problems->train.front().prompt, HasSubstr("Write a function to find the longest chain"));

  // Each held-out task's reference program, in a fenced block after some
  // reasoning, passes its tests through the reward server; a wrong one fails.
  if (auto probe = reward::CodeChecker::Create(config::CodeRewardOptions()); !probe.ok()) {
    GTEST_SKIP() << "no sandbox on this machine: " << probe.status().message();
  }
  std::ifstream in(kMbpp);
  std::string line;
  std::vector<std::string> reference_code;
  for (int n = 1; std::getline(in, line) && n <= 13; ++n) {
    if (n > 10) reference_code.push_back(nlohmann::json::parse(line)["code"].get<std::string>());
  }
  std::vector<reward::v1::Sample> samples;
  for (size_t i = 0; i < 3; ++i) {
    for (bool right : {true, false}) {
      reward::v1::Sample& s = samples.emplace_back();
      s.set_id(std::to_string(samples.size()));
      s.set_completion("<think>Loop over the input.</think>\n<answer>\n```python\n" +
                       (right ? reference_code[i] : std::string("def unrelated():\n    return None\n")) +
                       "\n```\n</answer>");
      *s.mutable_reference()->mutable_code() = *problems->heldout[i].code_tests;
      for (const reward::v1::Component& c : RewardSpec(cfg->train())) *s.add_components() = c;
    }
  }
  reward::ClientOptions options;
  options.target = target_;
  auto client = reward::RewardClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto results = (*client)->ScoreAll(samples);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 6u);
  for (const reward::v1::Result& r : *results) {
    const bool right = std::stoi(r.id()) % 2 == 1;
    ASSERT_EQ(r.status(), "ok") << r.DebugString();
    ASSERT_EQ(r.components_size(), 2) << r.DebugString();
    EXPECT_EQ(r.components(0).name(), "code_tests");
    EXPECT_EQ(r.components(0).value(), right ? 1.0 : 0.0) << r.DebugString();
    EXPECT_EQ(r.components(1).value(), 1.0) << "format: " << r.DebugString();
  }
}

TEST_F(TrainPretrainedTest, MbppConfigRunsTwoStepsOnATinyQwen2) {
  auto cfg = MbppConfig("mbpp");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  cfg->mutable_train()->mutable_grpo()->set_dynamic_sampling(false);  // random-init: every group scores 0
  const std::vector<nlohmann::json> metrics = RunToMetrics(cfg->train());
  EXPECT_EQ(metrics.size(), 2u);
  for (const nlohmann::json& m : metrics) {
    ASSERT_TRUE(m.contains("reward/code_tests")) << m.dump();
    EXPECT_EQ(m["accuracy"].get<double>(), m["reward/code_tests"].get<double>());
  }
}

TEST_F(TrainPretrainedTest, CodePromptSetErrorsNameFileAndLine) {
  const std::string path = kWork + "/bad_mbpp.jsonl";
  fs::create_directories(kWork);
  std::ofstream(path) << "{\"text\": \"ok\", \"test_list\": [\"assert f() == 1\"]}\n"
                      << "{\"text\": \"no tests\"}\n";
  config::PromptDataset format;
  format.set_task(config::CODE_TASK);
  format.set_question_field("text");
  auto problems = LoadPromptDataset(path, format);
  EXPECT_EQ(problems.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(problems.status().message(), HasSubstr(path + ":2: missing field \"test_list\""));
  auto first = LoadPromptDataset(path, format, /*skip=*/0, /*limit=*/1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->front().code_tests->asserts(0), "assert f() == 1");
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
