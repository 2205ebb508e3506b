#include "reward/sandbox_host.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "reward/sandbox_child.h"
#include "reward/sandbox_setup.h"

namespace grpo::reward::sandbox_internal {
namespace {

// The cgroup namespace only hides the host's cgroup paths from /proc/self/cgroup.
constexpr int kCloneFlags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |
                            CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
constexpr size_t kExecStackBytes = 64 * 1024;
// How long past a step's wall limit the host waits for the child's report
// before it gives the sandbox up (the child enforces the limit itself).
constexpr double kHostGraceSeconds = 5;

bool WriteProcFile(pid_t pid, const char* name, const std::string& text, int* err) {
  const std::string path = absl::StrCat("/proc/", pid, "/", name);
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return false;
  }
  const ssize_t n = write(fd, text.data(), text.size());
  *err = errno;
  close(fd);
  return n == static_cast<ssize_t>(text.size());
}

const char* StageName(int32_t stage) {
  switch (stage) {
    case kStageDescriptors: return "descriptors/cwd";
    case kStageRlimit: return "setrlimit";
    case kStageCapabilities: return "dropping capabilities";
    case kStageNoNewPrivs: return "no_new_privs";
    case kStageSeccomp: return "seccomp";
    case kStageExec: return "execve";
    default: return "step setup";
  }
}

// Reads what is there into `out`, keeping at most `cap` bytes.
void ReadAvailable(int fd, int64_t cap, std::string* out, int64_t* total, bool* truncated) {
  char buf[65536];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    *total += n;
    const int64_t room = cap - static_cast<int64_t>(out->size());
    if (room > 0) out->append(buf, static_cast<size_t>(std::min<int64_t>(room, n)));
    if (*total > cap) *truncated = true;
  }
}

SandboxOutcome OutcomeFromRecord(const StatusRecord& r, const SandboxLimits& limits,
                                 int64_t cpu_soft, const std::string& exec_path) {
  SandboxOutcome o;
  o.wall_seconds = static_cast<double>(r.wall_ns) * 1e-9;
  o.cpu_seconds = static_cast<double>(r.cpu_ns) * 1e-9;
  o.peak_rss_bytes = r.maxrss_kb * 1024;
  if (r.child_stage != kStageOk) {
    o.kind = SandboxOutcome::Kind::kSandboxError;
    o.detail = absl::StrCat(StageName(r.child_stage), r.child_stage == kStageExec ? " " + exec_path : "",
                            " failed: ", ErrnoText(r.child_errno));
    return o;
  }
  const int st = r.wait_status;
  if (WIFEXITED(st)) o.exit_code = WEXITSTATUS(st);
  if (WIFSIGNALED(st)) o.signal = WTERMSIG(st);
  if (r.output_killed) {
    o.kind = SandboxOutcome::Kind::kOutputLimit;
    o.detail = absl::StrCat("output passed ", limits.max_output_bytes, " bytes");
  } else if (r.timed_out) {
    o.kind = SandboxOutcome::Kind::kWallTimeout;
    o.detail = absl::StrCat("wall clock passed ", limits.wall_seconds, " s");
  } else if (WIFSIGNALED(st) &&
             (o.signal == SIGXCPU ||
              (o.signal == SIGKILL && r.first_cpu_ns >= cpu_soft * int64_t{1000000000}))) {
    o.kind = SandboxOutcome::Kind::kCpuTimeout;
    o.detail = absl::StrCat("CPU time passed ", cpu_soft, " s");
  } else if (WIFSIGNALED(st)) {
    o.kind = SandboxOutcome::Kind::kSignaled;
    o.detail = absl::StrCat("killed by signal ", o.signal, " (", strsignal(o.signal), ")");
  } else {
    o.kind = SandboxOutcome::Kind::kExited;
  }
  return o;
}

struct ExecInitArgs {
  int init_fd;
  char* const* argv;
  char* const* envp;
  int pass[4];  // descriptors the init program inherits
  int err_fd;
};

// Runs in the clone()d child on the host's address space (CLONE_VM, the
// host thread waits: CLONE_VFORK) until the exec replaces it: no memory is
// copied, whatever the size of the host.
int ExecInit(void* arg) {
  const ExecInitArgs& a = *static_cast<const ExecInitArgs*>(arg);
  for (int fd : a.pass) {
    if (fd >= 0) fcntl(fd, F_SETFD, 0);
  }
  // The namespace's capabilities would be lost at exec (the uid is not yet
  // mapped, so not root inside): carry them over as ambient ones. The init
  // drops every one of them in the program's process before its exec.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) == 0) {
    data[0].inheritable = data[0].permitted;
    data[1].inheritable = data[1].permitted;
    syscall(SYS_capset, &header, data);
  }
  for (int cap = 0; cap <= 63; ++cap) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
  syscall(SYS_execveat, a.init_fd, "", a.argv, a.envp, AT_EMPTY_PATH);
  const int e = errno;
  (void)!write(a.err_fd, &e, sizeof(e));
  _exit(127);
}

}  // namespace

std::string ErrnoText(int err) { return absl::StrCat(strerrorname_np(err), " (", strerror(err), ")"); }

SandboxOutcome ErrorOutcome(std::string detail) {
  SandboxOutcome o;
  o.kind = SandboxOutcome::Kind::kSandboxError;
  o.detail = std::move(detail);
  return o;
}

void Fd::Reset() {
  if (fd >= 0) close(fd);
  fd = -1;
}

std::string MakeChannels(Channels* c) {
  int control[2], out[2], err[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) != 0) {
    return absl::StrCat("socketpair: ", ErrnoText(errno));
  }
  c->control.fd = control[0];
  c->control_child.fd = control[1];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::StrCat("pipe2: ", ErrnoText(errno));
  c->out.fd = out[0];
  c->out_child.fd = out[1];
  if (pipe2(err, O_CLOEXEC) != 0) return absl::StrCat("pipe2: ", ErrnoText(errno));
  c->err.fd = err[0];
  c->err_child.fd = err[1];
  return "";
}

pid_t LaunchInNamespaces(int program_fd, const char* name, const OwnedPlan& plan,
                         const HostIds& ids, std::string* error, bool bind_now) {
  int exec_err[2];
  if (pipe2(exec_err, O_CLOEXEC) != 0) {
    *error = absl::StrCat("pipe2: ", ErrnoText(errno));
    return -1;
  }
  Fd exec_err_host(exec_err[0]), exec_err_child(exec_err[1]);
  const std::string bytes = EncodePlan(plan);
  Fd plan_fd(static_cast<int>(syscall(SYS_memfd_create, "grpo-sandbox-plan", MFD_CLOEXEC)));
  if (plan_fd.fd < 0 || !WriteAll(plan_fd.fd, bytes.data(), bytes.size())) {
    *error = absl::StrCat("writing the job plan to a memfd: ", ErrnoText(errno));
    return -1;
  }
  const std::string plan_arg = std::to_string(plan_fd.fd);
  char* const argv[] = {const_cast<char*>(name), const_cast<char*>(plan_arg.c_str()), nullptr};
  char* const envp[] = {bind_now ? const_cast<char*>("LD_BIND_NOW=1") : nullptr, nullptr};
  ExecInitArgs args{program_fd, argv, envp, {plan.control_fd, plan.stdout_fd, plan.stderr_fd, plan_fd.fd},
                    exec_err[1]};
  std::unique_ptr<char[]> stack(new char[kExecStackBytes]);
  // Signals stay blocked until the exec: no host handler may run on the
  // shared address space in the child.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  const pid_t pid = clone(ExecInit, stack.get() + kExecStackBytes,
                          kCloneFlags | CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) {
    *error = absl::StrCat("clone(CLONE_NEWUSER|NEWPID|NEWNS|NEWNET|NEWIPC|NEWUTS|NEWCGROUP): ",
                          ErrnoText(clone_errno), "; ", UsernsDiagnostics());
    return -1;
  }
  exec_err_child.Reset();
  auto kill_child = [pid] {
    kill(pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  };
  int exec_errno = 0;
  if (read(exec_err[0], &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno)) {
    kill_child();
    *error = absl::StrCat("exec of the sandbox program ", name, " (memfd) failed: ", ErrnoText(exec_errno),
                          exec_errno == EACCES ? " (is vm.memfd_noexec set?)" : "");
    return -1;
  }
  // Map the inside uid/gid to an unprivileged host id: never to host root.
  int e = 0;
  const bool mapped =
      WriteProcFile(pid, "uid_map", absl::StrCat(kInsideId, " ", ids.uid, " 1\n"), &e) &&
      (ids.caller_is_root || WriteProcFile(pid, "setgroups", "deny", &e)) &&
      WriteProcFile(pid, "gid_map", absl::StrCat(kInsideId, " ", ids.gid, " 1\n"), &e);
  // The host's end of the control socket is the other end of plan.control_fd.
  if (!mapped) {
    kill_child();
    *error = absl::StrCat("writing the uid/gid maps of the sandbox: ", ErrnoText(e), "; ",
                          UsernsDiagnostics());
    return -1;
  }
  return pid;
}

SandboxOutcome WaitForStep(const Channels& c, const SandboxLimits& l, int64_t cpu_soft,
                           const std::string& exec_path, bool* fatal) {
  std::string out_data, err_data;
  int64_t out_total = 0, err_total = 0;
  bool out_trunc = false, err_trunc = false, stop_sent = false;
  const auto host_deadline = std::chrono::steady_clock::now() +
                             std::chrono::duration<double>(l.wall_seconds + kHostGraceSeconds);
  StatusRecord record{};
  std::string failure;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          host_deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      failure = "the sandbox did not report within the wall limit + grace; killed";
      break;
    }
    pollfd fds[3] = {{c.out.fd, POLLIN, 0}, {c.err.fd, POLLIN, 0}, {c.control.fd, POLLIN, 0}};
    const int n = poll(fds, 3, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n < 0 && errno != EINTR) {
      failure = absl::StrCat("poll: ", ErrnoText(errno));
      break;
    }
    if (fds[0].revents) ReadAvailable(c.out.fd, l.max_output_bytes, &out_data, &out_total, &out_trunc);
    if (fds[1].revents) ReadAvailable(c.err.fd, l.max_output_bytes, &err_data, &err_total, &err_trunc);
    if ((out_trunc || err_trunc) && !stop_sent) {
      send(c.control.fd, &kCmdStop, 1, MSG_NOSIGNAL);
      stop_sent = true;
    }
    if (fds[2].revents) {
      const ssize_t got = recv(c.control.fd, &record, sizeof(record), 0);
      if (got != static_cast<ssize_t>(sizeof(record))) {
        failure = "the sandbox process ended without a report";
        break;
      }
      // Every process of the step is dead: what is in the pipes is all.
      ReadAvailable(c.out.fd, l.max_output_bytes, &out_data, &out_total, &out_trunc);
      ReadAvailable(c.err.fd, l.max_output_bytes, &err_data, &err_total, &err_trunc);
      break;
    }
  }
  SandboxOutcome o;
  if (!failure.empty()) {
    o = ErrorOutcome(failure);
  } else if (record.type == StatusRecord::kSetupError) {
    record.message[sizeof(record.message) - 1] = '\0';
    o = ErrorOutcome(absl::StrCat("sandbox setup: ", record.message));
  } else {
    o = OutcomeFromRecord(record, l, cpu_soft, exec_path);
    if ((out_trunc || err_trunc) && o.kind != SandboxOutcome::Kind::kSandboxError) {
      o.kind = SandboxOutcome::Kind::kOutputLimit;
      o.detail = absl::StrCat(out_trunc ? "stdout" : "stderr", " passed ", l.max_output_bytes, " bytes");
    }
  }
  o.stdout_data = std::move(out_data);
  o.stderr_data = std::move(err_data);
  o.stdout_bytes = out_total;
  o.stderr_bytes = err_total;
  o.stdout_truncated = out_trunc;
  o.stderr_truncated = err_trunc;
  o.memory_error_likely = absl::StrContains(o.stderr_data, "MemoryError") ||
                          absl::StrContains(o.stderr_data, "bad_alloc") ||
                          absl::StrContains(o.stderr_data, "Cannot allocate memory");
  *fatal = o.kind == SandboxOutcome::Kind::kSandboxError &&
           (!failure.empty() || record.type == StatusRecord::kSetupError);
  return o;
}

}  // namespace grpo::reward::sandbox_internal
