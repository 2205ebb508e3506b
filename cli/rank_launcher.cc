#include "cli/rank_launcher.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "grpo/data_parallel.h"

namespace grpo::cli {
namespace {

constexpr int kMaxRanks = 256;
constexpr int kInterrupted = 130;  // a rank that stopped on request (checkpoint written)
pid_t g_ranks[kMaxRanks];          // read by the signal handler: a plain array
volatile sig_atomic_t g_num_ranks = 0;

void ForwardSignal(int sig) {
  for (int i = 0; i < g_num_ranks; ++i) kill(g_ranks[i], sig);
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// SIGTERM to the ranks still running, then SIGKILL after `grace`; reaps them.
void StopRanks(int* running, std::chrono::seconds grace) {
  ForwardSignal(SIGTERM);
  const auto until = std::chrono::steady_clock::now() + grace;
  while (*running > 0) {
    int status = 0;
    const pid_t done = waitpid(-1, &status, WNOHANG);
    if (done > 0) {
      --*running;
      continue;
    }
    if (done < 0 && errno != EINTR) return;
    if (std::chrono::steady_clock::now() > until) {
      ForwardSignal(SIGKILL);
      while (*running > 0 && waitpid(-1, &status, 0) > 0) --*running;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

std::optional<int> LaunchLocalRanks(int nproc) {
  if (nproc < 1 || nproc > kMaxRanks) {
    std::cerr << "grpo train: --nproc=" << nproc << "; expected 1-" << kMaxRanks << "\n";
    return kExitUsage;
  }
  std::string port;
  if (const char* env = std::getenv("MASTER_PORT"); env != nullptr && *env != '\0') {
    port = env;
  } else {
    absl::StatusOr<int> picked = train::PickFreePort();
    if (!picked.ok()) {
      std::cerr << "grpo train: " << picked.status().message() << "\n";
      return kExitFailure;
    }
    port = std::to_string(*picked);
  }
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a launcher killed outright takes its ranks with it
      const std::string r = std::to_string(rank), n = std::to_string(nproc);
      setenv("RANK", r.c_str(), 1);
      setenv("LOCAL_RANK", r.c_str(), 1);
      setenv("WORLD_SIZE", n.c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", port.c_str(), 1);
      return std::nullopt;
    }
    if (pid < 0) {
      std::cerr << "grpo train: cannot start rank " << rank << ": " << std::strerror(errno) << "\n";
      int running = g_num_ranks;
      StopRanks(&running, std::chrono::seconds(15));
      return kExitFailure;
    }
    g_ranks[g_num_ranks] = pid;
    g_num_ranks = g_num_ranks + 1;
  }
  struct sigaction forward = {};
  forward.sa_handler = ForwardSignal;
  sigaction(SIGINT, &forward, nullptr);
  sigaction(SIGTERM, &forward, nullptr);
  int running = nproc, result = kExitOk;
  while (running > 0) {
    int status = 0;
    const pid_t done = waitpid(-1, &status, 0);
    if (done < 0) {
      if (errno == EINTR) continue;
      break;
    }
    --running;
    const int code = ExitCode(status);
    if (code == kExitOk || code == kInterrupted) {
      if (result == kExitOk) result = code;
      continue;
    }
    std::cerr << "grpo train: a rank exited with code " << code << "; stopping the others\n";
    result = code;
    StopRanks(&running, std::chrono::seconds(15));
  }
  return result;
}

}  // namespace grpo::cli
