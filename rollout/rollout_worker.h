// The rollout worker: prompts in, a scored RolloutBatch out. It samples G
// completions per prompt with the policy's KV-cache sampler and streams each
// finished completion to the reward service while the others keep
// generating, then waits for every result (the client turns a missing answer
// into a "timeout" result, so this never hangs).
//
//   RolloutWorker worker(&policy, &tokenizer, &client, options);
//   ASSIGN_OR_RETURN(RolloutBatch batch, worker.Run(prompts, /*seed=*/step));
//
// Legend: B prompts, G samples per prompt, N = B*G completions, prompt-major
// (completion b*G + g belongs to prompt b).
#ifndef GRPO_ROLLOUT_ROLLOUT_WORKER_H_
#define GRPO_ROLLOUT_ROLLOUT_WORKER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/model.h"
#include "policy/sampler.h"
#include "policy/tokenizer.h"
#include "proto/reward.pb.h"
#include "reward/reward_client.h"

namespace grpo::rollout {

struct RolloutPrompt {
  std::vector<int64_t> ids;  // what the policy sees (template and BOS applied)
  std::string text;          // what the reward service sees as the prompt
  reward::v1::Reference reference;   // the gold answer or the code tests
};

struct RolloutOptions {
  policy::SamplerOptions sampler;           // n = G; seed is replaced per Run
  std::vector<reward::v1::Component> components;    // the reward spec, e.g. math_accuracy:1, format:0.1
  uint32_t sample_timeout_ms = 0;           // per-sample deadline at the server; 0: its default
};

struct RolloutBatch {
  int64_t num_prompts = 0;  // B
  int64_t group_size = 0;   // G
  std::vector<std::vector<int64_t>> prompt_ids;      // [B]
  std::vector<policy::Completion> completions;       // [N]: ids, behaviour log-probs, finish
  std::vector<std::string> texts;                    // [N] decoded completions
  std::vector<double> rewards;                       // [N] total reward (0 unless status ok)
  std::vector<std::map<std::string, double>> components;  // [N] component -> value
  std::vector<std::string> statuses;                 // [N] "ok", "timeout", "error", ...
  int64_t failed = 0;                                // results whose status is not "ok"
  double sample_seconds = 0;                         // generation
  double reward_wait_seconds = 0;                    // waiting for results after generation ended
};

class RolloutWorker {
 public:
  // All pointers must outlive the worker.
  RolloutWorker(policy::CausalLM* policy, const policy::Tokenizer* tokenizer, reward::RewardClient* client,
                RolloutOptions options);

  // Samples G completions of every prompt (eos and stop ids end them), scores
  // them through the service and returns the batch. A result that is not "ok"
  // (the server died, a deadline passed) gives reward 0 and counts in
  // `failed`; it is never dropped. InvalidArgument for no prompts; the
  // sampler's errors as they come.
  absl::StatusOr<RolloutBatch> Run(const std::vector<RolloutPrompt>& prompts, uint64_t seed);

 private:
  policy::CausalLM* policy_;
  const policy::Tokenizer* tokenizer_;
  reward::RewardClient* client_;
  RolloutOptions options_;
};

}  // namespace grpo::rollout

#endif  // GRPO_ROLLOUT_ROLLOUT_WORKER_H_
