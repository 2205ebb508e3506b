// The reward client (reward/reward_client.h): order and ids, round-robin
// over servers, per-sample timeouts, retries, the fault test (one of two
// `grpo reward-server` child processes SIGKILLed mid-stream), the SIGTERM
// drain of a child, and `grpo eval-rewards --server` against in-process.
//
// This binary doubles as the server child: `reward_client_test
// --reward-server-child FLAGS...` runs `grpo reward-server FLAGS...`.
#include "reward/reward_client.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/eval_rewards.h"
#include "gtest/gtest.h"
#include "tests/reward_service_test_util.h"

extern char** environ;

namespace grpo::reward {
namespace {

using Clock = std::chrono::steady_clock;
using testing::GsmLines;
using testing::LoopbackOptions;
using testing::MathSample;
using testing::SleepSample;
using testing::Target;
using testing::TestRegistry;

std::string g_self;  // this binary, for the server children

// Counts the samples a server scored: each server gets its own registry.
class CountComponent : public RewardComponent {
 public:
  explicit CountComponent(std::atomic<int>* count) : count_(count) {}
  const ComponentInfo& info() const override { return info_; }
  absl::Status Validate(const ComponentInput&, const ComponentParams&) const override {
    return absl::OkStatus();
  }
  RewardResult Score(const ComponentInput&, const ComponentParams&) const override {
    count_->fetch_add(1);
    RewardResult r;
    r.status = RewardStatus::kOk;
    r.value = 1;
    return r;
  }

 private:
  std::atomic<int>* count_;
  ComponentInfo info_{"count", "test", "counts", "none", {}};
};

v1::Sample CountSample(const std::string& id) {
  v1::Sample s;
  s.set_id(id);
  s.set_completion("x");
  s.add_components()->set_name("count");
  return s;
}

TEST(ClientTest, ScoreAllKeepsOrderAndTheCallersIds) {
  auto registry = TestRegistry();
  auto server = RewardServer::Start(LoopbackOptions(), registry.get());
  ASSERT_TRUE(server.ok());
  ClientOptions options;
  options.target = Target(**server);
  auto client = RewardClient::Create(options);
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE(*(*client)->Healthy());
  // Ids repeat on purpose: the wire ids are the client's own.
  std::vector<v1::Sample> samples;
  for (int i = 0; i < 300; ++i) {
    samples.push_back(MathSample(i % 2 ? "same" : "id" + std::to_string(i),
                                 "\\boxed{" + std::to_string(i % 7) + "}", "3"));
  }
  auto results = (*client)->ScoreAll(samples);
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    EXPECT_EQ((*results)[i].id(), samples[i].id());
    EXPECT_EQ((*results)[i].status(), "ok");
    EXPECT_EQ((*results)[i].reward(), i % 7 == 3 ? 1.0 : 0.0) << i;
  }
  EXPECT_FALSE((*client)->ScoreAll({v1::Sample()}).ok());  // no id
  auto list = (*client)->ListRewards();
  ASSERT_TRUE(list.ok());
  EXPECT_GE(list->components_size(), 4);
  v1::ScoreRequest request;
  *request.add_samples() = samples[3];
  auto batch = (*client)->ScoreBatch(request);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->results(0).reward(), 1.0);
}

TEST(ClientTest, RoundRobinSpreadsStreamsOverServers) {
  std::atomic<int> counts[2] = {0, 0};
  std::vector<std::unique_ptr<ComponentRegistry>> registries;
  std::vector<std::unique_ptr<RewardServer>> servers;
  for (int i = 0; i < 2; ++i) {
    registries.push_back(std::make_unique<ComponentRegistry>());
    ASSERT_TRUE(registries[i]->Register(std::make_unique<CountComponent>(&counts[i])).ok());
    auto server = RewardServer::Start(LoopbackOptions(1), registries[i].get());
    ASSERT_TRUE(server.ok());
    servers.push_back(std::move(*server));
  }
  ClientOptions options;
  options.target = "ipv4:" + Target(*servers[0]) + "," + Target(*servers[1]);
  options.streams = 4;
  options.max_in_flight_per_stream = 8;
  auto client = RewardClient::Create(options);
  ASSERT_TRUE(client.ok());
  std::vector<v1::Sample> samples;
  for (int i = 0; i < 2000; ++i) samples.push_back(CountSample(std::to_string(i)));
  auto results = (*client)->ScoreAll(samples);
  ASSERT_TRUE(results.ok());
  for (const auto& r : *results) ASSERT_EQ(r.status(), "ok");
  EXPECT_EQ(counts[0] + counts[1], 2000);
  EXPECT_GT(counts[0], 100) << counts[1];
  EXPECT_GT(counts[1], 100) << counts[0];
}

// A dns:/// target: localhost may resolve to ::1 as well, where nothing
// listens; round_robin uses the address that answers.
TEST(ClientTest, DnsTarget) {
  auto registry = TestRegistry();
  auto server = RewardServer::Start(LoopbackOptions(), registry.get());
  ASSERT_TRUE(server.ok());
  ClientOptions options;
  options.target = "dns:///localhost:" + std::to_string((*server)->port());
  options.per_sample_timeout = absl::Seconds(10);
  auto client = RewardClient::Create(options);
  ASSERT_TRUE(client.ok());
  auto results = (*client)->ScoreAll({MathSample("d", "\\boxed{7}", "7")});
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].status(), "ok") << (*results)[0].reason();
  EXPECT_EQ((*results)[0].reward(), 1.0);
}

TEST(ClientTest, PerSampleTimeoutAnswersTimeout) {
  auto registry = TestRegistry();
  auto server = RewardServer::Start(LoopbackOptions(1), registry.get());
  ASSERT_TRUE(server.ok());
  ClientOptions options;
  options.target = Target(**server);
  options.per_sample_timeout = absl::Milliseconds(300);
  auto client = RewardClient::Create(options);
  ASSERT_TRUE(client.ok());
  const Clock::time_point start = Clock::now();
  auto results = (*client)->ScoreAll({SleepSample("slow", 1500), SleepSample("fast", 0)});
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].status(), "timeout");
  EXPECT_EQ((*results)[0].id(), "slow");
  EXPECT_LT(seconds, 2.0);  // 0.3 s timeout; the rest is slack for a loaded CI machine
  EXPECT_EQ((*client)->stats().timed_out, 2 - ((*results)[1].status() == "ok"));
}

TEST(ClientTest, NoServerMeansTimeoutNotAHang) {
  // A port nothing listens on: bind one, then close it.
  auto registry = TestRegistry();
  std::string target;
  {
    auto server = RewardServer::Start(LoopbackOptions(), registry.get());
    ASSERT_TRUE(server.ok());
    target = Target(**server);
  }
  ClientOptions options;
  options.target = target;
  options.per_sample_timeout = absl::Milliseconds(500);
  auto client = RewardClient::Create(options);
  ASSERT_TRUE(client.ok());
  auto results = (*client)->ScoreAll({MathSample("a", "1", "1"), MathSample("b", "2", "2")});
  ASSERT_TRUE(results.ok());
  for (const auto& r : *results) {
    EXPECT_EQ(r.status(), "timeout");
    EXPECT_NE(r.reason().find("no result within"), std::string::npos);
  }
}

TEST(ClientTest, FullServerQueueIsRetried) {
  auto registry = TestRegistry();
  ServerOptions server_options = LoopbackOptions(1);
  server_options.queue_capacity = 1;
  auto server = RewardServer::Start(server_options, registry.get());
  ASSERT_TRUE(server.ok());
  ClientOptions options;
  options.target = Target(**server);
  options.initial_backoff = absl::Milliseconds(20);
  auto client = RewardClient::Create(options);
  ASSERT_TRUE(client.ok());
  std::vector<v1::Sample> samples;
  for (int i = 0; i < 12; ++i) samples.push_back(SleepSample(std::to_string(i), 20));
  auto results = (*client)->ScoreAll(samples);
  ASSERT_TRUE(results.ok());
  for (const auto& r : *results) EXPECT_EQ(r.status(), "ok") << r.reason();
  EXPECT_GT((*client)->stats().retried_exhausted, 0);
}

TEST(ClientTest, ScoreBatchRetriesUntilTheServerIsUp) {
  auto registry = TestRegistry();
  int port = 0;
  {
    auto probe = RewardServer::Start(LoopbackOptions(), registry.get());
    ASSERT_TRUE(probe.ok());
    port = (*probe)->port();
  }
  ClientOptions options;
  options.target = "127.0.0.1:" + std::to_string(port);
  options.per_sample_timeout = absl::Seconds(10);
  auto client = RewardClient::Create(options);
  ASSERT_TRUE(client.ok());
  std::unique_ptr<RewardServer> late;
  std::thread starter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    ServerOptions server_options = LoopbackOptions();
    server_options.listen = options.target;
    auto server = RewardServer::Start(server_options, registry.get());
    ASSERT_TRUE(server.ok()) << server.status();
    late = std::move(*server);
  });
  v1::ScoreRequest request;
  *request.add_samples() = MathSample("x", "\\boxed{2}", "2");
  auto response = (*client)->ScoreBatch(request);
  starter.join();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->results(0).reward(), 1.0);
}

// A client keeps its streams open while idle; the drain ends them at once
// rather than waiting out the grace period.
TEST(ClientTest, ShutdownEndsIdleStreamsAtOnce) {
  auto registry = TestRegistry();
  auto server = RewardServer::Start(LoopbackOptions(1), registry.get());
  ASSERT_TRUE(server.ok());
  ClientOptions options;
  options.target = Target(**server);
  auto client = RewardClient::Create(options);
  ASSERT_TRUE(client.ok());
  std::vector<v1::Sample> samples;
  for (int i = 0; i < 50; ++i) samples.push_back(MathSample(std::to_string(i), "\\boxed{1}", "1"));
  auto results = (*client)->ScoreAll(samples);
  ASSERT_TRUE(results.ok());
  for (const auto& r : *results) EXPECT_EQ(r.status(), "ok");
  const Clock::time_point start = Clock::now();
  (*server)->Shutdown(absl::Seconds(5));
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 2.0);
}

// --- child processes running `grpo reward-server` ---

struct Child {
  pid_t pid = -1;
  std::string address;
};

Child SpawnServer(const std::string& dir, const std::string& name,
                  std::vector<std::string> extra = {}) {
  Child child;
  const std::string ready = dir + "/" + name + ".ready";
  std::vector<std::string> args = {g_self, "--reward-server-child", "--listen=127.0.0.1:0",
                                   "--threads=1", "--ready-file=" + ready};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (posix_spawn(&child.pid, g_self.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    ADD_FAILURE() << "posix_spawn failed";
    return child;
  }
  for (int i = 0; i < 1000 && child.address.empty(); ++i) {
    std::ifstream in(ready);
    std::getline(in, child.address);
    if (child.address.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(child.address.empty()) << "the child server never became ready";
  return child;
}

int WaitExit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

class ChildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("grpo_children_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    for (pid_t pid : pids_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }
  Child Spawn(const std::string& name) {
    Child c = SpawnServer(dir_.string(), name, {"--drain-seconds=5"});
    return c;
  }
  std::filesystem::path dir_;
  std::vector<pid_t> pids_;  // still to reap
};

// The fault test: two servers, many samples on round-robin streams; one
// server is SIGKILLed mid-stream. Every sample is still answered exactly
// once, by the survivor, within the deadline.
TEST_F(ChildTest, KilledServerMidStreamLosesNoSample) {
  Child a = Spawn("a");
  Child b = Spawn("b");
  ASSERT_FALSE(a.address.empty());
  ASSERT_FALSE(b.address.empty());
  pids_ = {a.pid, b.pid};
  ClientOptions options;
  options.target = "ipv4:" + a.address + "," + b.address;
  options.per_sample_timeout = absl::Seconds(30);
  options.streams = 4;
  auto client = RewardClient::Create(options);
  ASSERT_TRUE(client.ok());
  const auto lines = GsmLines(0);
  constexpr int kSamples = 6000;
  std::mutex mu;
  std::vector<int> answers(kSamples, 0);
  std::map<std::string, int> statuses;
  std::atomic<int> done{0};
  const Clock::time_point start = Clock::now();
  std::thread submitter([&] {
    for (int i = 0; i < kSamples; ++i) {
      const auto& line = lines[static_cast<size_t>(i) % lines.size()];
      const absl::Status s = (*client)->Submit(
          MathSample(std::to_string(i), line.completion, line.gold), [&](v1::Result r) {
            std::lock_guard<std::mutex> lock(mu);
            ++answers[static_cast<size_t>(std::stoi(r.id()))];
            ++statuses[r.status()];
            ++done;
          });
      ASSERT_TRUE(s.ok()) << s;
    }
  });
  while (done.load() < 1000) std::this_thread::sleep_for(std::chrono::microseconds(200));
  ASSERT_EQ(kill(a.pid, SIGKILL), 0);
  const int done_at_kill = done.load();
  EXPECT_LT(done_at_kill, kSamples / 2) << "the kill came too late to be mid-stream";
  submitter.join();
  while (done.load() < kSamples &&
         Clock::now() - start < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(done.load(), kSamples);
  for (int i = 0; i < kSamples; ++i) ASSERT_EQ(answers[static_cast<size_t>(i)], 1) << i;
  EXPECT_EQ(statuses["ok"], kSamples) << "timeouts: " << statuses["timeout"];
  const ClientStats stats = (*client)->stats();
  std::printf("fault test: %d samples in %.2f s; killed after %d answers; resent %lld, "
              "streams opened %lld\n",
              kSamples, seconds, done_at_kill, static_cast<long long>(stats.resent),
              static_cast<long long>(stats.streams_opened));
  EXPECT_LT(seconds, 30.0);
}

// SIGTERM mid-stream: the drained server answers what it has read and
// exits 0; the client sends the rest to the other server. Every sample ok.
TEST_F(ChildTest, SigtermDrainsAndExitsZero) {
  Child a = Spawn("a");
  Child b = Spawn("b");
  ASSERT_FALSE(a.address.empty());
  ASSERT_FALSE(b.address.empty());
  pids_ = {b.pid};
  ClientOptions options;
  options.target = "ipv4:" + a.address + "," + b.address;
  options.per_sample_timeout = absl::Seconds(20);
  options.streams = 4;
  auto client = RewardClient::Create(options);
  ASSERT_TRUE(client.ok());
  const auto lines = GsmLines(0);
  constexpr int kSamples = 4000;
  std::atomic<int> done{0}, ok{0};
  std::thread submitter([&] {
    for (int i = 0; i < kSamples; ++i) {
      const auto& line = lines[static_cast<size_t>(i) % lines.size()];
      ASSERT_TRUE((*client)
                      ->Submit(MathSample(std::to_string(i), line.completion, line.gold),
                               [&](v1::Result r) {
                                 ok += r.status() == "ok";
                                 ++done;
                               })
                      .ok());
    }
  });
  while (done.load() < 500) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const Clock::time_point start = Clock::now();
  ASSERT_EQ(kill(a.pid, SIGTERM), 0);
  const int status = WaitExit(a.pid);
  const double drain_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  submitter.join();
  while (done.load() < kSamples) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(drain_seconds, 5.0 + 1.0);  // within --drain-seconds
  EXPECT_EQ(ok.load(), kSamples);
}

TEST_F(ChildTest, NonLoopbackWithoutAuthRefusesToStart) {
  const std::string self = g_self;
  const std::string cmd = self + " --reward-server-child --listen=0.0.0.0:0 2>" +
                          (dir_ / "err.txt").string();
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), cli::kExitUsage);
  std::ifstream in(dir_ / "err.txt");
  std::stringstream err;
  err << in.rdbuf();
  EXPECT_NE(err.str().find("refusing to listen on 0.0.0.0:0"), std::string::npos) << err.str();
}

// --- eval-rewards --server gives the in-process results, line by line ---

TEST(EvalRewardsServerTest, SameLinesAsInProcess) {
  auto registry = std::make_unique<ComponentRegistry>();
  ASSERT_TRUE(RegisterBuiltinComponents(config::RewardConfig(), registry.get()).ok());
  auto server = RewardServer::Start(LoopbackOptions(), registry.get());
  ASSERT_TRUE(server.ok());
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("grpo_eval_server_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto run = [&](const std::string& server_target, const std::string& out) {
    config::Config config;
    auto* job = config.mutable_eval_rewards();
    job->set_input(std::string(GRPO_DATA_DIR) + "/gsm8k_example_model_solutions.jsonl");
    job->set_output(out);
    job->set_answer_field("ground_truth");
    job->set_completion_field("175b_verification.solution");
    job->set_label_field("175b_verification.is_correct");
    job->set_server(server_target);
    // A non-default option, so the params really travel.
    config.mutable_reward()->mutable_math()->set_percent_policy(config::STRICT);
    return cli::RunEvalRewards(config, nullptr);
  };
  auto local = run("", dir + "/local.jsonl");
  auto remote = run(Target(**server), dir + "/remote.jsonl");
  ASSERT_TRUE(local.ok()) << local.status();
  ASSERT_TRUE(remote.ok()) << remote.status();
  std::ifstream a(dir + "/local.jsonl"), b(dir + "/remote.jsonl");
  std::string la, lb;
  int lines = 0;
  while (std::getline(a, la)) {
    ASSERT_TRUE(std::getline(b, lb));
    ASSERT_EQ(la, lb) << "line " << lines + 1;
    ++lines;
  }
  EXPECT_FALSE(std::getline(b, lb));
  EXPECT_EQ(lines, 1319);
  EXPECT_EQ(local->status_counts, remote->status_counts);
  EXPECT_EQ(local->agreed, remote->agreed);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace grpo::reward

int main(int argc, char** argv) {
  grpo::reward::g_self = std::filesystem::canonical("/proc/self/exe").string();
  if (argc > 1 && std::string(argv[1]) == "--reward-server-child") {
    return grpo::cli::RewardServerCommand(std::vector<std::string>(argv + 2, argv + argc));
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
