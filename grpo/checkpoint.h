// Trainer checkpoints: runs/NAME/checkpoints/step-N/ holds the policy
// (model/: config.json + model.safetensors, Hugging Face layout), the frozen
// reference when there is one (reference/), the optimizer state
// (optimizer.pt) and the trainer's own state (state.json: step, RNG, the
// metrics that span the run). A checkpoint is written into a temp dir,
// fsynced, then renamed into place, so a crash leaves either the whole
// checkpoint or none; the oldest beyond `keep` are removed.
#ifndef GRPO_GRPO_CHECKPOINT_H_
#define GRPO_GRPO_CHECKPOINT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpo/optimizer.h"
#include "policy/model.h"

namespace grpo::train {

// What the trainer needs besides weights and optimizer to continue exactly.
struct TrainerState {
  int64_t step = 0;               // GRPO steps done
  int64_t data_epoch = 0;         // the training order's cursor (grpo/data_cursor.h)
  int64_t data_position = 0;
  double accuracy_before = 0;
  double sft_seconds = 0;
  double grpo_seconds = 0;        // GRPO wall time spent before this checkpoint
  int64_t failed_rewards = 0;
};

// Writes checkpoints/step-<state.step> under run_dir and keeps the newest
// `keep` (>= 1). `reference` may be null. DataLoss naming the path on an I/O
// failure; the previous checkpoints are untouched then.
absl::Status WriteCheckpoint(const std::string& run_dir, policy::CausalLM& model, policy::CausalLM* reference,
                             const Optimizer& optimizer, const TrainerState& state, int keep);

// The newest complete checkpoint dir under run_dir; NotFound when none.
absl::StatusOr<std::string> LatestCheckpoint(const std::string& run_dir);

// Reads state.json of a checkpoint dir. DataLoss naming the file when it is
// missing or malformed.
absl::StatusOr<TrainerState> ReadTrainerState(const std::string& checkpoint_dir);

// Drops the JSONL lines of `path` (metrics.jsonl, samples.jsonl) whose "step"
// is past `steps_done`: they came after the checkpoint being resumed. A
// missing file is fine; DataLoss when it cannot be rewritten.
absl::Status KeepLinesUpToStep(const std::string& path, int64_t steps_done);

}  // namespace grpo::train

#endif  // GRPO_GRPO_CHECKPOINT_H_
