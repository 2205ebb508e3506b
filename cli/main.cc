// grpo: the command-line entry point; dispatches to a subcommand.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cli/commands.h"

namespace {

void PrintHelp(std::ostream& out) {
  out << "grpo " GRPO_VERSION " - GRPO / R1-style RL post-training toolkit\n\n"
      << "Usage: grpo COMMAND [flags]\n\nCommands:\n";
  for (const grpo::cli::Command& command : grpo::cli::Commands()) {
    out << "  " << command.name << std::string(16 - std::string(command.name).size(), ' ')
        << command.summary << "\n";
  }
  out << "\nRun 'grpo COMMAND --help' for a command's flags.\n";
}

const grpo::cli::Command* FindCommand(const std::string& name) {
  for (const grpo::cli::Command& command : grpo::cli::Commands()) {
    if (name == command.name) return &command;
  }
  return nullptr;
}

int Main(const std::vector<std::string>& args) {
  using grpo::cli::kExitOk;
  using grpo::cli::kExitUsage;
  if (args.empty()) {
    PrintHelp(std::cerr);
    return kExitUsage;
  }
  const std::string& first = args[0];
  if (first == "--help" || first == "-h" || first == "help") {
    if (first == "help" && args.size() > 1) {
      if (const grpo::cli::Command* command = FindCommand(args[1])) {
        return command->run({"--help"});
      }
    }
    PrintHelp(std::cout);
    return kExitOk;
  }
  if (first == "--version") {
    std::cout << "grpo " GRPO_VERSION "\n";
    return kExitOk;
  }
  const grpo::cli::Command* command = FindCommand(first);
  if (command == nullptr) {
    std::cerr << "grpo: unknown command \"" << first << "\"\n\n";
    PrintHelp(std::cerr);
    return kExitUsage;
  }
  return command->run(std::vector<std::string>(args.begin() + 1, args.end()));
}

}  // namespace

int main(int argc, char** argv) {
  // Large JSONL through stdin/stdout: C++ streams need not sync with stdio.
  std::ios::sync_with_stdio(false);
  // The system Abseil is built without NDEBUG, so absl::Mutex (every lock in
  // gRPC) keeps lock-order graphs for deadlock detection: about 30 ns a lock,
  // some 10 us of CPU per reward-service call (bench/README.md).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  try {
    return Main(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "grpo: internal error: " << e.what() << "\n";
    return grpo::cli::kExitFailure;
  }
}
