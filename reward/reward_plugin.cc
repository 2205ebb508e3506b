#include "reward/reward_plugin.h"

#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "reward/plugin_host.h"

namespace grpo::reward {
namespace {

static_assert(GRPO_REWARD_STATUS_OK == static_cast<int>(RewardStatus::kOk) &&
                  GRPO_REWARD_STATUS_NO_ANSWER == static_cast<int>(RewardStatus::kNoAnswer) &&
                  GRPO_REWARD_STATUS_UNPARSEABLE_GOLD ==
                      static_cast<int>(RewardStatus::kUnparseableGold) &&
                  GRPO_REWARD_STATUS_TIMEOUT == static_cast<int>(RewardStatus::kTimeout) &&
                  GRPO_REWARD_STATUS_ERROR == static_cast<int>(RewardStatus::kError),
              "the C statuses are RewardStatus's values");

std::string Text(const char* s) { return s == nullptr ? std::string() : std::string(s); }

// The in-process component: calls the library on the worker thread.
class InProcessPlugin : public RewardComponent {
 public:
  explicit InProcessPlugin(std::unique_ptr<PluginLibrary> library)
      : library_(std::move(library)) {}

  const ComponentInfo& info() const override { return library_->info(); }

  absl::Status Validate(const ComponentInput& input, const ComponentParams& params) const override {
    if (absl::Status s = CheckReference(info(), input); !s.ok()) return s;
    return ResolveParams(info().name, info().params, params).status();
  }

  RewardResult Score(const ComponentInput& input, const ComponentParams& params) const override {
    absl::StatusOr<ParamValues> values = ResolveParams(info().name, info().params, params);
    if (!values.ok()) {
      RewardResult r;
      r.reason = std::string(values.status().message());
      return r;
    }
    const PluginSample sample(input, *values);
    grpo_reward_result result;
    library_->Score(&sample.c_sample(), 1, &result);
    return FromPluginResult(result, info().name);
  }

 private:
  const std::unique_ptr<PluginLibrary> library_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PluginLibrary>> PluginLibrary::Open(const std::string& path) {
  // RTLD_LOCAL: two plugins may use the same symbol names.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return absl::NotFoundError(absl::StrCat("plugin ", path, ": cannot load: ", Text(dlerror())));
  }
  std::unique_ptr<PluginLibrary> library(new PluginLibrary());
  library->path_ = path;
  library->handle_ = handle;
  auto version = reinterpret_cast<decltype(&grpo_reward_plugin_abi_version)>(
      dlsym(handle, "grpo_reward_plugin_abi_version"));
  auto get_info = reinterpret_cast<decltype(&grpo_reward_plugin_get_info)>(
      dlsym(handle, "grpo_reward_plugin_get_info"));
  library->score_ = reinterpret_cast<decltype(&grpo_reward_plugin_score)>(
      dlsym(handle, "grpo_reward_plugin_score"));
  for (auto [symbol, found] : {std::pair{"grpo_reward_plugin_abi_version", version != nullptr},
                               std::pair{"grpo_reward_plugin_get_info", get_info != nullptr},
                               std::pair{"grpo_reward_plugin_score", library->score_ != nullptr}}) {
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(
          "plugin ", path, ": does not export ", symbol,
          " (declare it extern \"C\" as in reward/grpo_reward_plugin.h)"));
    }
  }
  const uint32_t abi = version();
  if (abi != GRPO_REWARD_PLUGIN_ABI_VERSION) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin ", path, ": built for reward plugin ABI version ", abi, "; this server speaks ",
        GRPO_REWARD_PLUGIN_ABI_VERSION, " (rebuild it against this grpo_reward_plugin.h)"));
  }
  const grpo_reward_plugin_info* info = get_info();
  if (info == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("plugin ", path, ": grpo_reward_plugin_get_info returned null"));
  }
  ComponentInfo& out = library->info_;
  out.name = Text(info->name);
  out.version = Text(info->version);
  out.description = Text(info->description);
  out.reference = Text(info->reference);
  if (out.reference.empty()) out.reference = "none";
  for (size_t i = 0; i < info->num_params && info->params != nullptr; ++i) {
    const grpo_reward_param_info& p = info->params[i];
    out.params.push_back({Text(p.name), Text(p.type), Text(p.default_value)});
  }
  if (absl::Status s = CheckPluginInfo(path, out); !s.ok()) return s;
  return library;
}

PluginLibrary::~PluginLibrary() {
  if (handle_ != nullptr) dlclose(handle_);
}

void PluginLibrary::Score(const grpo_reward_sample* samples, size_t count,
                          grpo_reward_result* results) const {
  for (size_t i = 0; i < count; ++i) {
    results[i].value = 0;
    results[i].status = GRPO_REWARD_STATUS_ERROR;
    std::snprintf(results[i].reason, sizeof(results[i].reason), "not scored by the plugin");
    results[i].extracted[0] = '\0';
  }
  // The ABI forbids exceptions; a C++ plugin that throws anyway costs error
  // results, not std::terminate (GCC unwinds through extern "C" frames).
  try {
    score_(samples, count, results);
  } catch (...) {
    for (size_t i = 0; i < count; ++i) {
      results[i].value = 0;
      results[i].status = GRPO_REWARD_STATUS_ERROR;
      std::snprintf(results[i].reason, sizeof(results[i].reason),
                    "the plugin threw an exception (the C ABI forbids it)");
    }
  }
}

absl::Status CheckPluginInfo(const std::string& path, const ComponentInfo& info) {
  auto bad = [&](std::string what) {
    return absl::InvalidArgumentError(absl::StrCat("plugin ", path, ": ", what));
  };
  if (info.name.empty()) return bad("its info has no name");
  if (info.reference != "none" && info.reference != "math_answer" && info.reference != "json") {
    return bad(absl::StrCat("reference \"", info.reference,
                            "\" is not one of none, math_answer, json"));
  }
  std::set<std::string> names;
  for (const ParamInfo& p : info.params) {
    if (p.name.empty() || p.type.empty()) return bad("a param has no name or no type");
    if (!names.insert(p.name).second) return bad(absl::StrCat("param ", p.name, " is declared twice"));
  }
  // The defaults must read as their types: resolve them as if a sample set them.
  ComponentParams defaults;
  for (const ParamInfo& p : info.params) defaults[p.name] = p.default_value;
  absl::StatusOr<ParamValues> resolved = ResolveParams(info.name, info.params, defaults);
  if (!resolved.ok()) return bad(absl::StrCat("bad default: ", resolved.status().message()));
  return absl::OkStatus();
}

namespace {

std::string_view PluginReference(const ComponentInput& input) {
  switch (input.reference) {
    case ReferenceKind::kMathAnswer:
      return input.math_answer;
    case ReferenceKind::kJson:
      return input.json;
    default:
      return {};
  }
}

grpo_reward_text CText(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace

PluginSample::PluginSample(const ComponentInput& input, const ParamValues& values) {
  for (const auto& [name, value] : values.all()) params_.push_back({name.c_str(), value.c_str()});
  sample_ = {CText(input.id),         CText(input.prompt),
             CText(input.completion), CText(PluginReference(input)),
             params_.data(),          params_.size()};
}

RewardResult FromPluginResult(const grpo_reward_result& result, const std::string& plugin) {
  RewardResult r;
  r.reason.assign(result.reason, strnlen(result.reason, sizeof(result.reason)));
  r.extracted.assign(result.extracted, strnlen(result.extracted, sizeof(result.extracted)));
  if (result.status < GRPO_REWARD_STATUS_OK || result.status > GRPO_REWARD_STATUS_ERROR) {
    r.status = RewardStatus::kError;
    r.reason = absl::StrCat(plugin, ": status ", result.status, " is not a GRPO_REWARD_STATUS");
    return r;
  }
  r.status = static_cast<RewardStatus>(result.status);
  if (r.status == RewardStatus::kOk && !std::isfinite(result.value)) {
    r.status = RewardStatus::kError;
    r.reason = absl::StrCat(plugin, ": the value is not finite");
    return r;
  }
  r.value = r.status == RewardStatus::kOk ? result.value : 0;
  return r;
}

absl::StatusOr<std::unique_ptr<RewardComponent>> LoadPlugin(const std::string& path,
                                                            const PluginOptions& options) {
  if (options.isolated) {
    absl::StatusOr<std::unique_ptr<IsolatedPlugin>> plugin =
        IsolatedPlugin::Start(path, options.host_program);
    if (!plugin.ok()) return plugin.status();
    return std::unique_ptr<RewardComponent>(std::move(*plugin));
  }
  absl::StatusOr<std::unique_ptr<PluginLibrary>> library = PluginLibrary::Open(path);
  if (!library.ok()) return library.status();
  return std::unique_ptr<RewardComponent>(std::make_unique<InProcessPlugin>(std::move(*library)));
}

}  // namespace grpo::reward
