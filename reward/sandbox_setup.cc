#include "reward/sandbox_setup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace grpo::reward::sandbox_internal {
namespace {

bool UnderDir(const std::string& path, const std::string& dir) {
  return path == dir || absl::StartsWith(path, dir + "/");
}

absl::Status ValidatePath(const std::string& path) {
  const bool normal = !path.empty() && path[0] == '/' && path.back() != '/' &&
                      !absl::StrContains(path, "//") && !absl::StrContains(path, "/./") &&
                      !absl::StrContains(path, "/../") && !absl::EndsWith(path, "/..") &&
                      !absl::EndsWith(path, "/.");
  if (!normal || path == "/etc" || UnderDir(path, "/tmp") || UnderDir(path, "/proc") ||
      UnderDir(path, "/dev") || UnderDir(path, "/work") || UnderDir(path, "/etc/passwd") ||
      UnderDir(path, "/etc/group")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sandbox: read_only_paths: '", path,
        "' must be an absolute normalized path, not /, /etc itself, /etc/passwd, /etc/group, "
        "or under /tmp, /proc, /dev, /work (the sandbox makes those)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateReadOnlyPaths(const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    if (absl::Status s = ValidatePath(path); !s.ok()) return s;
    for (const std::string& other : paths) {
      if (other != path && UnderDir(path, other)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "sandbox: read_only_paths: '", path, "' is inside '", other, "', listed already"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OwnedMount>> BuildMountPlan(const std::vector<std::string>& paths) {
  struct Pending {
    MountEntry::Kind kind;
    std::string source, target;
    bool device;
  };
  std::vector<Pending> pending;
  std::vector<std::string> made_dirs;
  auto mkdirs = [&](const std::string& path) {  // the parents of a target, in order
    for (size_t slash = path.find('/', 5); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      const std::string dir = path.substr(0, slash);
      if (std::find(made_dirs.begin(), made_dirs.end(), dir) == made_dirs.end()) {
        made_dirs.push_back(dir);
        pending.push_back({MountEntry::kMkdir, "", dir, false});
      }
    }
  };
  for (const std::string& path : paths) {
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) continue;  // e.g. /lib32 on most hosts
    const std::string target = "/tmp" + path;
    mkdirs(target);
    if (S_ISLNK(st.st_mode)) {
      std::string link(4096, '\0');
      const ssize_t n = readlink(path.c_str(), link.data(), link.size());
      if (n <= 0) continue;
      link.resize(static_cast<size_t>(n));
      pending.push_back({MountEntry::kSymlink, link, target, false});
    } else if (S_ISDIR(st.st_mode)) {
      pending.push_back({MountEntry::kDir, path, target, false});
      made_dirs.push_back(target);
    } else if (S_ISREG(st.st_mode)) {
      pending.push_back({MountEntry::kFile, path, target, false});
    }
  }
  mkdirs("/tmp/dev/x");
  for (const char* dev : {"null", "zero", "random", "urandom"}) {
    const std::string host = absl::StrCat("/dev/", dev);
    struct stat st;
    if (stat(host.c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat("sandbox: ", host, " is not a character device"));
    }
    pending.push_back({MountEntry::kFile, host, "/tmp" + host, true});
  }
  pending.push_back({MountEntry::kSymlink, "/proc/self/fd", "/tmp/dev/fd", false});
  pending.push_back({MountEntry::kSymlink, "/proc/self/fd/0", "/tmp/dev/stdin", false});
  pending.push_back({MountEntry::kSymlink, "/proc/self/fd/1", "/tmp/dev/stdout", false});
  pending.push_back({MountEntry::kSymlink, "/proc/self/fd/2", "/tmp/dev/stderr", false});
  pending.push_back({MountEntry::kSymlink, "/tmp", "/tmp/dev/shm", false});

  std::vector<OwnedMount> mounts;
  for (const Pending& p : pending) mounts.push_back({p.kind, p.device, p.source, p.target});
  return mounts;
}

// The kernel settings that switch user namespaces off, as found.
std::string UsernsDiagnostics() {
  std::string out;
  for (const char* path : {"/proc/sys/user/max_user_namespaces",
                           "/proc/sys/kernel/unprivileged_userns_clone",
                           "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"}) {
    std::ifstream in(path);
    std::string value;
    if (in >> value) absl::StrAppend(&out, " ", path, "=", value, ";");
  }
  return absl::StrCat(
      "the sandbox needs user namespaces (and pid, net, mount, ipc, uts namespaces inside "
      "them), and never runs a program without them. Check:",
      out,
      " enable with `sysctl -w user.max_user_namespaces=15000`, "
      "`sysctl -w kernel.unprivileged_userns_clone=1` (Debian, older kernels), or on Ubuntu "
      "24.04 `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (or an AppArmor "
      "profile allowing userns for this binary); in Docker, run with "
      "--security-opt seccomp=unconfined or a profile that allows clone/unshare of namespaces");
}

}  // namespace grpo::reward::sandbox_internal
