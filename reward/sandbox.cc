#include "reward/sandbox.h"

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
#include <cmath>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "proto/status_macros.h"
#include "reward/sandbox_child.h"
#include "reward/sandbox_init_blob.h"
#include "reward/sandbox_plan.h"
#include "reward/sandbox_seccomp.h"
#include "reward/sandbox_setup.h"

namespace grpo::reward {

using sandbox_internal::kInsideId;
using sandbox_internal::StatusRecord;

namespace {

// The cgroup namespace only hides the host's cgroup paths from /proc/self/cgroup.
constexpr int kCloneFlags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |
                            CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
constexpr size_t kExecStackBytes = 64 * 1024;
// How long past a step's wall limit the host waits for the child's report
// before it kills the whole sandbox (the child enforces the limit itself).
constexpr double kHostGraceSeconds = 5;

std::string ErrnoText(int err) { return absl::StrCat(strerrorname_np(err), " (", strerror(err), ")"); }

bool ValidName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 255) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::Status ValidateLimits(const SandboxLimits& l, const std::string& where) {
  if (!(l.cpu_seconds > 0) || !(l.wall_seconds > 0) || l.address_space_bytes <= 0 ||
      l.max_processes <= 0 || l.max_file_bytes <= 0 || l.max_open_files <= 0 ||
      l.max_output_bytes <= 0 || l.cpu_seconds > 1e6 || l.wall_seconds > 1e6) {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox: ", where, ": every limit must be positive (and seconds < 1e6)"));
  }
  return absl::OkStatus();
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  void Reset() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

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

SandboxOutcome ErrorOutcome(std::string detail) {
  SandboxOutcome o;
  o.kind = SandboxOutcome::Kind::kSandboxError;
  o.detail = std::move(detail);
  return o;
}

const char* StageName(int32_t stage) {
  switch (stage) {
    case sandbox_internal::kStageDescriptors: return "descriptors/cwd";
    case sandbox_internal::kStageRlimit: return "setrlimit";
    case sandbox_internal::kStageCapabilities: return "dropping capabilities";
    case sandbox_internal::kStageNoNewPrivs: return "no_new_privs";
    case sandbox_internal::kStageSeccomp: return "seccomp";
    case sandbox_internal::kStageExec: return "execve";
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
  if (r.child_stage != sandbox_internal::kStageOk) {
    o.kind = SandboxOutcome::Kind::kSandboxError;
    o.detail = absl::StrCat(StageName(r.child_stage),
                            r.child_stage == sandbox_internal::kStageExec ? " " + exec_path : "",
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

bool WriteAllTo(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
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
  for (int fd : a.pass) fcntl(fd, F_SETFD, 0);
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

const char* SandboxKindName(SandboxOutcome::Kind kind) {
  switch (kind) {
    case SandboxOutcome::Kind::kExited: return "exited";
    case SandboxOutcome::Kind::kSignaled: return "signaled";
    case SandboxOutcome::Kind::kWallTimeout: return "wall_timeout";
    case SandboxOutcome::Kind::kCpuTimeout: return "cpu_timeout";
    case SandboxOutcome::Kind::kOutputLimit: return "output_limit";
    case SandboxOutcome::Kind::kSandboxError: return "sandbox_error";
  }
  return "?";
}

struct Sandbox::Impl {
  SandboxOptions options;
  int workers = 1;
  bool caller_is_root = false;
  uint32_t host_uid = 0, host_gid = 0;
  // What every job's plan shares: mounts, options, environment, filter.
  sandbox_internal::OwnedPlan base;
  // A memfd holding the init program, exec'd as pid 1 of each sandbox.
  int init_fd = -1;

  mutable absl::Mutex mu;
  mutable int active ABSL_GUARDED_BY(mu) = 0;

  ~Impl() {
    if (init_fd >= 0) close(init_fd);
  }
  std::vector<SandboxOutcome> RunJob(const SandboxJob& job) const;
};

Sandbox::Sandbox(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sandbox::~Sandbox() = default;
const SandboxOptions& Sandbox::options() const { return impl_->options; }
int Sandbox::workers() const { return impl_->workers; }

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Create(const SandboxOptions& options) {
  RETURN_IF_ERROR(ValidateLimits(options.limits, "options.limits"));
  if (options.tmpfs_bytes < 4096) {
    return absl::InvalidArgumentError("sandbox: tmpfs_bytes must be at least 4096");
  }
  if (options.workers < 0) return absl::InvalidArgumentError("sandbox: workers must be >= 0");
  RETURN_IF_ERROR(sandbox_internal::ValidateReadOnlyPaths(options.read_only_paths));
  if (options.python.empty() || options.python[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox: python must be an absolute path, got '", options.python, "'"));
  }
  if (access(options.python.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox: python interpreter ", options.python, ": ", ErrnoText(errno)));
  }
  const std::string& seed = options.python_hash_seed;
  if (seed != "random" && (seed.empty() || seed.find_first_not_of("0123456789") != std::string::npos)) {
    return absl::InvalidArgumentError("sandbox: python_hash_seed must be a number or \"random\"");
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->workers = options.workers > 0 ? options.workers
                                      : std::max(1u, std::thread::hardware_concurrency());
  impl->caller_is_root = geteuid() == 0;
  impl->host_uid = impl->caller_is_root ? options.host_uid_when_root : geteuid();
  impl->host_gid = impl->caller_is_root ? options.host_gid_when_root : getegid();
  if (impl->caller_is_root && (impl->host_uid == 0 || impl->host_gid == 0)) {
    return absl::InvalidArgumentError("sandbox: host_uid_when_root/host_gid_when_root must not be 0");
  }
  sandbox_internal::OwnedPlan& base = impl->base;
  ASSIGN_OR_RETURN(base.mounts, sandbox_internal::BuildMountPlan(options.read_only_paths));
  base.drop_groups = impl->caller_is_root;
  base.tmpfs_options = absl::StrCat("size=", options.tmpfs_bytes, ",nr_inodes=16384,mode=1777");
  base.work_options = absl::StrCat("size=", options.tmpfs_bytes, ",nr_inodes=16384,mode=0755,uid=",
                                   kInsideId, ",gid=", kInsideId);
  base.passwd = absl::StrCat("sandbox:x:", kInsideId, ":", kInsideId,
                             ":sandbox:/work:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
  base.group = absl::StrCat("sandbox:x:", kInsideId, ":\nnogroup:x:65534:\n");
  base.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "LANG=C.UTF-8",
              "TMPDIR=/tmp", "PYTHONDONTWRITEBYTECODE=1", "PYTHONHASHSEED=" + seed};
  ASSIGN_OR_RETURN(base.seccomp, sandbox_internal::BuildSeccompFilter());

  // The init program goes into a memfd once; every job execs it from there.
  const std::string_view init = sandbox_internal::SandboxInitProgram();
  // MFD_EXEC (Linux 6.3) says it is meant to be executed; older kernels
  // reject the flag and execute any memfd. Sealed: nothing changes it later.
  constexpr unsigned kMfdExec = 0x10;
  const unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  impl->init_fd = static_cast<int>(syscall(SYS_memfd_create, "grpo-sandbox-init", flags | kMfdExec));
  if (impl->init_fd < 0 && errno == EINVAL) {
    impl->init_fd = static_cast<int>(syscall(SYS_memfd_create, "grpo-sandbox-init", flags));
  }
  if (impl->init_fd < 0 || !WriteAllTo(impl->init_fd, init.data(), init.size()) ||
      fcntl(impl->init_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    return absl::InternalError(absl::StrCat("sandbox: writing the init program to a memfd: ",
                                            ErrnoText(errno)));
  }

  std::unique_ptr<Sandbox> sandbox(new Sandbox(std::move(impl)));
  // The probe: the whole path, end to end, once.
  SandboxStep probe;
  probe.argv = {options.python, "-c", "import sys; sys.stdout.write('ok')"};
  ASSIGN_OR_RETURN(SandboxOutcome outcome, sandbox->RunOne(probe));
  if (outcome.kind != SandboxOutcome::Kind::kExited || outcome.exit_code != 0 ||
      outcome.stdout_data != "ok") {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox: the probe `", options.python, " -c ...` did not run in the sandbox: ",
        SandboxKindName(outcome.kind), " exit ", outcome.exit_code, ": ", outcome.detail,
        outcome.stderr_data.empty() ? "" : " stderr: " + outcome.stderr_data.substr(0, 500)));
  }
  return sandbox;
}

absl::StatusOr<SandboxOutcome> Sandbox::RunOne(const SandboxStep& step,
                                               std::vector<SandboxFile> files) const {
  SandboxJob job;
  job.files = std::move(files);
  job.steps.push_back(step);
  ASSIGN_OR_RETURN(std::vector<SandboxOutcome> outcomes, Run(job));
  return std::move(outcomes.front());
}

absl::StatusOr<std::vector<SandboxOutcome>> Sandbox::Run(const SandboxJob& job) const {
  if (job.steps.empty()) return absl::InvalidArgumentError("sandbox: job has no steps");
  for (size_t i = 0; i < job.steps.size(); ++i) {
    const SandboxStep& step = job.steps[i];
    if (step.argv.empty() || step.argv[0].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("sandbox: step ", i, ": empty argv"));
    }
    for (const std::string& arg : step.argv) {
      if (arg.find('\0') != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("sandbox: step ", i, ": NUL in argv"));
      }
    }
    if (step.limits) RETURN_IF_ERROR(ValidateLimits(*step.limits, absl::StrCat("step ", i, " limits")));
  }
  for (const SandboxFile& f : job.files) {
    if (!ValidName(f.name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sandbox: file name '", f.name, "' must be one path component of [A-Za-z0-9._-]"));
    }
  }
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->mu.Await(absl::Condition(
        +[](Impl* impl) ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl->mu) { return impl->active < impl->workers; },
        impl_.get()));
    ++impl_->active;
  }
  std::vector<SandboxOutcome> outcomes = impl_->RunJob(job);
  {
    absl::MutexLock lock(&impl_->mu);
    --impl_->active;
  }
  return outcomes;
}

std::vector<SandboxOutcome> Sandbox::Impl::RunJob(const SandboxJob& job) const {
  using sandbox_internal::OwnedStep;
  sandbox_internal::OwnedPlan plan = base;
  std::vector<SandboxLimits> limits;
  std::vector<int64_t> cpu_soft;
  for (const SandboxStep& step : job.steps) {
    const SandboxLimits l = step.limits.value_or(options.limits);
    limits.push_back(l);
    OwnedStep s;
    const std::string& a0 = step.argv[0];
    s.exec_path = a0.find('/') == std::string::npos ? "/usr/bin/" + a0 : a0;
    s.argv = step.argv;
    s.stdin_data = step.stdin_data;
    s.wall_ns = static_cast<int64_t>(l.wall_seconds * 1e9);
    s.cpu_soft = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(l.cpu_seconds)));
    s.cpu_hard = s.cpu_soft + 1;
    s.address_space = l.address_space_bytes;
    s.max_processes = l.max_processes;
    s.max_file = l.max_file_bytes;
    s.max_open_files = l.max_open_files;
    cpu_soft.push_back(s.cpu_soft);
    plan.steps.push_back(std::move(s));
  }
  for (const SandboxFile& f : job.files) plan.files.push_back({"/work/" + f.name, f.content, f.executable});

  int control[2], out[2], err[2], exec_err[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) != 0) {
    return {ErrorOutcome(absl::StrCat("socketpair: ", ErrnoText(errno)))};
  }
  Fd control_host(control[0]), control_child(control[1]);
  if (pipe2(out, O_CLOEXEC) != 0) return {ErrorOutcome(absl::StrCat("pipe2: ", ErrnoText(errno)))};
  Fd out_host(out[0]), out_child(out[1]);
  if (pipe2(err, O_CLOEXEC) != 0) return {ErrorOutcome(absl::StrCat("pipe2: ", ErrnoText(errno)))};
  Fd err_host(err[0]), err_child(err[1]);
  if (pipe2(exec_err, O_CLOEXEC) != 0) return {ErrorOutcome(absl::StrCat("pipe2: ", ErrnoText(errno)))};
  Fd exec_err_host(exec_err[0]), exec_err_child(exec_err[1]);
  plan.control_fd = control[1];
  plan.stdout_fd = out[1];
  plan.stderr_fd = err[1];
  const std::string bytes = sandbox_internal::EncodePlan(plan);
  Fd plan_fd(static_cast<int>(syscall(SYS_memfd_create, "grpo-sandbox-plan", MFD_CLOEXEC)));
  if (plan_fd.fd < 0 || !WriteAllTo(plan_fd.fd, bytes.data(), bytes.size())) {
    return {ErrorOutcome(absl::StrCat("writing the job plan to a memfd: ", ErrnoText(errno)))};
  }

  const std::string plan_arg = std::to_string(plan_fd.fd);
  char* const init_argv[] = {const_cast<char*>("grpo-sandbox-init"), const_cast<char*>(plan_arg.c_str()),
                             nullptr};
  char* const init_envp[] = {nullptr};
  ExecInitArgs args{init_fd, init_argv, init_envp, {control[1], out[1], err[1], plan_fd.fd}, exec_err[1]};
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
    return {ErrorOutcome(absl::StrCat("clone(CLONE_NEWUSER|NEWPID|NEWNS|NEWNET|NEWIPC|NEWUTS|NEWCGROUP): ",
                                      ErrnoText(clone_errno), "; ",
                                      sandbox_internal::UsernsDiagnostics()))};
  }
  control_child.Reset();
  out_child.Reset();
  err_child.Reset();
  exec_err_child.Reset();
  plan_fd.Reset();
  auto kill_child = [pid] {
    kill(pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  };
  int exec_errno = 0;
  if (read(exec_err[0], &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno)) {
    kill_child();
    return {ErrorOutcome(absl::StrCat("exec of the sandbox init program (memfd) failed: ",
                                      ErrnoText(exec_errno),
                                      exec_errno == EACCES ? " (is vm.memfd_noexec set?)" : ""))};
  }

  // Map the inside uid/gid to an unprivileged host id: never to host root.
  int e = 0;
  const bool mapped =
      WriteProcFile(pid, "uid_map", absl::StrCat(kInsideId, " ", host_uid, " 1\n"), &e) &&
      (caller_is_root || WriteProcFile(pid, "setgroups", "deny", &e)) &&
      WriteProcFile(pid, "gid_map", absl::StrCat(kInsideId, " ", host_gid, " 1\n"), &e);
  if (!mapped || send(control[0], &sandbox_internal::kCmdGo, 1, MSG_NOSIGNAL) != 1) {
    if (mapped) e = errno;
    kill_child();
    return {ErrorOutcome(absl::StrCat("writing the uid/gid maps of the sandbox: ", ErrnoText(e),
                                      "; ", sandbox_internal::UsernsDiagnostics()))};
  }
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);

  std::vector<SandboxOutcome> outcomes;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const SandboxLimits& l = limits[i];
    const std::string& exec_path = plan.steps[i].exec_path;
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
      pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {control[0], POLLIN, 0}};
      const int n = poll(fds, 3, static_cast<int>(std::min<int64_t>(left, 1000)));
      if (n < 0 && errno != EINTR) {
        failure = absl::StrCat("poll: ", ErrnoText(errno));
        break;
      }
      if (fds[0].revents) ReadAvailable(out[0], l.max_output_bytes, &out_data, &out_total, &out_trunc);
      if (fds[1].revents) ReadAvailable(err[0], l.max_output_bytes, &err_data, &err_total, &err_trunc);
      if ((out_trunc || err_trunc) && !stop_sent) {
        kill(pid, sandbox_internal::kKillStepSignal);
        stop_sent = true;
      }
      if (fds[2].revents) {
        const ssize_t got = recv(control[0], &record, sizeof(record), 0);
        if (got != static_cast<ssize_t>(sizeof(record))) {
          failure = "the sandbox process ended without a report";
          break;
        }
        // Every process of the step is dead: what is in the pipes is all.
        ReadAvailable(out[0], l.max_output_bytes, &out_data, &out_total, &out_trunc);
        ReadAvailable(err[0], l.max_output_bytes, &err_data, &err_total, &err_trunc);
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
      o = OutcomeFromRecord(record, l, cpu_soft[i], exec_path);
      if ((out_trunc || err_trunc) && o.kind != SandboxOutcome::Kind::kSandboxError) {
        o.kind = SandboxOutcome::Kind::kOutputLimit;
        o.detail = absl::StrCat(out_trunc ? "stdout" : "stderr", " passed ", l.max_output_bytes,
                                " bytes");
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
    const bool fatal = o.kind == SandboxOutcome::Kind::kSandboxError &&
                       (!failure.empty() || record.type == StatusRecord::kSetupError);
    outcomes.push_back(std::move(o));
    if (fatal) {
      kill_child();
      return outcomes;
    }
    if (i + 1 == plan.steps.size()) break;
    const SandboxOutcome& last = outcomes.back();
    const bool go_on = job.continue_after
                           ? job.continue_after(i, last)
                           : last.kind == SandboxOutcome::Kind::kExited && last.exit_code == 0;
    const char cmd = go_on ? sandbox_internal::kCmdContinue : sandbox_internal::kCmdQuit;
    if (send(control[0], &cmd, 1, MSG_NOSIGNAL) != 1 || !go_on) break;
  }
  control_host.Reset();  // the child, if it still waits for a command, exits
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return outcomes;
}

}  // namespace grpo::reward
