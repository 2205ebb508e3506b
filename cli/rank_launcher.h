// `grpo train --nproc=N`: N data-parallel ranks of a run on this machine
// (grpo/data_parallel.h), like torchrun's --nproc-per-node.
#ifndef GRPO_CLI_RANK_LAUNCHER_H_
#define GRPO_CLI_RANK_LAUNCHER_H_

#include <optional>

namespace grpo::cli {

// Forks `nproc` copies of this process, each with torchrun's variables set
// (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT: the
// environment's, or a free port), and waits for them. In a child it returns
// nullopt: the child goes on as that rank. In the parent it returns the exit
// code: 0 when every rank succeeded, 130 when they stopped on a signal, else
// the first failed rank's code; the other ranks are then stopped (SIGTERM,
// SIGKILL 15 s later), since they would wait for the failed one. SIGINT and
// SIGTERM to the parent are passed on to the ranks. Call it before any thread
// starts.
std::optional<int> LaunchLocalRanks(int nproc);

}  // namespace grpo::cli

#endif  // GRPO_CLI_RANK_LAUNCHER_H_
