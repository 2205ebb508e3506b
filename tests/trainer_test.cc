// The GRPO run (grpo/trainer.h), shortened: SFT and GRPO steps against a real
// reward server on loopback write the run's files with the documented fields;
// a reward spec naming an unknown component and a dead reward server are
// clear errors.
#include "grpo/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "reward/reward_registry.h"
#include "reward/reward_service.h"
#include "tests/jsonl_test_util.h"
#include "tests/reward_service_test_util.h"

namespace grpo::train {
namespace {

using ::testing::HasSubstr;

config::TrainJob ShortJob(const std::string& name) {
  config::TrainJob job;
  job.set_name(name);
  job.set_output_dir(::testing::TempDir() + "/grpo_trainer_" + std::to_string(::getpid()));
  job.mutable_arithmetic()->set_train_problems(300);
  job.mutable_arithmetic()->set_heldout_problems(8);
  job.mutable_scratch_model()->set_hidden_size(32);
  job.mutable_scratch_model()->set_num_layers(1);
  job.mutable_sft()->set_steps(3);
  job.mutable_sft()->set_batch_size(8);
  job.mutable_grpo()->set_steps(3);
  job.mutable_grpo()->set_prompts_per_step(2);
  job.mutable_grpo()->set_group_size(4);
  job.mutable_grpo()->set_max_new_tokens(24);
  job.mutable_grpo()->set_eval_every(2);
  job.mutable_grpo()->set_beta(0.04);  // exercises the reference model and the KL metric
  return job;
}

using grpo::testing::JsonLines;

class TrainerTest : public reward::testing::LoopbackServerTest {};

TEST_F(TrainerTest, ShortRunWritesMetricsSamplesSummaryAndModel) {
  const config::TrainJob job = ShortJob("short");
  std::ostringstream log;
  auto summary = RunTraining(job, target_, &log);
  ASSERT_TRUE(summary.ok()) << summary.status() << "\n" << log.str();
  EXPECT_EQ(summary->failed_rewards, 0);
  EXPECT_GE(summary->accuracy_before, 0.0);
  EXPECT_LE(summary->accuracy_after, 1.0);
  const std::string dir = summary->run_dir;
  const std::vector<nlohmann::json> metrics = JsonLines(dir + "/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 3u);
  for (const char* key : {"step", "loss", "reward_mean", "reward_std", "frac_reward_zero_std", "accuracy",
                          "reward/math_accuracy", "reward/format", "reward_std/math_accuracy",
                          "reward_std/format", "entropy", "kl", "clip_frac_low",
                          "clip_frac_high", "grad_norm", "learning_rate", "completion_len_mean",
                          "completion_len_max", "truncated_frac", "time/rollout_s", "time/reward_wait_s",
                          "time/train_s", "rollout_tokens_per_s", "train_tokens_per_s"}) {
    EXPECT_TRUE(metrics[0].contains(key)) << key;
  }
  EXPECT_EQ(metrics[2]["step"], 3);
  for (const nlohmann::json& m : metrics) {  // 0/1 accuracy over 2 x 4 samples: its sample std
    const double p = m["reward/math_accuracy"].get<double>();
    EXPECT_NEAR(m["reward_std/math_accuracy"].get<double>(), std::sqrt(p * (1 - p) * 8 / 7), 1e-12) << m.dump();
  }
  EXPECT_TRUE(metrics[1].contains("heldout_accuracy"));
  // The sampler's log-probs are the policy's own: the first step's ratio is 1.
  EXPECT_LT(metrics[0]["logprob_mismatch_max"].get<double>(), 1e-4);
  EXPECT_FALSE(JsonLines(dir + "/samples.jsonl").empty());
  const nlohmann::json s = nlohmann::json::parse(std::ifstream(dir + "/summary.json"));
  EXPECT_DOUBLE_EQ(s["accuracy_before"].get<double>(), summary->accuracy_before);
  EXPECT_DOUBLE_EQ(s["accuracy_after"].get<double>(), summary->accuracy_after);
  EXPECT_TRUE(s.contains("wall_seconds"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/model/config.json"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/model/model.safetensors"));
  EXPECT_THAT(log.str(), HasSubstr("after SFT"));
}

TEST_F(TrainerTest, DynamicSamplingMicroBatchesAndEpochsRun) {
  config::TrainJob job = ShortJob("dapo");
  job.mutable_grpo()->set_dynamic_sampling(true);
  job.mutable_grpo()->set_max_sampling_rounds(2);
  job.mutable_grpo()->set_mask_truncated(true);
  job.mutable_grpo()->set_epochs(2);
  job.mutable_grpo()->set_micro_batch_rows(3);
  job.mutable_grpo()->set_eval_samples(4);
  job.mutable_grpo()->set_eval_pass_k(2);
  std::ostringstream log;
  auto summary = RunTraining(job, target_, &log);
  ASSERT_TRUE(summary.ok()) << summary.status() << "\n" << log.str();
  for (const nlohmann::json& m : JsonLines(summary->run_dir + "/metrics.jsonl")) {
    const int rounds = m["sampling_rounds"].get<int>();
    EXPECT_GE(rounds, 1);
    EXPECT_LE(rounds, 2);
    // Groups without signal are dropped unless the last round found none at all.
    if (m["frac_reward_zero_std"].get<double>() > 0) {
      EXPECT_EQ(rounds, 2);
    }
    EXPECT_TRUE(m.contains("groups_dropped"));
  }
  const nlohmann::json s = nlohmann::json::parse(std::ifstream(summary->run_dir + "/summary.json"));
  EXPECT_EQ(s["pass_k"], 2);
  EXPECT_GE(s["pass_at_k_after"].get<double>(), 0.0);
  EXPECT_LE(s["pass_at_k_after"].get<double>(), 1.0);
  EXPECT_TRUE(JsonLines(summary->run_dir + "/metrics.jsonl")[1].contains("heldout_pass_at_k"));
}

TEST_F(TrainerTest, RewardServerKilledMidRunGivesErrorsAndWarningsNotAHang) {
  config::TrainJob job = ShortJob("server_dies");
  job.mutable_grpo()->set_steps(6);
  job.mutable_grpo()->set_eval_every(0);
  job.set_reward_timeout_seconds(1.0);
  const std::string metrics = job.output_dir() + "/server_dies/metrics.jsonl";
  std::thread killer([&] {
    // Once two GRPO steps are done, the server goes away for good.
    for (int i = 0; i < 6000; ++i) {
      std::ifstream in(metrics);
      std::string line;
      int lines = 0;
      while (std::getline(in, line)) ++lines;
      if (lines >= 2) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    server_->Shutdown(absl::ZeroDuration());
  });
  std::ostringstream log;
  const auto start = std::chrono::steady_clock::now();
  auto summary = RunTraining(job, target_, &log);
  killer.join();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 60.0);
  // The steps after the kill score 0 with explicit statuses and warnings; the
  // final held-out evaluation cannot be scored, which is an error, not a hang.
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kUnavailable) << summary.status();
  EXPECT_THAT(log.str(), HasSubstr("warning: step"));
  int64_t failed = 0;
  for (const nlohmann::json& m : JsonLines(metrics)) failed += m["failed_rewards"].get<int64_t>();
  EXPECT_GT(failed, 0);
}

TEST_F(TrainerTest, UnknownRewardComponentIsInvalidArgument) {
  config::TrainJob job = ShortJob("unknown");
  config::RewardComponentSpec* r = job.mutable_grpo()->add_rewards();
  r->set_name("no_such_reward");
  std::ostringstream log;
  auto summary = RunTraining(job, target_, &log);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(summary.status().message(), HasSubstr("no_such_reward"));
}

TEST(TrainerNoServerTest, DeadRewardServerIsUnavailable) {
  std::ostringstream log;
  auto summary = RunTraining(ShortJob("dead"), "127.0.0.1:1", &log);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(summary.status().message(), HasSubstr("127.0.0.1:1"));
}

}  // namespace
}  // namespace grpo::train
