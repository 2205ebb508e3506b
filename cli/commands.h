// The `grpo` subcommands. A subcommand is listed only once it works.
#ifndef GRPO_CLI_COMMANDS_H_
#define GRPO_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/flags.h"
#include "proto/config.pb.h"

namespace grpo::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the run itself failed (I/O, bad input file)
inline constexpr int kExitUsage = 2;    // bad flags or config

struct Command {
  const char* name;
  const char* summary;  // one line for `grpo --help`
  int (*run)(const std::vector<std::string>& args);
};

// Every subcommand, in help order.
const std::vector<Command>& Commands();

// --- eval-rewards ---

std::vector<FlagDef> EvalRewardsFlags();

// The job's config, built in precedence order: the --config file, then
// --preset, then the other flags, then each --set.
absl::StatusOr<config::Config> EvalRewardsConfig(const ParsedFlags& flags);

// `grpo eval-rewards ARGS...`; returns the process exit code.
int EvalRewardsCommand(const std::vector<std::string>& args);

// --- sample ---

// `grpo sample ARGS...`: generate from a checkpoint; returns the exit code.
int SampleCommand(const std::vector<std::string>& args);

// --- reward-server ---

// `grpo reward-server ARGS...`: serve the reward components over gRPC until
// SIGTERM; returns the exit code.
int RewardServerCommand(const std::vector<std::string>& args);

// --- train ---

// `grpo train ARGS...`: the GRPO run (grpo/trainer.h); returns the exit code.
int TrainCommand(const std::vector<std::string>& args);
// `grpo report RUN_DIR`: (re)writes a run's report.html.
int ReportCommand(const std::vector<std::string>& args);

}  // namespace grpo::cli

#endif  // GRPO_CLI_COMMANDS_H_
