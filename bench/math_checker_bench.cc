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

#include "bench/bench_util.h"

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

using bench::CpuSeconds;
using bench::PeerOutcome;
using bench::PinToOneCpu;
using bench::RunPeer;

struct Sample {
  std::string response;
  std::string gold;
  bool label = false;  // Qwen's grader verdict
};

struct Flags : bench::PeerFlags {
  Flags() { peer_script = std::string(GRPO_SOURCE_DIR) + "/bench/math_verify_peer.py"; }
  std::string data = std::string(GRPO_DATA_DIR) + "/qwen25math_math_cot_100.jsonl";
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

// --- setup and summary ---

bool ParseOwnFlag(std::string_view arg, Flags& flags) {
  auto value = [&](std::string_view name) -> std::optional<std::string> {
    if (arg.substr(0, name.size()) == name) return std::string(arg.substr(name.size()));
    return std::nullopt;
  };
  if (auto v = value("--data=")) {
    flags.data = *v;
    return true;
  }
  return bench::ParsePeerFlag(arg, &flags);
}

int Main(int argc, char** argv) {
  Flags flags;
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
  PeerOutcome peer = RunPeer(bench::PeerArgv(flags, {"--data", flags.data}));
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
