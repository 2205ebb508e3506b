// The seccomp filter of the sandbox (private to reward/sandbox*.cc). The list
// and the reasons are in docs/sandbox.md.
#ifndef GRPO_REWARD_SANDBOX_SECCOMP_H_
#define GRPO_REWARD_SANDBOX_SECCOMP_H_

#include <linux/filter.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace grpo::reward::sandbox_internal {

// The syscalls the filter refuses with EPERM, by name (for docs and tests).
const std::vector<std::string>& DeniedSyscalls();

// The classic BPF program, built once with libseccomp and loaded later in a
// forked child with a raw seccomp(2) call (no allocation there). Default
// allow; DeniedSyscalls() -> EPERM; socket/socketpair for families other
// than AF_UNIX -> EAFNOSUPPORT; clone with namespace flags -> EPERM; clone3
// -> ENOSYS (its flags sit in memory a filter cannot read; libc falls back to
// clone); foreign architectures (x32, i386 int 0x80) -> kill. Internal error
// when libseccomp fails.
absl::StatusOr<std::vector<sock_filter>> BuildSeccompFilter();

}  // namespace grpo::reward::sandbox_internal

#endif  // GRPO_REWARD_SANDBOX_SECCOMP_H_
