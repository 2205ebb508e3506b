// Remote rewards: a named component served by another RewardService
// (proto/reward.proto), in any language. `grpo reward-server
// --remote-reward=name=host:port` registers it here; each sample asking for
// `name` is sent on to that server (a unary Score with that one component)
// and its component result comes back as this server's. docs/rewards.md has
// a Python server.
#ifndef GRPO_REWARD_REMOTE_COMPONENT_H_
#define GRPO_REWARD_REMOTE_COMPONENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "reward/reward_registry.h"

namespace grpo::reward {

struct RemoteComponentOptions {
  std::string name;     // the component, here and on the remote server
  std::string address;  // a gRPC target: host:port, unix:path
  // How long to wait for the remote's ListRewards at startup.
  absl::Duration connect_timeout = absl::Seconds(10);
};

// Asks the remote for its components and takes `name`'s info (version,
// params, reference) from it. Unavailable naming the address when it does
// not answer in time; NotFound when it does not serve `name` (the message
// lists what it serves). Plain-text gRPC (no TLS or token yet): use it on
// loopback or a trusted network.
absl::StatusOr<std::unique_ptr<RewardComponent>> ConnectRemoteComponent(
    const RemoteComponentOptions& options);

// "name=host:port" (the --remote-reward flag) as options; InvalidArgument
// saying what is expected.
absl::StatusOr<RemoteComponentOptions> ParseRemoteReward(const std::string& flag_value);

}  // namespace grpo::reward

#endif  // GRPO_REWARD_REMOTE_COMPONENT_H_
