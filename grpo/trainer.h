// `grpo train`'s run: the miniature DeepSeek-R1 recipe on the procedural
// addition task. A tiny Llama with a character tokenizer is built from
// scratch, cold-started by SFT on deliberately imperfect worked solutions,
// then trained with GRPO: each step the rollout worker samples G completions
// per prompt and has them scored by the reward service (rule-based accuracy
// and format), advantages are group-relative, and the clipped surrogate
// (grpo/objective.h) is optimized with AdamW.
//
// A run writes to OUTPUT_DIR/NAME/: metrics.jsonl (one line per GRPO step),
// samples.jsonl (a few completions per step with their rewards),
// summary.json (held-out greedy accuracy before and after GRPO, wall time),
// TensorBoard event files of the metrics, and the final model (model/:
// config.json + model.safetensors).
//
// Checkpoints (grpo/checkpoint.h) go to checkpoints/step-N every
// checkpoint_every steps, at the end and when stopped; with job.resume() the
// run continues from the newest one exactly (same prompts, same samples,
// same metrics).
//
// At the end it writes report.html (grpo/run_report.h).
//
// With a DataParallel group each rank samples its share of every step's
// prompts (grpo/data_parallel.h) and all make the same update; rank 0 writes
// the files.
#ifndef GRPO_GRPO_TRAINER_H_
#define GRPO_GRPO_TRAINER_H_

#include <functional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "proto/config.pb.h"

namespace grpo::train {
class DataParallel;
}  // namespace grpo::train

namespace grpo::train {

struct TrainSummary {
  std::string run_dir;
  double accuracy_before = 0;  // held-out greedy accuracy after SFT, as a fraction
  double accuracy_after = 0;   // after GRPO
  double pass_at_k_after = 0;  // held-out pass@k after GRPO, when grpo.eval_samples > 0
  double sft_seconds = 0;
  double grpo_seconds = 0;
  double wall_seconds = 0;
  int64_t failed_rewards = 0;  // rewards that came back not "ok" (counted as 0)
  bool interrupted = false;    // stopped early on request; a checkpoint holds the state
};

// Runs `job` with the reward service at `reward_target` (gRPC target). Logs a
// line per stage and per step to `log`. InvalidArgument for a job that cannot
// run (sizes out of range, unknown reward component at the server);
// Unavailable when the reward service does not answer its health check;
// errors of the policy and the files as they come.
// `stop_requested`, when set, is polled after every GRPO step (e.g. a SIGINT
// flag): when true the run writes a checkpoint and returns with `interrupted`.
// `data_parallel`, when set, makes this process one rank of a data-parallel
// run (every rank calls RunTraining with the same job); InvalidArgument when
// the batch does not split over the ranks, Internal when they diverge.
absl::StatusOr<TrainSummary> RunTraining(const config::TrainJob& job, const std::string& reward_target,
                                         std::ostream* log, std::function<bool()> stop_requested = nullptr,
                                         DataParallel* data_parallel = nullptr);

}  // namespace grpo::train

#endif  // GRPO_GRPO_TRAINER_H_
