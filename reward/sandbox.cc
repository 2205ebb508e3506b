#include "reward/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "proto/status_macros.h"
#include "reward/sandbox_child.h"
#include "reward/sandbox_host.h"
#include "reward/sandbox_init_blob.h"
#include "reward/sandbox_plan.h"
#include "reward/sandbox_seccomp.h"
#include "reward/sandbox_setup.h"
#include "reward/sandbox_zygote.h"

namespace grpo::reward {

using sandbox_internal::ErrnoText;
using sandbox_internal::ErrorOutcome;
using sandbox_internal::Fd;
using sandbox_internal::kInsideId;

namespace {

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

// A sealed memfd holding a program the sandbox execs; -1 with errno on failure.
int SealedProgram(const char* name, std::string_view bytes) {
  // MFD_EXEC (Linux 6.3) says it is meant to be executed; older kernels
  // reject the flag and execute any memfd. Sealed: nothing changes it later.
  constexpr unsigned kMfdExec = 0x10;
  const unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  int fd = static_cast<int>(syscall(SYS_memfd_create, name, flags | kMfdExec));
  if (fd < 0 && errno == EINVAL) fd = static_cast<int>(syscall(SYS_memfd_create, name, flags));
  if (fd < 0) return -1;
  if (!sandbox_internal::WriteAll(fd, bytes.data(), bytes.size()) ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    const int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

// `python -I -S -B SCRIPT [ARGS...]`, the flags in any order.
bool ZygoteForm(const std::vector<std::string>& argv, const std::string& python) {
  if (argv.size() <= static_cast<size_t>(sandbox_internal::kZygoteScriptIndex) || argv[0] != python) {
    return false;
  }
  std::vector<std::string> flags(argv.begin() + 1, argv.begin() + sandbox_internal::kZygoteScriptIndex);
  std::sort(flags.begin(), flags.end());
  return flags == std::vector<std::string>{"-B", "-I", "-S"};
}

// What the zygote probe prints: everything a program could tell apart
// between a fresh interpreter and a forked one, but the hash seed.
constexpr char kProbeScript[] =
    "import os, sys\n"
    "sys.stdout.write(repr((sys.version, sys.executable, sys.flags, sys.path, sys.argv,\n"
    "    os.getcwd(), sorted(os.environ.items()), os.getuid(), os.getgid(), os.getpid(),\n"
    "    os.getppid(), sys.stdin.seekable(), sys.stdout.line_buffering, sys.stdout.encoding)))\n";

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
  sandbox_internal::HostIds ids;
  // What every job's plan shares: mounts, options, environment, filter.
  sandbox_internal::OwnedPlan base;
  // Memfds holding the init program (pid 1 of each exec-path sandbox) and
  // the zygote program.
  int init_fd = -1;
  int zygote_fd = -1;
  // Null when the zygote is off or did not pass its probe (zygote_status says why).
  std::unique_ptr<sandbox_internal::PythonZygote> zygote;
  std::string zygote_status = "off (SandboxOptions::python_zygote is false)";

  mutable absl::Mutex mu;
  mutable int active ABSL_GUARDED_BY(mu) = 0;

  ~Impl() {
    zygote.reset();
    if (init_fd >= 0) close(init_fd);
    if (zygote_fd >= 0) close(zygote_fd);
  }
  bool UsesZygote(const SandboxJob& job) const;
  std::vector<SandboxOutcome> RunJob(const SandboxJob& job, bool via_zygote) const;
  // Starts the zygote and checks it against the exec path; on any
  // difference the zygote is dropped and the status says why.
  void StartZygote();
};

Sandbox::Sandbox(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sandbox::~Sandbox() = default;
const SandboxOptions& Sandbox::options() const { return impl_->options; }
int Sandbox::workers() const { return impl_->workers; }
bool Sandbox::uses_python_zygote() const { return impl_->zygote != nullptr; }
const std::string& Sandbox::python_zygote_status() const { return impl_->zygote_status; }
int Sandbox::python_zygote_pid_for_testing() const {
  return impl_->zygote != nullptr ? impl_->zygote->PidForTesting() : -1;
}

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
  for (const std::string& module : options.python_zygote_preload) {
    if (module.empty() || module.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") !=
                              std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("sandbox: python_zygote_preload: '", module, "' is not a module name"));
    }
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->workers = options.workers > 0 ? options.workers
                                      : std::max(1u, std::thread::hardware_concurrency());
  impl->ids.caller_is_root = geteuid() == 0;
  impl->ids.uid = impl->ids.caller_is_root ? options.host_uid_when_root : geteuid();
  impl->ids.gid = impl->ids.caller_is_root ? options.host_gid_when_root : getegid();
  if (impl->ids.caller_is_root && (impl->ids.uid == 0 || impl->ids.gid == 0)) {
    return absl::InvalidArgumentError("sandbox: host_uid_when_root/host_gid_when_root must not be 0");
  }
  sandbox_internal::OwnedPlan& base = impl->base;
  ASSIGN_OR_RETURN(base.mounts, sandbox_internal::BuildMountPlan(options.read_only_paths));
  base.drop_groups = impl->ids.caller_is_root;
  base.tmpfs_options = absl::StrCat("size=", options.tmpfs_bytes, ",nr_inodes=16384,mode=1777");
  base.work_options = absl::StrCat("size=", options.tmpfs_bytes, ",nr_inodes=16384,mode=0755,uid=",
                                   kInsideId, ",gid=", kInsideId);
  base.passwd = absl::StrCat("sandbox:x:", kInsideId, ":", kInsideId,
                             ":sandbox:/work:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
  base.group = absl::StrCat("sandbox:x:", kInsideId, ":\nnogroup:x:65534:\n");
  base.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "LANG=C.UTF-8",
              "TMPDIR=/tmp", "PYTHONDONTWRITEBYTECODE=1", "PYTHONHASHSEED=" + seed};
  ASSIGN_OR_RETURN(base.seccomp, sandbox_internal::BuildSeccompFilter());

  // The programs go into memfds once; every job execs them from there.
  impl->init_fd = SealedProgram("grpo-sandbox-init", sandbox_internal::SandboxInitProgram());
  if (impl->init_fd < 0) {
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
  if (options.python_zygote) sandbox->impl_->StartZygote();
  return sandbox;
}

void Sandbox::Impl::StartZygote() {
  char embedded[PATH_MAX], wanted[PATH_MAX];
  if (realpath(GRPO_SANDBOX_ZYGOTE_PYTHON, embedded) == nullptr ||
      realpath(options.python.c_str(), wanted) == nullptr || std::string(embedded) != wanted) {
    zygote_status = absl::StrCat("off: ", options.python, " is not the interpreter the zygote embeds (",
                                 GRPO_SANDBOX_ZYGOTE_PYTHON, ")");
    return;
  }
  zygote_fd = SealedProgram("grpo-sandbox-zygote", sandbox_internal::SandboxZygoteProgram());
  if (zygote_fd < 0) {
    zygote_status = absl::StrCat("off: writing the zygote program to a memfd: ", ErrnoText(errno));
    return;
  }
  sandbox_internal::OwnedPlan plan = base;
  plan.zygote_python = options.python;
  plan.zygote_preload = options.python_zygote_preload;
  for (const SandboxFile& script : options.python_zygote_scripts) {
    plan.zygote_scripts.push_back(script.name);
    plan.zygote_scripts.push_back(script.content);
  }
  auto candidate = std::make_unique<sandbox_internal::PythonZygote>(zygote_fd, std::move(plan), ids);
  if (absl::Status started = candidate->EnsureStarted(); !started.ok()) {
    zygote_status = absl::StrCat("off: ", started.message());
    return;
  }
  zygote = std::move(candidate);
  // The same script both ways must print the same.
  SandboxJob job;
  job.files = {{"grpo_probe.py", kProbeScript, false}};
  job.steps.push_back({{options.python, "-I", "-S", "-B", "grpo_probe.py", "arg"}, "", std::nullopt});
  const std::vector<SandboxOutcome> exec = RunJob(job, /*via_zygote=*/false);
  const std::vector<SandboxOutcome> forked = RunJob(job, /*via_zygote=*/true);
  auto describe = [](const SandboxOutcome& o) {
    return absl::StrCat(SandboxKindName(o.kind), " exit ", o.exit_code, " ", o.detail, " stdout ",
                        o.stdout_data.substr(0, 300), " stderr ", o.stderr_data.substr(0, 300));
  };
  if (exec.front().kind != SandboxOutcome::Kind::kExited || exec.front().exit_code != 0 ||
      forked.front().kind != exec.front().kind || forked.front().exit_code != 0 ||
      forked.front().stdout_data != exec.front().stdout_data) {
    zygote_status = absl::StrCat("off: the zygote's probe differs from a fresh interpreter's: fresh: ",
                                 describe(exec.front()), "; zygote: ", describe(forked.front()));
    zygote.reset();
    return;
  }
  zygote_status = "on";
}

bool Sandbox::Impl::UsesZygote(const SandboxJob& job) const {
  if (zygote == nullptr || job.steps.size() > static_cast<size_t>(sandbox_internal::kZygoteMaxSteps)) {
    return false;
  }
  for (const SandboxStep& step : job.steps) {
    if (!ZygoteForm(step.argv, options.python)) return false;
  }
  return true;
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
  std::vector<SandboxOutcome> outcomes = impl_->RunJob(job, impl_->UsesZygote(job));
  {
    absl::MutexLock lock(&impl_->mu);
    --impl_->active;
  }
  return outcomes;
}

std::vector<SandboxOutcome> Sandbox::Impl::RunJob(const SandboxJob& job, bool via_zygote) const {
  using sandbox_internal::OwnedStep;
  sandbox_internal::OwnedPlan plan;
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

  sandbox_internal::Channels channels;
  if (std::string error = sandbox_internal::MakeChannels(&channels); !error.empty()) {
    return {ErrorOutcome(error)};
  }
  // The exec path: pid 1 is a fresh init. The zygote path: pid 1 is forked
  // by the zygote, which the host cannot signal into; closing the control
  // socket makes it kill its run.
  pid_t pid = -1, zygote_pid = -1;
  if (via_zygote) {
    absl::StatusOr<pid_t> submitted = zygote->Submit(channels, plan);
    if (!submitted.ok()) return {ErrorOutcome(std::string(submitted.status().message()))};
    zygote_pid = *submitted;
  } else {
    sandbox_internal::OwnedPlan full = base;
    full.steps = std::move(plan.steps);
    full.files = std::move(plan.files);
    full.control_fd = channels.control_child.fd;
    full.stdout_fd = channels.out_child.fd;
    full.stderr_fd = channels.err_child.fd;
    std::string error;
    pid = sandbox_internal::LaunchInNamespaces(init_fd, "grpo-sandbox-init", full, ids, &error);
    if (pid < 0) return {ErrorOutcome(error)};
    plan.steps = std::move(full.steps);
    if (send(channels.control.fd, &sandbox_internal::kCmdGo, 1, MSG_NOSIGNAL) != 1) {
      const int e = errno;
      kill(pid, SIGKILL);
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      return {ErrorOutcome(absl::StrCat("sending go to the sandbox: ", ErrnoText(e)))};
    }
  }
  channels.control_child.Reset();
  channels.out_child.Reset();
  channels.err_child.Reset();
  fcntl(channels.out.fd, F_SETFL, O_NONBLOCK);
  fcntl(channels.err.fd, F_SETFL, O_NONBLOCK);

  std::vector<SandboxOutcome> outcomes;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    bool fatal = false;
    outcomes.push_back(sandbox_internal::WaitForStep(channels, limits[i], cpu_soft[i],
                                                     plan.steps[i].exec_path, &fatal));
    if (fatal) {
      if (pid > 0) kill(pid, SIGKILL);
      if (zygote_pid > 0) zygote->Discard(zygote_pid);  // replaced before the next run
      break;
    }
    if (i + 1 == plan.steps.size()) break;
    const SandboxOutcome& last = outcomes.back();
    const bool go_on = job.continue_after
                           ? job.continue_after(i, last)
                           : last.kind == SandboxOutcome::Kind::kExited && last.exit_code == 0;
    const char cmd = go_on ? sandbox_internal::kCmdContinue : sandbox_internal::kCmdQuit;
    if (send(channels.control.fd, &cmd, 1, MSG_NOSIGNAL) != 1 || !go_on) break;
  }
  channels.control.Reset();  // pid 1, if it still waits for a command, exits
  if (pid > 0) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  return outcomes;
}

}  // namespace grpo::reward
