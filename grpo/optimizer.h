// The optimizer step of the trainer: AdamW with a warmup + cosine learning-rate
// schedule and gradient-norm clipping, and its state in a checkpoint file.
//
//   ASSIGN_OR_RETURN(auto opt, Optimizer::Create(model->parameters(), options));
//   for each micro-batch: loss.backward();  // gradients accumulate; the loss is
//                                           // already normalized by the step's
//                                           // global counts (grpo/objective.h)
//   ASSIGN_OR_RETURN(StepStats s, opt->Step());  // clip, set lr, AdamW, zero grads
//
// Errors: InvalidArgument for bad options; DataLoss/NotFound for a checkpoint
// that cannot be written or read (naming the file); Internal for a LibTorch
// failure.
#ifndef GRPO_GRPO_OPTIMIZER_H_
#define GRPO_GRPO_OPTIMIZER_H_

#include <torch/arg.h>
#include <torch/optim/adamw.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace grpo::train {

struct OptimizerOptions {
  TORCH_ARG(double, learning_rate) = 1e-6;
  TORCH_ARG(double, beta1) = 0.9;
  TORCH_ARG(double, beta2) = 0.999;
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(double, weight_decay) = 0.0;  // decoupled (AdamW), applied as p *= 1 - lr * wd
  // Schedule: linear warmup over warmup_steps, then cosine from learning_rate
  // down to learning_rate * min_lr_ratio at total_steps. total_steps 0 = constant
  // after warmup.
  TORCH_ARG(int64_t, warmup_steps) = 0;
  TORCH_ARG(int64_t, total_steps) = 0;
  TORCH_ARG(double, min_lr_ratio) = 0.0;
  // Clip the global L2 norm of all gradients to this; 0 = no clipping.
  TORCH_ARG(double, max_grad_norm) = 1.0;
};

// The learning rate of optimizer step `step` (0-based). Warmup gives step s
// lr * (s + 1) / warmup_steps, so the first update is not wasted at lr 0;
// after it, progress p = (s - warmup) / (total - warmup) in [0, 1] gives
// lr * (r + (1 - r) * (1 + cos(pi * p)) / 2) with r = min_lr_ratio.
double ScheduledLearningRate(const OptimizerOptions& options, int64_t step);

struct StepStats {
  double grad_norm = 0;         // before clipping
  double learning_rate = 0;     // used by this step
  bool skipped = false;         // true when the gradient was not finite: no update made
};

class Optimizer {
 public:
  // InvalidArgument for options out of range or no parameters.
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(std::vector<torch::Tensor> parameters,
                                                           const OptimizerOptions& options);

  // --- stepping ---
  // Clips the accumulated gradients, applies this step's learning rate, makes
  // the AdamW update and zeroes the gradients. A gradient with NaN or Inf
  // makes no update (StepStats::skipped) but still counts the step.
  absl::StatusOr<StepStats> Step();
  int64_t steps_done() const { return steps_done_; }

  // --- checkpoints ---
  // AdamW moments, step counters and the step count, written to PATH.tmp,
  // fsynced and renamed onto PATH. Load expects the same parameters.
  absl::Status Save(const std::string& path) const;
  absl::Status Load(const std::string& path);

 private:
  Optimizer(std::vector<torch::Tensor> parameters, const OptimizerOptions& options);

  std::vector<torch::Tensor> parameters_;
  OptimizerOptions options_;
  std::unique_ptr<torch::optim::AdamW> adamw_;
  int64_t steps_done_ = 0;
};

}  // namespace grpo::train

#endif  // GRPO_GRPO_OPTIMIZER_H_
