// The reward server (reward/reward_service.h) through raw gRPC stubs:
// results equal the in-process checker, streams answer out of order by id,
// every malformed case gets its own invalid_argument and the server keeps
// serving, limits (queue, deadlines, message size), auth (token, TLS, mTLS)
// and the drain.
#include "reward/reward_service.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/health.grpc.pb.h"
#include "proto/reward.grpc.pb.h"
#include "reward/math_checker.h"
#include "reward/reward_client.h"
#include "tests/reward_service_test_util.h"

namespace grpo::reward {
namespace {

using testing::GsmLines;
using testing::LoopbackOptions;
using testing::MathSample;
using testing::SleepSample;
using testing::Target;
using testing::TestRegistry;
using Clock = std::chrono::steady_clock;

std::unique_ptr<v1::RewardService::Stub> Stub(const std::string& target) {
  return v1::RewardService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

// Sends `samples` on one stream, returns the results in arrival order.
// A zero `deadline` sets none.
std::vector<v1::Result> Stream(v1::RewardService::Stub* stub, const std::vector<v1::Sample>& samples,
                               grpc::Status* status = nullptr,
                               std::chrono::seconds deadline = std::chrono::seconds(0)) {
  grpc::ClientContext ctx;
  if (deadline.count() > 0) ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  auto stream = stub->ScoreStream(&ctx);
  std::vector<v1::Result> results;
  std::thread reader([&] {
    v1::Result r;
    while (stream->Read(&r)) results.push_back(r);
  });
  for (const v1::Sample& s : samples) stream->Write(s);
  stream->WritesDone();
  reader.join();
  const grpc::Status st = stream->Finish();
  if (status != nullptr) *status = st;
  return results;
}

class ServiceTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options = LoopbackOptions()) {
    auto server = RewardServer::Start(options, registry_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = Stub(Target(*server_));
  }
  void ExpectServing() {
    grpc::ClientContext ctx;
    v1::ScoreRequest request;
    *request.add_samples() = MathSample("alive", "The answer is \\boxed{4}.", "4");
    v1::ScoreResponse response;
    ASSERT_TRUE(stub_->Score(&ctx, request, &response).ok());
    ASSERT_EQ(response.results_size(), 1);
    EXPECT_EQ(response.results(0).status(), "ok");
    EXPECT_EQ(response.results(0).reward(), 1.0);
  }

  std::unique_ptr<ComponentRegistry> registry_ = TestRegistry();
  std::unique_ptr<RewardServer> server_;
  std::unique_ptr<v1::RewardService::Stub> stub_;
};

TEST(LoopbackTest, Addresses) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:50051"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:1"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:50051"));
  EXPECT_TRUE(IsLoopbackAddress("unix:/tmp/x.sock"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:50051"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:50051"));
  EXPECT_FALSE(IsLoopbackAddress("10.1.2.3:50051"));
  EXPECT_FALSE(IsLoopbackAddress("reward.example.com:443"));
}

TEST_F(ServiceTest, ListRewardsNamesParamsAndVersions) {
  Start();
  grpc::ClientContext ctx;
  v1::ListRewardsResponse response;
  ASSERT_TRUE(stub_->ListRewards(&ctx, v1::ListRewardsRequest(), &response).ok());
  std::map<std::string, v1::ComponentInfo> by_name;
  for (const v1::ComponentInfo& c : response.components()) by_name[c.name()] = c;
  for (const char* name : {"math_accuracy", "format", "tag_count", "code_tests", "sleep"}) {
    ASSERT_TRUE(by_name.count(name)) << name;
    EXPECT_FALSE(by_name[name].version().empty()) << name;
  }
  bool has_gold_format = false;
  for (const v1::ParamInfo& p : by_name["math_accuracy"].params()) {
    if (p.name() == "gold_format") {
      has_gold_format = true;
      EXPECT_EQ(p.default_value(), "AUTO");
      EXPECT_NE(p.type().find("GSM8K"), std::string::npos);
    }
  }
  EXPECT_TRUE(has_gold_format);
  EXPECT_EQ(by_name["math_accuracy"].reference(), "math_answer");
}

TEST_F(ServiceTest, HealthIsServing) {
  Start();
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(Target(*server_), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

// Unary batch against the checker called directly: same values, statuses,
// extracted answers, in request order.
TEST_F(ServiceTest, ScoreBatchEqualsInProcessChecker) {
  Start();
  const auto lines = GsmLines(200);
  auto checker = MathChecker::Create(config::MathRewardOptions());
  ASSERT_TRUE(checker.ok());
  v1::ScoreRequest request;
  for (size_t i = 0; i < lines.size(); ++i) {
    *request.add_samples() = MathSample("s" + std::to_string(i), lines[i].completion, lines[i].gold);
    (*request.mutable_samples(static_cast<int>(i))->mutable_components(0)->mutable_params())["gold_format"] = "AUTO";
  }
  grpc::ClientContext ctx;
  v1::ScoreResponse response;
  ASSERT_TRUE(stub_->Score(&ctx, request, &response).ok());
  ASSERT_EQ(response.results_size(), static_cast<int>(lines.size()));
  int correct = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const v1::Result& r = response.results(static_cast<int>(i));
    const RewardResult local = checker->Check(lines[i].completion, lines[i].gold);
    EXPECT_EQ(r.id(), "s" + std::to_string(i));
    ASSERT_EQ(r.status(), "ok") << r.reason();
    ASSERT_EQ(r.components_size(), 1);
    EXPECT_EQ(r.components(0).status(), RewardStatusName(local.status)) << i;
    EXPECT_EQ(r.components(0).value(), local.value) << i;
    EXPECT_EQ(r.components(0).extracted(), local.extracted) << i;
    EXPECT_EQ(r.reward(), local.value);
    EXPECT_GE(r.latency_ms(), 0);
    correct += r.reward() > 0.5;
  }
  EXPECT_GT(correct, 0);
  EXPECT_LT(correct, static_cast<int>(lines.size()));
}

TEST_F(ServiceTest, WeightedComponentsSum) {
  Start();
  v1::Sample s = MathSample("w", "<think>2+2</think> The answer is \\boxed{4}.", "4");
  s.mutable_components(0)->set_weight(1.0);
  v1::Component* format = s.add_components();
  format->set_name("format");
  format->set_weight(0.1);
  const auto results = Stream(stub_.get(), {s});
  ASSERT_EQ(results.size(), 1u);
  ASSERT_EQ(results[0].components_size(), 2);
  EXPECT_EQ(results[0].components(1).value(), 1.0) << results[0].components(1).reason();
  EXPECT_DOUBLE_EQ(results[0].reward(), 1.1);
}

// code_tests through the service: an MBPP-style task, one of two asserts
// passing, scored as the pass fraction. Skipped where no sandbox can be built.
TEST_F(ServiceTest, CodeTestsComponent) {
  Start();
  v1::Sample s;
  s.set_id("code");
  s.set_completion("```python\ndef f(x):\n    return x\n```");
  v1::CodeTests* tests = s.mutable_reference()->mutable_code();
  tests->set_style("mbpp");
  tests->add_asserts("assert f(1) == 1");
  tests->add_asserts("assert f(2) == 3");
  s.add_components()->set_name("code_tests");
  s.mutable_components(0)->set_weight(1);
  const auto results = Stream(stub_.get(), {s});
  ASSERT_EQ(results.size(), 1u);
  ASSERT_EQ(results[0].status(), "ok") << results[0].reason();
  const v1::ComponentResult& c = results[0].components(0);
  if (c.status() == "error" && c.reason().find("sandbox") != std::string::npos) {
    GTEST_SKIP() << "no sandbox here: " << c.reason();
  }
  EXPECT_EQ(c.status(), "ok") << c.reason();
  EXPECT_EQ(c.value(), 0.5);
  EXPECT_EQ(c.extracted(), "fail");
  // A test style the server does not know is invalid_argument.
  tests->set_style("cobol");
  const auto bad = Stream(stub_.get(), {s});
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].status(), "invalid_argument");
  EXPECT_NE(bad[0].reason().find("unknown style"), std::string::npos);
}

// Slow samples first: results come back in a different order than sent,
// each id exactly once.
TEST_F(ServiceTest, StreamAnswersOutOfOrderById) {
  Start(LoopbackOptions(4));
  std::vector<v1::Sample> samples = {SleepSample("slow", 400), SleepSample("mid", 200),
                                     SleepSample("fast", 0)};
  const auto results = Stream(stub_.get(), samples);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].id(), "fast");
  EXPECT_EQ(results[2].id(), "slow");
  std::set<std::string> ids;
  for (const auto& r : results) {
    ids.insert(r.id());
    EXPECT_EQ(r.status(), "ok");
  }
  EXPECT_EQ(ids.size(), 3u);
}

// --- malformed samples: one test per case, on a stream and in a batch ---

struct BadCase {
  const char* name;
  std::function<void(v1::Sample*)> spoil;
  const char* reason;  // a piece of the expected reason
};

class MalformedTest : public ServiceTest, public ::testing::WithParamInterface<BadCase> {};

TEST_P(MalformedTest, AnsweredInvalidArgumentAndServerKeepsServing) {
  ServerOptions options = LoopbackOptions();
  options.limits.max_completion_bytes = 1000;
  Start(options);
  v1::Sample bad = MathSample("bad", "The answer is \\boxed{4}.", "4");
  GetParam().spoil(&bad);
  const std::string bad_id = bad.id();
  // A stream: the bad sample is answered, the stream goes on.
  grpc::Status status;
  const auto results =
      Stream(stub_.get(), {bad, MathSample("good", "The answer is \\boxed{4}.", "4")}, &status);
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(results.size(), 2u);
  for (const v1::Result& r : results) {
    if (r.id() == "good") {
      EXPECT_EQ(r.status(), "ok");
      EXPECT_EQ(r.reward(), 1.0);
    } else {
      EXPECT_EQ(r.id(), bad_id);
      EXPECT_EQ(r.status(), "invalid_argument");
      EXPECT_NE(r.reason().find(GetParam().reason), std::string::npos) << r.reason();
      EXPECT_EQ(r.reward(), 0);
    }
  }
  // A batch: that sample's result carries the error; the call succeeds.
  grpc::ClientContext ctx;
  v1::ScoreRequest request;
  *request.add_samples() = bad;
  v1::ScoreResponse response;
  ASSERT_TRUE(stub_->Score(&ctx, request, &response).ok());
  EXPECT_EQ(response.results(0).status(), "invalid_argument");
  ExpectServing();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedTest,
    ::testing::Values(
        BadCase{"MissingReference", [](v1::Sample* s) { s->clear_reference(); },
                "needs reference.math_answer"},
        BadCase{"UnknownComponent",
                [](v1::Sample* s) { s->mutable_components(0)->set_name("no_such_reward"); },
                "unknown reward component \"no_such_reward\""},
        BadCase{"OversizedCompletion",
                [](v1::Sample* s) { s->set_completion(std::string(5000, 'a')); },
                "completion is 5000 bytes"},
        BadCase{"InvalidUtf8Completion",
                [](v1::Sample* s) { s->set_completion("answer \xC3\x28 \\boxed{4}"); },
                "completion is not valid UTF-8"},
        BadCase{"OverlongUtf8", [](v1::Sample* s) { s->set_completion("\xC0\xAF"); },
                "not valid UTF-8"},
        BadCase{"NoComponents", [](v1::Sample* s) { s->clear_components(); },
                "names no component"},
        BadCase{"EmptyId", [](v1::Sample* s) { s->clear_id(); }, "no id"},
        BadCase{"NonFiniteWeight",
                [](v1::Sample* s) { s->mutable_components(0)->set_weight(std::nan("")); },
                "weight is not finite"},
        BadCase{"UnknownParam",
                [](v1::Sample* s) { (*s->mutable_components(0)->mutable_params())["colour"] = "x"; },
                "unknown param \"colour\""},
        BadCase{"BadParamValue",
                [](v1::Sample* s) {
                  (*s->mutable_components(0)->mutable_params())["gold_format"] = "NOPE";
                },
                "bad param value"},
        BadCase{"TimeoutOverLimit", [](v1::Sample* s) { s->set_timeout_ms(1000000000); },
                "timeout_ms"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

// --- limits ---

TEST_F(ServiceTest, FullQueueIsResourceExhausted) {
  ServerOptions options = LoopbackOptions(1);
  options.queue_capacity = 2;
  Start(options);
  // A batch larger than the queue: the whole call is refused.
  grpc::ClientContext ctx;
  v1::ScoreRequest request;
  for (int i = 0; i < 5; ++i) *request.add_samples() = SleepSample("b" + std::to_string(i), 0);
  v1::ScoreResponse response;
  const grpc::Status status = stub_->Score(&ctx, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // A stream: samples past the queue get resource_exhausted results.
  std::vector<v1::Sample> samples;
  for (int i = 0; i < 8; ++i) samples.push_back(SleepSample("s" + std::to_string(i), 150));
  const auto results = Stream(stub_.get(), samples);
  ASSERT_EQ(results.size(), 8u);
  int exhausted = 0, ok = 0;
  for (const auto& r : results) {
    exhausted += r.status() == "resource_exhausted";
    ok += r.status() == "ok";
  }
  EXPECT_GE(exhausted, 1);
  EXPECT_GE(ok, 2);
  EXPECT_EQ(exhausted + ok, 8);
  ExpectServing();
}

TEST_F(ServiceTest, SamplePastItsDeadlineIsTimeout) {
  Start(LoopbackOptions(1));
  v1::Sample slow = SleepSample("slow", 300);
  slow.set_timeout_ms(100);
  v1::Sample queued = SleepSample("queued", 10);
  queued.set_timeout_ms(150);  // waits behind `slow` on the single worker
  const auto results = Stream(stub_.get(), {slow, queued});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status(), "timeout") << r.id();
    EXPECT_EQ(r.reward(), 0);
  }
  ExpectServing();
}

TEST_F(ServiceTest, CallDeadlineEndsTheCall) {
  Start(LoopbackOptions(1));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  v1::ScoreRequest request;
  *request.add_samples() = SleepSample("slow", 500);
  v1::ScoreResponse response;
  EXPECT_EQ(stub_->Score(&ctx, request, &response).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  ExpectServing();
}

TEST_F(ServiceTest, OversizedMessageIsRefused) {
  ServerOptions options = LoopbackOptions();
  options.max_message_bytes = 64 * 1024;
  Start(options);
  grpc::ClientContext ctx;
  v1::ScoreRequest request;
  *request.add_samples() = MathSample("big", std::string(100 * 1024, 'x'), "1");
  v1::ScoreResponse response;
  EXPECT_EQ(stub_->Score(&ctx, request, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  ExpectServing();
}

TEST_F(ServiceTest, BatchOverTheLimitIsInvalidArgument) {
  ServerOptions options = LoopbackOptions();
  options.max_batch = 3;
  Start(options);
  grpc::ClientContext ctx;
  v1::ScoreRequest request;
  for (int i = 0; i < 4; ++i) *request.add_samples() = SleepSample(std::to_string(i), 0);
  v1::ScoreResponse response;
  EXPECT_EQ(stub_->Score(&ctx, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// The drain: samples a stream has handed to the workers when Shutdown starts
// still get their results, and the stream ends OK well inside the grace.
TEST_F(ServiceTest, ShutdownDrainsInFlightStreams) {
  Start(LoopbackOptions(4));
  std::vector<v1::Sample> samples;
  for (int i = 0; i < 4; ++i) samples.push_back(SleepSample(std::to_string(i), 300));
  std::vector<v1::Result> results;
  grpc::Status status;
  const int started_before = testing::SleepsStarted().load();
  std::thread client([&] { results = Stream(stub_.get(), samples, &status); });
  const auto give_up = Clock::now() + std::chrono::seconds(20);
  while (testing::SleepsStarted().load() - started_before < 4 && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(testing::SleepsStarted().load() - started_before, 4) << "the samples never reached the workers";
  const auto shutdown_start = Clock::now();
  server_->Shutdown(absl::Seconds(10));
  EXPECT_LT(Clock::now() - shutdown_start, std::chrono::seconds(5));
  client.join();
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(results.size(), 4u);
  for (const auto& r : results) EXPECT_EQ(r.status(), "ok");
}

// A shutdown racing a stream that is still connecting, sending or being
// scored: whatever the interleaving, Shutdown returns without waiting out its
// grace, and the client sees OK (with an "ok" result per sample it got),
// UNAVAILABLE (GOAWAY) or CANCELLED (the call reached a server already
// shutting down), never a hang. Found a stream that hung on its last results.
TEST(ServerShutdownTest, RacingAStreamNeverWaitsOutTheGrace) {
  auto registry = TestRegistry();
  for (int iteration = 0; iteration < 150; ++iteration) {
    auto server = RewardServer::Start(LoopbackOptions(2), registry.get());
    ASSERT_TRUE(server.ok()) << server.status();
    auto stub = Stub(Target(**server));
    std::vector<v1::Sample> samples;
    for (int i = 0; i < 4; ++i) samples.push_back(SleepSample(std::to_string(i), iteration % 3 * 5));
    std::vector<v1::Result> results;
    grpc::Status status;
    std::thread client([&] { results = Stream(stub.get(), samples, &status); });
    std::this_thread::sleep_for(std::chrono::microseconds(iteration * 997 % 15000));
    const auto shutdown_start = Clock::now();
    (*server)->Shutdown(absl::Seconds(20));
    const auto took = Clock::now() - shutdown_start;
    client.join();
    ASSERT_LT(took, std::chrono::seconds(5)) << "iteration " << iteration;
    ASSERT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                status.error_code() == grpc::StatusCode::CANCELLED)
        << "iteration " << iteration << ": " << status.error_code() << " " << status.error_message();
    for (const auto& r : results) EXPECT_EQ(r.status(), "ok") << "iteration " << iteration;
  }
}

// Every result of a stream ready at once, after the client has half-closed:
// each goes out and the stream ends (a write left waiting for a flush that
// nothing triggers would hang it until the deadline). A fresh connection per
// stream, as the hang needed one.
TEST_F(ServiceTest, StreamsEndWhenAllTheirResultsAreReadyAtOnce) {
  Start(LoopbackOptions(2));
  std::vector<v1::Sample> samples;
  for (int i = 0; i < 4; ++i) samples.push_back(SleepSample(std::to_string(i), 0));
  for (int iteration = 0; iteration < 600; ++iteration) {
    grpc::Status status;
    const auto results = Stream(Stub(Target(*server_)).get(), samples, &status, std::chrono::seconds(10));
    ASSERT_TRUE(status.ok()) << "iteration " << iteration << ": " << status.error_message();
    ASSERT_EQ(results.size(), 4u) << "iteration " << iteration;
  }
}

// --- auth ---

TEST(ServerStartTest, NonLoopbackWithoutTlsOrTokenIsRefused) {
  auto registry = TestRegistry();
  ServerOptions options = LoopbackOptions();
  options.listen = "0.0.0.0:0";
  auto server = RewardServer::Start(options, registry.get());
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(server.status().message().find("refusing to listen on 0.0.0.0:0"), std::string::npos);
  options.bearer_token = "s3cret";
  server = RewardServer::Start(options, registry.get());
  EXPECT_TRUE(server.ok()) << server.status();
}

TEST(ServerStartTest, BusyPortIsUnavailable) {
  auto registry = TestRegistry();
  auto first = RewardServer::Start(LoopbackOptions(), registry.get());
  ASSERT_TRUE(first.ok());
  ServerOptions options = LoopbackOptions();
  options.listen = Target(**first);
  auto second = RewardServer::Start(options, registry.get());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ServiceTest, BearerToken) {
  ServerOptions options = LoopbackOptions();
  options.listen = "0.0.0.0:0";
  options.bearer_token = "s3cret";
  Start(options);
  auto call = [&](const char* token) {
    grpc::ClientContext ctx;
    if (token != nullptr) ctx.AddMetadata("authorization", std::string("Bearer ") + token);
    v1::ScoreRequest request;
    *request.add_samples() = SleepSample("t", 0);
    v1::ScoreResponse response;
    return stub_->Score(&ctx, request, &response).error_code();
  };
  EXPECT_EQ(call(nullptr), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("wrong"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("s3cret"), grpc::StatusCode::OK);
  grpc::Status status;
  Stream(stub_.get(), {SleepSample("t", 0)}, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext ctx;
  v1::ListRewardsResponse list;
  EXPECT_EQ(stub_->ListRewards(&ctx, v1::ListRewardsRequest(), &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // The client library sends the token.
  ClientOptions client_options;
  client_options.target = Target(*server_);
  client_options.bearer_token = "s3cret";
  auto client = RewardClient::Create(client_options);
  ASSERT_TRUE(client.ok());
  auto results = (*client)->ScoreAll({SleepSample("c", 0)});
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].status(), "ok");
}

// --- TLS, with certificates made by openssl in a temp dir ---

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("openssl version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl";
    dir_ = std::filesystem::temp_directory_path() /
           ("grpo_tls_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    for (const char* who : {"server", "client"}) {
      const std::string cmd =
          "cd " + dir_.string() + " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" +
          who + " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " + who +
          ".key -out " + who + ".crt > /dev/null 2>&1";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  absl::StatusOr<std::vector<v1::Result>> Score(int port, bool tls, bool client_cert) {
    ClientOptions options;
    options.target = "127.0.0.1:" + std::to_string(port);
    options.per_sample_timeout = absl::Seconds(3);
    options.tls = tls;
    options.tls_root_pem = Read("server.crt");
    if (client_cert) {
      options.tls_cert_pem = Read("client.crt");
      options.tls_key_pem = Read("client.key");
    }
    auto client = RewardClient::Create(options);
    if (!client.ok()) return client.status();
    return (*client)->ScoreAll({MathSample("t", "\\boxed{1}", "1")});
  }
  std::filesystem::path dir_;
  std::unique_ptr<ComponentRegistry> registry_ = TestRegistry();
};

TEST_F(TlsTest, ServerCertificate) {
  ServerOptions options = LoopbackOptions();
  options.listen = "0.0.0.0:0";  // allowed: TLS
  options.tls_cert_pem = Read("server.crt");
  options.tls_key_pem = Read("server.key");
  auto server = RewardServer::Start(options, registry_.get());
  ASSERT_TRUE(server.ok()) << server.status();
  auto results = Score((*server)->port(), /*tls=*/true, false);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].status(), "ok") << (*results)[0].reason();
  // Plain text against a TLS server: no answer, so the client times out.
  results = Score((*server)->port(), /*tls=*/false, false);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].status(), "timeout");
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificate) {
  ServerOptions options = LoopbackOptions();
  options.tls_cert_pem = Read("server.crt");
  options.tls_key_pem = Read("server.key");
  options.tls_client_ca_pem = Read("client.crt");
  auto server = RewardServer::Start(options, registry_.get());
  ASSERT_TRUE(server.ok()) << server.status();
  auto results = Score((*server)->port(), true, /*client_cert=*/true);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].status(), "ok") << (*results)[0].reason();
  results = Score((*server)->port(), true, /*client_cert=*/false);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].status(), "timeout");
}

}  // namespace
}  // namespace grpo::reward
