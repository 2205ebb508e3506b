// A child process for tests that need a real server: spawned with extra
// environment, ready once it writes a line to a file (a --ready-file or
// --port-file), stopped with a signal.
#ifndef GRPO_TESTS_CHILD_PROCESS_UTIL_H_
#define GRPO_TESTS_CHILD_PROCESS_UTIL_H_

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace grpo::reward::testing {

struct ReadyChild {
  pid_t pid = 0;     // 0: it did not start, or wrote nothing in time (then it was killed)
  std::string line;  // the first line it wrote to the ready file
};

// Starts argv (argv[0] looked up in PATH) with this process's environment
// plus `extra_env` ("NAME=value"), then waits up to `timeout` for
// `ready_file` to hold a line.
inline ReadyChild SpawnUntilReady(const std::vector<std::string>& argv,
                                  const std::vector<std::string>& extra_env,
                                  const std::string& ready_file, std::chrono::seconds timeout) {
  std::remove(ready_file.c_str());
  std::vector<char*> args, env;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  for (const std::string& e : extra_env) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  ReadyChild child;
  if (posix_spawnp(&child.pid, args[0], nullptr, nullptr, args.data(), env.data()) != 0) return {};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (child.line.empty() && std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(ready_file);
    std::getline(in, child.line);
    if (child.line.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (child.line.empty()) {
    kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    return {};
  }
  return child;
}

// Sends `signal` and reaps the child; its wait status.
inline int StopChild(pid_t pid, int signal = SIGTERM) {
  kill(pid, signal);
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

}  // namespace grpo::reward::testing

#endif  // GRPO_TESTS_CHILD_PROCESS_UTIL_H_
