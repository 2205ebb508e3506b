// grpo_sandbox_zygote: a warm Python interpreter as pid 1 of a sandbox. The
// host starts it like grpo_sandbox_init (fresh namespaces, read-only view,
// exec'd from a memfd). It initializes Python once (as `python -I -S -B`)
// and imports the preload modules, and then only forks: for each run it gets
// descriptors (control socket, stdout, stderr, the run's plan, one stdin
// memfd per step) and clone()s a child in fresh nested user, pid, mount,
// net, ipc, uts and cgroup namespaces. That child is pid 1 of the run: it
// maps its ids, mounts a fresh /tmp, /work and /proc, and runs the steps as
// grpo_sandbox_init does, except that each step's process runs the script
// in the inherited interpreter instead of exec'ing a new one. The zygote
// itself never runs a program's code and never reads a run's stdin, so every
// run starts from the same state. Usage (by the host only):
// grpo-sandbox-zygote PLAN_FD. docs/sandbox.md has the design.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "reward/sandbox_child.h"
#include "reward/sandbox_plan.h"

extern char** environ;

namespace grpo::reward::sandbox_internal {
namespace {

// The zygote's clone makes the namespaces that must exist at the fork; the
// network and cgroup namespaces, the costly ones (a network namespace
// registers its sysctls, about 0.7 ms), are unshared by the run's pid 1
// itself, in parallel with other runs, before any program process exists.
constexpr int kNestedFlags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
constexpr int kUnsharedFlags = CLONE_NEWNET | CLONE_NEWCGROUP;

// A script compiled once in the zygote: used when a run's script has this
// name and exactly this source.
struct WarmScript {
  std::string name, source;
  PyObject* code;
};
std::vector<WarmScript>* warm_scripts = nullptr;

// A set-up failure of the zygote itself, reported like the init's.
[[noreturn]] void ZygoteFail(int control_fd, const std::string& what) {
  StatusRecord record{};
  record.type = StatusRecord::kSetupError;
  snprintf(record.message, sizeof(record.message), "python zygote: %s", what.c_str());
  send(control_fd, &record, sizeof(record), MSG_NOSIGNAL);
  _exit(1);
}

// The step's process: it is confined already (descriptors, rlimits,
// capabilities, no_new_privs, seccomp). It runs argv[kZygoteScriptIndex] as
// `python -I -S -B SCRIPT ARGS...` would, in the interpreter it inherited.
void RunPythonProgram(const ChildPlan& /*plan*/, const StepPlan& step, int err_fd) {
  // The interpreter's own signal dispositions (SIGPIPE and SIGXFSZ ignored,
  // its SIGINT handler) came with the fork, as a fresh start would set them.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  PyOS_AfterFork_Child();
  const char* script = step.argv[kZygoteScriptIndex];
  const int fd = open(script, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // As the interpreter says it, with its exit code.
    dprintf(2, "%s: can't open file '%s': [Errno %d] %s\n", step.argv[0], script, errno,
            strerror(errno));
    _exit(2);
  }
  close(err_fd);  // from here on the program runs: it must not reach pid 1's error pipe
  const std::string source = ReadAllFrom(fd);
  PyObject* code = nullptr;
  for (const WarmScript& warm : *warm_scripts) {
    if (warm.name == script && warm.source == source) code = warm.code;
  }
  PyObject* args = PyList_New(0);
  for (int i = kZygoteScriptIndex; step.argv[i] != nullptr; ++i) {
    PyObject* arg = PyUnicode_DecodeFSDefault(step.argv[i]);
    if (arg == nullptr || PyList_Append(args, arg) != 0) _exit(120);
    Py_DECREF(arg);
  }
  if (PySys_SetObject("argv", args) != 0) _exit(120);
  Py_DECREF(args);
  // As the interpreter's main: run in __main__, print an uncaught exception
  // and exit 1 (SystemExit exits with its code), then finalize (flush, atexit).
  int rc;
  if (code == nullptr) {
    FILE* file = fdopen(fd, "rb");
    rc = file != nullptr && fseek(file, 0, SEEK_SET) == 0
             ? PyRun_SimpleFileExFlags(file, script, 1, nullptr)
             : -1;
  } else {
    close(fd);
    PyObject* globals = PyModule_GetDict(PyImport_AddModule("__main__"));
    PyObject* file_name = PyUnicode_DecodeFSDefault(script);
    if (file_name == nullptr || PyDict_SetItemString(globals, "__file__", file_name) != 0 ||
        PyDict_SetItemString(globals, "__cached__", Py_None) != 0) {
      _exit(120);
    }
    Py_DECREF(file_name);
    PyObject* result = PyEval_EvalCode(code, globals, globals);
    rc = result != nullptr ? 0 : -1;
    if (result == nullptr) PyErr_Print();
    Py_XDECREF(result);
  }
  int exit_code = rc == 0 ? 0 : 1;
  if (Py_FinalizeEx() < 0) exit_code = 120;
  _exit(exit_code);
}

bool WriteSelf(const char* path, const char* text) {
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = WriteAll(fd, text, strlen(text));
  close(fd);
  return ok;
}

// pid 1 of one run, in its own nested namespaces. `fds`: control, stdout,
// stderr, the run's plan, one stdin per step.
[[noreturn]] void RunNested(const ChildPlan& outer, int zygote_control, const int* fds, int count) {
  close(zygote_control);
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  ChildPlan plan = outer;
  plan.control_fd = fds[0];
  plan.stdout_fd = fds[1];
  plan.stderr_fd = fds[2];
  plan.files = nullptr;
  plan.file_count = 0;
  plan.steps = nullptr;
  plan.step_count = 0;

  // The same inside ids, in the new user namespace. Writing one's own map
  // needs the process dumpable for a moment (/proc/self is root-owned
  // otherwise); no program runs yet.
  char map[64];
  snprintf(map, sizeof(map), "%u %u 1\n", kInsideId, kInsideId);
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  if (!WriteSelf("/proc/self/uid_map", map)) Fail(plan, "write", "/proc/self/uid_map");
  if (!WriteSelf("/proc/self/setgroups", "deny")) Fail(plan, "write", "/proc/self/setgroups");
  if (!WriteSelf("/proc/self/gid_map", map)) Fail(plan, "write", "/proc/self/gid_map");
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (unshare(kUnsharedFlags) != 0) Fail(plan, "unshare", "network and cgroup namespaces");

  // Fresh writable directories and this pid namespace's /proc, over the
  // zygote's (which stay underneath, unreachable).
  if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, plan.tmpfs_options) != 0)
    Fail(plan, "mount tmpfs", "/tmp");
  if (mount("tmpfs", "/work", "tmpfs", MS_NOSUID | MS_NODEV, plan.work_options) != 0)
    Fail(plan, "mount tmpfs", "/work");
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    Fail(plan, "mount proc", "/proc");

  const std::string bytes = ReadAllFrom(fds[3]);
  close(fds[3]);
  OwnedPlan run;
  if (!DecodePlan(bytes, &run) || static_cast<int>(run.steps.size()) != count - 4) {
    errno = EINVAL;
    Fail(plan, "decode", "the run's plan");
  }
  for (size_t i = 0; i < run.steps.size(); ++i) run.steps[i].stdin_fd = fds[4 + i];
  const PlanView view(run);
  plan.files = view.plan().files;
  plan.file_count = view.plan().file_count;
  plan.steps = view.plan().steps;
  plan.step_count = view.plan().step_count;
  WriteFiles(plan);
  RunSteps(plan, RunPythonProgram);
  _exit(0);
}

// Python as `python -I -S -B`, with stdin on /dev/null and stdout/stderr on
// a pipe (a run's streams replace descriptors 0-2 before its code runs).
void StartInterpreter(const OwnedPlan& plan, int control_fd) {
  const int null_fd = open("/dev/null", O_RDONLY);
  int pipe_fds[2];
  if (null_fd < 0 || pipe(pipe_fds) != 0 || dup2(null_fd, 0) < 0 || dup2(pipe_fds[1], 1) < 0 ||
      dup2(pipe_fds[1], 2) < 0) {
    ZygoteFail(control_fd, std::string("standard descriptors: ") + strerror(errno));
  }
  for (int fd : {null_fd, pipe_fds[0], pipe_fds[1]}) {
    if (fd > 2) close(fd);
  }
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.isolated = 1;  // -I: no PYTHON* variables, no user site, no script dir on sys.path
  config.use_environment = 0;
  config.user_site_directory = 0;
  config.safe_path = 1;
  config.site_import = 0;     // -S
  config.write_bytecode = 0;  // -B
  config.parse_argv = 0;
  config.install_signal_handlers = 1;
  PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, plan.zygote_python.c_str());
  if (!PyStatus_Exception(status)) {
    status = PyConfig_SetBytesString(&config, &config.executable, plan.zygote_python.c_str());
  }
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    ZygoteFail(control_fd, std::string("initialization: ") +
                               (status.err_msg != nullptr ? status.err_msg : "failed"));
  }
  for (const std::string& name : plan.zygote_preload) {
    PyObject* module = PyImport_ImportModule(name.c_str());
    if (module == nullptr) ZygoteFail(control_fd, "import " + name + " failed");
    Py_DECREF(module);
  }
  warm_scripts = new std::vector<WarmScript>;
  for (size_t i = 0; i + 1 < plan.zygote_scripts.size(); i += 2) {
    const std::string& name = plan.zygote_scripts[i];
    const std::string& source = plan.zygote_scripts[i + 1];
    PyObject* code = Py_CompileStringExFlags(source.c_str(), name.c_str(), Py_file_input, nullptr, -1);
    if (code == nullptr || source.find('\0') != std::string::npos) {
      ZygoteFail(control_fd, "compiling " + name + " failed");
    }
    warm_scripts->push_back({name, source, code});
  }
  // The preloaded objects move out of the collector's generations, so a
  // run's collections do not touch (and copy) the shared pages.
  PyObject* gc = PyImport_ImportModule("gc");
  PyObject* frozen = gc != nullptr ? PyObject_CallMethod(gc, "freeze", nullptr) : nullptr;
  if (frozen == nullptr) ZygoteFail(control_fd, "gc.freeze failed");
  Py_DECREF(frozen);
  Py_DECREF(gc);
}

// Receives one run request: the command byte and its descriptors.
// Returns the count of descriptors, 0 for a message without them, -1 when
// the host is gone.
int ReceiveRun(int control_fd, int* fds) {
  char command = 0;
  iovec iov{&command, 1};
  alignas(cmsghdr) char space[CMSG_SPACE(sizeof(int) * kZygoteMaxFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = space;
  msg.msg_controllen = sizeof(space);
  ssize_t n;
  while ((n = recvmsg(control_fd, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n <= 0) return -1;
  int count = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const int got = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < got && count < kZygoteMaxFds; ++i) {
      memcpy(&fds[count++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
  }
  if (command != kZygoteCmdRun || count < 4 || (msg.msg_flags & MSG_CTRUNC) != 0) {
    for (int i = 0; i < count; ++i) close(fds[i]);
    return 0;
  }
  return count;
}

[[noreturn]] void Serve(const ChildPlan& plan, int control_fd) {
  for (;;) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    pollfd p{control_fd, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    int fds[kZygoteMaxFds];
    const int count = ReceiveRun(control_fd, fds);
    if (count < 0) _exit(0);  // the host closed: the kernel ends every run with this namespace
    if (count == 0) continue;
    const pid_t pid = static_cast<pid_t>(syscall(SYS_clone, kNestedFlags | SIGCHLD, 0, 0, 0, 0));
    if (pid == 0) RunNested(plan, control_fd, fds, count);
    if (pid < 0) {
      StatusRecord record{};
      record.type = StatusRecord::kSetupError;
      snprintf(record.message, sizeof(record.message), "python zygote: clone of a run: %s",
               strerrorname_np(errno));
      send(fds[0], &record, sizeof(record), MSG_NOSIGNAL);
    }
    for (int i = 0; i < count; ++i) close(fds[i]);
  }
}

}  // namespace
}  // namespace grpo::reward::sandbox_internal

int main(int argc, char** argv) {
  using namespace grpo::reward::sandbox_internal;
  OwnedPlan plan;
  if (!ReadPlanArgument(argc, argv, &plan)) return 126;
  const PlanView view(plan);
  SetupSandbox(view.plan());
  // Away from 0-2, which become the interpreter's standard streams.
  const int control_fd = fcntl(view.plan().control_fd, F_DUPFD_CLOEXEC, 64);
  if (control_fd < 0) _exit(1);
  close(view.plan().control_fd);
  environ = const_cast<char**>(view.plan().envp);
  StartInterpreter(plan, control_fd);
  if (send(control_fd, &kZygoteReady, 1, MSG_NOSIGNAL) != 1) _exit(1);
  Serve(view.plan(), control_fd);
}
