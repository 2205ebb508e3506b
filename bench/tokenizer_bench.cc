// Encode throughput of the Hugging Face byte-level BPE tokenizers (Qwen3 and
// GPT-2 tokenizer.json) against the Python peer, HF `tokenizers` (Rust), on the
// same text, in one run on one core.
//
//   tokenizer_bench [--text=FILE] [--cpu=N|-1] [--no_peer] [--peer_python=PY]
//                   [--peer_script=FILE] [benchmark flags]
//
// GRPO_PEER_PYTHON in the environment sets the interpreter like --peer_python.
//
// The default documents are the responses of data/qwen25math_math_cot_100.jsonl
// (800 Qwen2.5-Math chain-of-thought answers, English + LaTeX, 0.94 MB), each
// encoded on its own: what a GRPO loop tokenizes. --text=FILE encodes one file
// as one document instead.
//
// 1. Google Benchmark, one pass over all documents per iteration:
//    BM_Encode/<tokenizer> (warm piece cache, as in a long-running loop),
//    BM_EncodeCold/<tokenizer> (cache emptied before each pass),
//    BM_Decode/<tokenizer>. bytes_per_second is input text bytes.
// 2. The peer: bench/hf_tokenizers_peer.py encodes the same documents, one
//    `encode(doc, add_special_tokens=False)` call each. Optional: without python3 or the
//    package the program says so and exits 0.
// 3. A summary per tokenizer: both MB/s, their ratio, and whether the ids equal.
//
// The program pins itself to one CPU before anything runs (the first allowed
// one, or --cpu); the peer inherits it. Rates are per CPU-second.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "bench/bench_util.h"

#include "policy/bpe_tokenizer.h"

#ifndef GRPO_DATA_DIR
#define GRPO_DATA_DIR "data"
#endif
#ifndef GRPO_SOURCE_DIR
#define GRPO_SOURCE_DIR "."
#endif

namespace grpo::policy {
namespace {

using bench::CpuSeconds;
using bench::PeerOutcome;
using bench::PinToOneCpu;
using bench::RunPeer;

struct Flags : bench::PeerFlags {
  Flags() { peer_script = std::string(GRPO_SOURCE_DIR) + "/bench/hf_tokenizers_peer.py"; }
  std::string text_file;  // empty: the Qwen2.5-Math responses
};

const std::vector<std::pair<std::string, std::string>> kTokenizers = {
    {"qwen3", std::string(GRPO_DATA_DIR) + "/tokenizers/qwen3/tokenizer.json"},
    {"gpt2", std::string(GRPO_DATA_DIR) + "/tokenizers/gpt2/tokenizer.json"},
};

// The documents, each encoded on its own (as a loop encodes each completion).
std::vector<std::string>& Docs() {
  static std::vector<std::string> docs;
  return docs;
}
size_t TotalBytes() {
  static const size_t total = [] {
    size_t n = 0;
    for (const std::string& d : Docs()) n += d.size();
    return n;
  }();
  return total;
}
std::map<std::string, std::unique_ptr<BpeTokenizer>>& Loaded() {
  static std::map<std::string, std::unique_ptr<BpeTokenizer>> loaded;
  return loaded;
}

bool LoadText(const Flags& flags) {
  if (!flags.text_file.empty()) {
    std::ifstream in(flags.text_file, std::ios::binary);
    if (!in) return false;
    std::stringstream s;
    s << in.rdbuf();
    Docs().push_back(s.str());
    return !Docs().back().empty();
  }
  std::ifstream in(std::string(GRPO_DATA_DIR) + "/qwen25math_math_cot_100.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const nlohmann::json row = nlohmann::json::parse(line);
    for (const auto& r : row["response"]) {
      Docs().push_back(r.get<std::string>());
    }
  }
  return !Docs().empty();
}

// FNV-1a over the ids as little-endian int32 (the peer computes the same).
uint64_t IdsHash(const std::vector<int32_t>& ids) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (int32_t id : ids) {
    uint32_t u = static_cast<uint32_t>(id);
    for (int k = 0; k < 4; ++k) {
      h ^= (u >> (8 * k)) & 0xFF;
      h *= 0x100000001B3ull;
    }
  }
  return h;
}

// --- the benchmarks; each iteration encodes the whole text ---

std::vector<int32_t> EncodeAll(const BpeTokenizer& tok) {
  std::vector<int32_t> all;
  for (const std::string& d : Docs()) {
    std::vector<int32_t> ids = tok.Encode(d);
    all.insert(all.end(), ids.begin(), ids.end());
  }
  return all;
}

void BM_Encode(benchmark::State& state, const std::string& name) {
  const BpeTokenizer& tok = *Loaded().at(name);
  for (auto _ : state) {
    for (const std::string& d : Docs()) benchmark::DoNotOptimize(tok.Encode(d));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(TotalBytes()));
}

void BM_EncodeCold(benchmark::State& state, const std::string& name) {
  const BpeTokenizer& tok = *Loaded().at(name);
  for (auto _ : state) {
    tok.ClearCache();
    for (const std::string& d : Docs()) benchmark::DoNotOptimize(tok.Encode(d));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(TotalBytes()));
}

void BM_Decode(benchmark::State& state, const std::string& name) {
  const BpeTokenizer& tok = *Loaded().at(name);
  std::vector<std::vector<int32_t>> ids;
  for (const std::string& d : Docs()) ids.push_back(tok.Encode(d));
  for (auto _ : state) {
    for (const auto& doc_ids : ids) benchmark::DoNotOptimize(tok.Decode(doc_ids));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(TotalBytes()));
}

// Console output as usual; BM_Encode's bytes per second kept per tokenizer.
class CapturingReporter : public benchmark::ConsoleReporter {
 public:
  explicit CapturingReporter(OutputOptions opts) : ConsoleReporter(opts) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const std::string& fn = run.run_name.function_name;
      if (fn.rfind("BM_Encode/", 0) != 0 || run.error_occurred) continue;
      auto it = run.counters.find("bytes_per_second");
      if (it == run.counters.end()) continue;
      std::string name = fn.substr(std::strlen("BM_Encode/"));
      bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Iteration && !have_median_.count(name)) rate_[name] = it->second;
      if (median) rate_[name] = it->second, have_median_[name] = true;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::optional<double> rate(const std::string& name) const {
    auto it = rate_.find(name);
    if (it == rate_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, double> rate_;
  std::map<std::string, bool> have_median_;
};

// --- setup and summary ---

bool ParseOwnFlag(std::string_view arg, Flags& flags) {
  auto value = [&](std::string_view name) -> std::optional<std::string> {
    if (arg.substr(0, name.size()) == name) return std::string(arg.substr(name.size()));
    return std::nullopt;
  };
  if (auto v = value("--text=")) {
    flags.text_file = *v;
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
  if (!LoadText(flags)) {
    std::cerr << "cannot read the text to encode\n";
    return 2;
  }
  for (const auto& [name, path] : kTokenizers) {
    auto tok = BpeTokenizer::FromFile(path);
    if (!tok.ok()) {
      std::cerr << tok.status() << "\n";
      return 2;
    }
    Loaded()[name] = std::move(*tok);
    benchmark::RegisterBenchmark(("BM_Encode/" + name).c_str(), BM_Encode, name)
        ->Unit(benchmark::kMillisecond)
        ->MinTime(2.0);
    benchmark::RegisterBenchmark(("BM_EncodeCold/" + name).c_str(), BM_EncodeCold, name)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("BM_Decode/" + name).c_str(), BM_Decode, name)
        ->Unit(benchmark::kMillisecond);
  }

  int bench_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&bench_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(bench_argc, rest.data())) return 2;
  CapturingReporter reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Color
                                                   : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  // The peer reads the documents from a JSON file (a list of strings).
  char text_path[] = "/tmp/grpo_tokenizer_bench_XXXXXX";
  int fd = mkstemp(text_path);
  const std::string docs_json = nlohmann::json(Docs()).dump();
  bool text_written = fd >= 0 && write(fd, docs_json.data(), docs_json.size()) ==
                                     static_cast<ssize_t>(docs_json.size());
  if (fd >= 0) close(fd);

  std::printf("\n== tokenizer encode vs HF tokenizers: %zu documents, %zu bytes, %s ==\n",
              Docs().size(), TotalBytes(),
              cpu >= 0 ? ("pinned to CPU " + std::to_string(cpu)).c_str() : "not pinned");
  int rc = 0;
  for (const auto& [name, path] : kTokenizers) {
    const BpeTokenizer& tok = *Loaded().at(name);
    double cpu0 = CpuSeconds();
    const std::vector<int32_t> ids = EncodeAll(tok);  // untimed unless filtered out
    double ours = reporter.rate(name).value_or(TotalBytes() / (CpuSeconds() - cpu0));
    std::printf("%s ours: %.1f MB/s (%zu ids, per CPU-second, single thread, %s)\n", name.c_str(),
                ours / 1e6, ids.size(),
                reporter.rate(name) ? "warm cache" : "one pass, BM_Encode was filtered out");
    if (!flags.peer) {
      std::printf("%s peer not run (--no_peer); ours only\n", name.c_str());
      continue;
    }
    if (!text_written) {
      std::printf("%s peer not run: cannot write %s; ours only\n", name.c_str(), text_path);
      continue;
    }
    std::fflush(stdout);
    PeerOutcome peer =
        RunPeer(bench::PeerArgv(flags, {"--tokenizer", path, "--docs", text_path}));
    if (!peer.available) {
      bool missing = peer.json.is_object() || peer.why.rfind("cannot run", 0) == 0;
      std::printf("%s peer HF tokenizers %s: %s; ours only\n", name.c_str(),
                  missing ? "not available" : "failed", peer.why.c_str());
      if (!missing) rc = 1;
      continue;
    }
    const nlohmann::json& j = peer.json;
    double peer_rate = j.value("mb_per_cpu_second", 0.0) * 1e6;
    bool same = j.value("ids_hash", "") == std::to_string(IdsHash(ids)) &&
                j.value("num_ids", size_t{0}) == ids.size();
    std::printf(
        "%s peer: %.1f MB/s (tokenizers %s, Python %s, per CPU-second; %.1f per "
        "wall-second)\n",
        name.c_str(), peer_rate / 1e6, j.value("version", "?").c_str(),
        j.value("python", "?").c_str(), j.value("mb_per_wall_second", 0.0));
    std::printf("%s same ids as the peer: %s\n", name.c_str(), same ? "yes" : "NO");
    std::printf("%s ratio ours/peer: %.2fx\n", name.c_str(), peer_rate > 0 ? ours / peer_rate : 0);
  }
  unlink(text_path);
  return rc;
}

}  // namespace
}  // namespace grpo::policy

int main(int argc, char** argv) { return grpo::policy::Main(argc, argv); }
