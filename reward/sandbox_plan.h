// The job plan as bytes (private to reward/sandbox*.cc). The host encodes
// it; the sandbox init (reward/sandbox_init_main.cc, a small static program
// exec'd as pid 1 of the new namespaces) decodes it, so the host's address
// space is never copied into the sandbox.
#ifndef GRPO_REWARD_SANDBOX_PLAN_H_
#define GRPO_REWARD_SANDBOX_PLAN_H_

#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

#include "reward/sandbox_child.h"

namespace grpo::reward::sandbox_internal {

struct OwnedMount {
  int32_t kind = 0;  // MountEntry::Kind
  bool device = false;
  std::string source, target;
};

struct OwnedFile {
  std::string path, data;
  bool executable = false;
};

struct OwnedStep {
  std::string exec_path;
  std::vector<std::string> argv;
  std::string stdin_data;
  int stdin_fd = -1;  // not encoded: the zygote sets it to a received descriptor
  int64_t wall_ns = 0, cpu_soft = 0, cpu_hard = 0, address_space = 0, max_processes = 0,
          max_file = 0, max_open_files = 0;
};

struct OwnedPlan {
  int32_t control_fd = -1, stdout_fd = -1, stderr_fd = -1;
  bool drop_groups = false;
  std::vector<OwnedMount> mounts;
  std::string tmpfs_options, work_options, passwd, group;
  std::vector<OwnedFile> files;
  std::vector<OwnedStep> steps;
  std::vector<std::string> env;
  std::vector<sock_filter> seccomp;
  // The Python zygote only (reward/sandbox_zygote_main.cc): the interpreter
  // it stands for (sys.executable) and the modules it imports before forking.
  std::string zygote_python;
  std::vector<std::string> zygote_preload;
  // Scripts it compiles once, as name, source, name, source...
  std::vector<std::string> zygote_scripts;
};

std::string EncodePlan(const OwnedPlan& plan);
// The whole content of a descriptor (a memfd), read from offset 0; what
// could be read when reading fails.
std::string ReadAllFrom(int fd);
// The plan of a sandbox program started as `NAME PLAN_FD` (argv[1]): reads
// the descriptor, closes it and decodes the plan. False when argv or the
// bytes are not a plan.
bool ReadPlanArgument(int argc, char** argv, OwnedPlan* plan);
// Writes all of `data`, retrying on EINTR; false on an error.
bool WriteAll(int fd, const void* data, size_t size);
// False when the bytes are not a whole plan.
bool DecodePlan(const std::string& bytes, OwnedPlan* plan);

// ChildPlan's pointer view of an OwnedPlan; valid while both live.
class PlanView {
 public:
  explicit PlanView(const OwnedPlan& plan);
  const ChildPlan& plan() const { return view_; }

 private:
  std::vector<MountEntry> mounts_;
  std::vector<FileEntry> files_;
  std::vector<std::vector<char*>> argvs_;
  std::vector<StepPlan> steps_;
  std::vector<char*> envp_;
  sock_fprog fprog_{};
  ChildPlan view_{};
};

}  // namespace grpo::reward::sandbox_internal

#endif  // GRPO_REWARD_SANDBOX_PLAN_H_
