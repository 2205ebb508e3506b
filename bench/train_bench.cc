// train_bench: the main job's speed. Runs `grpo train`'s default recipe
// (configs/mini_r1.textproto, proto defaults) with a loopback reward server,
// shortened to --sft_steps SFT steps and --grpo_steps GRPO steps, and reports
// per GRPO step the time split (rollout / waiting for rewards / update), and
// rollout and training tokens/s, from the run's own metrics.jsonl.
//
//   build/bench/train_bench [--sft_steps=200] [--grpo_steps=20] [--threads=1]
//
// No peer: the issue names none for the trainer, and a Python GRPO trainer on
// this model would measure a different sampler and loss implementation.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "grpo/trainer.h"
#include "nlohmann/json.hpp"
#include "reward/reward_registry.h"
#include "reward/reward_service.h"

namespace {

int IntFlag(int argc, char** argv, const std::string& name, int fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind(prefix, 0) == 0) return std::atoi(a.c_str() + prefix.size());
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  using grpo::config::TrainJob;
  TrainJob job;
  job.set_name("train_bench");
  job.set_output_dir("/tmp/grpo_train_bench_" + std::to_string(getpid()));
  job.set_threads(IntFlag(argc, argv, "threads", 1));
  job.mutable_sft()->set_steps(IntFlag(argc, argv, "sft_steps", 200));
  job.mutable_grpo()->set_steps(IntFlag(argc, argv, "grpo_steps", 20));
  job.mutable_grpo()->set_eval_every(0);
  job.set_checkpoint_every(0);

  grpo::reward::ComponentRegistry registry;
  if (auto s = grpo::reward::RegisterBuiltinComponents(grpo::config::RewardConfig(), &registry); !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  grpo::reward::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.threads = 1;
  auto server = grpo::reward::RewardServer::Start(options, &registry);
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    return 1;
  }
  auto summary = grpo::train::RunTraining(job, "127.0.0.1:" + std::to_string((*server)->port()), &std::cerr);
  (*server)->Shutdown(absl::Seconds(1));
  if (!summary.ok()) {
    std::cerr << summary.status() << "\n";
    return 1;
  }
  std::map<std::string, std::vector<double>> columns;
  std::ifstream in(summary->run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json m = nlohmann::json::parse(line);
    for (const char* k : {"time/step_s", "time/rollout_s", "time/reward_wait_s", "time/train_s",
                          "rollout_tokens_per_s", "train_tokens_per_s", "completion_len_mean"}) {
      columns[k].push_back(m[k].get<double>());
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  const double step = median(columns["time/step_s"]);
  std::printf("\n== the main job, %d GRPO steps (B=%d prompts x G=%d samples), after %d SFT steps ==\n",
              job.grpo().steps(), job.grpo().prompts_per_step(), job.grpo().group_size(), job.sft().steps());
  std::printf("median per step          seconds   share\n");
  for (const auto& [label, key] : std::vector<std::pair<const char*, const char*>>{
           {"rollout (sampling)", "time/rollout_s"},
           {"waiting for rewards", "time/reward_wait_s"},
           {"update (fwd+bwd+AdamW)", "time/train_s"}}) {
    const double t = median(columns[key]);
    std::printf("%-24s %8.3f  %5.1f%%\n", label, t, 100 * t / step);
  }
  std::printf("%-24s %8.3f\n", "whole step", step);
  std::printf("rollout tokens/s (median) %8.0f\n", median(columns["rollout_tokens_per_s"]));
  std::printf("train tokens/s (median)   %8.0f\n", median(columns["train_tokens_per_s"]));
  std::printf("completion length (mean)  %8.1f tokens\n", median(columns["completion_len_mean"]));
  std::printf("SFT: %d steps in %.1f s (%.3f s/step)\n", job.sft().steps(), summary->sft_seconds,
              summary->sft_seconds / std::max(1, job.sft().steps()));
  return 0;
}
