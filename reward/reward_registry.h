// Named reward components behind one interface, and the registry the reward
// service scores through. A reward spec such as `math_accuracy: 1.0,
// format: 0.1` names registered components; each scores one sample into a
// RewardResult. No gRPC and no LibTorch here: plugins (C ABI) and remote
// components register the same way as the built-ins.
//
//   ComponentRegistry registry;
//   RETURN_IF_ERROR(RegisterBuiltinComponents(config.reward(), &registry));
//   const RewardComponent* c = registry.Find("math_accuracy");
//   RETURN_IF_ERROR(c->Validate(input, params));   // cheap, before queueing
//   RewardResult r = c->Score(input, params);      // on a worker thread
#ifndef GRPO_REWARD_REWARD_REGISTRY_H_
#define GRPO_REWARD_REWARD_REGISTRY_H_

#include <chrono>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "proto/config.pb.h"
#include "reward/code_checker.h"
#include "reward/reward_result.h"

namespace grpo::reward {

// Per-sample overrides of a component's options. For the built-ins, a key is
// a field of its options message in proto/config.proto and the value is in
// text format: {"gold_format": "GSM8K"}, {"extraction_priority": "[BOXED]"}.
using ComponentParams = std::map<std::string, std::string>;

enum class ReferenceKind { kNone, kMathAnswer, kCode, kJson };

// What a component reads from one sample: views into the caller's storage,
// valid for the duration of one Validate or Score call.
struct ComponentInput {
  std::string_view id;
  std::string_view prompt;
  std::string_view completion;
  ReferenceKind reference = ReferenceKind::kNone;
  std::string_view math_answer;     // kMathAnswer: the raw gold field
  const CodeTask* code = nullptr;   // kCode
  std::string_view code_style;      // kCode: "humaneval", "mbpp", "stdio"; empty: default
  std::string_view code_language;   // kCode: "python", "cpp"; empty: default
  std::string_view json;            // kJson
  // Past this the sample is answered "timeout"; a component may use it to
  // bound its own work.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct ParamInfo {
  std::string name;
  std::string type;           // "bool", "int32", "double", "string", "enum A|B", "repeated ..."
  std::string default_value;  // text format
};

struct ComponentInfo {
  std::string name;
  std::string version;
  std::string description;
  std::string reference;  // "math_answer", "code", "json" or "none"
  std::vector<ParamInfo> params;
};

class RewardComponent {
 public:
  virtual ~RewardComponent() = default;
  virtual const ComponentInfo& info() const = 0;
  // InvalidArgument when the sample lacks the reference this component reads
  // or a parameter is unknown or unreadable; the message says which. Cheap
  // enough to run on a gRPC thread before the sample is queued.
  virtual absl::Status Validate(const ComponentInput& input, const ComponentParams& params) const = 0;
  // Thread-safe and never throws; called only for input that passed Validate.
  // value is 0 unless status is kOk.
  virtual RewardResult Score(const ComponentInput& input, const ComponentParams& params) const = 0;
};

// Components by name. Register at startup; Find and List are thread-safe
// against each other and against a late Register.
class ComponentRegistry {
 public:
  // InvalidArgument for a null component or an empty name; AlreadyExists for
  // a name already taken.
  absl::Status Register(std::unique_ptr<RewardComponent> component);
  // nullptr when no component has that name.
  const RewardComponent* Find(std::string_view name) const;
  // Every component's info, sorted by name.
  std::vector<ComponentInfo> List() const;
  // "a, b, c": for error messages.
  std::string Names() const;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<RewardComponent>, std::less<>> components_;
};

// Registers the built-ins with `defaults` as their options (per-sample params
// override them): math_accuracy (MathChecker), format and tag_count
// (format_reward.h), code_tests (CodeChecker; its sandbox is built on first
// use, so a machine without one answers code samples with status "error"),
// length, repetition and language_consistency (their own headers; their
// defaults are in their ComponentInfo, not in `defaults`).
// InvalidArgument when a default is out of range.
absl::Status RegisterBuiltinComponents(const config::RewardConfig& defaults,
                                       ComponentRegistry* registry);

}  // namespace grpo::reward

#endif  // GRPO_REWARD_REWARD_REGISTRY_H_
