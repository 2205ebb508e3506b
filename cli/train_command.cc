// `grpo train`: the GRPO run (grpo/trainer.h). With no reward server given it
// starts one on loopback for the run, with the built-in components.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/atomic_file.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/rank_launcher.h"
#include "grpo/data_parallel.h"
#include "grpo/run_report.h"
#include "grpo/trainer.h"
#include "proto/config_io.h"
#include "reward/reward_registry.h"
#include "reward/reward_service.h"

namespace grpo::cli {
namespace {

constexpr char kUsage[] = R"(Usage: grpo train [--config=configs/mini_r1.textproto] [--set train.a.b=value ...]

Runs GRPO. The default (no config) is the miniature DeepSeek-R1 of
configs/mini_r1.textproto: a ~0.8M-parameter Llama with a character tokenizer
learns multi-digit addition with a chain of thought, first by SFT on worked
solutions that often forget a carry, then by GRPO with rule-based accuracy and
format rewards served over gRPC. It prints, and writes to runs/NAME/summary.json,
the held-out greedy accuracy before and after GRPO.

)";

// Set by SIGINT/SIGTERM; the trainer polls it after every step.
std::atomic<bool> g_stop{false};
void RequestStop(int) { g_stop.store(true); }

int Fail(const absl::Status& s, int code) {
  std::cerr << "grpo train: " << s.message() << "\n";
  return code;
}

}  // namespace

int TrainCommand(const std::vector<std::string>& args) {
  const std::vector<FlagDef> defs = {
      {"config", "FILE", "the run's config (text proto; schema in proto/config.proto)"},
      {"set", "PATH=VALUE", "override one config field, e.g. train.grpo.steps=10", true},
      {"reward-server", "ADDR", "score through this reward server instead of starting one"},
      {"resume", "", "continue from the run's newest checkpoint (runs/NAME/checkpoints)"},
      {"nproc", "N",
       "data-parallel ranks on this machine (Gloo over loopback); a launcher's RANK, WORLD_SIZE, MASTER_ADDR "
       "and MASTER_PORT work too"},
      {"help", "", "print this help"},
  };
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, defs);
  if (!flags.ok()) return Fail(flags.status(), kExitUsage);
  if (flags->GetBool("help")) {
    std::cout << kUsage << FlagHelp(defs);
    return kExitOk;
  }
  absl::StatusOr<config::Config> config = config::LoadConfig(flags->Get("config"), flags->GetAll("set"));
  if (!config.ok()) return Fail(config.status(), kExitUsage);
  if (flags->Has("reward-server")) config->mutable_train()->set_reward_server(flags->Get("reward-server"));
  if (flags->GetBool("resume")) config->mutable_train()->set_resume(true);
  const config::TrainJob& job = config->train();

  // Data-parallel ranks: forked here (before any thread starts), or started by a launcher.
  int nproc = 1;
  if (flags->Has("nproc") && !absl::SimpleAtoi(flags->Get("nproc"), &nproc)) {
    return Fail(absl::InvalidArgumentError("--nproc: expected a number of ranks"), kExitUsage);
  }
  absl::StatusOr<train::DataParallelOptions> ranks = train::DataParallelFromEnv();
  if (!ranks.ok()) return Fail(ranks.status(), kExitUsage);
  if (nproc != 1) {
    if (ranks->world_size > 1) {
      return Fail(absl::InvalidArgumentError("--nproc and a launcher's RANK/WORLD_SIZE do not go together"),
                  kExitUsage);
    }
    if (std::optional<int> code = LaunchLocalRanks(nproc)) return *code;  // the parent, when all ranks are done
    ranks = train::DataParallelFromEnv();
    if (!ranks.ok()) return Fail(ranks.status(), kExitUsage);
  }
  // Rank 0 talks to the console; the others log to the run directory.
  const std::string run_dir = job.output_dir() + "/" + job.name();
  std::ostream* log = &std::cerr;
  std::ofstream rank_log;
  if (ranks->rank > 0) {
    std::error_code ec;
    std::filesystem::create_directories(run_dir, ec);
    rank_log.open(absl::StrCat(run_dir, "/rank-", ranks->rank, ".log"));
    if (!rank_log) return Fail(absl::PermissionDeniedError("cannot write the rank's log in " + run_dir), kExitFailure);
    log = &rank_log;
  }
  std::unique_ptr<train::DataParallel> data_parallel;
  if (ranks->world_size > 1) {
    absl::StatusOr<std::unique_ptr<train::DataParallel>> group = train::DataParallel::Create(*ranks);
    if (!group.ok()) return Fail(group.status(), kExitFailure);
    data_parallel = std::move(*group);
    *log << "rank " << ranks->rank << " of " << ranks->world_size << "\n";
  }

  // The run's own reward server, on loopback, when none is given.
  reward::ComponentRegistry registry;
  std::unique_ptr<reward::RewardServer> server;
  std::string target = job.reward_server();
  if (target.empty()) {
    if (absl::Status s = reward::RegisterBuiltinComponents(config->reward(), &registry); !s.ok()) {
      return Fail(s, kExitUsage);
    }
    reward::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.threads = 1;
    absl::StatusOr<std::unique_ptr<reward::RewardServer>> started = reward::RewardServer::Start(options, &registry);
    if (!started.ok()) return Fail(started.status(), kExitFailure);
    server = std::move(*started);
    target = absl::StrCat("127.0.0.1:", server->port());
    *log << "reward server on " << target << "\n";
  }
  if (ranks->rank == 0) {  // the resolved config goes with the run
    AtomicFile resolved(run_dir + "/config.textproto");
    if (absl::Status s = resolved.Open(); !s.ok()) return Fail(s, kExitFailure);
    resolved.stream() << config::ToTextProto(*config);
    if (absl::Status s = resolved.Commit(); !s.ok()) return Fail(s, kExitFailure);
  }

  // Ctrl-C finishes the step, writes a checkpoint and exits; --resume continues.
  struct sigaction action = {};
  action.sa_handler = RequestStop;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  absl::StatusOr<train::TrainSummary> summary =
      train::RunTraining(job, target, log, [] { return g_stop.load(); }, data_parallel.get());
  if (server) server->Shutdown(absl::Seconds(5));
  if (!summary.ok()) {
    return Fail(summary.status(), summary.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                                                                : kExitFailure);
  }
  if (ranks->rank > 0) return summary->interrupted ? 130 : kExitOk;  // rank 0 reports
  if (summary->interrupted) {
    std::cout << "interrupted; the newest checkpoint is in " << summary->run_dir
              << "/checkpoints (continue with --resume)\n";
    return 130;
  }
  std::cout << absl::StrFormat(
      "accuracy_before %.3f\naccuracy_after %.3f\nwall_seconds %.1f (SFT %.1f, GRPO %.1f)\nrun %s\n",
      summary->accuracy_before, summary->accuracy_after, summary->wall_seconds, summary->sft_seconds,
      summary->grpo_seconds, summary->run_dir);
  if (summary->failed_rewards > 0) {
    std::cout << "warning: " << summary->failed_rewards << " rewards failed and were counted as 0\n";
  }
  return kExitOk;
}

int ReportCommand(const std::vector<std::string>& args) {
  const std::vector<FlagDef> defs = {{"help", "", "print this help"}};
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, defs);
  if (!flags.ok()) return Fail(flags.status(), kExitUsage);
  if (flags->GetBool("help") || flags->positional().size() != 1) {
    std::cout << "Usage: grpo report RUN_DIR\n\nWrites RUN_DIR/report.html from its metrics.jsonl and "
                 "summary.json (grpo train does this at the end of a run).\n";
    return flags->GetBool("help") ? kExitOk : kExitUsage;
  }
  const std::string dir = flags->positional()[0];
  if (absl::Status s = train::WriteRunReport(dir, "grpo train: " + dir); !s.ok()) return Fail(s, kExitFailure);
  std::cout << dir << "/report.html\n";
  return kExitOk;
}

}  // namespace grpo::cli
