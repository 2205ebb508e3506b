// Isolated plugins: a reward plugin run in a helper process
// (grpo_plugin_host), one per plugin, spoken to over a socketpair
// (plugin_wire.h). A plugin that crashes, hangs past a sample's deadline or
// answers garbage costs that sample an "error" (or "timeout") result; the
// helper is killed if need be and started again for the next sample, and
// the server keeps serving.
//
// Samples go to the helper one at a time (a mutex), so an isolated plugin
// scores on one core; run it in-process where speed matters and the plugin
// is trusted.
#ifndef GRPO_REWARD_PLUGIN_HOST_H_
#define GRPO_REWARD_PLUGIN_HOST_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "reward/reward_registry.h"

namespace grpo::reward {

// grpo_plugin_host beside the running executable when there is one, else
// the one this build made.
std::string DefaultPluginHostProgram();

class IsolatedPlugin : public RewardComponent {
 public:
  // Starts the helper for the plugin at `path` and reads its info. Errors
  // name the file: the helper's own (cannot load, missing symbol, ABI
  // mismatch: as PluginLibrary::Open), Unavailable when the helper cannot
  // be started or dies before answering. Empty `host_program`: the default.
  static absl::StatusOr<std::unique_ptr<IsolatedPlugin>> Start(const std::string& path,
                                                               const std::string& host_program);
  ~IsolatedPlugin() override;  // kills the helper

  const ComponentInfo& info() const override { return info_; }
  absl::Status Validate(const ComponentInput& input, const ComponentParams& params) const override;
  // "error" when the helper dies while scoring this sample (the reason says
  // by which signal) or cannot be restarted; "timeout" when it has not
  // answered by the sample's deadline (it is killed then).
  RewardResult Score(const ComponentInput& input, const ComponentParams& params) const override;

  // --- For tests and logs ---
  int restarts() const;      // helpers started after the first one
  pid_t helper_pid() const;  // 0 when none runs now

 private:
  IsolatedPlugin(std::string path, std::string host_program);
  // The helper's start and info handshake; mu_ held.
  absl::StatusOr<ComponentInfo> SpawnLocked() const;
  // Kills (if `kill`) and reaps the helper; how it ended, for a reason.
  std::string ReapLocked(bool kill) const;

  const std::string path_;
  const std::string host_program_;
  ComponentInfo info_;
  mutable std::mutex mu_;
  mutable pid_t pid_ = 0;
  mutable int fd_ = -1;
  mutable int spawned_ = 0;
};

}  // namespace grpo::reward

#endif  // GRPO_REWARD_PLUGIN_HOST_H_
