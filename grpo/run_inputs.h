// What a `grpo train` run trains on and with, from its TrainJob: the problems
// (the procedural addition task, or a JSONL prompt set), the policy (the
// scratch Llama with its character tokenizer, or a Hugging Face checkpoint),
// how a problem becomes prompt ids, and the reward spec sent with samples.
#ifndef GRPO_GRPO_RUN_INPUTS_H_
#define GRPO_GRPO_RUN_INPUTS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpo/objective.h"
#include "grpo/problem.h"
#include "policy/model.h"
#include "policy/tokenizer.h"
#include "proto/config.pb.h"
#include "proto/reward.pb.h"

namespace grpo::train {

struct RunProblems {
  std::vector<Problem> train, heldout;  // disjoint for the procedural task
};

// InvalidArgument/NotFound naming the file for a bad prompt set.
absl::StatusOr<RunProblems> LoadRunProblems(const config::TrainJob& job);

class RunPolicy {
 public:
  // The scratch model and character tokenizer, or job.model_dir's checkpoint
  // (which needs a JSONL dataset: it has no worked solutions to SFT on).
  static absl::StatusOr<RunPolicy> Create(const config::TrainJob& job);

  // The prompt ids of a problem: BOS + the task text for the scratch model;
  // the dataset's template (R1 ChatML, R1-Zero or raw) for a checkpoint.
  std::vector<int64_t> PromptIds(const Problem& problem) const;
  // A frozen copy of `model`'s architecture (for the KL reference), weights
  // still to be copied in. Errors as for Create.
  absl::StatusOr<policy::CausalLM> NewModelLikeThis() const;

  policy::CausalLM model{nullptr};
  std::unique_ptr<policy::Tokenizer> tokenizer;
  std::vector<int64_t> stop_ids;  // end of a completion (EOS, <|im_end|>)
  int64_t eos_id = 0;             // appended to SFT solutions
  int64_t pad_id = 0;             // fills packed batches (masked out)

 private:
  const config::TrainJob* job_ = nullptr;
  int64_t bos_id_ = -1;
  bool add_bos_ = true;
};

// InvalidArgument naming the bounds when the job's sizes are out of range.
absl::Status CheckTrainJob(const config::TrainJob& job);
// The objective's options (grpo/objective.h) from the GRPO stage.
PolicyLossOptions LossOptionsOf(const config::GrpoStage& g);
AdvantageOptions AdvantageOptionsOf(const config::GrpoStage& g);

// The reward spec of every rollout sample (train.grpo.rewards with their
// params, or the accuracy component 1 + format 0.1), with math_accuracy
// reading the dataset's gold format; and the accuracy-only spec of held-out
// evaluation: math_accuracy, or for code tasks code_tests as pass/fail.
std::vector<reward::v1::Component> RewardSpec(const config::TrainJob& job);
reward::v1::Component AccuracyComponent(const config::TrainJob& job);

}  // namespace grpo::train

#endif  // GRPO_GRPO_RUN_INPUTS_H_
