// A sandbox for untrusted programs (issue 4, isolation): each job runs in
// fresh user, pid, net, mount, ipc and uts namespaces, on a read-only view of
// a few host directories, with a private tmpfs work dir, rlimits, a seccomp
// filter, no capabilities, no_new_privs, a clean environment and no inherited
// descriptors. Built on the kernel primitives directly: pid 1 of each job is
// a small static program embedded in the library, exec'd from a memfd, so
// the caller's address space is never copied. Python steps of the form
// `python -I -S -B SCRIPT` fork instead from a warm interpreter (the zygote,
// reward/sandbox_zygote.h), each still in fresh namespaces. docs/sandbox.md
// has the design, the threat model and the measured overhead.
//
// There is never an unsandboxed fallback: when the kernel refuses a
// namespace, Create() fails with FailedPrecondition and says why.
#ifndef GRPO_REWARD_SANDBOX_H_
#define GRPO_REWARD_SANDBOX_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace grpo::reward {

// Per-step limits. Every field must be positive.
struct SandboxLimits {
  // RLIMIT_CPU per process, rounded up to whole seconds: SIGXCPU at the
  // limit, SIGKILL one second later.
  double cpu_seconds = 10;
  // Wall clock of the step, from fork to exit; then the whole process tree dies.
  double wall_seconds = 20;
  // RLIMIT_AS. Python needs a few hundred MB for threads; g++ needs more.
  int64_t address_space_bytes = int64_t{2} << 30;
  // RLIMIT_NPROC, counted per uid inside the job's own user namespace.
  int64_t max_processes = 64;
  // RLIMIT_FSIZE: the largest file a step may write.
  int64_t max_file_bytes = int64_t{64} << 20;
  // RLIMIT_NOFILE.
  int64_t max_open_files = 256;
  // Cap on each of stdout and stderr; past it the step is killed (kOutputLimit).
  int64_t max_output_bytes = int64_t{4} << 20;
};

// A file written into /work before the first step. The name is one path
// component ([A-Za-z0-9._-], not "." or "..").
struct SandboxFile {
  std::string name;
  std::string content;
  bool executable = false;
};

struct SandboxOptions {
  // The interpreter Create() checks end to end with `python -c pass`. Use
  // the system one: pyenv shims add ~300 ms per start.
  std::string python = "/usr/bin/python3";
  // Default limits of a step (SandboxStep::limits overrides them).
  SandboxLimits limits;
  // Size of each of the two private tmpfs mounts, /tmp and /work (the cwd).
  int64_t tmpfs_bytes = int64_t{64} << 20;
  // Host paths the program sees, read-only, at the same place. A symlink is
  // recreated as a symlink (Debian's /lib -> usr/lib). Missing paths are
  // skipped. Absolute, not under /tmp (the mount point of the new root).
  std::vector<std::string> read_only_paths = {
      "/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin",
      "/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"};
  // Jobs running at once across threads; Run() blocks for a slot. 0: cores.
  int workers = 0;
  // PYTHONHASHSEED in the environment: a number, or "random".
  std::string python_hash_seed = "0";
  // When the caller is root, the host uid/gid the program runs as (never
  // host root). Ignored otherwise: an unprivileged caller's own ids are used.
  uint32_t host_uid_when_root = 65534;
  uint32_t host_gid_when_root = 65534;
  // Steps of the form `python -I -S -B SCRIPT [ARGS...]` (python: the
  // option above, the flags in any order; the code checker's harness) fork
  // from a warm interpreter, a zygote, instead of starting one. Each run
  // still gets fresh namespaces, its own /tmp and /work, the limits and the
  // seccomp filter (docs/sandbox.md). It is used when `python` is the
  // interpreter the zygote embeds and a probe through both paths agrees;
  // otherwise every step execs. Sandbox::python_zygote_status() says which.
  bool python_zygote = true;
  // Modules the zygote imports once, before any run (a run skips them).
  std::vector<std::string> python_zygote_preload = {
      "types", "typing", "math", "re", "collections", "itertools", "functools", "heapq", "string"};
  // Scripts the zygote compiles once (name: the script's argv; content: its
  // source). A step whose script has that name and exactly that content
  // runs the compiled code; any other script is compiled in its run.
  std::vector<SandboxFile> python_zygote_scripts;
};

struct SandboxStep {
  // argv[0] is a path inside the sandbox ("/usr/bin/python3", "./a.out"); a
  // bare name is looked up as /usr/bin/NAME.
  std::vector<std::string> argv;
  std::string stdin_data;
  std::optional<SandboxLimits> limits;
};

struct SandboxOutcome {
  enum class Kind {
    kExited,        // exit_code is valid (0 or not)
    kSignaled,      // signal is valid
    kWallTimeout,   // wall_seconds passed; the tree was killed
    kCpuTimeout,    // RLIMIT_CPU fired (SIGXCPU, or SIGKILL at the hard limit)
    kOutputLimit,   // stdout or stderr passed max_output_bytes; killed
    kSandboxError,  // the sandbox failed (setup, execve); never the program's verdict
  };
  Kind kind = Kind::kSandboxError;
  int exit_code = -1;
  int signal = 0;
  std::string stdout_data;  // at most max_output_bytes
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  int64_t stdout_bytes = 0;  // bytes read from the pipe (may pass the cap a little)
  int64_t stderr_bytes = 0;
  double wall_seconds = 0;  // fork to the last process reaped, inside the sandbox
  double cpu_seconds = 0;   // user + system of every process of the step
  int64_t peak_rss_bytes = 0;  // of the step's first process
  // MemoryError / bad_alloc / ENOMEM text on stderr: RLIMIT_AS was likely hit.
  bool memory_error_likely = false;
  std::string detail;  // why, for kSandboxError and the limit kinds
};

const char* SandboxKindName(SandboxOutcome::Kind kind);

// Steps run in order in ONE set of namespaces sharing /work and /tmp (compile,
// then run the cases). Every process of a step is killed when the step's
// first process exits, so nothing carries over but files.
struct SandboxJob {
  std::vector<SandboxFile> files;
  std::vector<SandboxStep> steps;
  // Called after each step but the last: run the next one? Null: continue
  // while steps exit with code 0.
  std::function<bool(size_t step, const SandboxOutcome& outcome)> continue_after;
};

class Sandbox {
 public:
  // Checks the options, builds the seccomp filter and runs `python -c pass`
  // end to end. InvalidArgument for bad options; FailedPrecondition when the
  // kernel refuses the namespaces (the message names the sysctl to change)
  // or the sandboxed probe fails.
  static absl::StatusOr<std::unique_ptr<Sandbox>> Create(const SandboxOptions& options);
  // Not while a Run() is in progress.
  ~Sandbox();

  // Thread-safe. Returns one outcome per step run (fewer than job.steps when
  // continue_after stopped it; a sandbox failure ends the job with a
  // kSandboxError outcome). InvalidArgument for a malformed job (no steps,
  // empty argv, bad file name, limits <= 0). Blocks while `workers` jobs run.
  absl::StatusOr<std::vector<SandboxOutcome>> Run(const SandboxJob& job) const;

  // One step with files: Run() of a one-step job.
  absl::StatusOr<SandboxOutcome> RunOne(const SandboxStep& step,
                                        std::vector<SandboxFile> files = {}) const;

  const SandboxOptions& options() const;
  int workers() const;

  // Whether eligible Python steps run through the zygote; the status says
  // why not when they do not ("off", the probe's mismatch, a start failure).
  bool uses_python_zygote() const;
  const std::string& python_zygote_status() const;
  // The zygote's host pid, -1 when none runs: tests kill it to check that
  // it is replaced and that no run through it passes.
  int python_zygote_pid_for_testing() const;

  struct Impl;

 private:
  explicit Sandbox(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace grpo::reward

#endif  // GRPO_REWARD_SANDBOX_H_
