// Reward plugins: shared libraries with the C ABI of grpo_reward_plugin.h,
// served as named components (docs/rewards.md). In-process by default; with
// PluginOptions::isolated, in a helper process (plugin_host.h) so that a
// plugin that crashes costs error results, not the server.
//
//   ASSIGN_OR_RETURN(auto component, LoadPlugin("libcosine.so", PluginOptions{}));
//   RETURN_IF_ERROR(registry.Register(std::move(component)));
#ifndef GRPO_REWARD_REWARD_PLUGIN_H_
#define GRPO_REWARD_REWARD_PLUGIN_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "reward/declared_params.h"
#include "reward/grpo_reward_plugin.h"
#include "reward/reward_registry.h"

namespace grpo::reward {

struct PluginOptions {
  // Run the plugin in a helper process (restarted when it dies).
  bool isolated = false;
  // The helper program (grpo_plugin_host); empty: DefaultPluginHostProgram().
  std::string host_program;
};

// A loaded plugin library. Open checks everything the ABI promises, so a
// plugin that opens can be called.
class PluginLibrary {
 public:
  // Errors name the file: NotFound when it cannot be loaded (dlopen's
  // message), InvalidArgument for a missing symbol, an ABI version other
  // than GRPO_REWARD_PLUGIN_ABI_VERSION, or bad info (no name, a reference
  // other than none/math_answer/json, a param without name or type or
  // declared twice, or a default that does not read as its type).
  static absl::StatusOr<std::unique_ptr<PluginLibrary>> Open(const std::string& path);
  ~PluginLibrary();  // unloads the library

  const ComponentInfo& info() const { return info_; }
  const std::string& path() const { return path_; }

  // Fills each result with status ERROR first, then calls the plugin; a
  // plugin that throws leaves every result an ERROR.
  void Score(const grpo_reward_sample* samples, size_t count, grpo_reward_result* results) const;

 private:
  PluginLibrary() = default;
  std::string path_;
  void* handle_ = nullptr;
  decltype(&grpo_reward_plugin_score) score_ = nullptr;
  ComponentInfo info_;
};

// One component served from a plugin: in-process, or isolated.
absl::StatusOr<std::unique_ptr<RewardComponent>> LoadPlugin(const std::string& path,
                                                            const PluginOptions& options);

// --- Shared by the in-process and isolated components ---

// InvalidArgument naming `path` when `info` breaks a rule Open lists.
absl::Status CheckPluginInfo(const std::string& path, const ComponentInfo& info);

// One sample as the C ABI passes it: views into `input` and `values`, which
// must outlive it. The reference is the math answer, the json, or empty.
class PluginSample {
 public:
  PluginSample(const ComponentInput& input, const ParamValues& values);
  PluginSample(const PluginSample&) = delete;
  PluginSample& operator=(const PluginSample&) = delete;
  const grpo_reward_sample& c_sample() const { return sample_; }

 private:
  std::vector<grpo_reward_param> params_;
  grpo_reward_sample sample_;
};

// The plugin's result as a RewardResult: value and status checked (a value
// that is not finite or a status out of range is an "error"), text cut at
// its NUL.
RewardResult FromPluginResult(const grpo_reward_result& result, const std::string& plugin);

}  // namespace grpo::reward

#endif  // GRPO_REWARD_REWARD_PLUGIN_H_
