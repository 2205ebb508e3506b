// What the benchmarks share: one-core pinning, CPU time, and running the
// optional Python peer whose report is the last line of its stdout (JSON).
#ifndef GRPO_BENCH_BENCH_UTIL_H_
#define GRPO_BENCH_BENCH_UTIL_H_

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace grpo::bench {

// Flags every benchmark with a peer takes. $GRPO_PEER_PYTHON sets the
// default interpreter.
struct PeerFlags {
  PeerFlags();
  int cpu = -2;  // -2: the first allowed CPU; -1: do not pin
  bool peer = true;
  std::string peer_python = "python3";
  std::string peer_script;
  std::vector<std::string> peer_args;  // passed through to the peer
};

// Consumes --cpu=N, --peer_python=, --peer_script=, --peer_arg= (repeatable)
// and --no_peer; false for any other argument.
bool ParsePeerFlag(std::string_view arg, PeerFlags* flags);

// {python, script, args..., peer_args...}: the command line of the peer.
std::vector<std::string> PeerArgv(const PeerFlags& flags, std::vector<std::string> args);

// CPU seconds used by this process so far.
double CpuSeconds();

// Pins the process (and the peers it starts) to one CPU: `requested`, or the
// first allowed one when negative but not -1. Returns the CPU, or -1 when
// left unpinned (requested == -1, or the kernel refused; a warning says so).
int PinToOneCpu(int requested);

struct PeerOutcome {
  bool available = false;
  std::string why;      // when not available
  nlohmann::json json;  // the peer's report
};

// Runs argv with stdout captured. A program that cannot be started, or
// reports {"available": false, "why": ...}, is "not available" with the
// reason; one that fails is not available with its exit status.
PeerOutcome RunPeer(const std::vector<std::string>& argv);

}  // namespace grpo::bench

#endif  // GRPO_BENCH_BENCH_UTIL_H_
