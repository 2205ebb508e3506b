// The host side of one sandbox (private to reward/sandbox*.cc): starting a
// program as pid 1 of fresh namespaces, and following a step through its
// report while capturing its output. Shared by the exec path
// (reward/sandbox.cc) and the Python zygote (reward/sandbox_zygote.cc).
#ifndef GRPO_REWARD_SANDBOX_HOST_H_
#define GRPO_REWARD_SANDBOX_HOST_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "reward/sandbox.h"
#include "reward/sandbox_plan.h"

namespace grpo::reward::sandbox_internal {

// "ENAME (description)".
std::string ErrnoText(int err);
SandboxOutcome ErrorOutcome(std::string detail);

// An owned descriptor.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  void Reset();
};

// Who the program is on the host: never host root.
struct HostIds {
  bool caller_is_root = false;
  uint32_t uid = 0, gid = 0;
};

// A job's channels: the control socket (SOCK_SEQPACKET: reports out,
// commands in) and the stdout/stderr pipes; host and child ends.
struct Channels {
  Fd control, out, err;
  Fd control_child, out_child, err_child;
};
// Empty on success, else what failed.
std::string MakeChannels(Channels* channels);

// clone()s a process in fresh user, pid, mount, net, ipc, uts and cgroup
// namespaces that execs `program_fd` (a sealed memfd) with `plan` (its
// descriptors already the child ends) and maps its ids; the caller then
// sends kCmdGo on its end of the control socket. Returns the host pid, or -1 with `error` set (the exec's or the uid map's errno,
// with the user-namespace diagnostics). `bind_now`: the program's dynamic
// linker resolves every symbol at start (LD_BIND_NOW), not in each fork.
pid_t LaunchInNamespaces(int program_fd, const char* name, const OwnedPlan& plan,
                         const HostIds& ids, std::string* error, bool bind_now = false);

// Follows one step: reads stdout/stderr (capped), sends kCmdStop at the
// cap, and waits for the report until wall + grace. `fatal` is set when the
// sandbox itself failed (no report, a setup error): the job cannot go on.
SandboxOutcome WaitForStep(const Channels& channels, const SandboxLimits& limits,
                           int64_t cpu_soft, const std::string& exec_path, bool* fatal);

}  // namespace grpo::reward::sandbox_internal

#endif  // GRPO_REWARD_SANDBOX_HOST_H_
