// Remote rewards (reward/remote_component.h): components forwarded to
// another RewardService — an in-process C++ server (always), and the Python
// example server of examples/python_reward (skipped when grpcio is missing).
#include "reward/remote_component.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "reward/reward_client.h"
#include "tests/child_process_util.h"
#include "tests/reward_service_test_util.h"

namespace grpo::reward {
namespace {

using testing::LoopbackOptions;
using testing::Target;

// A server whose registry has only remote components, and a client of it.
struct Forwarder {
  absl::Status Add(const std::string& name, const std::string& address) {
    RemoteComponentOptions options{name, address, absl::Seconds(5)};
    absl::StatusOr<std::unique_ptr<RewardComponent>> c = ConnectRemoteComponent(options);
    if (!c.ok()) return c.status();
    return registry.Register(std::move(*c));
  }
  void Start() {
    auto started = RewardServer::Start(LoopbackOptions(), &registry);
    ASSERT_TRUE(started.ok()) << started.status();
    server = std::move(*started);
    ClientOptions options;
    options.target = Target(*server);
    options.per_sample_timeout = absl::Seconds(20);
    client = std::move(*RewardClient::Create(options));
  }
  std::vector<v1::Result> Score(const std::vector<v1::Sample>& samples) {
    return Score(*client, samples);
  }
  static std::vector<v1::Result> Score(RewardClient& client, const std::vector<v1::Sample>& samples) {
    v1::ScoreRequest request;
    for (const v1::Sample& s : samples) *request.add_samples() = s;
    absl::StatusOr<v1::ScoreResponse> response = client.ScoreBatch(request);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return {};
    return {response->results().begin(), response->results().end()};
  }
  ComponentRegistry registry;
  std::unique_ptr<RewardServer> server;
  std::unique_ptr<RewardClient> client;
};

struct Backend {
  Backend() {
    registry = testing::TestRegistry();
    server = std::move(*RewardServer::Start(LoopbackOptions(), registry.get()));
    ClientOptions options;
    options.target = Target(*server);
    client = std::move(*RewardClient::Create(options));
  }
  std::unique_ptr<ComponentRegistry> registry;
  std::unique_ptr<RewardServer> server;
  std::unique_ptr<RewardClient> client;
};

TEST(RemoteComponentTest, ForwardedResultsEqualTheBackendsOwn) {
  Backend backend;
  Forwarder forwarder;
  ASSERT_TRUE(forwarder.Add("math_accuracy", Target(*backend.server)).ok());
  ASSERT_TRUE(forwarder.Add("repetition", Target(*backend.server)).ok());
  forwarder.Start();

  std::vector<v1::Sample> samples;
  int i = 0;
  for (const testing::GsmLine& line : testing::GsmLines(40)) {
    v1::Sample s = testing::MathSample(std::to_string(i++), line.completion, line.gold);
    v1::Component* rep = s.add_components();
    rep->set_name("repetition");
    rep->set_weight(0.5);
    (*rep->mutable_params())["ngram_size"] = "2";
    samples.push_back(s);
  }
  const std::vector<v1::Result> direct = Forwarder::Score(*backend.client, samples);
  const std::vector<v1::Result> forwarded = forwarder.Score(samples);
  ASSERT_EQ(direct.size(), samples.size());
  ASSERT_EQ(forwarded.size(), samples.size());
  int correct = 0;
  for (size_t k = 0; k < samples.size(); ++k) {
    EXPECT_EQ(forwarded[k].status(), "ok") << forwarded[k].reason();
    EXPECT_EQ(forwarded[k].reward(), direct[k].reward()) << k;
    ASSERT_EQ(forwarded[k].components_size(), 2);
    for (int c = 0; c < 2; ++c) {
      EXPECT_EQ(forwarded[k].components(c).value(), direct[k].components(c).value());
      EXPECT_EQ(forwarded[k].components(c).status(), direct[k].components(c).status());
      EXPECT_EQ(forwarded[k].components(c).extracted(), direct[k].components(c).extracted());
    }
    correct += forwarded[k].components(0).value() == 1.0;
  }
  EXPECT_GT(correct, 0);  // not a run of zeros

  // The remote's info is listed, its params checked here.
  v1::Sample bad = samples[0];
  (*bad.mutable_components(0)->mutable_params())["no_such_param"] = "1";
  EXPECT_EQ(forwarder.Score({bad})[0].status(), "invalid_argument");
  v1::Sample no_gold = samples[0];
  no_gold.clear_reference();
  EXPECT_EQ(forwarder.Score({no_gold})[0].status(), "invalid_argument");
}

TEST(RemoteComponentTest, DeadlinesAndADeadRemote) {
  auto backend = std::make_unique<Backend>();
  const std::string address = Target(*backend->server);
  Forwarder forwarder;
  ASSERT_TRUE(forwarder.Add("sleep", address).ok());
  forwarder.Start();

  v1::Sample slow = testing::SleepSample("slow", 1500);
  slow.set_timeout_ms(300);
  const v1::Result timed_out = forwarder.Score({slow})[0];
  EXPECT_EQ(timed_out.status(), "timeout");
  ASSERT_EQ(timed_out.components_size(), 1);
  EXPECT_EQ(timed_out.components(0).status(), "timeout");

  EXPECT_EQ(forwarder.Score({testing::SleepSample("quick", 1)})[0].reward(), 1.0);

  backend.reset();  // the remote goes away: errors, and this server keeps serving
  const v1::Result gone = forwarder.Score({testing::SleepSample("gone", 1)})[0];
  EXPECT_EQ(gone.status(), "ok");
  EXPECT_EQ(gone.components(0).status(), "error");
  EXPECT_NE(gone.components(0).reason().find(address), std::string::npos)
      << gone.components(0).reason();
  EXPECT_TRUE(*forwarder.client->Healthy());
}

TEST(RemoteComponentTest, ConnectErrors) {
  Backend backend;
  auto missing = ConnectRemoteComponent({"nope", Target(*backend.server), absl::Seconds(5)});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("it serves: code_tests, format"), std::string_view::npos)
      << missing.status();
  auto down = ConnectRemoteComponent({"x", "127.0.0.1:1", absl::Milliseconds(300)});
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(down.status().message().find("127.0.0.1:1"), std::string_view::npos);
  EXPECT_FALSE(ParseRemoteReward("no_equals").ok());
  EXPECT_FALSE(ParseRemoteReward("=127.0.0.1:5").ok());
  auto parsed = ParseRemoteReward("kw=127.0.0.1:50061");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->name, "kw");
  EXPECT_EQ(parsed->address, "127.0.0.1:50061");
}

// ------------------------------------------------- the Python example server --

int Shell(const std::string& command) { return std::system(command.c_str()); }

TEST(PythonRewardServerTest, ForwardsToThePythonExample) {
  if (Shell("python3 -c 'import grpc, grpc_tools' 2>/dev/null") != 0) {
    GTEST_SKIP() << "python3 with grpcio and grpcio-tools is not available "
                    "(python3 -m pip install grpcio grpcio-tools); the Python example is untested";
  }
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("grpo_python_reward_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string stubs = (dir / "gen").string();
  std::filesystem::create_directories(stubs);
  ASSERT_EQ(Shell("python3 -m grpc_tools.protoc -I " GRPO_SOURCE_DIR "/proto --python_out=" + stubs +
                " --grpc_python_out=" + stubs + " " GRPO_SOURCE_DIR "/proto/reward.proto"),
            0);
  const std::string port_file = (dir / "port").string();
  const testing::ReadyChild python = testing::SpawnUntilReady(
      {"python3", GRPO_SOURCE_DIR "/examples/python_reward/reward_server.py", "--port=0",
       "--port-file=" + port_file},
      {"GRPO_REWARD_STUBS=" + stubs}, port_file, std::chrono::seconds(15));
  ASSERT_NE(python.pid, 0) << "the Python server did not start";
  const std::string& port = python.line;

  Forwarder forwarder;
  const absl::Status added = forwarder.Add("keyword_match", "127.0.0.1:" + port);
  if (added.ok()) {
    forwarder.Start();
    auto sample = [](const std::string& id, const std::string& completion, const std::string& json) {
      v1::Sample s;
      s.set_id(id);
      s.set_completion(completion);
      s.mutable_reference()->set_json(json);
      v1::Component* c = s.add_components();
      c->set_name("keyword_match");
      c->set_weight(2.0);
      return s;
    };
    v1::Sample sensitive = sample("c", "Paris is in France", R"({"keywords": ["paris", "France"]})");
    (*sensitive.mutable_components(0)->mutable_params())["case_sensitive"] = "true";
    const std::vector<v1::Result> r = forwarder.Score({
        sample("a", "Paris is in France", R"({"keywords": ["paris", "france", "Lyon", "Seine"]})"),
        sample("b", "anything", "not json"), sensitive});
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].status(), "ok") << r[0].reason();
    EXPECT_EQ(r[0].components(0).value(), 0.5);
    EXPECT_EQ(r[0].reward(), 1.0);  // weight 2
    EXPECT_EQ(r[0].components(0).reason(), "2 of 4 keywords");
    EXPECT_EQ(r[1].components(0).status(), "unparseable_gold");
    EXPECT_EQ(r[2].components(0).value(), 0.5);
    // The Python server's declared params are checked here.
    v1::Sample bad = sample("d", "x", R"({"keywords": ["x"]})");
    (*bad.mutable_components(0)->mutable_params())["case_sensitive"] = "maybe";
    EXPECT_EQ(forwarder.Score({bad})[0].status(), "invalid_argument");
  }
  testing::StopChild(python.pid);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(added.ok()) << added;
}

}  // namespace
}  // namespace grpo::reward
