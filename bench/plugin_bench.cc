// plugin_bench: what a custom reward costs per sample beyond its own work
// (docs/rewards.md). One sample, scored through RewardComponent::Score:
//   - the example plugin (cosine_accuracy) in-process, and isolated (helper
//     process, socketpair round trip);
//   - the built-in repetition component, locally, and forwarded to a
//     RewardService on loopback (--remote-reward).
// Rounds are interleaved so both sides of each pair see the same machine.
// Prints per-sample microseconds (median, p90) and the ratio of the medians.
//
//   build/bench/plugin_bench [--iterations=N] [--plugin=build/examples/libcosine_reward.so]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "reward/plugin_host.h"
#include "reward/remote_component.h"
#include "reward/reward_plugin.h"
#include "reward/reward_service.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace grpo::reward;

struct Side {
  const char* name;
  const RewardComponent* component;
  ComponentParams params;
  std::vector<double> us;
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

void Report(const Side& a, const Side& b) {
  for (const Side* s : {&a, &b}) {
    std::printf("%-28s median %9.2f us   p90 %9.2f us\n", s->name, Percentile(s->us, 0.5),
                Percentile(s->us, 0.9));
  }
  std::printf("ratio %s / %s (medians): %.1fx\n\n", b.name, a.name,
              Percentile(b.us, 0.5) / Percentile(a.us, 0.5));
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 2000;
  std::string plugin = GRPO_COSINE_PLUGIN_PATH;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--iterations=", 13) == 0) iterations = std::atoi(argv[i] + 13);
    if (std::strncmp(argv[i], "--plugin=", 9) == 0) plugin = argv[i] + 9;
  }
  auto in_process = LoadPlugin(plugin, PluginOptions{});
  auto isolated = LoadPlugin(plugin, PluginOptions{true, ""});
  if (!in_process.ok() || !isolated.ok()) {
    std::fprintf(stderr, "plugin_bench: %s\n",
                 std::string((in_process.ok() ? isolated : in_process).status().message()).c_str());
    return 1;
  }
  ComponentRegistry backend_registry;
  if (!RegisterBuiltinComponents(grpo::config::RewardConfig(), &backend_registry).ok()) return 1;
  ServerOptions server_options;
  server_options.listen = "127.0.0.1:0";
  server_options.threads = 1;
  auto server = RewardServer::Start(server_options, &backend_registry);
  if (!server.ok()) return 1;
  auto remote = ConnectRemoteComponent(
      {"repetition", "127.0.0.1:" + std::to_string((*server)->port()), absl::Seconds(5)});
  if (!remote.ok()) {
    std::fprintf(stderr, "plugin_bench: %s\n", std::string(remote.status().message()).c_str());
    return 1;
  }

  const std::string completion =
      "<think>2 + 2 is 4, so the answer is 4. Let me check: 2 + 2 = 4.</think> \\boxed{4}";
  ComponentInput input;
  input.id = "bench";
  input.completion = completion;
  input.reference = ReferenceKind::kMathAnswer;
  input.math_answer = "4";
  std::vector<Side> sides = {{"cosine in-process", in_process->get(), {}, {}},
                             {"cosine isolated", isolated->get(), {}, {}},
                             {"repetition local", backend_registry.Find("repetition"), {}, {}},
                             {"repetition remote (loopback)", remote->get(), {}, {}}};
  for (int i = 0; i < iterations; ++i) {
    for (Side& s : sides) {
      const Clock::time_point start = Clock::now();
      const RewardResult r = s.component->Score(input, s.params);
      s.us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      if (r.status != RewardStatus::kOk) {
        std::fprintf(stderr, "plugin_bench: %s: %s\n", s.name, r.reason.c_str());
        return 1;
      }
    }
  }
  std::printf("plugin_bench: %d samples per side, one thread\n\n", iterations);
  Report(sides[0], sides[1]);
  Report(sides[2], sides[3]);
  (*server)->Shutdown(absl::ZeroDuration());
  return 0;
}
