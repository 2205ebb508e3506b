// Helpers shared by the reward service, client and load tests: a registry
// with the built-ins plus test-only components, in-process servers, and
// math samples from the shipped GSM8K data.
#ifndef GRPO_TESTS_REWARD_SERVICE_TEST_UTIL_H_
#define GRPO_TESTS_REWARD_SERVICE_TEST_UTIL_H_

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "reward/reward_registry.h"
#include "reward/reward_service.h"

namespace grpo::reward::testing {

// How many "sleep" samples have begun scoring in this process: a test waits
// on it to know its samples reached the workers.
inline std::atomic<int>& SleepsStarted() {
  static std::atomic<int> started{0};
  return started;
}

// "sleep": sleeps params["ms"] (default 100) milliseconds, then scores 1.
class SleepComponent : public RewardComponent {
 public:
  const ComponentInfo& info() const override { return info_; }
  absl::Status Validate(const ComponentInput&, const ComponentParams& params) const override {
    auto it = params.find("ms");
    if (it != params.end() && std::atoi(it->second.c_str()) < 0) {
      return absl::InvalidArgumentError("sleep: ms < 0");
    }
    return absl::OkStatus();
  }
  RewardResult Score(const ComponentInput&, const ComponentParams& params) const override {
    SleepsStarted().fetch_add(1);
    auto it = params.find("ms");
    std::this_thread::sleep_for(
        std::chrono::milliseconds(it == params.end() ? 100 : std::atoi(it->second.c_str())));
    RewardResult r;
    r.status = RewardStatus::kOk;
    r.value = 1;
    return r;
  }

 private:
  ComponentInfo info_{"sleep", "test", "sleeps params.ms, then 1", "none", {{"ms", "int32", "100"}}};
};

inline std::unique_ptr<ComponentRegistry> TestRegistry() {
  auto registry = std::make_unique<ComponentRegistry>();
  EXPECT_TRUE(RegisterBuiltinComponents(config::RewardConfig(), registry.get()).ok());
  EXPECT_TRUE(registry->Register(std::make_unique<SleepComponent>()).ok());
  return registry;
}

inline ServerOptions LoopbackOptions(int threads = 2) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.threads = threads;
  return options;
}

inline std::string Target(const RewardServer& server) {
  return "127.0.0.1:" + std::to_string(server.port());
}

// A test with its own loopback reward server (the test registry, 1 worker).
class LoopbackServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = TestRegistry();
    auto server = RewardServer::Start(LoopbackOptions(1), registry_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    target_ = Target(*server_);
  }
  void TearDown() override { server_->Shutdown(absl::ZeroDuration()); }  // after a test's own Shutdown too

  std::unique_ptr<ComponentRegistry> registry_;
  std::unique_ptr<RewardServer> server_;
  std::string target_;
};

inline v1::Sample MathSample(const std::string& id, const std::string& completion,
                             const std::string& gold) {
  v1::Sample s;
  s.set_id(id);
  s.set_completion(completion);
  s.mutable_reference()->set_math_answer(gold);
  v1::Component* c = s.add_components();
  c->set_name("math_accuracy");
  c->set_weight(1.0);
  return s;
}

inline v1::Sample SleepSample(const std::string& id, int ms) {
  v1::Sample s;
  s.set_id(id);
  s.set_completion("x");
  v1::Component* c = s.add_components();
  c->set_name("sleep");
  c->set_weight(1.0);
  (*c->mutable_params())["ms"] = std::to_string(ms);
  return s;
}

struct GsmLine {
  std::string completion;
  std::string gold;
  bool label = false;
};

// The labelled GSM8K model solutions (data/), `limit` of them (0: all).
inline std::vector<GsmLine> GsmLines(size_t limit = 0) {
  std::vector<GsmLine> lines;
  std::ifstream in(std::string(GRPO_DATA_DIR) + "/gsm8k_example_model_solutions.jsonl");
  std::string raw;
  while (std::getline(in, raw) && (limit == 0 || lines.size() < limit)) {
    const nlohmann::json j = nlohmann::json::parse(raw);
    lines.push_back({j["175b_verification"]["solution"].get<std::string>(),
                     j["ground_truth"].get<std::string>(),
                     j["175b_verification"]["is_correct"].get<bool>()});
  }
  return lines;
}

}  // namespace grpo::reward::testing

#endif  // GRPO_TESTS_REWARD_SERVICE_TEST_UTIL_H_
