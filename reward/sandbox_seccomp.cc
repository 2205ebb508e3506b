#include "reward/sandbox_seccomp.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace grpo::reward::sandbox_internal {
namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(static_cast<scmp_filter_ctx>(ctx)); }
};

absl::Status Check(int rc, const std::string& what) {
  if (rc == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("sandbox seccomp: ", what, ": ", strerror(-rc)));
}

}  // namespace

const std::vector<std::string>& DeniedSyscalls() {
  static const auto* const kList = new std::vector<std::string>{
      // Inspecting or changing other processes.
      "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd",
      "kcmp",
      // File systems and namespaces: the view is fixed before exec.
      "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "mount_setattr",
      "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
      "open_by_handle_at", "name_to_handle_at", "quotactl", "quotactl_fd",
      // The kernel itself: modules, kexec, BPF, perf, keyrings, swap, reboot.
      "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
      "perf_event_open", "keyctl", "add_key", "request_key", "reboot", "swapon", "swapoff",
      "acct", "syslog", "lookup_dcookie", "vhangup", "iopl", "ioperm", "uselib",
      "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
      "fanotify_init",
      // Large attack surfaces a test program never needs.
      "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
      "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"};
  return *kList;
}

absl::StatusOr<std::vector<sock_filter>> BuildSeccompFilter() {
  std::unique_ptr<void, CtxDeleter> holder(seccomp_init(SCMP_ACT_ALLOW));
  auto ctx = static_cast<scmp_filter_ctx>(holder.get());
  if (ctx == nullptr) return absl::InternalError("sandbox seccomp: seccomp_init failed");
  // A syscall made through another ABI would bypass every rule below.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc != 0)
    return Check(rc, "seccomp_attr_set(BADARCH)");
  // The filter is installed after no_new_privs is set by hand.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); rc != 0)
    return Check(rc, "seccomp_attr_set(NNP)");

  for (const std::string& name : DeniedSyscalls()) {
    const int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0); rc != 0)
      return Check(rc, "rule " + name);
  }
  for (const char* name : {"socket", "socketpair"}) {
    const int nr = seccomp_syscall_resolve_name(name);
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), nr, 1,
                                  SCMP_A0(SCMP_CMP_NE, AF_UNIX));
        rc != 0)
      return Check(rc, std::string("rule ") + name);
  }
  // One rule per flag: any namespace flag refuses the clone.
  for (uint64_t flag : {uint64_t{CLONE_NEWUSER}, uint64_t{CLONE_NEWNS}, uint64_t{CLONE_NEWPID},
                        uint64_t{CLONE_NEWNET}, uint64_t{CLONE_NEWIPC}, uint64_t{CLONE_NEWUTS},
                        uint64_t{CLONE_NEWCGROUP}, uint64_t{CLONE_NEWTIME}}) {
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
        rc != 0)
      return Check(rc, "rule clone");
  }
  const int clone3 = seccomp_syscall_resolve_name("clone3");
  if (clone3 != __NR_SCMP_ERROR) {
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), clone3, 0); rc != 0)
      return Check(rc, "rule clone3");
  }

  // libseccomp 2.5 exports only to a descriptor.
  const int fd = memfd_create("grpo-seccomp", MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("sandbox seccomp: memfd_create: ", strerror(errno)));
  absl::Status status = Check(seccomp_export_bpf(ctx, fd), "seccomp_export_bpf");
  std::vector<sock_filter> program;
  if (status.ok()) {
    const off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % sizeof(sock_filter) != 0) {
      status = absl::InternalError("sandbox seccomp: exported filter has a bad size");
    } else {
      program.resize(size / sizeof(sock_filter));
      if (pread(fd, program.data(), size, 0) != size)
        status = absl::InternalError("sandbox seccomp: reading the exported filter failed");
    }
  }
  close(fd);
  if (!status.ok()) return status;
  return program;
}

}  // namespace grpo::reward::sandbox_internal
