// Hung components (docs/reward_service.md, "Hung components"): a component
// that does not return is cut off at its sample's deadline. The sample is
// answered "timeout", the other samples of its batch or stream are answered
// as usual, and the stuck worker is replaced, so the pool keeps serving.
// Also the WorkQueue's watchdog on its own.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/reward.grpc.pb.h"
#include "reward/reward_service.h"
#include "reward/work_queue.h"
#include "tests/reward_service_test_util.h"

namespace grpo::reward {
namespace {

using Clock = std::chrono::steady_clock;
using testing::LoopbackOptions;
using testing::MathSample;
using testing::Target;
using testing::TestRegistry;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// "spin": burns CPU until released (at most 30 s), as a checker stuck in a
// loop would; it does not look at its deadline.
class SpinComponent : public RewardComponent {
 public:
  const ComponentInfo& info() const override { return info_; }
  absl::Status Validate(const ComponentInput&, const ComponentParams&) const override {
    return absl::OkStatus();
  }
  RewardResult Score(const ComponentInput&, const ComponentParams&) const override {
    running_.fetch_add(1);
    const Clock::time_point start = Clock::now();
    while (!released_.load(std::memory_order_relaxed) && SecondsSince(start) < 30) {
    }
    running_.fetch_sub(1);
    RewardResult r;
    r.status = RewardStatus::kOk;
    r.value = 1;
    return r;
  }
  void Release() { released_.store(true); }
  // Waits until no call is spinning any more.
  bool WaitStopped(double seconds) const {
    const Clock::time_point start = Clock::now();
    while (running_.load() > 0 && SecondsSince(start) < seconds) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return running_.load() == 0;
  }

 private:
  ComponentInfo info_{"spin", "test", "spins until released", "none", {}};
  mutable std::atomic<int> running_{0};
  std::atomic<bool> released_{false};
};

v1::Sample SpinSample(const std::string& id, int timeout_ms) {
  v1::Sample s;
  s.set_id(id);
  s.set_completion("x");
  s.set_timeout_ms(static_cast<uint32_t>(timeout_ms));
  v1::Component* c = s.add_components();
  c->set_name("spin");
  c->set_weight(1.0);
  return s;
}

class HungTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto spin = std::make_unique<SpinComponent>();
    spin_ = spin.get();
    ASSERT_TRUE(registry_->Register(std::move(spin)).ok());
    ServerOptions options = LoopbackOptions(1);  // one worker: a stuck one would stop everything
    options.hung_grace = std::chrono::milliseconds(50);
    auto server = RewardServer::Start(options, registry_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::RewardService::NewStub(
        grpc::CreateChannel(Target(*server_), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    // The abandoned workers are still spinning in the registry's component.
    spin_->Release();
    EXPECT_TRUE(spin_->WaitStopped(10));
    server_.reset();
  }

  std::unique_ptr<ComponentRegistry> registry_ = TestRegistry();
  SpinComponent* spin_ = nullptr;
  std::unique_ptr<RewardServer> server_;
  std::unique_ptr<v1::RewardService::Stub> stub_;
};

TEST_F(HungTest, BatchAnswersTheHungSampleTimeoutAndTheRestOk) {
  v1::ScoreRequest request;
  *request.add_samples() = MathSample("before", "The answer is \\boxed{4}.", "4");
  *request.add_samples() = SpinSample("stuck", 200);
  for (int i = 0; i < 3; ++i) {
    *request.add_samples() = MathSample("after" + std::to_string(i), "\\boxed{7}", "7");
  }
  grpc::ClientContext ctx;
  v1::ScoreResponse response;
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(stub_->Score(&ctx, request, &response).ok());
  const double seconds = SecondsSince(start);
  EXPECT_GE(seconds, 0.2);  // not before the deadline
  EXPECT_LT(seconds, 5.0);  // the component spins for 30 s
  ASSERT_EQ(response.results_size(), 5);
  EXPECT_EQ(response.results(1).id(), "stuck");
  EXPECT_EQ(response.results(1).status(), "timeout");
  EXPECT_NE(response.results(1).reason().find("abandoned"), std::string::npos)
      << response.results(1).reason();
  EXPECT_EQ(response.results(1).reward(), 0);
  for (int i : {0, 2, 3, 4}) {
    EXPECT_EQ(response.results(i).status(), "ok") << response.results(i).id();
    EXPECT_EQ(response.results(i).reward(), 1.0) << response.results(i).id();
  }
  EXPECT_EQ(server_->abandoned_workers(), 1);
}

TEST_F(HungTest, StreamGoesOnAndThePoolIsNotStarved) {
  grpc::ClientContext ctx;
  auto stream = stub_->ScoreStream(&ctx);
  // Two hung samples in a row on the single worker, then ordinary ones.
  ASSERT_TRUE(stream->Write(SpinSample("stuck1", 150)));
  ASSERT_TRUE(stream->Write(SpinSample("stuck2", 400)));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(stream->Write(MathSample("m" + std::to_string(i), "\\boxed{5}", "5")));
  }
  stream->WritesDone();
  int timeouts = 0, ok = 0;
  v1::Result r;
  while (stream->Read(&r)) {
    if (r.id().rfind("stuck", 0) == 0) {
      EXPECT_EQ(r.status(), "timeout") << r.id();
      ++timeouts;
    } else {
      EXPECT_EQ(r.status(), "ok") << r.id() << ": " << r.reason();
      ++ok;
    }
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(timeouts, 2);
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(server_->abandoned_workers(), 2);
  // Two workers are stuck for 30 s; a fresh call is answered at once.
  grpc::ClientContext ctx2;
  ctx2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ScoreRequest request;
  *request.add_samples() = MathSample("later", "\\boxed{3}", "3");
  v1::ScoreResponse response;
  ASSERT_TRUE(stub_->Score(&ctx2, request, &response).ok());
  EXPECT_EQ(response.results(0).status(), "ok");
}

// The queue alone: the overdue callback runs once, the replacement worker
// runs the next task, and a task that returns in time is not answered twice.
TEST(WorkQueueWatchdogTest, OverdueTaskIsAnsweredOnceAndReplaced) {
  WorkQueueOptions options;
  options.threads = 1;
  options.capacity = 8;
  options.overdue_grace = std::chrono::milliseconds(20);
  WorkQueue queue(options);
  std::atomic<bool> release{false};
  std::atomic<int> overdue{0}, on_time{0}, late_returned{0}, next_ran{0};
  ASSERT_TRUE(queue.TrySubmit([&] {
    WorkQueue::Watch(Clock::now() + std::chrono::milliseconds(50), [&] { overdue.fetch_add(1); });
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!WorkQueue::Unwatch()) late_returned.fetch_add(1);
  }));
  ASSERT_TRUE(queue.TrySubmit([&] {
    WorkQueue::Watch(Clock::now() + std::chrono::seconds(10), [&] { overdue.fetch_add(100); });
    if (WorkQueue::Unwatch()) on_time.fetch_add(1);
    next_ran.fetch_add(1);
  }));
  const Clock::time_point start = Clock::now();
  while (next_ran.load() == 0 && SecondsSince(start) < 5) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(next_ran.load(), 1);  // on the replacement worker
  EXPECT_EQ(overdue.load(), 1);
  EXPECT_EQ(on_time.load(), 1);
  EXPECT_EQ(queue.abandoned(), 1);
  release.store(true);
  while (late_returned.load() == 0 && SecondsSince(start) < 5) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  queue.Shutdown();
  EXPECT_EQ(late_returned.load(), 1);  // the stuck task learnt it had been answered for
}

}  // namespace
}  // namespace grpo::reward
