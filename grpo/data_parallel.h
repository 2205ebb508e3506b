// Data-parallel learners over torch c10d (Gloo on CPU; NCCL where LibTorch is
// built with it): each rank samples and scores its share of a step's prompts,
// the step's token counts and the gradients are summed across ranks, and every
// rank then makes the same optimizer step, so the weights stay identical.
//
//   ASSIGN_OR_RETURN(auto dp, DataParallel::Create(DataParallelOptions{...}));
//   RETURN_IF_ERROR(dp->AllReduceSum(counts));       // [K] float64, in place
//   RETURN_IF_ERROR(dp->AllReduceGradients(params)); // before the optimizer step
//
// A rank's peers find each other through a TCP store at master_addr:port that
// rank 0 serves (torchrun's MASTER_ADDR/MASTER_PORT, RANK, WORLD_SIZE).
#ifndef GRPO_GRPO_DATA_PARALLEL_H_
#define GRPO_GRPO_DATA_PARALLEL_H_

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpo::train {

struct DataParallelOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // How long a rank waits for its peers, at start and in each collective.
  absl::Duration timeout = absl::Minutes(10);
};

// A TCP port free on 127.0.0.1 at the time of the call, for a one-machine
// group's store. Unavailable when no socket can be bound.
absl::StatusOr<int> PickFreePort();

// From the launcher's environment: RANK, WORLD_SIZE (both or neither),
// MASTER_ADDR (default 127.0.0.1), MASTER_PORT (default 29500). world_size 1
// when they are unset. InvalidArgument naming the variable for a bad value.
absl::StatusOr<DataParallelOptions> DataParallelFromEnv();

class DataParallel {
 public:
  // Joins the group (blocks until every rank has joined, up to the timeout).
  // InvalidArgument for a bad rank or size; Unavailable when the peers cannot
  // be reached.
  static absl::StatusOr<std::unique_ptr<DataParallel>> Create(const DataParallelOptions& options);
  ~DataParallel();

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  // --- collectives: every rank calls the same ones in the same order ---
  // In place, over all ranks. Internal/DeadlineExceeded when a peer fails.
  absl::Status AllReduceSum(torch::Tensor& t);
  absl::Status AllReduceMax(torch::Tensor& t);
  // Rank `root`'s values into every rank's `t`.
  absl::Status Broadcast(torch::Tensor& t, int root = 0);
  // Sums the gradients of `params` (those that have one) across ranks, in one
  // flat buffer per dtype.
  absl::Status AllReduceGradients(const std::vector<torch::Tensor>& params);
  // Rank 0's values of `params` into every rank's (the same start everywhere).
  absl::Status BroadcastParameters(const std::vector<torch::Tensor>& params);
  absl::Status Barrier();

 private:
  struct Impl;
  DataParallel(std::unique_ptr<Impl> impl, int rank, int world_size);

  std::unique_ptr<Impl> impl_;
  int rank_ = 0;
  int world_size_ = 1;
};

// --- the trainer's reductions: each is the identity when `dp` is null ---

// The sum of |w| over `params` (float64), when it is the same on every rank;
// Internal naming both ends of the range when the ranks' weights diverged.
absl::StatusOr<double> CheckInSync(DataParallel* dp, const std::vector<torch::Tensor>& params);

// values[i] summed (max'd) over the ranks, in place.
absl::Status SumOverRanks(DataParallel* dp, std::vector<double>* values);
absl::Status MaxOverRanks(DataParallel* dp, std::vector<double>* values);
// Every rank's rows [b_r, ...] (float64) in rank order: [sum of b_r, ...];
// *offset is where this rank's rows start in it.
absl::StatusOr<torch::Tensor> GatherRows(DataParallel* dp, const torch::Tensor& rows, int64_t* offset);

}  // namespace grpo::train

#endif  // GRPO_GRPO_DATA_PARALLEL_H_
