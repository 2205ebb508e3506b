// The policy model on CPU: decoding speed with the KV cache against full
// recomputation, model load time, and the peak memory of chunked against
// unchunked teacher-forced log-probs.
//
//   policy_bench [--threads=N] [--new_tokens=256] [--quick] [--skip_large]
//                [--gguf=FILE] [--score_batch=4] [--score_len=512]
//                [--no_peer] [--peer_python=PY] [--peer_script=FILE]
//                [benchmark flags]
//
// 1. Decoding (Google Benchmark, one timed iteration each, manual time):
//    BM_Decode/<model>/<batch>/<mode>, model "tiny" (random init, 857,216
//    parameters: hidden 128, 4 layers, 4 heads, 2 kv heads, intermediate 344,
//    vocab 512, untied) and "stories260K" (data/models), batch 1 and 64, mode
//    "cached" (policy::Sample, greedy, n = batch completions of one prompt),
//    "cached_64prompts" (policy::Sample, 64 different prompts, n = 1) and
//    "recompute" (a plain greedy loop that re-runs ComputeLogits over the whole
//    sequence at every step). Every run generates exactly --new_tokens tokens
//    per row (no stop tokens) after a 16-token prompt; tokens/s counts
//    generated tokens of all rows. --quick: 64 new tokens. Recomputation at
//    batch 64 runs only its first --recompute_b64_tokens (32) steps, where it
//    is fastest, so its speedup is a lower bound.
// 2. Load time: LoadCausalLM of stories260K, of a saved random-init ~110M
//    model (hidden 768, 12 layers, vocab 32000, tied; --skip_large skips
//    it), and of --gguf=FILE when given.
// 3. Peak memory of ScoreTokens (chunked) and ScoreTokensReference (full
//    log-softmax), forward + backward of the summed log-probs, at V = 151,936
//    (hidden 64, 1 layer, untied lm_head), ids [score_batch, score_len]: each
//    variant runs in a forked child that resets its peak RSS after building
//    the model (/proc/self/clear_refs) and reports VmHWM - VmRSS-at-reset.
// 4. The optional peer, bench/hf_generate_peer.py: HF transformers
//    generate() on the tiny model's saved weights, batch 1, greedy, against
//    our cached figure (and whether the greedy ids agree). Without python3,
//    torch or transformers it says so and the run goes on.
// Then a summary table. Threads: torch::set_num_threads(--threads), default
// all cores (std::thread::hardware_concurrency).
#include <sys/wait.h>
#include <torch/utils.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/bench_util.h"
#include "policy/gguf_model.h"
#include "policy/logprobs.h"
#include "policy/model.h"
#include "policy/model_config.h"
#include "policy/sampler.h"

#ifndef GRPO_DATA_DIR
#define GRPO_DATA_DIR "data"
#endif
#ifndef GRPO_SOURCE_DIR
#define GRPO_SOURCE_DIR "."
#endif

namespace grpo::policy {
namespace {

struct Flags : bench::PeerFlags {
  Flags() { peer_script = std::string(GRPO_SOURCE_DIR) + "/bench/hf_generate_peer.py"; }
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  int64_t new_tokens = 256;
  // Recomputation at batch 64 costs ~64x batch 1; by default it runs only the
  // first 32 steps, the cheapest part of its curve (so the speedup shown for
  // it is a lower bound). 0: the full new_tokens.
  int64_t recompute_b64_tokens = 32;
  bool skip_large = false;
  std::string gguf;
  int64_t score_batch = 4;
  int64_t score_len = 512;
};
Flags& GetFlags() {
  static Flags flags;
  return flags;
}

constexpr int64_t kPromptLen = 16;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void Die(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "policy_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

ModelConfig TinyConfig() {
  ModelConfig c;
  c.vocab_size = 512;
  c.hidden_size = 128;
  c.intermediate_size = 344;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 32;
  c.max_position_embeddings = 2048;
  c.tie_word_embeddings = false;
  return c;
}

int64_t CountParameters(CausalLM& lm) {
  int64_t n = 0;
  for (const auto& p : lm->parameters()) n += p.numel();
  return n;
}

CausalLM& Model(const std::string& name) {
  static std::map<std::string, CausalLM> models;
  auto it = models.find(name);
  if (it != models.end()) return it->second;
  absl::StatusOr<CausalLM> lm = name == "tiny" ? MakeCausalLM(TinyConfig(), /*seed=*/1)
                                               : LoadCausalLM(std::string(GRPO_DATA_DIR) + "/models/stories260K");
  if (!lm.ok()) Die("model " + name, lm.status());
  (*lm)->eval();
  return models.emplace(name, *lm).first->second;
}

// `count` prompts of kPromptLen ids in [3, vocab) (0-2 are the usual
// special ids), distinct per prompt.
std::vector<std::vector<int64_t>> Prompts(int64_t count, int64_t vocab) {
  std::vector<std::vector<int64_t>> prompts;
  for (int64_t p = 0; p < count; ++p) {
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < kPromptLen; ++i) ids.push_back(3 + (p * 131 + i * 17 + 5) % (vocab - 3));
    prompts.push_back(ids);
  }
  return prompts;
}

// Greedy decoding by full recomputation: every step runs the whole sequence.
double RecomputeSeconds(CausalLM& lm, const std::vector<std::vector<int64_t>>& prompts, int64_t new_tokens) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> flat;
  for (const auto& p : prompts) flat.insert(flat.end(), p.begin(), p.end());
  torch::Tensor ids = torch::tensor(flat, torch::kLong).view({static_cast<int64_t>(prompts.size()), -1});
  const double start = Now();
  for (int64_t step = 0; step < new_tokens; ++step) {
    auto logits = ComputeLogits(lm, ids);
    if (!logits.ok()) Die("recompute", logits.status());
    const torch::Tensor next = logits->select(1, ids.size(1) - 1).argmax(-1, /*keepdim=*/true);
    ids = torch::cat({ids, next}, 1);
  }
  return Now() - start;
}

double CachedSeconds(CausalLM& lm, const std::vector<std::vector<int64_t>>& prompts, int64_t n,
                     int64_t new_tokens) {
  SamplerOptions opt;
  opt.temperature(0).max_new_tokens(new_tokens).n(n).seed(1);  // no stop ids: fixed length
  const double start = Now();
  auto r = Sample(lm, prompts, opt);
  const double seconds = Now() - start;
  if (!r.ok()) Die("Sample", r.status());
  for (const Completion& c : r->completions) {
    if (static_cast<int64_t>(c.ids.size()) != new_tokens) {
      std::fprintf(stderr, "policy_bench: a completion has %zu tokens, not %lld\n", c.ids.size(),
                   static_cast<long long>(new_tokens));
      std::exit(1);
    }
  }
  return seconds;
}

struct DecodeResult {
  std::string model, mode;
  int64_t batch = 0, tokens = 0;
  double seconds = 0, cpu_seconds = 0;
};
std::vector<DecodeResult>& DecodeResults() {
  static std::vector<DecodeResult> results;
  return results;
}

void BM_Decode(benchmark::State& state, const std::string& model, int64_t batch, const std::string& mode) {
  CausalLM& lm = Model(model);
  const int64_t new_tokens = GetFlags().new_tokens;
  const int64_t vocab = lm->config().vocab_size;
  for (auto _ : state) {
    double seconds = 0;
    int64_t steps = new_tokens;
    const double cpu_start = bench::CpuSeconds();
    if (mode == "recompute") {
      // The same prompt in every row, run as one [batch, T] tensor.
      const auto one = Prompts(1, vocab)[0];
      const int64_t cap = GetFlags().recompute_b64_tokens;
      steps = batch > 1 && cap > 0 ? std::min(cap, new_tokens) : new_tokens;
      seconds = RecomputeSeconds(lm, std::vector<std::vector<int64_t>>(batch, one), steps);
    } else if (mode == "cached") {
      seconds = CachedSeconds(lm, Prompts(1, vocab), batch, new_tokens);
    } else {  // cached, `batch` different prompts
      seconds = CachedSeconds(lm, Prompts(batch, vocab), 1, new_tokens);
    }
    state.SetIterationTime(seconds);
    const int64_t tokens = batch * steps;
    state.counters["tokens_per_s"] = static_cast<double>(tokens) / seconds;
    DecodeResults().push_back({model, mode, batch, tokens, seconds, bench::CpuSeconds() - cpu_start});
  }
}

// --- load time ---

struct LoadResult {
  std::string what;
  double seconds = 0;
  int64_t params = 0;
};

std::vector<LoadResult> MeasureLoads() {
  std::vector<LoadResult> out;
  const std::string stories = std::string(GRPO_DATA_DIR) + "/models/stories260K";
  double start = Now();
  auto lm = LoadCausalLM(stories);
  if (!lm.ok()) Die("load stories260K", lm.status());
  out.push_back({"stories260K (safetensors, fp32)", Now() - start, CountParameters(*lm)});
  if (!GetFlags().skip_large) {
    ModelConfig c = TinyConfig();
    c.vocab_size = 32000;
    c.hidden_size = 768;
    c.intermediate_size = 2048;
    c.num_hidden_layers = 12;
    c.num_attention_heads = 12;
    c.num_key_value_heads = 12;
    c.head_dim = 64;
    c.tie_word_embeddings = true;
    const std::string dir = "/tmp/grpo_policy_bench_" + std::to_string(::getpid());
    {
      auto big = MakeCausalLM(c, /*seed=*/3);
      if (!big.ok()) Die("build the 110M model", big.status());
      const absl::Status s = SaveCausalLM(*big, dir);
      if (!s.ok()) Die("save the 110M model", s);
    }
    start = Now();
    auto again = LoadCausalLM(dir);
    if (!again.ok()) Die("load the 110M model", again.status());
    out.push_back({"random-init 110M (safetensors, fp32)", Now() - start, CountParameters(*again)});
    start = Now();
    LoadOptions bf16;
    bf16.dtype = torch::kBFloat16;
    auto again16 = LoadCausalLM(dir, bf16);
    if (!again16.ok()) Die("load the 110M model as bf16", again16.status());
    out.push_back({"same, kept in bf16", Now() - start, CountParameters(*again16)});
    std::filesystem::remove_all(dir);
  }
  if (!GetFlags().gguf.empty()) {
    start = Now();
    auto g = LoadGgufModel(GetFlags().gguf);
    if (!g.ok()) Die("load " + GetFlags().gguf, g.status());
    out.push_back({"GGUF " + GetFlags().gguf, Now() - start, CountParameters(g->model)});
  }
  return out;
}

// --- peak memory of scoring ---

int64_t StatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atoll(line.c_str() + std::strlen(field));
  }
  return -1;
}

// In a forked child: the model, then reset the peak, then score + backward.
// Returns the peak growth in kB, or -1.
int64_t ScorePeakKb(bool chunked) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    int64_t result = -1;
    ModelConfig c = TinyConfig();
    c.vocab_size = 151936;
    c.hidden_size = 64;
    c.intermediate_size = 172;
    c.num_hidden_layers = 1;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 16;
    auto lm = MakeCausalLM(c, /*seed=*/5);
    if (lm.ok()) {
      const torch::Tensor ids =
          torch::randint(0, c.vocab_size, {GetFlags().score_batch, GetFlags().score_len}, torch::kLong);
      std::ofstream("/proc/self/clear_refs") << "5";  // peak RSS := current RSS
      const int64_t base = StatusKb("VmRSS:");
      auto s = chunked ? ScoreTokens(*lm, ids) : ScoreTokensReference(*lm, ids);
      if (s.ok()) {
        s->logprobs.sum().backward();
        result = StatusKb("VmHWM:") - base;
      } else {
        std::fprintf(stderr, "policy_bench: scoring: %s\n", s.status().ToString().c_str());
      }
    }
    if (write(fds[1], &result, sizeof(result)) != sizeof(result)) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  int64_t result = -1;
  if (pid < 0 || read(fds[0], &result, sizeof(result)) != sizeof(result)) result = -1;
  close(fds[0]);
  if (pid > 0) waitpid(pid, nullptr, 0);
  return result;
}

// The tiny model saved, decoded at batch 1 by HF transformers' generate()
// (bench/hf_generate_peer.py), against our cached batch-1 figure.
void RunDecodePeer() {
  const Flags& flags = GetFlags();
  std::printf("\n== peer: HF transformers generate(), tiny model, batch 1, %lld new tokens ==\n",
              static_cast<long long>(flags.new_tokens));
  if (!flags.peer) {
    std::printf("peer skipped (--no_peer)\n");
    return;
  }
  double ours = 0, ours_cpu = 0;
  for (const auto& r : DecodeResults()) {
    if (r.model == "tiny" && r.batch == 1 && r.mode == "cached") {
      ours = r.tokens / r.seconds;
      ours_cpu = r.tokens / r.cpu_seconds;
    }
  }
  const std::string dir = "/tmp/grpo_policy_bench_peer_" + std::to_string(::getpid());
  const absl::Status saved = SaveCausalLM(Model("tiny"), dir);
  if (!saved.ok()) Die("save the tiny model", saved);
  const std::vector<std::vector<int64_t>> prompts = Prompts(1, 512);
  std::string prompt;
  for (int64_t id : prompts[0]) prompt += (prompt.empty() ? "" : ",") + std::to_string(id);
  const bench::PeerOutcome peer = bench::RunPeer(bench::PeerArgv(
      flags, {"--model_dir=" + dir, "--prompt=" + prompt, "--new_tokens=" + std::to_string(flags.new_tokens),
              "--threads=" + std::to_string(flags.threads)}));
  std::filesystem::remove_all(dir);
  if (!peer.available) {
    std::printf("peer HF transformers not available: %s; ours only\n", peer.why.c_str());
    return;
  }
  // Our greedy ids for the same prompt, to say whether both decoded the same text.
  SamplerOptions opt;
  opt.temperature(0).max_new_tokens(flags.new_tokens).n(1);
  auto r = Sample(Model("tiny"), prompts, opt);
  if (!r.ok()) Die("Sample", r.status());
  const std::vector<int64_t> peer_ids = peer.json.value("ids", std::vector<int64_t>{});
  const std::vector<int64_t>& our_ids = r->completions[0].ids;
  size_t same = 0;
  while (same < our_ids.size() && same < peer_ids.size() && our_ids[same] == peer_ids[same]) ++same;
  const double theirs = peer.json.value("tokens_per_s", 0.0);
  const double theirs_cpu = peer.json.value("tokens_per_cpu_s", 0.0);
  std::printf("ours (Sample, cached) %10.1f tokens/s wall %10.1f per CPU second\n", ours, ours_cpu);
  std::printf("peer (generate)       %10.1f tokens/s wall %10.1f per CPU second (torch %s)\n", theirs,
              theirs_cpu, peer.json.value("torch", std::string("?")).c_str());
  std::printf("ours / peer           %10.2fx wall %10.2fx per CPU second\n", theirs > 0 ? ours / theirs : 0.0,
              theirs_cpu > 0 ? ours_cpu / theirs_cpu : 0.0);
  std::printf("greedy ids equal for the first %zu of %zu tokens\n", same, our_ids.size());
}

bool ParseFlag(std::string_view arg, Flags* f) {
  auto value = [&](std::string_view name, std::string* out) {
    if (arg.substr(0, name.size()) != name) return false;
    *out = std::string(arg.substr(name.size()));
    return true;
  };
  std::string v;
  if (value("--threads=", &v)) return (f->threads = std::atoi(v.c_str())) > 0;
  if (value("--new_tokens=", &v)) return (f->new_tokens = std::atoll(v.c_str())) > 0;
  if (value("--score_batch=", &v)) return (f->score_batch = std::atoll(v.c_str())) > 0;
  if (value("--score_len=", &v)) return (f->score_len = std::atoll(v.c_str())) > 1;
  if (value("--recompute_b64_tokens=", &v)) return (f->recompute_b64_tokens = std::atoll(v.c_str())) >= 0;
  if (value("--gguf=", &v)) return !(f->gguf = v).empty();
  if (arg == "--quick") return (f->new_tokens = 64) > 0;
  if (arg.substr(0, 6) == "--cpu=") return false;  // this benchmark does not pin
  if (bench::ParsePeerFlag(arg, f)) return true;
  if (arg == "--skip_large") return f->skip_large = true;
  return false;
}

}  // namespace
}  // namespace grpo::policy

int main(int argc, char** argv) {
  using namespace grpo::policy;  // NOLINT
  benchmark::Initialize(&argc, argv);
  Flags& flags = GetFlags();
  for (int i = 1; i < argc; ++i) {
    if (!ParseFlag(argv[i], &flags)) {
      std::fprintf(stderr,
                   "policy_bench: unknown flag %s\nflags: --threads=N --new_tokens=N --quick "
                   "--recompute_b64_tokens=N --skip_large --gguf=FILE --score_batch=N --score_len=N\n"
                   "       --no_peer --peer_python=PY --peer_script=FILE\n",
                   argv[i]);
      return 2;
    }
  }
  torch::set_num_threads(flags.threads);
  std::printf("policy_bench: %d threads, %lld new tokens per row, prompt %lld tokens\n", flags.threads,
              static_cast<long long>(flags.new_tokens), static_cast<long long>(kPromptLen));
  std::printf("tiny model: %lld parameters; stories260K: %lld parameters\n",
              static_cast<long long>(CountParameters(Model("tiny"))),
              static_cast<long long>(CountParameters(Model("stories260K"))));

  for (const std::string model : {"tiny", "stories260K"}) {
    for (const int64_t batch : {int64_t{1}, int64_t{64}}) {
      std::vector<std::string> modes = {"cached", "recompute"};
      if (batch > 1) modes.insert(modes.begin() + 1, "cached_64prompts");
      for (const std::string& mode : modes) {
        benchmark::RegisterBenchmark(
            ("BM_Decode/" + model + "/" + std::to_string(batch) + "/" + mode).c_str(),
            [model, batch, mode](benchmark::State& s) { BM_Decode(s, model, batch, mode); })
            ->Iterations(1)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();

  std::printf("\n== decoding, %lld new tokens per row (greedy, fixed length) ==\n",
              static_cast<long long>(flags.new_tokens));
  // Rates per wall second and per CPU second of this process; the speedup uses
  // CPU seconds, which a busy neighbour on the machine disturbs less.
  std::printf("%-12s %5s  %-17s %6s %9s %11s %11s %10s\n", "model", "batch", "mode", "steps", "wall s",
              "tok/s wall", "tok/s cpu", "vs recomp.");
  std::map<std::string, double> recompute;  // model/batch -> tokens per CPU second
  for (const auto& r : DecodeResults()) {
    if (r.mode == "recompute") recompute[r.model + "/" + std::to_string(r.batch)] = r.tokens / r.cpu_seconds;
  }
  for (const auto& r : DecodeResults()) {
    const double cpu_rate = r.tokens / r.cpu_seconds;
    const auto base = recompute.find(r.model + "/" + std::to_string(r.batch));
    std::printf("%-12s %5lld  %-17s %6lld %9.3f %11.1f %11.1f %9.2fx\n", r.model.c_str(),
                static_cast<long long>(r.batch), r.mode.c_str(), static_cast<long long>(r.tokens / r.batch),
                r.seconds, r.tokens / r.seconds, cpu_rate,
                base != recompute.end() ? cpu_rate / base->second : 0.0);
  }

  RunDecodePeer();

  std::printf("\n== load time ==\n");
  for (const auto& l : MeasureLoads()) {
    std::printf("%-40s %12lld params %8.3f s\n", l.what.c_str(), static_cast<long long>(l.params), l.seconds);
  }
  if (flags.gguf.empty()) std::printf("(GGUF: none given; pass --gguf=FILE)\n");

  std::printf("\n== peak memory of teacher-forced log-probs, forward + backward ==\n");
  std::printf("V = 151936, hidden 64, 1 layer, untied lm_head, ids [%lld, %lld]; peak RSS growth of a child\n",
              static_cast<long long>(flags.score_batch), static_cast<long long>(flags.score_len));
  const int64_t chunked = ScorePeakKb(true);
  const int64_t full = ScorePeakKb(false);
  std::printf("%-36s %10.1f MiB\n", "ScoreTokens (chunked)", chunked / 1024.0);
  std::printf("%-36s %10.1f MiB\n", "ScoreTokensReference (full)", full / 1024.0);
  if (chunked > 0 && full > 0) {
    std::printf("%-36s %10.3f (goal <= 0.25)\n", "chunked / full", static_cast<double>(chunked) / full);
  }
  return 0;
}
