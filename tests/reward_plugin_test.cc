// Reward plugins (reward/reward_plugin.h, reward/plugin_host.h): the example
// plugin in-process and through the service, load errors naming the file,
// and isolated mode surviving a plugin that segfaults, aborts or hangs.
#include "reward/reward_plugin.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "reward/plugin_host.h"
#include "reward/reward_client.h"
#include "tests/child_process_util.h"
#include "tests/reward_service_test_util.h"

namespace grpo::reward {
namespace {

using testing::LoopbackOptions;
using testing::Target;

RewardResult ScoreDirect(const RewardComponent& c, std::string_view completion,
                         std::string_view gold, const ComponentParams& params = {}) {
  ComponentInput input;
  input.id = "t";
  input.completion = completion;
  input.reference = ReferenceKind::kMathAnswer;
  input.math_answer = gold;
  EXPECT_TRUE(c.Validate(input, params).ok()) << c.Validate(input, params);
  return c.Score(input, params);
}

v1::Sample PluginSample(const std::string& id, const std::string& component,
                        const std::string& completion, const std::string& gold = "") {
  v1::Sample s;
  s.set_id(id);
  s.set_completion(completion);
  if (!gold.empty()) s.mutable_reference()->set_math_answer(gold);
  v1::Component* c = s.add_components();
  c->set_name(component);
  c->set_weight(1.0);
  return s;
}

// The server and a client over loopback, with `component` registered.
struct Served {
  explicit Served(std::unique_ptr<RewardComponent> component) {
    registry = testing::TestRegistry();
    EXPECT_TRUE(registry->Register(std::move(component)).ok());
    auto started = RewardServer::Start(LoopbackOptions(), registry.get());
    EXPECT_TRUE(started.ok()) << started.status();
    server = std::move(*started);
    ClientOptions options;
    options.target = Target(*server);
    options.per_sample_timeout = absl::Seconds(20);
    client = std::move(*RewardClient::Create(options));
  }
  v1::Result Score(v1::Sample sample) {
    v1::ScoreRequest request;
    *request.add_samples() = std::move(sample);
    absl::StatusOr<v1::ScoreResponse> response = client->ScoreBatch(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->results(0) : v1::Result();
  }
  std::unique_ptr<ComponentRegistry> registry;
  std::unique_ptr<RewardServer> server;
  std::unique_ptr<RewardClient> client;
};

// ----------------------------------------------------- the example plugin --

// "\boxed{4}" is 9 characters: with max_len 18 progress is 0.5, cos = 0, so
// the reward is the midpoint of its range; at max_len 9, the low end.
TEST(CosinePluginTest, HandComputedValues) {
  auto plugin = LoadPlugin(COSINE_PLUGIN_PATH, PluginOptions{});
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  const RewardComponent& c = **plugin;
  EXPECT_EQ(c.info().name, "cosine_accuracy");
  EXPECT_EQ(c.info().version, "1.0.0");
  EXPECT_EQ(c.info().reference, "math_answer");
  EXPECT_NEAR(ScoreDirect(c, "\\boxed{4}", "4", {{"max_len", "18"}}).value, 0.75, 1e-12);
  EXPECT_NEAR(ScoreDirect(c, "\\boxed{5}", "4", {{"max_len", "18"}}).value, -0.75, 1e-12);
  EXPECT_NEAR(ScoreDirect(c, "\\boxed{4}", "4", {{"max_len", "9"}}).value, 0.5, 1e-12);
  EXPECT_NEAR(ScoreDirect(c, "\\boxed{5}", "4", {{"max_len", "9"}}).value, -0.5, 1e-12);
  // Default max_len 1000: progress 0.009.
  EXPECT_NEAR(ScoreDirect(c, "\\boxed{4}", " 4 ").value,
              0.5 + 0.25 * (1 + std::cos(0.009 * M_PI)), 1e-12);
  const RewardResult none = ScoreDirect(c, "four", "4");
  EXPECT_EQ(none.status, RewardStatus::kNoAnswer);
  EXPECT_EQ(none.value, 0.0);
  EXPECT_EQ(ScoreDirect(c, "\\boxed{4}", "4").extracted, "4");
}

TEST(CosinePluginTest, ThroughTheService) {
  auto plugin = LoadPlugin(COSINE_PLUGIN_PATH, PluginOptions{});
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  Served served(std::move(*plugin));
  v1::Sample sample = PluginSample("a", "cosine_accuracy", "\\boxed{4}", "4");
  (*sample.mutable_components(0)->mutable_params())["max_len"] = "18";
  v1::Component* length = sample.add_components();
  length->set_name("length");
  length->set_weight(0.5);
  (*length->mutable_params())["max_length"] = "10";
  (*length->mutable_params())["cache_length"] = "4";  // 9 chars: -0.75
  const v1::Result r = served.Score(sample);
  EXPECT_EQ(r.status(), "ok") << r.reason();
  ASSERT_EQ(r.components_size(), 2);
  EXPECT_NEAR(r.components(0).value(), 0.75, 1e-12);
  EXPECT_NEAR(r.reward(), 0.75 - 0.5 * 0.75, 1e-12);

  // A param the plugin does not declare, or of the wrong type: invalid_argument.
  v1::Sample bad = PluginSample("b", "cosine_accuracy", "\\boxed{4}", "4");
  (*bad.mutable_components(0)->mutable_params())["max_len"] = "long";
  EXPECT_EQ(served.Score(bad).status(), "invalid_argument");
  // No gold: the plugin reads math_answer.
  const v1::Result no_gold = served.Score(PluginSample("c", "cosine_accuracy", "\\boxed{4}"));
  EXPECT_EQ(no_gold.status(), "invalid_argument");
  EXPECT_NE(no_gold.reason().find("reference.math_answer"), std::string::npos) << no_gold.reason();

  absl::StatusOr<v1::ListRewardsResponse> list = served.client->ListRewards();
  ASSERT_TRUE(list.ok());
  bool listed = false;
  for (const v1::ComponentInfo& info : list->components()) {
    if (info.name() != "cosine_accuracy") continue;
    listed = true;
    EXPECT_EQ(info.version(), "1.0.0");
    ASSERT_EQ(info.params_size(), 5);
    EXPECT_EQ(info.params(0).name(), "max_len");
    EXPECT_EQ(info.params(0).default_value(), "1000");
  }
  EXPECT_TRUE(listed);
}

// ------------------------------------------------------------ load errors --

class LoadErrorTest : public ::testing::TestWithParam<bool> {
 protected:
  PluginOptions Options() const {
    PluginOptions options;
    options.isolated = GetParam();
    return options;
  }
};

TEST_P(LoadErrorTest, AbiMismatchNamesTheFile) {
  auto plugin = LoadPlugin(BAD_ABI_PLUGIN_PATH, Options());
  ASSERT_FALSE(plugin.ok());
  EXPECT_EQ(plugin.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(plugin.status().message().find(BAD_ABI_PLUGIN_PATH), std::string_view::npos);
  EXPECT_NE(plugin.status().message().find("ABI version 999"), std::string_view::npos)
      << plugin.status();
}

TEST_P(LoadErrorTest, MissingSymbolNamesTheFile) {
  auto plugin = LoadPlugin(NO_SCORE_PLUGIN_PATH, Options());
  ASSERT_FALSE(plugin.ok());
  EXPECT_NE(plugin.status().message().find(NO_SCORE_PLUGIN_PATH), std::string_view::npos);
  EXPECT_NE(plugin.status().message().find("does not export grpo_reward_plugin_score"),
            std::string_view::npos)
      << plugin.status();
}

TEST_P(LoadErrorTest, MissingFileNamesTheFile) {
  auto plugin = LoadPlugin("/nonexistent/libnothing.so", Options());
  ASSERT_FALSE(plugin.ok());
  EXPECT_NE(plugin.status().message().find("/nonexistent/libnothing.so"), std::string_view::npos)
      << plugin.status();
}

INSTANTIATE_TEST_SUITE_P(InProcessAndIsolated, LoadErrorTest, ::testing::Bool());

TEST(IsolatedPluginTest, MissingHelperProgram) {
  auto plugin = IsolatedPlugin::Start(COSINE_PLUGIN_PATH, "/nonexistent/grpo_plugin_host");
  ASSERT_FALSE(plugin.ok());
  EXPECT_EQ(plugin.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(plugin.status().message().find("/nonexistent/grpo_plugin_host"), std::string_view::npos);
}

// -------------------------------------------------------- isolated mode --

TEST(IsolatedPluginTest, CrashesCostResultsNotTheServer) {
  auto started = IsolatedPlugin::Start(CRASHY_PLUGIN_PATH, "");
  ASSERT_TRUE(started.ok()) << started.status();
  const IsolatedPlugin* plugin = started->get();
  const pid_t first_helper = plugin->helper_pid();
  EXPECT_GT(first_helper, 0);
  Served served(std::move(*started));

  v1::Result ok = served.Score(PluginSample("1", "crashy", "fine"));
  EXPECT_EQ(ok.status(), "ok");
  EXPECT_EQ(ok.components(0).status(), "ok");
  EXPECT_EQ(ok.reward(), 4.0);
  // The plugin ran in the helper, not in this process.
  EXPECT_EQ(ok.components(0).reason(), "pid " + std::to_string(first_helper));

  const v1::Result segv = served.Score(PluginSample("2", "crashy", "segfault"));
  EXPECT_EQ(segv.status(), "ok");  // the sample was scored; its component failed
  EXPECT_EQ(segv.components(0).status(), "error");
  EXPECT_EQ(segv.reward(), 0.0);
  EXPECT_NE(segv.components(0).reason().find("signal 11"), std::string::npos)
      << segv.components(0).reason();

  // The server keeps serving; a new helper scores the next sample.
  ok = served.Score(PluginSample("3", "crashy", "fine again"));
  EXPECT_EQ(ok.components(0).status(), "ok");
  EXPECT_EQ(ok.reward(), 10.0);
  EXPECT_NE(ok.components(0).reason(), "pid " + std::to_string(first_helper));
  EXPECT_EQ(plugin->restarts(), 1);

  const v1::Result abort = served.Score(PluginSample("4", "crashy", "abort"));
  EXPECT_EQ(abort.components(0).status(), "error");
  EXPECT_NE(abort.components(0).reason().find("signal 6"), std::string::npos)
      << abort.components(0).reason();

  // A hang past the sample's deadline: the helper is killed, the sample
  // answered "timeout".
  v1::Sample hang = PluginSample("5", "crashy", "hang");
  hang.set_timeout_ms(300);
  const v1::Result hung = served.Score(hang);
  EXPECT_EQ(hung.status(), "timeout");
  ASSERT_EQ(hung.components_size(), 1);
  EXPECT_EQ(hung.components(0).status(), "timeout");

  // Params are checked before the plugin sees them.
  v1::Sample bad = PluginSample("6", "crashy", "fine");
  (*bad.mutable_components(0)->mutable_params())["scale"] = "x";
  EXPECT_EQ(served.Score(bad).status(), "invalid_argument");
  v1::Sample scaled = PluginSample("7", "crashy", "fine");
  (*scaled.mutable_components(0)->mutable_params())["scale"] = "0.5";
  EXPECT_EQ(served.Score(scaled).reward(), 2.0);
  EXPECT_EQ(plugin->restarts(), 3);
}

TEST(InProcessPluginTest, AThrowingPluginCostsAnErrorResult) {
  auto plugin = LoadPlugin(CRASHY_PLUGIN_PATH, PluginOptions{});
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  ComponentInput input;
  input.completion = "throw";
  const RewardResult thrown = (*plugin)->Score(input, {});
  EXPECT_EQ(thrown.status, RewardStatus::kError);
  EXPECT_NE(thrown.reason.find("threw an exception"), std::string::npos) << thrown.reason;
  input.completion = "fine";
  const RewardResult fine = (*plugin)->Score(input, {{"scale", "2"}});
  EXPECT_EQ(fine.status, RewardStatus::kOk);
  EXPECT_EQ(fine.value, 8.0);
  EXPECT_EQ(fine.reason, "pid " + std::to_string(getpid()));  // in this process
}

TEST(IsolatedPluginTest, HelperKilledBetweenSamplesIsReplacedSilently) {
  auto plugin = IsolatedPlugin::Start(CRASHY_PLUGIN_PATH, "");
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  ASSERT_EQ(kill((*plugin)->helper_pid(), SIGKILL), 0);
  usleep(50 * 1000);
  ComponentInput input;
  input.completion = "abc";
  const RewardResult r = (*plugin)->Score(input, {});
  EXPECT_EQ(r.status, RewardStatus::kOk) << r.reason;
  EXPECT_EQ(r.value, 3.0);
  EXPECT_EQ((*plugin)->restarts(), 1);
}

// The real binary: `grpo reward-server --plugin-isolated` finds its helper
// beside itself, survives a segfaulting plugin, and drains on SIGTERM.
TEST(RewardServerBinaryTest, IsolatedPluginSegfaultLeavesTheServerServing) {
  const std::string ready = (std::filesystem::temp_directory_path() /
                             ("grpo_plugin_ready_" + std::to_string(getpid()))).string();
  const testing::ReadyChild server = testing::SpawnUntilReady(
      {GRPO_BINARY, "reward-server", "--listen=127.0.0.1:0", "--threads=2", "--plugin-isolated",
       std::string("--plugin=") + CRASHY_PLUGIN_PATH, "--ready-file=" + ready},
      {}, ready, std::chrono::seconds(30));
  ASSERT_NE(server.pid, 0) << "grpo reward-server did not start";
  const std::string& address = server.line;
  ClientOptions options;
  options.target = address;
  options.per_sample_timeout = absl::Seconds(20);
  auto client = RewardClient::Create(options);
  ASSERT_TRUE(client.ok());
  std::vector<v1::Sample> samples;
  for (const char* text : {"fine", "segfault", "fine again", "segfault", "ok"}) {
    samples.push_back(PluginSample(std::to_string(samples.size()), "crashy", text));
  }
  absl::StatusOr<std::vector<v1::Result>> results = (*client)->ScoreAll(samples);
  ASSERT_TRUE(results.ok()) << results.status();
  const std::vector<double> want = {4, 0, 10, 0, 2};
  for (size_t i = 0; i < samples.size(); ++i) {
    const v1::Result& r = (*results)[i];
    EXPECT_EQ(r.status(), "ok") << i << ": " << r.reason();
    ASSERT_EQ(r.components_size(), 1);
    EXPECT_EQ(r.components(0).status(), want[i] == 0 ? "error" : "ok") << r.components(0).reason();
    EXPECT_EQ(r.reward(), want[i]) << i;
  }
  EXPECT_TRUE(*(*client)->Healthy());
  const int status = testing::StopChild(server.pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  std::filesystem::remove(ready);
}

}  // namespace
}  // namespace grpo::reward
