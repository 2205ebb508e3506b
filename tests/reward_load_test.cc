// Load test of the reward service on loopback: 8 concurrent streaming
// clients against 2 in-process servers, GSM8K math samples. Every id must
// come back exactly once, none lost, none duplicated, every one "ok"; the
// latency (Submit to result) p50/p99 and the throughput are printed.
//
// CI size: 8 x 500 samples. The acceptance size (8 x 20,000) is
//   GRPO_LOAD_SAMPLES=20000 build/tests/reward_load_test
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "reward/reward_client.h"
#include "tests/reward_service_test_util.h"

namespace grpo::reward {
namespace {

using Clock = std::chrono::steady_clock;

int SamplesPerClient() {
  const char* env = std::getenv("GRPO_LOAD_SAMPLES");
  const int n = env == nullptr ? 500 : std::atoi(env);
  return n > 0 ? n : 500;
}

double Percentile(std::vector<double>* v, double p) {
  if (v->empty()) return 0;
  std::sort(v->begin(), v->end());
  size_t rank = static_cast<size_t>(p * static_cast<double>(v->size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, v->size());
  return (*v)[rank - 1];
}

TEST(RewardLoadTest, EightStreamingClientsTwoServersNoLossNoDuplicate) {
  constexpr int kClients = 8;
  const int per_client = SamplesPerClient();
  auto registry = testing::TestRegistry();
  std::vector<std::unique_ptr<RewardServer>> servers;
  for (int i = 0; i < 2; ++i) {
    auto server = RewardServer::Start(testing::LoopbackOptions(1), registry.get());
    ASSERT_TRUE(server.ok()) << server.status();
    servers.push_back(std::move(*server));
  }
  const std::string target =
      "ipv4:" + testing::Target(*servers[0]) + "," + testing::Target(*servers[1]);
  const auto lines = testing::GsmLines(0);
  ASSERT_FALSE(lines.empty());

  // answers[c][i]: how many results sample i of client c got.
  std::vector<std::vector<std::atomic<int>>> answers(kClients);
  for (auto& a : answers) a = std::vector<std::atomic<int>>(static_cast<size_t>(per_client));
  std::mutex mu;
  std::vector<double> latencies;
  latencies.reserve(static_cast<size_t>(kClients * per_client));
  std::atomic<int> not_ok{0}, bad_id{0}, wrong_reward{0};

  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  std::vector<ClientStats> stats(kClients);
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      ClientOptions options;
      options.target = target;
      options.per_sample_timeout = absl::Seconds(300);
      options.max_in_flight = 256;
      auto client = RewardClient::Create(options);
      ASSERT_TRUE(client.ok());
      std::atomic<int> done{0};
      for (int i = 0; i < per_client; ++i) {
        const auto& line = lines[static_cast<size_t>(c * 7919 + i) % lines.size()];
        const Clock::time_point submitted = Clock::now();
        const absl::Status s = (*client)->Submit(
            testing::MathSample(std::to_string(c) + ":" + std::to_string(i), line.completion,
                                line.gold),
            [&, c, submitted](v1::Result r) {
              const double ms =
                  std::chrono::duration<double, std::milli>(Clock::now() - submitted).count();
              const size_t colon = r.id().find(':');
              int rc = -1, ri = -1;
              if (colon != std::string::npos) {
                rc = std::atoi(r.id().substr(0, colon).c_str());
                ri = std::atoi(r.id().substr(colon + 1).c_str());
              }
              if (rc != c || ri < 0 || ri >= per_client) {
                ++bad_id;
              } else {
                ++answers[static_cast<size_t>(c)][static_cast<size_t>(ri)];
              }
              if (r.status() != "ok") ++not_ok;
              if (r.reward() != 0.0 && r.reward() != 1.0) ++wrong_reward;
              {
                std::lock_guard<std::mutex> lock(mu);
                latencies.push_back(ms);
              }
              ++done;
            });
        ASSERT_TRUE(s.ok()) << s;
      }
      while (done.load() < per_client) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      stats[static_cast<size_t>(c)] = (*client)->stats();
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  int64_t lost = 0, duplicated = 0;
  for (auto& a : answers) {
    for (auto& n : a) {
      lost += n.load() == 0;
      duplicated += n.load() > 1;
    }
  }
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(duplicated, 0);
  EXPECT_EQ(bad_id.load(), 0);
  EXPECT_EQ(not_ok.load(), 0);
  EXPECT_EQ(wrong_reward.load(), 0);
  const int total = kClients * per_client;
  ASSERT_EQ(static_cast<int>(latencies.size()), total);
  int64_t late = 0, resent = 0;
  for (const ClientStats& s : stats) {
    late += s.late_results;
    resent += s.resent;
  }
  const double p50 = Percentile(&latencies, 0.50);
  const double p99 = Percentile(&latencies, 0.99);
  std::printf(
      "load: %d clients x %d samples = %d against 2 servers (1 worker each): %.2f s, "
      "%.0f samples/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; lost %lld, duplicated %lld, "
      "late %lld, resent %lld\n",
      kClients, per_client, total, seconds, total / seconds, p50, p99, latencies.back(),
      static_cast<long long>(lost), static_cast<long long>(duplicated),
      static_cast<long long>(late), static_cast<long long>(resent));
}

}  // namespace
}  // namespace grpo::reward
