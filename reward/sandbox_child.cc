// pid 1 of the sandbox (see the header).
#include "reward/sandbox_child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reward/sandbox_plan.h"

namespace grpo::reward::sandbox_internal {
namespace {

// mount_setattr(2) (Linux 5.12), declared here because <linux/mount.h> and
// glibc 2.36's <sys/mount.h> clash and older glibc lacks it.
struct MountAttr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
constexpr uint64_t kAttrReadOnly = 0x1, kAttrNoSuid = 0x2, kAttrNoDev = 0x4;
constexpr unsigned kAtRecursive = 0x8000;
#ifdef SYS_mount_setattr
constexpr long kSysMountSetattr = SYS_mount_setattr;
#else
constexpr long kSysMountSetattr = 442;  // the same number on every architecture
#endif

// Descriptors the child moves its own to, above the ones a host usually has.
constexpr int kHighFd = 64;

void Append(char* buf, size_t cap, size_t* pos, const char* text) {
  while (*text != '\0' && *pos + 1 < cap) buf[(*pos)++] = *text++;
  buf[*pos] = '\0';
}

void SendRecord(int fd, const StatusRecord& record) {
  while (send(fd, &record, sizeof(record), MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

}  // namespace

[[noreturn]] void Fail(const ChildPlan& plan, const char* what, const char* path) {
  const int err = errno;
  StatusRecord record{};
  record.type = StatusRecord::kSetupError;
  size_t pos = 0;
  Append(record.message, sizeof(record.message), &pos, what);
  if (path != nullptr) {
    Append(record.message, sizeof(record.message), &pos, " ");
    Append(record.message, sizeof(record.message), &pos, path);
  }
  Append(record.message, sizeof(record.message), &pos, ": ");
  const char* name = strerrorname_np(err);
  Append(record.message, sizeof(record.message), &pos, name != nullptr ? name : "errno?");
  Append(record.message, sizeof(record.message), &pos, " (");
  const char* desc = strerrordesc_np(err);
  Append(record.message, sizeof(record.message), &pos, desc != nullptr ? desc : "?");
  Append(record.message, sizeof(record.message), &pos, ")");
  SendRecord(plan.control_fd, record);
  _exit(1);
}

namespace {

// fork(2) as a plain system call: no atfork handlers run in pid 1.
pid_t RawFork() { return static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0)); }

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int64_t CpuNs(const rusage& ru) {
  return (int64_t{ru.ru_utime.tv_sec} + ru.ru_stime.tv_sec) * 1000000000 +
         (int64_t{ru.ru_utime.tv_usec} + ru.ru_stime.tv_usec) * 1000;
}

void CloseRange(unsigned first, unsigned last) {
  if (first > last) return;
  if (syscall(SYS_close_range, first, last, 0) == 0) return;
  // Kernels before 5.9: close one by one up to the descriptor limit.
  rlimit rl;
  unsigned limit = 65536;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < limit) limit = static_cast<unsigned>(rl.rlim_cur);
  for (unsigned fd = first; fd <= last && fd < limit; ++fd) close(static_cast<int>(fd));
}


// Moves a descriptor to kHighFd or above, close-on-exec.
int MoveHigh(int fd) {
  if (fd < 0) return fd;
  const int moved = fcntl(fd, F_DUPFD_CLOEXEC, kHighFd);
  close(fd);
  return moved;
}


// Makes a bind mount (and its submounts) read-only and nosuid; nodev unless
// it is a device node. Flags the kernel locked on the source stay set.
bool MakeReadOnly(const char* target, bool device) {
  MountAttr attr{};
  attr.attr_set = kAttrReadOnly | kAttrNoSuid | (device ? 0 : kAttrNoDev);
  if (syscall(kSysMountSetattr, AT_FDCWD, target, kAtRecursive, &attr, sizeof(attr)) == 0) {
    return true;
  }
  if (errno != ENOSYS) return false;
  // Before Linux 5.12: remount the top mount only, repeating locked flags.
  struct statfs st;
  if (statfs(target, &st) != 0) return false;
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID;
  if (!device) flags |= MS_NODEV;
  if (st.f_flags & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flags & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flags & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flags & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flags & ST_RELATIME) flags |= MS_RELATIME;
  return mount(nullptr, target, nullptr, flags, nullptr) == 0;
}

void WriteFileOrFail(const ChildPlan& plan, const char* path, const char* data, size_t size,
                     mode_t mode) {
  const int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) Fail(plan, "create", path);
  if (!WriteAll(fd, data, size)) Fail(plan, "write", path);
  close(fd);
}

void SetupMounts(const ChildPlan& plan) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    Fail(plan, "make / private", nullptr);
  // The new root is a small tmpfs over /tmp of this mount namespace only.
  if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0755") != 0)
    Fail(plan, "mount tmpfs", "/tmp (new root)");
  for (size_t i = 0; i < plan.mount_count; ++i) {
    const MountEntry& m = plan.mounts[i];
    switch (m.kind) {
      case MountEntry::kMkdir:
        if (mkdir(m.target, 0755) != 0 && errno != EEXIST) Fail(plan, "mkdir", m.target);
        break;
      case MountEntry::kSymlink:
        if (symlink(m.source, m.target) != 0) Fail(plan, "symlink", m.target);
        break;
      case MountEntry::kDir:
      case MountEntry::kFile: {
        if (m.kind == MountEntry::kDir) {
          if (mkdir(m.target, 0755) != 0 && errno != EEXIST) Fail(plan, "mkdir", m.target);
        } else {
          const int fd = open(m.target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
          if (fd < 0) Fail(plan, "create mount point", m.target);
          close(fd);
        }
        if (mount(m.source, m.target, nullptr, MS_BIND | MS_REC, nullptr) != 0)
          Fail(plan, "bind mount", m.source);
        if (!MakeReadOnly(m.target, m.device)) Fail(plan, "make read-only", m.target);
        break;
      }
    }
  }
  if (mkdir("/tmp/proc", 0555) != 0 && errno != EEXIST) Fail(plan, "mkdir", "/tmp/proc");
  // Only pid 1 of the new pid namespace can mount its proc.
  if (mount("proc", "/tmp/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    Fail(plan, "mount proc", "/tmp/proc");
  if (mkdir("/tmp/tmp", 01777) != 0) Fail(plan, "mkdir", "/tmp/tmp");
  if (mount("tmpfs", "/tmp/tmp", "tmpfs", MS_NOSUID | MS_NODEV, plan.tmpfs_options) != 0)
    Fail(plan, "mount tmpfs", "/tmp");
  if (mkdir("/tmp/work", 0755) != 0) Fail(plan, "mkdir", "/tmp/work");
  if (mount("tmpfs", "/tmp/work", "tmpfs", MS_NOSUID | MS_NODEV, plan.work_options) != 0)
    Fail(plan, "mount tmpfs", "/work");
  if (mkdir("/tmp/etc", 0755) != 0 && errno != EEXIST) Fail(plan, "mkdir", "/tmp/etc");
  WriteFileOrFail(plan, "/tmp/etc/passwd", plan.passwd, strlen(plan.passwd), 0644);
  WriteFileOrFail(plan, "/tmp/etc/group", plan.group, strlen(plan.group), 0644);

  // pivot_root(".", ".") stacks the old root on the new one; detaching it
  // leaves no path back to the host tree.
  if (chdir("/tmp") != 0) Fail(plan, "chdir", "/tmp");
  if (syscall(SYS_pivot_root, ".", ".") != 0) Fail(plan, "pivot_root", "/tmp");
  if (umount2(".", MNT_DETACH) != 0) Fail(plan, "detach the old root", nullptr);
  if (chdir("/") != 0) Fail(plan, "chdir", "/");
  if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
            nullptr) != 0)
    Fail(plan, "make the new root read-only", nullptr);
}

bool SetLimit(int resource, int64_t soft, int64_t hard) {
  rlimit rl;
  rl.rlim_cur = static_cast<rlim_t>(soft);
  rl.rlim_max = static_cast<rlim_t>(hard);
  return setrlimit(resource, &rl) == 0;
}

// The step's first process: descriptors, limits, no capabilities,
// no_new_privs, seccomp, then the runner (the program).
[[noreturn]] void StepChild(const ChildPlan& plan, const StepPlan& step, int stdin_fd,
                            int err_fd, ProgramRunner runner) {
  if (dup2(stdin_fd, 0) < 0 || dup2(plan.stdout_fd, 1) < 0 || dup2(plan.stderr_fd, 2) < 0)
    StepFail(err_fd, kStageDescriptors);
  const int keep[4] = {0, 1, 2, err_fd};
  CloseAllExcept(keep, 4);
  if (setsid() < 0 || chdir("/work") != 0) StepFail(err_fd, kStageDescriptors);
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

  if (!SetLimit(RLIMIT_CPU, step.cpu_soft, step.cpu_hard) ||
      !SetLimit(RLIMIT_AS, step.address_space, step.address_space) ||
      !SetLimit(RLIMIT_NPROC, step.max_processes, step.max_processes) ||
      !SetLimit(RLIMIT_FSIZE, step.max_file, step.max_file) ||
      !SetLimit(RLIMIT_NOFILE, step.max_open_files, step.max_open_files) ||
      !SetLimit(RLIMIT_CORE, 0, 0) || !SetLimit(RLIMIT_MSGQUEUE, 0, 0)) {
    StepFail(err_fd, kStageRlimit);
  }

  // The uid is not 0 inside, so execve would clear the capabilities anyway;
  // clearing every set here makes that independent of the exec'd file.
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int cap = 0; cap <= 63; ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      StepFail(err_fd, kStageCapabilities);
  }
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capset, &header, data) != 0) StepFail(err_fd, kStageCapabilities);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) StepFail(err_fd, kStageNoNewPrivs);
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, plan.seccomp) != 0)
    StepFail(err_fd, kStageSeccomp);
  runner(plan, step, err_fd);
  StepFail(err_fd, kStageExec);  // a runner does not return
}

// The default runner: the program's own binary, with default signal
// dispositions (an ignored signal would survive the exec).
void ExecProgram(const ChildPlan& plan, const StepPlan& step, int err_fd) {
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(step.exec_path, step.argv, plan.envp);
  StepFail(err_fd, kStageExec);
}

// Kills every process of the namespace but this one and reaps them all.
void KillAndReapAll() {
  for (;;) {
    kill(-1, SIGKILL);
    int status;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0 && errno == ECHILD) return;
  }
}

// Reads the host's next command; stale stop requests are skipped.
char ReadCommand(int control_fd) {
  for (;;) {
    char command = 0;
    const ssize_t n = read(control_fd, &command, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) return 0;
    if (command != kCmdStop) return command;
  }
}

// Runs one step; fills the record (the caller sends it).
void RunStep(const ChildPlan& plan, const StepPlan& step, StatusRecord* record,
             ProgramRunner runner) {
  // stdin is a memory file: the step reads it at its own pace and no pipe
  // can block this process.
  int stdin_fd = step.stdin_fd;
  if (stdin_fd < 0) {
    stdin_fd = MoveHigh(static_cast<int>(syscall(SYS_memfd_create, "stdin", MFD_CLOEXEC)));
    if (stdin_fd < 0) Fail(plan, "memfd_create", "stdin");
    if (!WriteAll(stdin_fd, step.stdin_data, step.stdin_size) || lseek(stdin_fd, 0, SEEK_SET) != 0)
      Fail(plan, "write", "stdin");
  }
  // SIGCHLD (blocked) arrives here; the host's stop request on the control socket.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  const int sig_fd = MoveHigh(signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
  if (sig_fd < 0) Fail(plan, "signalfd", nullptr);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) Fail(plan, "pipe2", nullptr);
  err_pipe[0] = MoveHigh(err_pipe[0]);
  err_pipe[1] = MoveHigh(err_pipe[1]);

  rusage before{};
  getrusage(RUSAGE_CHILDREN, &before);
  const int64_t start = NowNs();
  const pid_t pid = RawFork();
  if (pid < 0) Fail(plan, "fork", nullptr);
  if (pid == 0) StepChild(plan, step, stdin_fd, err_pipe[1], runner);
  close(err_pipe[1]);
  close(stdin_fd);

  const int64_t deadline = start + step.wall_ns;
  bool done = false, host_gone = false;
  while (!done) {
    const int64_t left = deadline - NowNs();
    if (!record->timed_out && left <= 0) {
      record->timed_out = 1;
      kill(-1, SIGKILL);
    }
    const int64_t wait_ns = record->timed_out ? 100000000 : left;
    const timespec ts{static_cast<time_t>(wait_ns / 1000000000), static_cast<long>(wait_ns % 1000000000)};
    pollfd fds[2] = {{sig_fd, POLLIN, 0}, {host_gone ? -1 : plan.control_fd, POLLIN, 0}};
    if (ppoll(fds, 2, &ts, nullptr) > 0) {
      signalfd_siginfo info;
      while (read(sig_fd, &info, sizeof(info)) > 0) {
      }
      if (fds[1].revents != 0) {
        char command = 0;
        const ssize_t n = recv(plan.control_fd, &command, 1, MSG_DONTWAIT);
        if (n == 1 && command == kCmdStop && !record->output_killed) {
          record->output_killed = 1;
          kill(-1, SIGKILL);
        } else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          host_gone = true;  // nobody will read the report: end the step now
          kill(-1, SIGKILL);
        }
      }
    }
    for (;;) {
      int status;
      rusage ru{};
      const pid_t reaped = wait4(-1, &status, WNOHANG, &ru);
      if (reaped <= 0) break;
      if (reaped == pid) {
        record->wait_status = status;
        record->first_cpu_ns = CpuNs(ru);
        record->maxrss_kb = ru.ru_maxrss;
        done = true;
      }
    }
  }
  // The step ends with its first process: orphans and daemons die here.
  KillAndReapAll();
  rusage after{};
  getrusage(RUSAGE_CHILDREN, &after);
  record->wall_ns = NowNs() - start;
  record->cpu_ns = CpuNs(after) - CpuNs(before);
  int32_t report[2] = {0, 0};
  ssize_t got;
  while ((got = read(err_pipe[0], report, sizeof(report))) < 0 && errno == EINTR) {
  }
  if (got == static_cast<ssize_t>(sizeof(report))) {
    record->child_stage = report[0];
    record->child_errno = report[1];
  }
  close(err_pipe[0]);
  close(sig_fd);
}

}  // namespace

[[noreturn]] void StepFail(int err_fd, int32_t stage) {
  const int32_t report[2] = {stage, errno};
  WriteAll(err_fd, report, sizeof(report));
  _exit(127);
}

void CloseAllExcept(const int* keep, int count) {
  int sorted[8];
  int n = 0;
  for (int i = 0; i < count && n < 8; ++i) {
    if (keep[i] >= 0) sorted[n++] = keep[i];
  }
  for (int i = 1; i < n; ++i) {
    for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; --j) {
      const int t = sorted[j];
      sorted[j] = sorted[j - 1];
      sorted[j - 1] = t;
    }
  }
  unsigned next = 0;
  for (int i = 0; i < n; ++i) {
    if (static_cast<unsigned>(sorted[i]) > next) CloseRange(next, static_cast<unsigned>(sorted[i]) - 1);
    next = static_cast<unsigned>(sorted[i]) + 1;
  }
  CloseRange(next, ~0U);
}

void SetupSandbox(const ChildPlan& plan) {
  // Everything blocked: SIGCHLD is read from a signalfd; SIGKILL (host,
  // parent death) still works.
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &dfl, nullptr);  // SIG_IGN would reap behind our back
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

  const int keep[3] = {plan.control_fd, plan.stdout_fd, plan.stderr_fd};
  CloseAllExcept(keep, 3);

  // The host writes the uid/gid maps, then says go.
  if (ReadCommand(plan.control_fd) != kCmdGo) _exit(1);
  // Not dumpable: the program cannot read pid 1's memory (the plan: other
  // steps' stdin, files) through /proc/1/mem or ptrace-like interfaces. Only
  // now: it also makes /proc/PID/uid_map root-owned, which an unprivileged
  // host could not write.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // Plain system calls: glibc's set*id would try to make other threads
  // follow, which only matters (and can hang) in a copied process.
  if (plan.drop_groups && syscall(SYS_setgroups, 0, nullptr) != 0) Fail(plan, "setgroups", nullptr);
  // Become the mapped id first: files can only be created by a mapped uid.
  // Inside uid 0 is unmapped, so the kernel sees no "root gives up root"
  // transition and the namespace capabilities stay for the mounts below.
  if (syscall(SYS_setresgid, kInsideId, kInsideId, kInsideId) != 0) Fail(plan, "setresgid", nullptr);
  if (syscall(SYS_setresuid, kInsideId, kInsideId, kInsideId) != 0) Fail(plan, "setresuid", nullptr);

  SetupMounts(plan);
  if (sethostname("sandbox", 7) != 0) Fail(plan, "sethostname", nullptr);
}

void WriteFiles(const ChildPlan& plan) {
  for (size_t i = 0; i < plan.file_count; ++i) {
    const FileEntry& f = plan.files[i];
    WriteFileOrFail(plan, f.path, f.data, f.size, f.executable ? 0755 : 0644);
  }
}

void RunSteps(const ChildPlan& plan, ProgramRunner runner) {
  for (size_t i = 0; i < plan.step_count; ++i) {
    if (i > 0 && ReadCommand(plan.control_fd) != kCmdContinue) return;
    StatusRecord record{};
    record.type = StatusRecord::kStepDone;
    record.step = static_cast<int32_t>(i);
    RunStep(plan, plan.steps[i], &record, runner);
    SendRecord(plan.control_fd, record);
  }
}

int ChildMain(void* arg) {
  const ChildPlan& plan = *static_cast<const ChildPlan*>(arg);
  SetupSandbox(plan);
  WriteFiles(plan);
  RunSteps(plan, ExecProgram);
  _exit(0);
}

}  // namespace grpo::reward::sandbox_internal
