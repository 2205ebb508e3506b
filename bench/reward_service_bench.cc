// reward_service_bench: math scoring through the gRPC reward service on
// loopback against the same scoring in process (bench/README.md).
//
// For 1 and 2 server threads, over the 1,319 labelled GSM8K solutions and
// the 800 Qwen2.5-Math MATH responses:
//   in-process  batches of 64 scored by SampleScorer on a WorkQueue of T threads
//   unary       the same batches through RewardService.Score (one call per batch)
//   stream      every sample through ScoreStream (RewardClient, 2 streams)
// The overhead ratio is unary / in-process at batch 64 (goal <= 1.3): the
// same SampleScorer, the same samples, the same number of scoring threads,
// batches drained the same way; only the transport differs. Each rate is the
// best of --reps passes; "median" is the median of the passes' own ratios.
// Abseil's mutex deadlock detection is off, as in `grpo` (cli/main.cc), which
// runs the server in production: the system Abseil keeps it on, and it costs
// gRPC's locks (about 10 us of CPU a call), not the scoring.
//
//   build/bench/reward_service_bench [--reps=5] [--batch=64]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "reward/reward_client.h"
#include "reward/reward_registry.h"
#include "reward/reward_service.h"
#include "reward/sample_scorer.h"
#include "reward/work_queue.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace rw = grpo::reward;
namespace v1 = grpo::reward::v1;

// GSM8K: short solutions, cheap checks (the service's fixed costs show).
// MATH: Qwen2.5-Math responses against LaTeX golds (PLAIN), dearer checks.
std::vector<v1::Sample> LoadSamples(bool math500) {
  std::vector<v1::Sample> samples;
  std::ifstream in(std::string(GRPO_DATA_DIR) +
                   (math500 ? "/qwen25math_math_cot_100.jsonl" : "/gsm8k_example_model_solutions.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    const size_t responses = math500 ? j["response"].size() : 1;
    for (size_t k = 0; k < responses; ++k) {
      v1::Sample s;
      s.set_id(std::to_string(samples.size()));
      v1::Component* c = s.add_components();
      c->set_name("math_accuracy");
      c->set_weight(1);
      if (math500) {
        s.set_completion(j["response"][k].get<std::string>());
        s.mutable_reference()->set_math_answer(j["answer"].get<std::string>());
        (*c->mutable_params())["gold_format"] = "PLAIN";
      } else {
        s.set_completion(j["175b_verification"]["solution"].get<std::string>());
        s.mutable_reference()->set_math_answer(j["ground_truth"].get<std::string>());
      }
      samples.push_back(std::move(s));
    }
  }
  return samples;
}

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Batches scored in process, each waited for before the next (as a caller
// of the unary RPC would). Each batch is drained by min(batch, threads)
// tasks taking the next unscored sample, as the server's Score does, so the
// two sides differ only by the transport.
double InProcess(const std::vector<v1::Sample>& samples, size_t batch, int threads,
                 const rw::SampleScorer& scorer, double* reward_sum) {
  rw::WorkQueue queue(threads, samples.size());
  std::vector<v1::Result> results(samples.size());
  const Clock::time_point start = Clock::now();
  for (size_t begin = 0; begin < samples.size(); begin += batch) {
    const size_t end = std::min(samples.size(), begin + batch);
    std::mutex mu;
    std::condition_variable cv;
    std::atomic<size_t> next{begin};
    size_t left = end - begin;
    std::vector<std::function<void()>> tasks;
    for (size_t t = 0; t < std::min(end - begin, static_cast<size_t>(threads)); ++t) {
      tasks.push_back([&] {
        const Clock::time_point arrival = Clock::now();
        for (size_t i = next++; i < end; i = next++) {
          results[i] = scorer.Score(samples[i], arrival, scorer.Deadline(samples[i], arrival));
          std::lock_guard<std::mutex> lock(mu);
          if (--left == 0) cv.notify_one();
        }
      });
    }
    if (!queue.TrySubmit(&tasks, end - begin)) std::abort();
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return left == 0; });
  }
  const double seconds = Seconds(start);
  *reward_sum = 0;
  for (const v1::Result& r : results) *reward_sum += r.reward();
  return seconds;
}

// The same batches as ScoreRequests, built before the clock starts: a
// rollout worker builds its samples into the request either way.
std::vector<v1::ScoreRequest> Requests(const std::vector<v1::Sample>& samples, size_t batch) {
  std::vector<v1::ScoreRequest> requests;
  for (size_t begin = 0; begin < samples.size(); begin += batch) {
    v1::ScoreRequest& request = requests.emplace_back();
    for (size_t i = begin; i < std::min(samples.size(), begin + batch); ++i) {
      *request.add_samples() = samples[i];
    }
  }
  return requests;
}

double Unary(const std::vector<v1::ScoreRequest>& requests, rw::RewardClient* client,
             double* reward_sum) {
  *reward_sum = 0;
  const Clock::time_point start = Clock::now();
  for (const v1::ScoreRequest& request : requests) {
    auto response = client->ScoreBatch(request);
    if (!response.ok()) {
      std::fprintf(stderr, "Score failed: %s\n", std::string(response.status().message()).c_str());
      std::exit(1);
    }
    for (const v1::Result& r : response->results()) *reward_sum += r.reward();
  }
  return Seconds(start);
}

double Stream(const std::vector<v1::Sample>& samples, rw::RewardClient* client,
              double* reward_sum) {
  const Clock::time_point start = Clock::now();
  auto results = client->ScoreAll(samples);
  const double seconds = Seconds(start);
  *reward_sum = 0;
  for (const v1::Result& r : *results) *reward_sum += r.reward();
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  int reps = 5;
  size_t batch = 64;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--reps=", 0) == 0) reps = std::max(1, std::atoi(arg.c_str() + 7));
    if (arg.rfind("--batch=", 0) == 0) batch = static_cast<size_t>(std::max(1, std::atoi(arg.c_str() + 8)));
  }
  rw::ComponentRegistry registry;
  if (!rw::RegisterBuiltinComponents(grpo::config::RewardConfig(), &registry).ok()) return 1;
  const rw::SampleScorer scorer(&registry, rw::SampleLimits());
  for (bool math500 : {false, true}) {
    const std::vector<v1::Sample> samples = LoadSamples(math500);
    if (samples.empty()) {
      std::fprintf(stderr, "no samples in %s\n", GRPO_DATA_DIR);
      return 1;
    }
    const std::vector<v1::ScoreRequest> requests = Requests(samples, batch);
    std::printf("%zu %s samples, batch %zu, %d passes (best; ratio: median of the passes' ratios)\n",
                samples.size(), math500 ? "MATH (Qwen2.5-Math responses)" : "GSM8K", batch, reps);
    std::printf("%-8s %14s %14s %8s %8s %16s\n", "threads", "in-process/s", "unary/s", "ratio",
                "median", "stream samples/s");
    for (int threads : {1, 2}) {
      rw::ServerOptions options;
      options.listen = "127.0.0.1:0";
      options.threads = threads;
      auto server = rw::RewardServer::Start(options, &registry);
      if (!server.ok()) return 1;
      rw::ClientOptions client_options;
      client_options.target = "127.0.0.1:" + std::to_string((*server)->port());
      auto client = rw::RewardClient::Create(client_options);
      if (!client.ok()) return 1;
      double local = 1e9, unary = 1e9, stream = 1e9;
      double sum_local = 0, sum_unary = 0, sum_stream = 0;
      std::vector<double> ratios;
      Unary(requests, client->get(), &sum_unary);  // warm-up: connection, caches
      for (int r = 0; r < reps; ++r) {
        const double l = InProcess(samples, batch, threads, scorer, &sum_local);
        const double u = Unary(requests, client->get(), &sum_unary);
        local = std::min(local, l);
        unary = std::min(unary, u);
        ratios.push_back(u / l);
        stream = std::min(stream, Stream(samples, client->get(), &sum_stream));
      }
      if (sum_local != sum_unary || sum_local != sum_stream) {
        std::fprintf(stderr, "reward sums differ: %f %f %f\n", sum_local, sum_unary, sum_stream);
        return 1;
      }
      std::sort(ratios.begin(), ratios.end());
      const double n = static_cast<double>(samples.size());
      std::printf("%-8d %14.0f %14.0f %7.2fx %7.2fx %16.0f\n", threads, n / local, n / unary,
                  unary / local, ratios[ratios.size() / 2], n / stream);
    }
  }
  return 0;
}
