// Typed parameters declared as ParamInfo rows (name, type, default): the
// parameter scheme of the components whose options are not a message of
// proto/config.proto — length, repetition, language_consistency, C plugins
// and remote components. A sample's params are checked against the rows and
// merged over the defaults.
//
//   ASSIGN_OR_RETURN(ParamValues p, ResolveParams("length", info.params, params));
//   const int64_t max_length = p.Int("max_length");
#ifndef GRPO_REWARD_DECLARED_PARAMS_H_
#define GRPO_REWARD_DECLARED_PARAMS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "reward/reward_registry.h"

namespace grpo::reward {

// Every declared param with its value: the sample's, else the default.
// Values were checked against their declared type by ResolveParams, so the
// getters only convert (a missing name or a wrong-typed getter is a caller
// bug and yields 0 / false / "").
class ParamValues {
 public:
  std::string String(std::string_view name) const;
  int64_t Int(std::string_view name) const;
  double Double(std::string_view name) const;
  bool Bool(std::string_view name) const;
  // name -> value text, in name order.
  const std::map<std::string, std::string, std::less<>>& all() const { return values_; }

 private:
  friend absl::StatusOr<ParamValues> ResolveParams(std::string_view component,
                                                   const std::vector<ParamInfo>& declared,
                                                   const ComponentParams& params);
  std::map<std::string, std::string, std::less<>> values_;
};

// Types understood: "bool" (true|false), "int32", "int64", "double",
// "string", "enum A|B|C" (one of the names). Any other type is taken as
// free text. InvalidArgument naming the component and the param for an
// unknown name (listing the valid ones) or a value that does not read as its
// type.
absl::StatusOr<ParamValues> ResolveParams(std::string_view component,
                                          const std::vector<ParamInfo>& declared,
                                          const ComponentParams& params);

// InvalidArgument when `input` lacks the reference `info.reference` names
// ("math_answer", "code", "json"; "none" and "" need nothing).
absl::Status CheckReference(const ComponentInfo& info, const ComponentInput& input);

// A component whose params are declared rows. Validate checks the reference
// the info names, resolves the params and runs `check` on them (range
// checks: InvalidArgument saying what is wrong); Score resolves them again
// and calls `score`, which must be thread-safe.
class DeclaredComponent : public RewardComponent {
 public:
  using CheckFn = std::function<absl::Status(const ParamValues&)>;
  using ScoreFn = std::function<RewardResult(const ComponentInput&, const ParamValues&)>;
  DeclaredComponent(ComponentInfo info, CheckFn check, ScoreFn score);

  const ComponentInfo& info() const override { return info_; }
  absl::Status Validate(const ComponentInput& input, const ComponentParams& params) const override;
  RewardResult Score(const ComponentInput& input, const ComponentParams& params) const override;

 private:
  absl::StatusOr<ParamValues> Resolve(const ComponentParams& params) const;

  const ComponentInfo info_;
  const CheckFn check_;
  const ScoreFn score_;
};

}  // namespace grpo::reward

#endif  // GRPO_REWARD_DECLARED_PARAMS_H_
