#include "reward/plugin_host.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "reward/plugin_wire.h"
#include "reward/reward_plugin.h"

extern char** environ;

namespace grpo::reward {
namespace {

using Clock = std::chrono::steady_clock;
namespace wire = plugin_wire;

// How long a new helper may take to load the plugin and describe it.
constexpr auto kStartupTimeout = std::chrono::seconds(30);

RewardResult Failed(RewardStatus status, std::string reason) {
  RewardResult r;
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

bool IsExecutable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

}  // namespace

std::string DefaultPluginHostProgram() {
  std::vector<char> self(4096);
  const ssize_t n = readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n > 0) {
    std::string dir(self.data(), static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/') + 1);
    if (IsExecutable(dir + "grpo_plugin_host")) return dir + "grpo_plugin_host";
  }
  return GRPO_PLUGIN_HOST_PATH;
}

IsolatedPlugin::IsolatedPlugin(std::string path, std::string host_program)
    : path_(std::move(path)), host_program_(std::move(host_program)) {}

absl::StatusOr<std::unique_ptr<IsolatedPlugin>> IsolatedPlugin::Start(
    const std::string& path, const std::string& host_program) {
  std::unique_ptr<IsolatedPlugin> plugin(new IsolatedPlugin(
      path, host_program.empty() ? DefaultPluginHostProgram() : host_program));
  std::lock_guard<std::mutex> lock(plugin->mu_);
  absl::StatusOr<ComponentInfo> info = plugin->SpawnLocked();
  if (!info.ok()) return info.status();
  plugin->info_ = *std::move(info);
  return plugin;
}

IsolatedPlugin::~IsolatedPlugin() {
  std::lock_guard<std::mutex> lock(mu_);
  if (pid_ != 0) ReapLocked(/*kill=*/true);
}

absl::StatusOr<ComponentInfo> IsolatedPlugin::SpawnLocked() const {
  if (!IsExecutable(host_program_)) {
    return absl::UnavailableError(absl::StrCat("plugin ", path_, ": the helper program ",
                                               host_program_, " is not there or not executable"));
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return absl::UnavailableError(absl::StrCat("plugin ", path_, ": socketpair: ", strerror(errno)));
  }
  // dup2 onto 3 clears close-on-exec, except when the fd already is 3.
  int child_fd = sv[1];
  if (child_fd == 3) {
    child_fd = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
    close(sv[1]);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_fd, 3);
  const std::string parent = std::to_string(getpid());
  std::vector<char*> argv = {const_cast<char*>(host_program_.c_str()),
                             const_cast<char*>(path_.c_str()), const_cast<char*>(parent.c_str()),
                             nullptr};
  // A clean signal mask: a worker thread that restarts the helper has
  // SIGTERM and SIGINT blocked (the server waits for them in sigwait).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, host_program_.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  close(child_fd);
  if (err != 0) {
    close(sv[0]);
    return absl::UnavailableError(
        absl::StrCat("plugin ", path_, ": cannot start ", host_program_, ": ", strerror(err)));
  }
  pid_ = pid;
  fd_ = sv[0];
  ++spawned_;
  std::string reply;
  if (!wire::WriteFrame(fd_, wire::EncodeInfoRequest()) ||
      wire::ReadFrame(fd_, &reply, Clock::now() + kStartupTimeout) != wire::ReadOutcome::kOk) {
    const std::string how = ReapLocked(/*kill=*/true);
    return absl::UnavailableError(absl::StrCat("plugin ", path_, ": its helper ", how,
                                               " before describing the plugin"));
  }
  absl::StatusOr<ComponentInfo> info = wire::DecodeInfo(reply);
  if (!info.ok()) {
    ReapLocked(/*kill=*/true);
    // The helper's error already names the file.
    return absl::InvalidArgumentError(info.status().message());
  }
  if (absl::Status s = CheckPluginInfo(path_, *info); !s.ok()) {
    ReapLocked(/*kill=*/true);
    return s;
  }
  return info;
}

std::string IsolatedPlugin::ReapLocked(bool kill_it) const {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (pid_ == 0) return "was not running";
  if (kill_it) kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = 0;
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return absl::StrCat("died of signal ", sig, " (", strsignal(sig), ")");
  }
  return absl::StrCat("exited with status ", WEXITSTATUS(status));
}

absl::Status IsolatedPlugin::Validate(const ComponentInput& input,
                                      const ComponentParams& params) const {
  if (absl::Status s = CheckReference(info_, input); !s.ok()) return s;
  return ResolveParams(info_.name, info_.params, params).status();
}

RewardResult IsolatedPlugin::Score(const ComponentInput& input, const ComponentParams& params) const {
  absl::StatusOr<ParamValues> values = ResolveParams(info_.name, info_.params, params);
  if (!values.ok()) return Failed(RewardStatus::kError, std::string(values.status().message()));
  const PluginSample sample(input, *values);
  const std::string request = wire::EncodeScoreRequest(&sample.c_sample(), 1);

  std::lock_guard<std::mutex> lock(mu_);
  // A helper found dead when the sample is sent did not die of it: start
  // another and send it once more.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (pid_ == 0) {
      absl::StatusOr<ComponentInfo> info = SpawnLocked();
      if (!info.ok()) {
        return Failed(RewardStatus::kError,
                      absl::StrCat("cannot restart the plugin helper: ", info.status().message()));
      }
    }
    if (!wire::WriteFrame(fd_, request)) {
      ReapLocked(/*kill=*/true);
      continue;
    }
    std::string reply;
    switch (wire::ReadFrame(fd_, &reply, input.deadline)) {
      case wire::ReadOutcome::kOk: {
        absl::StatusOr<std::vector<grpo_reward_result>> results = wire::DecodeResults(reply);
        if (results.ok() && results->size() == 1) return FromPluginResult(results->front(), info_.name);
        ReapLocked(/*kill=*/true);
        return Failed(RewardStatus::kError,
                      absl::StrCat(info_.name, ": the plugin helper answered garbage; restarting it"));
      }
      case wire::ReadOutcome::kTimeout:
        ReapLocked(/*kill=*/true);
        return Failed(RewardStatus::kTimeout,
                      absl::StrCat(info_.name, ": no answer by the sample's deadline; the plugin "
                                   "helper was killed and restarts for the next sample"));
      case wire::ReadOutcome::kClosed:
      case wire::ReadOutcome::kError: {
        const std::string how = ReapLocked(/*kill=*/true);
        return Failed(RewardStatus::kError,
                      absl::StrCat(info_.name, ": the plugin helper ", how,
                                   " while scoring this sample; it restarts for the next one"));
      }
    }
  }
  return Failed(RewardStatus::kError,
                absl::StrCat(info_.name, ": the plugin helper died twice before taking the sample"));
}

int IsolatedPlugin::restarts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return spawned_ - 1;
}

pid_t IsolatedPlugin::helper_pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pid_;
}

}  // namespace grpo::reward
