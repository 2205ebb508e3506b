// Crash and resume (issue 6): a `grpo train` process killed with SIGKILL in
// the middle of its GRPO steps, then run again with --resume, ends with the
// same metrics, step for step, as an uninterrupted run with the same seed;
// and SIGINT stops a run with a checkpoint that --resume continues. The same
// for two data-parallel ranks (--nproc=2): their weights agree at the end, and
// a run stopped by SIGINT resumes to the uninterrupted two-rank run's metrics.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace {

const std::string kWork = ::testing::TempDir() + "/grpo_resume_" + std::to_string(::getpid());

std::vector<std::string> Args(const std::string& out_dir) {
  return {GRPO_BIN,
          "train",
          "--config=" GRPO_SOURCE_DIR "/configs/mini_r1.textproto",
          "--set", "train.output_dir=" + out_dir,
          "--set", "train.arithmetic.train_problems=300",
          "--set", "train.arithmetic.heldout_problems=10",
          "--set", "train.scratch_model={hidden_size: 32 num_layers: 1 num_heads: 2}",
          "--set", "train.sft.steps=4",
          "--set", "train.sft.batch_size=8",
          "--set", "train.grpo.steps=8",
          "--set", "train.grpo.prompts_per_step=2",
          "--set", "train.grpo.group_size=4",
          "--set", "train.grpo.max_new_tokens=24",
          "--set", "train.grpo.eval_every=3",
          "--set", "train.checkpoint_every=1"};
}

pid_t Spawn(std::vector<std::string> args, const std::string& log) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<nlohmann::json> Metrics(const std::string& run_dir) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    // Wall-clock figures differ between any two runs.
    for (const char* k : {"time/rollout_s", "time/reward_wait_s", "time/train_s", "time/step_s",
                          "rollout_tokens_per_s", "train_tokens_per_s"}) {
      j.erase(k);
    }
    out.push_back(j);
  }
  return out;
}

size_t LineCount(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

// Starts a run and signals it once `lines` metrics lines exist.
int RunAndSignal(const std::vector<std::string>& args, const std::string& out, int signal, size_t lines) {
  const pid_t pid = Spawn(args, out + ".log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (LineCount(out + "/mini_r1/metrics.jsonl") < lines && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, signal);
  return Wait(pid);
}

// Runs `args` again with --resume (logging to out.log); its metrics must be
// `reference`'s, step for step.
void ExpectResumeGives(std::vector<std::string> args, const std::string& out,
                       const std::vector<nlohmann::json>& reference) {
  args.push_back("--resume");
  ASSERT_EQ(Wait(Spawn(args, out + ".log")), 0);
  const std::vector<nlohmann::json> resumed = Metrics(out + "/mini_r1");
  ASSERT_EQ(resumed.size(), reference.size());
  for (size_t i = 0; i < resumed.size(); ++i) EXPECT_EQ(resumed[i], reference[i]) << "step " << i + 1;
}

class TrainResumeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::filesystem::create_directories(kWork);
    // The uninterrupted reference run.
    ASSERT_EQ(Wait(Spawn(Args(kWork + "/straight"), kWork + "/straight.log")), 0);
    reference_ = new std::vector<nlohmann::json>(Metrics(kWork + "/straight/mini_r1"));
    ASSERT_EQ(reference_->size(), 8u);
  }
  static void TearDownTestSuite() {
    delete reference_;
    std::filesystem::remove_all(kWork);
  }
  static std::vector<nlohmann::json>* reference_;
};
std::vector<nlohmann::json>* TrainResumeTest::reference_ = nullptr;

TEST_F(TrainResumeTest, SigkillMidRunThenResumeGivesTheSameMetrics) {
  const std::string out = kWork + "/killed";
  EXPECT_EQ(RunAndSignal(Args(out), out, SIGKILL, 3), 128 + SIGKILL);
  EXPECT_LT(Metrics(out + "/mini_r1").size(), 8u) << "the run finished before it was killed";
  ExpectResumeGives(Args(out), out, *reference_);
  const auto summary = [](const std::string& dir) {
    return nlohmann::json::parse(std::ifstream(dir + "/mini_r1/summary.json"));
  };
  EXPECT_EQ(summary(out)["accuracy_after"], summary(kWork + "/straight")["accuracy_after"]);
  EXPECT_EQ(summary(out)["accuracy_before"], summary(kWork + "/straight")["accuracy_before"]);
  // Only the newest checkpoints are kept, and no temp dir is left.
  size_t kept = 0;
  for (const auto& e : std::filesystem::directory_iterator(out + "/mini_r1/checkpoints")) {
    EXPECT_EQ(e.path().filename().string().rfind("step-", 0), 0u) << e.path();
    ++kept;
  }
  EXPECT_EQ(kept, 2u);
}

TEST_F(TrainResumeTest, SigintStopsWithACheckpointThatResumes) {
  const std::string out = kWork + "/interrupted";
  EXPECT_EQ(RunAndSignal(Args(out), out, SIGINT, 2), 130);
  ASSERT_TRUE(std::filesystem::exists(out + "/mini_r1/checkpoints"));
  ExpectResumeGives(Args(out), out, *reference_);
}

std::vector<std::string> TwoRankArgs(const std::string& out_dir) {
  std::vector<std::string> args = Args(out_dir);
  args.push_back("--nproc=2");
  return args;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(TrainDataParallelTest, TwoRanksStayInSyncAndResumeAfterSigint) {
  const std::string work = kWork + "_dp";
  std::filesystem::create_directories(work);
  ASSERT_EQ(Wait(Spawn(TwoRankArgs(work + "/straight"), work + "/straight.log")), 0) << ReadAll(work + "/straight.log");
  EXPECT_NE(ReadAll(work + "/straight.log").find("2 ranks in sync"), std::string::npos) << ReadAll(work + "/straight.log");
  EXPECT_TRUE(std::filesystem::exists(work + "/straight/mini_r1/rank-1.log"));
  const std::vector<nlohmann::json> reference = Metrics(work + "/straight/mini_r1");
  ASSERT_EQ(reference.size(), 8u);

  const std::string out = work + "/interrupted";
  EXPECT_EQ(RunAndSignal(TwoRankArgs(out), out, SIGINT, 2), 130) << ReadAll(out + ".log");
  EXPECT_LT(Metrics(out + "/mini_r1").size(), 8u) << "the run finished before it was stopped";
  ExpectResumeGives(TwoRankArgs(out), out, reference);
  std::filesystem::remove_all(work);
}

}  // namespace
