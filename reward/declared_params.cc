#include "reward/declared_params.h"

#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace grpo::reward {
namespace {

// OK when `value` reads as `type`; else why not.
absl::Status CheckType(const std::string& type, const std::string& value) {
  if (type == "bool") {
    if (value == "true" || value == "false") return absl::OkStatus();
    return absl::InvalidArgumentError("expected true or false");
  }
  if (type == "int32" || type == "int64") {
    int64_t v = 0;
    if (!absl::SimpleAtoi(value, &v)) return absl::InvalidArgumentError("expected a whole number");
    if (type == "int32" && (v < INT32_MIN || v > INT32_MAX)) {
      return absl::InvalidArgumentError("out of int32 range");
    }
    return absl::OkStatus();
  }
  if (type == "double") {
    double v = 0;
    if (!absl::SimpleAtod(value, &v) || !std::isfinite(v)) {
      return absl::InvalidArgumentError("expected a finite number");
    }
    return absl::OkStatus();
  }
  if (absl::StartsWith(type, "enum ")) {
    for (absl::string_view name : absl::StrSplit(type.substr(5), '|')) {
      if (name == value) return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat("expected one of ", type.substr(5)));
  }
  return absl::OkStatus();  // string and unknown types: free text
}

}  // namespace

std::string ParamValues::String(std::string_view name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::string() : it->second;
}

int64_t ParamValues::Int(std::string_view name) const {
  int64_t v = 0;
  return absl::SimpleAtoi(String(name), &v) ? v : 0;
}

double ParamValues::Double(std::string_view name) const {
  double v = 0;
  return absl::SimpleAtod(String(name), &v) ? v : 0;
}

bool ParamValues::Bool(std::string_view name) const { return String(name) == "true"; }

absl::StatusOr<ParamValues> ResolveParams(std::string_view component,
                                          const std::vector<ParamInfo>& declared,
                                          const ComponentParams& params) {
  const std::string name_of_component(component);
  ParamValues out;
  for (const ParamInfo& p : declared) out.values_[p.name] = p.default_value;
  for (const auto& [name, value] : params) {
    const ParamInfo* row = nullptr;
    for (const ParamInfo& p : declared) {
      if (p.name == name) row = &p;
    }
    if (row == nullptr) {
      std::vector<std::string> names;
      for (const ParamInfo& p : declared) names.push_back(p.name);
      return absl::InvalidArgumentError(
          absl::StrCat(name_of_component, ": unknown param \"", name, "\"; valid params: ",
                       names.empty() ? "(none)" : absl::StrJoin(names, ", ")));
    }
    if (absl::Status s = CheckType(row->type, value); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(name_of_component, ": param ", name, "=\"", value,
                                                     "\": ", s.message()));
    }
    out.values_[name] = value;
  }
  return out;
}

absl::Status CheckReference(const ComponentInfo& info, const ComponentInput& input) {
  const std::string& want = info.reference;
  const bool ok = (want == "math_answer" && input.reference == ReferenceKind::kMathAnswer) ||
                  (want == "code" && input.reference == ReferenceKind::kCode) ||
                  (want == "json" && input.reference == ReferenceKind::kJson) ||
                  want == "none" || want.empty();
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(info.name, " needs reference.", want, " in the sample"));
}

DeclaredComponent::DeclaredComponent(ComponentInfo info, CheckFn check, ScoreFn score)
    : info_(std::move(info)), check_(std::move(check)), score_(std::move(score)) {}

absl::StatusOr<ParamValues> DeclaredComponent::Resolve(const ComponentParams& params) const {
  absl::StatusOr<ParamValues> values = ResolveParams(info_.name, info_.params, params);
  if (!values.ok() || !check_) return values;
  if (absl::Status s = check_(*values); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(info_.name, ": ", s.message()));
  }
  return values;
}

absl::Status DeclaredComponent::Validate(const ComponentInput& input,
                                         const ComponentParams& params) const {
  if (absl::Status s = CheckReference(info_, input); !s.ok()) return s;
  return Resolve(params).status();
}

RewardResult DeclaredComponent::Score(const ComponentInput& input,
                                      const ComponentParams& params) const {
  absl::StatusOr<ParamValues> values = Resolve(params);
  if (!values.ok()) {
    RewardResult r;
    r.status = RewardStatus::kError;
    r.reason = std::string(values.status().message());
    return r;
  }
  return score_(input, *values);
}

}  // namespace grpo::reward
