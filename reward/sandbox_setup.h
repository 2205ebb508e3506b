// What the sandbox prepares once, at Create() (private to reward/sandbox*.cc):
// the checked list of host paths and the mount plan the child follows.
#ifndef GRPO_REWARD_SANDBOX_SETUP_H_
#define GRPO_REWARD_SANDBOX_SETUP_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "reward/sandbox_plan.h"

namespace grpo::reward::sandbox_internal {

// InvalidArgument naming the path unless every path is absolute and
// normalized, not "/", "/etc", /etc/passwd, /etc/group, not under /tmp,
// /proc, /dev or /work (the sandbox makes those), and not inside another
// listed path.
absl::Status ValidateReadOnlyPaths(const std::vector<std::string>& paths);

// The mount entries, in order: read-only binds of the existing `paths` (missing ones are skipped,
// symlinks recreated), their parent directories, /dev's four devices and its
// links. FailedPrecondition when a host /dev node is not a character device.
absl::StatusOr<std::vector<OwnedMount>> BuildMountPlan(const std::vector<std::string>& paths);

// Why user namespaces may be unavailable here: the sysctls as found, and
// what to change.
std::string UsernsDiagnostics();

}  // namespace grpo::reward::sandbox_internal

#endif  // GRPO_REWARD_SANDBOX_SETUP_H_
