#include "reward/sandbox_zygote.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "reward/sandbox_child.h"

namespace grpo::reward::sandbox_internal {
namespace {

// Start-up includes the interpreter and the preload imports.
constexpr int kStartTimeoutMs = 30000;

// A memfd holding `data`, read from offset 0; -1 on failure.
int MemfdWith(const char* name, const std::string& data) {
  const int fd = static_cast<int>(syscall(SYS_memfd_create, name, MFD_CLOEXEC));
  if (fd < 0) return -1;
  if (!WriteAll(fd, data.data(), data.size()) || lseek(fd, 0, SEEK_SET) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendRun(int control, const std::vector<int>& fds) {
  char command = kZygoteCmdRun;
  iovec iov{&command, 1};
  alignas(cmsghdr) char space[CMSG_SPACE(sizeof(int) * kZygoteMaxFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = space;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  ssize_t n;
  while ((n = sendmsg(control, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  return n == 1;
}

}  // namespace

PythonZygote::PythonZygote(int program_fd, OwnedPlan base, HostIds ids)
    : program_fd_(program_fd), base_(std::move(base)), ids_(ids) {}

PythonZygote::~PythonZygote() {
  absl::MutexLock lock(&mu_);
  StopLocked();
}

void PythonZygote::StopLocked() {
  control_.Reset();
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
}

bool PythonZygote::AliveLocked() {
  if (pid_ <= 0) return false;
  const pid_t r = waitpid(pid_, nullptr, WNOHANG);
  if (r == 0) return true;
  pid_ = -1;  // reaped (or not ours any more)
  control_.Reset();
  return false;
}

absl::Status PythonZygote::StartLocked() {
  StopLocked();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return absl::InternalError(absl::StrCat("python zygote: socketpair: ", ErrnoText(errno)));
  }
  Fd host(sv[0]), child(sv[1]);
  OwnedPlan plan = base_;
  plan.control_fd = child.fd;
  plan.stdout_fd = -1;
  plan.stderr_fd = -1;
  std::string error;
  const pid_t pid = LaunchInNamespaces(program_fd_, "grpo-sandbox-zygote", plan, ids_, &error,
                                         /*bind_now=*/true);
  child.Reset();
  if (pid < 0) return absl::FailedPreconditionError("python zygote: " + error);
  auto fail = [&](const std::string& why) {
    kill(pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return absl::FailedPreconditionError(why);
  };
  if (send(host.fd, &kCmdGo, 1, MSG_NOSIGNAL) != 1) {
    return fail(absl::StrCat("python zygote: sending go: ", ErrnoText(errno)));
  }
  pollfd p{host.fd, POLLIN, 0};
  int ready;
  while ((ready = poll(&p, 1, kStartTimeoutMs)) < 0 && errno == EINTR) {
  }
  if (ready <= 0) return fail("python zygote: not warm within 30 s");
  StatusRecord record{};
  const ssize_t n = recv(host.fd, &record, sizeof(record), 0);
  if (n == 1 && reinterpret_cast<const char*>(&record)[0] == kZygoteReady) {
    pid_ = pid;
    control_.fd = host.fd;
    host.fd = -1;
    return absl::OkStatus();
  }
  if (n == static_cast<ssize_t>(sizeof(record)) && record.type == StatusRecord::kSetupError) {
    record.message[sizeof(record.message) - 1] = '\0';
    return fail(absl::StrCat("python zygote set-up: ", record.message));
  }
  return fail("python zygote: ended during start-up without a report");
}

absl::Status PythonZygote::EnsureStarted() {
  absl::MutexLock lock(&mu_);
  if (AliveLocked()) return absl::OkStatus();
  return StartLocked();
}

absl::StatusOr<pid_t> PythonZygote::Submit(const Channels& channels, const OwnedPlan& run) {
  if (run.steps.empty() || run.steps.size() > static_cast<size_t>(kZygoteMaxSteps)) {
    return absl::InvalidArgumentError("python zygote: a run has 1 to 16 steps");
  }
  OwnedPlan sent = run;
  std::vector<std::unique_ptr<Fd>> owned;
  auto add = [&owned](int fd) {
    owned.push_back(std::make_unique<Fd>(fd));
    return fd >= 0;
  };
  for (OwnedStep& step : sent.steps) step.stdin_data.clear();  // only as memfds
  bool ok = add(MemfdWith("grpo-sandbox-run", EncodePlan(sent)));
  for (const OwnedStep& step : run.steps) ok = ok && add(MemfdWith("stdin", step.stdin_data));
  if (!ok) return absl::InternalError(absl::StrCat("python zygote: memfd: ", ErrnoText(errno)));
  std::vector<int> fds = {channels.control_child.fd, channels.out_child.fd, channels.err_child.fd};
  for (const auto& fd : owned) fds.push_back(fd->fd);

  absl::MutexLock lock(&mu_);
  absl::Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!AliveLocked()) {
      last = StartLocked();
      if (!last.ok()) continue;
    }
    if (SendRun(control_.fd, fds)) return pid_;
    last = absl::UnavailableError(absl::StrCat("python zygote: sending a run: ", ErrnoText(errno)));
    StopLocked();
  }
  return last;
}

void PythonZygote::Discard(pid_t pid) {
  absl::MutexLock lock(&mu_);
  if (pid_ == pid) StopLocked();
}

pid_t PythonZygote::PidForTesting() const {
  absl::MutexLock lock(&mu_);
  return pid_;
}

}  // namespace grpo::reward::sandbox_internal
