#include "bench/bench_util.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace grpo::bench {

PeerFlags::PeerFlags() {
  if (const char* py = std::getenv("GRPO_PEER_PYTHON"); py && *py) peer_python = py;
}

bool ParsePeerFlag(std::string_view arg, PeerFlags* flags) {
  auto value = [&](std::string_view name) -> const char* {
    return arg.substr(0, name.size()) == name ? arg.data() + name.size() : nullptr;
  };
  if (const char* v = value("--cpu=")) {
    flags->cpu = std::atoi(v);
  } else if (const char* v = value("--peer_python=")) {
    flags->peer_python = v;
  } else if (const char* v = value("--peer_script=")) {
    flags->peer_script = v;
  } else if (const char* v = value("--peer_arg=")) {
    flags->peer_args.push_back(v);
  } else if (arg == "--no_peer") {
    flags->peer = false;
  } else {
    return false;
  }
  return true;
}

std::vector<std::string> PeerArgv(const PeerFlags& flags, std::vector<std::string> args) {
  std::vector<std::string> argv = {flags.peer_python, flags.peer_script};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), flags.peer_args.begin(), flags.peer_args.end());
  return argv;
}

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Runs argv with stdout captured. An exec failure (no such program) comes
// back through a close-on-exec pipe, so it is told apart from the program failing.
PeerOutcome RunPeer(const std::vector<std::string>& argv) {
  PeerOutcome out;
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    out.why = std::string("pipe: ") + std::strerror(errno);
    return out;
  }
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    out.why = std::string("fork: ") + std::strerror(errno);
    return out;
  }
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    close(out_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[0]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    int e = errno;
    ssize_t ignored = write(err_pipe[1], &e, sizeof e);
    (void)ignored;
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = read(out_pipe[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(out_pipe[0]);
  int exec_errno = 0;
  bool exec_failed = read(err_pipe[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno;
  close(err_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (exec_failed) {
    out.why = "cannot run " + argv[0] + ": " + std::strerror(exec_errno);
    return out;
  }
  // The report is the last line; anything before it is noise from the libraries.
  size_t end = text.find_last_not_of("\n");
  size_t start = end == std::string::npos ? std::string::npos : text.rfind('\n', end);
  std::string last = end == std::string::npos
                         ? ""
                         : text.substr(start == std::string::npos ? 0 : start + 1,
                                       end - (start == std::string::npos ? 0 : start + 1) + 1);
  out.json = nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !out.json.is_object()) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    // 127: a wrapper (pyenv shim, env) found no interpreter.
    out.why = code == 127 ? "cannot run " + argv[0] + ": exit status 127"
                          : "peer failed (exit status " + std::to_string(code) + ")";
    out.json = nlohmann::json();
    return out;
  }
  out.available = out.json.value("available", false);
  if (!out.available) out.why = out.json.value("why", "unknown reason");
  return out;
}

// Pins the process to one CPU; returns the CPU, or -1 when left unpinned.
int PinToOneCpu(int requested) {
  if (requested == -1) return -1;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  int cpu = requested;
  if (cpu < 0) {
    for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set); ++cpu) {
    }
  }
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    std::cerr << "warning: cannot pin to CPU " << cpu << ": " << std::strerror(errno) << "\n";
    return -1;
  }
  return cpu;
}

}  // namespace grpo::bench
