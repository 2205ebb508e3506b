// Throughput of the math reward checker on the 800 labelled Qwen2.5-Math
// completions, against the Python peer Math-Verify, in one run on one core.
//
//   math_checker_bench [--data=FILE] [--cpu=N|-1] [--no_peer] [--peer_python=PY]
//                      [--peer_script=FILE] [--peer_arg=ARG]... [benchmark flags]
//
// GRPO_PEER_PYTHON in the environment sets the interpreter like --peer_python.
//
// 1. Google Benchmark: BM_Check (MathChecker::Check over all 800 per
//    iteration; items/s = checks/s), and its stages on their own.
// 2. The peer: bench/math_verify_peer.py times math_verify.parse + verify over
//    the same 800. It is optional; without python3 or math_verify the program
//    says so and exits 0.
// 3. A summary: both checks/s, their ratio, and each one's agreement with
//    Qwen's labels.
//
// Both sides are one-core figures: the program pins itself to one CPU (the
// first one it may run on, or --cpu) before anything runs, and the peer
// inherits that affinity through fork/exec. Rates are per CPU-second, so a
// neighbour on the same core slows the wall clock but not the figure.
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "reward/answer_extract.h"
#include "reward/latex_parse.h"
#include "reward/math_checker.h"

#ifndef GRPO_DATA_DIR
#define GRPO_DATA_DIR "data"
#endif
#ifndef GRPO_SOURCE_DIR
#define GRPO_SOURCE_DIR "."
#endif

namespace grpo::reward {
namespace {

struct Sample {
  std::string response;
  std::string gold;
  bool label = false;  // Qwen's grader verdict
};

struct Flags {
  std::string data = std::string(GRPO_DATA_DIR) + "/qwen25math_math_cot_100.jsonl";
  int cpu = -2;  // -2: the first allowed CPU; -1: do not pin
  bool peer = true;
  std::string peer_python = "python3";
  std::string peer_script = std::string(GRPO_SOURCE_DIR) + "/bench/math_verify_peer.py";
  std::vector<std::string> peer_args;  // passed through, e.g. --clear_caches
};

std::vector<Sample>& Samples() {
  static std::vector<Sample> samples;
  return samples;
}

// The checker as the accuracy test configures it: the `answer` field is a bare answer.
const MathChecker& Checker() {
  static const MathChecker checker = [] {
    config::MathRewardOptions options;
    options.set_gold_format(config::PLAIN);
    return *MathChecker::Create(options);
  }();
  return checker;
}

bool LoadSamples(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot open " << path << "\n";
    return false;
  }
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    nlohmann::json row = nlohmann::json::parse(line);
    const std::string gold = row["answer"];
    for (size_t k = 0; k < row["response"].size(); ++k) {
      Samples().push_back(
          {row["response"][k].get<std::string>(), gold, row["score"][k].get<bool>()});
    }
  }
  return !Samples().empty();
}

bool Correct(const RewardResult& r) { return r.status == RewardStatus::kOk && r.value == 1.0; }

// --- the benchmarks; each iteration is one pass over every sample ---

void BM_Check(benchmark::State& state) {
  const MathChecker& checker = Checker();
  for (auto _ : state) {
    for (const Sample& s : Samples()) {
      benchmark::DoNotOptimize(checker.Check(s.response, s.gold));
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(Samples().size()));
}
BENCHMARK(BM_Check)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_Extract(benchmark::State& state) {
  const std::vector<config::AnswerSource> order = ExtractionOrder(Checker().options());
  for (auto _ : state) {
    for (const Sample& s : Samples()) benchmark::DoNotOptimize(ExtractAnswer(s.response, order));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(Samples().size()));
}
BENCHMARK(BM_Extract)->Unit(benchmark::kMillisecond);

// (extracted answer, gold) pairs, extraction done once up front.
std::vector<std::pair<std::string, std::string>> ExtractedPairs() {
  const std::vector<config::AnswerSource> order = ExtractionOrder(Checker().options());
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const Sample& s : Samples()) {
    if (auto e = ExtractAnswer(s.response, order)) pairs.emplace_back(e->text, s.gold);
  }
  return pairs;
}

void BM_CompareAnswers(benchmark::State& state) {
  const MathChecker& checker = Checker();
  const auto pairs = ExtractedPairs();
  for (auto _ : state) {
    for (const auto& [pred, gold] : pairs) {
      benchmark::DoNotOptimize(checker.CompareAnswers(pred, gold));
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(pairs.size()));
}
BENCHMARK(BM_CompareAnswers)->Unit(benchmark::kMillisecond);

// Parsing alone (both sides of each pair), to split CompareAnswers' time.
void BM_ParseAnswer(benchmark::State& state) {
  const auto pairs = ExtractedPairs();
  for (auto _ : state) {
    math::Deadline deadline{std::chrono::milliseconds(1000)};
    for (const auto& [pred, gold] : pairs) {
      benchmark::DoNotOptimize(math::ParseAnswer(pred, deadline));
      benchmark::DoNotOptimize(math::ParseAnswer(gold, deadline));
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(pairs.size()));
}
BENCHMARK(BM_ParseAnswer)->Unit(benchmark::kMillisecond);

// Console output as usual, and BM_Check's checks per CPU-second kept for the summary.
class CapturingReporter : public benchmark::ConsoleReporter {
 public:
  explicit CapturingReporter(OutputOptions opts) : ConsoleReporter(opts) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_name.function_name != "BM_Check" || run.error_occurred) continue;
      auto it = run.counters.find("items_per_second");
      if (it == run.counters.end()) continue;
      // With --benchmark_repetitions prefer the median over single runs.
      bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Iteration && !have_median_) check_rate_ = it->second.value;
      if (median) check_rate_ = it->second.value, have_median_ = true;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::optional<double> check_rate() const { return check_rate_; }

 private:
  std::optional<double> check_rate_;
  bool have_median_ = false;
};

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// --- the peer ---

struct PeerOutcome {
  bool available = false;
  std::string why;      // when not available
  nlohmann::json json;  // the peer's report
};

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

// --- setup and summary ---

bool ParseOwnFlag(std::string_view arg, Flags& flags) {
  auto value = [&](std::string_view name) -> std::optional<std::string> {
    if (arg.substr(0, name.size()) == name) return std::string(arg.substr(name.size()));
    return std::nullopt;
  };
  if (auto v = value("--data=")) {
    flags.data = *v;
  } else if (auto v = value("--cpu=")) {
    flags.cpu = std::atoi(v->c_str());
  } else if (auto v = value("--peer_python=")) {
    flags.peer_python = *v;
  } else if (auto v = value("--peer_script=")) {
    flags.peer_script = *v;
  } else if (auto v = value("--peer_arg=")) {
    flags.peer_args.push_back(*v);
  } else if (arg == "--no_peer") {
    flags.peer = false;
  } else {
    return false;
  }
  return true;
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

int Main(int argc, char** argv) {
  Flags flags;
  if (const char* py = std::getenv("GRPO_PEER_PYTHON"); py && *py) flags.peer_python = py;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (!ParseOwnFlag(argv[i], flags)) rest.push_back(argv[i]);
  }
  int cpu = PinToOneCpu(flags.cpu);
  if (!LoadSamples(flags.data)) return 2;

  int bench_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&bench_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(bench_argc, rest.data())) return 2;
  CapturingReporter reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Color
                                                   : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  // Our verdicts, untimed, for agreement; they also time one pass should a
  // --benchmark_filter have left BM_Check out.
  const size_t n = Samples().size();
  std::vector<bool> ours(n);
  int ours_agree = 0;
  double cpu0 = CpuSeconds();
  for (size_t i = 0; i < n; ++i) {
    ours[i] = Correct(Checker().Check(Samples()[i].response, Samples()[i].gold));
    ours_agree += ours[i] == Samples()[i].label;
  }
  double ours_rate = reporter.check_rate().value_or(n / (CpuSeconds() - cpu0));

  std::printf("\n== math checker vs Math-Verify: %zu Qwen2.5-Math completions, %s ==\n", n,
              cpu >= 0 ? ("pinned to CPU " + std::to_string(cpu)).c_str() : "not pinned");
  std::printf("ours: %.0f checks/s (per CPU-second, single thread%s)\n", ours_rate,
              reporter.check_rate() ? "" : "; one pass, BM_Check was filtered out");
  std::printf("ours agreement with Qwen labels: %d/%zu (%.2f%%)\n", ours_agree, n,
              100.0 * ours_agree / n);
  if (!flags.peer) {
    std::printf("peer Math-Verify not run (--no_peer); ours only\n");
    return 0;
  }
  std::fflush(stdout);
  std::vector<std::string> peer_argv = {flags.peer_python, flags.peer_script, "--data", flags.data};
  peer_argv.insert(peer_argv.end(), flags.peer_args.begin(), flags.peer_args.end());
  PeerOutcome peer = RunPeer(peer_argv);
  if (!peer.available) {
    // Missing is fine (the peer is optional); a peer that broke is not.
    bool missing = peer.json.is_object() || peer.why.rfind("cannot run", 0) == 0;
    std::printf("peer Math-Verify %s: %s; ours only\n", missing ? "not available" : "failed",
                peer.why.c_str());
    return missing ? 0 : 1;
  }
  const nlohmann::json& j = peer.json;
  double peer_rate = j.value("checks_per_cpu_second", 0.0);
  int peer_agree = j.value("agree_with_labels", 0);
  int same = 0;
  const auto& verdicts = j["verdicts"];
  for (size_t i = 0; i < n && i < verdicts.size(); ++i) same += verdicts[i].get<bool>() == ours[i];
  std::printf(
      "peer: %.0f checks/s (Math-Verify %s, Python %s, per CPU-second; %.0f per "
      "wall-second%s)\n",
      peer_rate, j.value("version", "?").c_str(), j.value("python", "?").c_str(),
      j.value("checks_per_wall_second", 0.0),
      j.value("clear_caches", false) ? "; parse caches cleared per check" : "");
  std::printf("peer agreement with Qwen labels: %d/%d (%.2f%%)\n", peer_agree, j.value("checks", 0),
              100.0 * peer_agree / std::max(1, j.value("checks", 0)));
  std::printf("ours and peer give the same verdict: %d/%zu\n", same, n);
  std::printf("ratio ours/peer: %.1fx\n", peer_rate > 0 ? ours_rate / peer_rate : 0.0);
  return 0;
}

}  // namespace
}  // namespace grpo::reward

int main(int argc, char** argv) { return grpo::reward::Main(argc, argv); }
