// The host side of the Python zygote (private to reward/sandbox*.cc): one
// warm interpreter per Sandbox, running as pid 1 of its own sandbox
// (reward/sandbox_zygote_main.cc), that forks each eligible Python run into
// fresh nested namespaces. It is started on demand and replaced when it dies
// or a run through it fails inside the sandbox. docs/sandbox.md has the
// design and the threat model.
#ifndef GRPO_REWARD_SANDBOX_ZYGOTE_H_
#define GRPO_REWARD_SANDBOX_ZYGOTE_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "reward/sandbox_host.h"
#include "reward/sandbox_plan.h"

namespace grpo::reward::sandbox_internal {

class PythonZygote {
 public:
  // `program_fd`: the zygote program's sealed memfd (not owned). `base`: the
  // sandbox's plan (mounts, environment, seccomp) with the zygote fields set.
  PythonZygote(int program_fd, OwnedPlan base, HostIds ids);
  ~PythonZygote();  // ends the zygote and, with it, every run in flight

  // Starts the zygote unless one runs, and waits until it is warm.
  // FailedPrecondition with the zygote's own report when it cannot start.
  absl::Status EnsureStarted();

  // Hands one run to the zygote: the child ends of `channels`, `run` (files
  // and steps; their stdin_data is not sent) and each step's stdin, which
  // reaches the run only as a memfd. A zygote that is gone is replaced once.
  // Returns the zygote's host pid (for Discard), or the error when no zygote
  // took the run; the run then never started.
  absl::StatusOr<pid_t> Submit(const Channels& channels, const OwnedPlan& run);

  // A run through zygote `pid` failed inside the sandbox: that zygote is
  // ended, and the next Submit starts a fresh one.
  void Discard(pid_t pid);

  // The zygote's host pid, -1 when none runs (tests kill it to check that it is replaced).
  pid_t PidForTesting() const;

 private:
  absl::Status StartLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AliveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int program_fd_;
  const OwnedPlan base_;
  const HostIds ids_;
  mutable absl::Mutex mu_;
  pid_t pid_ ABSL_GUARDED_BY(mu_) = -1;
  Fd control_ ABSL_GUARDED_BY(mu_);
};

}  // namespace grpo::reward::sandbox_internal

#endif  // GRPO_REWARD_SANDBOX_ZYGOTE_H_
