// Test plugins for tests/reward_plugin_test.cc, one source built several
// ways (tests/CMakeLists.txt):
//   TEST_PLUGIN_CRASHY:  "crashy": a completion "segfault" dereferences null,
//                        "abort" aborts, "throw" throws (against the ABI),
//                        "hang" sleeps forever; anything else
//                        scores its length in bytes.
//   TEST_PLUGIN_BAD_ABI: reports ABI version 999.
//   TEST_PLUGIN_NO_SCORE: exports no grpo_reward_plugin_score.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "reward/grpo_reward_plugin.h"

namespace {
const grpo_reward_param_info kParams[] = {{"scale", "double", "1"}};
const grpo_reward_plugin_info kInfo = {"crashy", "test", "crashes on demand", "none", kParams, 1};
}  // namespace

extern "C" {

GRPO_REWARD_PLUGIN_EXPORT uint32_t grpo_reward_plugin_abi_version(void) {
#ifdef TEST_PLUGIN_BAD_ABI
  return 999;
#else
  return GRPO_REWARD_PLUGIN_ABI_VERSION;
#endif
}

GRPO_REWARD_PLUGIN_EXPORT const grpo_reward_plugin_info* grpo_reward_plugin_get_info(void) {
  return &kInfo;
}

#ifndef TEST_PLUGIN_NO_SCORE
GRPO_REWARD_PLUGIN_EXPORT void grpo_reward_plugin_score(const grpo_reward_sample* samples,
                                                        size_t count, grpo_reward_result* results) {
  for (size_t i = 0; i < count; ++i) {
    const std::string_view completion(samples[i].completion.data, samples[i].completion.size);
    if (completion == "segfault") {
      volatile int* null = nullptr;
      *null = 1;
    }
    if (completion == "abort") std::abort();
    if (completion == "throw") throw std::runtime_error("the ABI says not to");
    if (completion == "hang") {
      for (;;) pause();
    }
    results[i].value = static_cast<double>(completion.size()) * std::strtod(samples[i].params[0].value, nullptr);
    results[i].status = GRPO_REWARD_STATUS_OK;
    std::snprintf(results[i].reason, sizeof results[i].reason, "pid %d", static_cast<int>(getpid()));
  }
}
#endif

}  // extern "C"
