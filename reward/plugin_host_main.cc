// grpo_plugin_host PLUGIN.so: the helper process of an isolated reward
// plugin (reward/plugin_host.h). It loads the plugin and answers requests
// (reward/plugin_wire.h) on fd 3 until the server closes it. A crash in the
// plugin ends this process only; the server sees it and starts another.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "reward/plugin_wire.h"
#include "reward/reward_plugin.h"

namespace wire = grpo::reward::plugin_wire;

int main(int argc, char** argv) {
  constexpr int kFd = 3;
  if (argc != 3) {
    std::cerr << "usage: grpo_plugin_host PLUGIN.so SERVER_PID (started by grpo reward-server)\n";
    return 2;
  }
  // Die with the server, and not after it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (std::to_string(getppid()) != argv[2]) return 1;

  absl::StatusOr<std::unique_ptr<grpo::reward::PluginLibrary>> library =
      grpo::reward::PluginLibrary::Open(argv[1]);
  std::string request;
  while (wire::ReadFrame(kFd, &request) == wire::ReadOutcome::kOk) {
    absl::StatusOr<uint32_t> kind = wire::DecodeKind(request);
    std::string reply;
    if (!kind.ok()) return 1;
    if (*kind == wire::kInfo) {
      reply = library.ok() ? wire::EncodeInfo((*library)->info())
                           : wire::EncodeInfoError(std::string(library.status().message()));
    } else {
      if (!library.ok()) return 1;
      absl::StatusOr<wire::ScoreRequest> score = wire::DecodeScoreRequest(request);
      if (!score.ok()) return 1;
      std::vector<grpo_reward_result> results(score->samples.size());
      (*library)->Score(score->samples.data(), score->samples.size(), results.data());
      reply = wire::EncodeResults(results.data(), results.size());
    }
    if (!wire::WriteFrame(kFd, reply)) return 1;
  }
  return 0;
}
