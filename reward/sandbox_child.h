// The inside of the sandbox (private to reward/sandbox*.cc): the plan, as
// pointers, and the code pid 1 runs. It runs in grpo_sandbox_init, a small
// static program (reward/sandbox_init_main.cc), and sticks to plain system
// calls so that it does not depend on what the process around it is.
#ifndef GRPO_REWARD_SANDBOX_CHILD_H_
#define GRPO_REWARD_SANDBOX_CHILD_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>

namespace grpo::reward::sandbox_internal {

// The uid and gid the program has inside its user namespace.
inline constexpr unsigned kInsideId = 1000;

// One host path made visible in the new root.
struct MountEntry {
  enum Kind { kDir, kFile, kSymlink, kMkdir } kind;
  const char* source;  // host path (kDir, kFile) or symlink target (kSymlink)
  const char* target;  // path under the new root ("/tmp/usr")
  bool device;         // a device node: the bind mount keeps dev access
};

struct FileEntry {
  const char* path;  // "/work/main.py" (after pivot_root)
  const char* data;
  size_t size;
  bool executable;
};

struct StepPlan {
  const char* exec_path;
  // The program's stdin: a descriptor to read from (the zygote path passes a
  // memfd), or -1: a memfd made from stdin_data.
  int stdin_fd;
  char* const* argv;  // null-terminated
  const char* stdin_data;
  size_t stdin_size;
  int64_t wall_ns;
  int64_t cpu_soft, cpu_hard;  // RLIMIT_CPU seconds
  int64_t address_space, max_processes, max_file, max_open_files;
};

struct ChildPlan {
  // Descriptors the child keeps: its end of the control socket (status out,
  // commands in) and the write ends of the output pipes.
  int control_fd, stdout_fd, stderr_fd;
  bool drop_groups;  // the caller was root: drop supplementary groups
  const MountEntry* mounts;
  size_t mount_count;
  const char* tmpfs_options;  // for /tmp
  const char* work_options;   // for /work
  const char* passwd;         // /etc/passwd and /etc/group contents
  const char* group;
  const FileEntry* files;
  size_t file_count;
  const StepPlan* steps;
  size_t step_count;
  char* const* envp;
  const sock_fprog* seccomp;
};

// Records the child sends on the control socket, one per step, or one
// kSetupError that ends the job.
struct StatusRecord {
  enum Type : int32_t { kStepDone = 1, kSetupError = 2 } type;
  int32_t step;
  int32_t wait_status;  // of the step's first process
  int32_t child_stage;  // a StepStage that failed before the program ran
  int32_t child_errno;  // with this errno
  int32_t timed_out;    // the wall clock fired
  int32_t output_killed;  // the host asked to stop it (output cap)
  int64_t wall_ns;
  int64_t cpu_ns;        // all processes of the step
  int64_t first_cpu_ns;  // the step's first process and its waited-for children
  int64_t maxrss_kb;
  char message[256];  // kSetupError: what failed, with errno
};

// What the step's process was doing when it failed, before its program ran.
enum StepStage : int32_t {
  kStageOk = 0,
  kStageDescriptors = 1,
  kStageRlimit = 2,
  kStageCapabilities = 3,
  kStageNoNewPrivs = 4,
  kStageSeccomp = 5,
  kStageExec = 6,
};

// Commands from the host, one byte each: after the uid/gid maps are written,
// and after each step (continue or quit). Stop may come at any time during a
// step (the output cap): pid 1 kills the step. A stop that arrives after the
// step ended is skipped when the next command is read.
inline constexpr char kCmdGo = 'g';
inline constexpr char kCmdContinue = 'c';
inline constexpr char kCmdQuit = 'q';
inline constexpr char kCmdStop = 's';

// The Python zygote's protocol (reward/sandbox_zygote_main.cc). A run is
// one kZygoteCmdRun message carrying, as SCM_RIGHTS, the control socket,
// stdout, stderr, the run's plan (a memfd: files and steps, no stdin) and
// one stdin memfd per step. The zygote says kZygoteReady once, when warm.
inline constexpr char kZygoteCmdRun = 'r';
inline constexpr char kZygoteReady = 'y';
inline constexpr int kZygoteMaxSteps = 16;
inline constexpr int kZygoteMaxFds = 4 + kZygoteMaxSteps;
// A zygote step's argv: python, its three flags (-I -S -B), the script, its arguments.
inline constexpr int kZygoteScriptIndex = 4;

// What the step's first process runs once it is confined (descriptors,
// rlimits, no capabilities, no_new_privs, seccomp): execve by default, the
// warm interpreter in the zygote. Must not return; a failure before the
// program's own code runs is reported with StepFail.
using ProgramRunner = void (*)(const ChildPlan& plan, const StepPlan& step, int err_fd);

// `arg` is a ChildPlan. Runs as pid 1 of the new pid namespace: sets up
// mounts and ids, then runs each step as its child. Never returns.
int ChildMain(void* arg);

// The pieces of ChildMain, for the zygote (reward/sandbox_zygote_main.cc).
// Pid 1's own set-up: signals blocked, descriptors closed, waits for the
// host's go, not dumpable, ids, mounts, pivot_root, hostname. Fails (and
// exits) through Fail.
void SetupSandbox(const ChildPlan& plan);
// Writes plan.files; Fail on error.
void WriteFiles(const ChildPlan& plan);
// Runs the steps in order, one report each, with the host's commands in
// between. Returns when the steps are done or the host said quit.
void RunSteps(const ChildPlan& plan, ProgramRunner runner);
// Reports a setup failure ("what path: ENAME (description)") on the control
// socket and exits; the host turns it into kSandboxError.
[[noreturn]] void Fail(const ChildPlan& plan, const char* what, const char* path);
// Reports the stage that failed (with errno) to the step's pid 1 and exits.
[[noreturn]] void StepFail(int err_fd, int32_t stage);
// Closes every descriptor but `keep` (any order, negatives ignored).
void CloseAllExcept(const int* keep, int count);

}  // namespace grpo::reward::sandbox_internal

#endif  // GRPO_REWARD_SANDBOX_CHILD_H_
