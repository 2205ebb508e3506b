#include "reward/reward_registry.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "reward/format_reward.h"
#include "reward/language_consistency.h"
#include "reward/length_reward.h"
#include "reward/math_checker.h"
#include "reward/repetition_reward.h"

namespace grpo::reward {
namespace {

namespace pb = google::protobuf;

// Distinct parameter sets seen per component; checkers are built once per
// set. Past this many the cache starts over (hostile clients could otherwise
// grow it without bound).
constexpr size_t kMaxCachedOptionSets = 64;

class ParamErrors : public pb::io::ErrorCollector {
 public:
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (first_.empty()) first_ = message;
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

std::string TypeName(const pb::FieldDescriptor& field) {
  std::string type;
  if (field.type() == pb::FieldDescriptor::TYPE_ENUM) {
    std::vector<std::string> names;
    for (int i = 0; i < field.enum_type()->value_count(); ++i) {
      names.push_back(field.enum_type()->value(i)->name());
    }
    type = absl::StrCat("enum ", absl::StrJoin(names, "|"));
  } else {
    type = field.type_name();
  }
  return field.is_repeated() ? absl::StrCat("repeated ", type) : type;
}

std::string ValueText(const pb::Message& message, const pb::FieldDescriptor& field) {
  std::string out;
  if (!field.is_repeated()) {
    pb::TextFormat::PrintFieldValueToString(message, &field, -1, &out);
    return out;
  }
  const int n = message.GetReflection()->FieldSize(message, &field);
  std::vector<std::string> items;
  for (int i = 0; i < n; ++i) {
    std::string item;
    pb::TextFormat::PrintFieldValueToString(message, &field, i, &item);
    items.push_back(std::move(item));
  }
  return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
}

std::vector<ParamInfo> ParamsOf(const pb::Message& defaults) {
  std::vector<ParamInfo> params;
  const pb::Descriptor* d = defaults.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor& f = *d->field(i);
    params.push_back({f.name(), TypeName(f), ValueText(defaults, f)});
  }
  return params;
}

// `defaults` with each param applied as `name: value` in text format; the
// fields named are cleared first, so a list replaces the default list.
template <typename Options>
absl::StatusOr<Options> ApplyParams(const Options& defaults, const ComponentParams& params,
                                    const std::string& component) {
  Options options = defaults;
  if (params.empty()) return options;
  const pb::Descriptor* d = options.GetDescriptor();
  std::string text;
  for (const auto& [name, value] : params) {
    const pb::FieldDescriptor* field = d->FindFieldByName(name);
    if (field == nullptr) {
      std::vector<std::string> names;
      for (int i = 0; i < d->field_count(); ++i) names.push_back(d->field(i)->name());
      return absl::InvalidArgumentError(absl::StrCat(component, ": unknown param \"", name,
                                                     "\"; valid params: ",
                                                     absl::StrJoin(names, ", ")));
    }
    options.GetReflection()->ClearField(&options, field);
    absl::StrAppend(&text, name, ": ", value, "\n");
  }
  ParamErrors errors;
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.MergeFromString(text, &options)) {
    return absl::InvalidArgumentError(
        absl::StrCat(component, ": bad param value (", errors.first(), ")"));
  }
  return options;
}

std::string CacheKey(const ComponentParams& params) {
  std::string key;
  for (const auto& [name, value] : params) absl::StrAppend(&key, name, "\x1f", value, "\x1e");
  return key;
}

// One checker per distinct parameter set, built on first use.
template <typename Checker>
class CheckerCache {
 public:
  using Factory = std::function<absl::StatusOr<std::shared_ptr<const Checker>>(
      const ComponentParams&)>;
  explicit CheckerCache(Factory factory) : factory_(std::move(factory)) {}

  absl::StatusOr<std::shared_ptr<const Checker>> Get(const ComponentParams& params) const {
    const std::string key = CacheKey(params);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = cache_.find(key);
      if (it != cache_.end()) return it->second;
    }
    absl::StatusOr<std::shared_ptr<const Checker>> built = factory_(params);
    if (!built.ok()) return built.status();
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.size() >= kMaxCachedOptionSets) cache_.clear();
    return cache_.emplace(key, *std::move(built)).first->second;
  }

 private:
  Factory factory_;
  mutable std::mutex mu_;
  mutable std::map<std::string, std::shared_ptr<const Checker>> cache_;
};

RewardResult ErrorResult(std::string reason) {
  RewardResult r;
  r.status = RewardStatus::kError;
  r.reason = std::move(reason);
  return r;
}

class MathAccuracy : public RewardComponent {
 public:
  explicit MathAccuracy(const config::MathRewardOptions& defaults)
      : info_{"math_accuracy", "1",
              "1 when the completion's final answer equals the gold answer (reward/math_checker.h)",
              "math_answer", ParamsOf(defaults)},
        cache_([defaults](const ComponentParams& params)
                   -> absl::StatusOr<std::shared_ptr<const MathChecker>> {
          absl::StatusOr<config::MathRewardOptions> options =
              ApplyParams(defaults, params, "math_accuracy");
          if (!options.ok()) return options.status();
          absl::StatusOr<MathChecker> checker = MathChecker::Create(*options);
          if (!checker.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat("math_accuracy: ", checker.status().message()));
          }
          return std::make_shared<const MathChecker>(*std::move(checker));
        }) {}

  const ComponentInfo& info() const override { return info_; }

  absl::Status Validate(const ComponentInput& input, const ComponentParams& params) const override {
    if (input.reference != ReferenceKind::kMathAnswer) {
      return absl::InvalidArgumentError("math_accuracy needs reference.math_answer (the gold)");
    }
    return cache_.Get(params).status();
  }

  RewardResult Score(const ComponentInput& input, const ComponentParams& params) const override {
    absl::StatusOr<std::shared_ptr<const MathChecker>> checker = cache_.Get(params);
    if (!checker.ok()) return ErrorResult(std::string(checker.status().message()));
    return (*checker)->Check(input.completion, input.math_answer);
  }

 private:
  const ComponentInfo info_;
  const CheckerCache<MathChecker> cache_;
};

// format (the full R1 layout) and tag_count (partial credit per tag).
class FormatComponent : public RewardComponent {
 public:
  FormatComponent(const config::FormatRewardOptions& defaults, bool tag_count)
      : info_{tag_count ? "tag_count" : "format", "1",
              tag_count ? "0.25 per think/answer tag that appears exactly once"
                        : "1 when the completion is one <think> block then an answer",
              "none", ParamsOf(defaults)},
        tag_count_(tag_count),
        cache_([defaults](const ComponentParams& params)
                   -> absl::StatusOr<std::shared_ptr<const config::FormatRewardOptions>> {
          absl::StatusOr<config::FormatRewardOptions> options =
              ApplyParams(defaults, params, "format");
          if (!options.ok()) return options.status();
          // Build the lazy string defaults now, before threads share it.
          options->think_open();
          options->think_close();
          options->answer_open();
          options->answer_close();
          return std::make_shared<const config::FormatRewardOptions>(*std::move(options));
        }) {}

  const ComponentInfo& info() const override { return info_; }

  absl::Status Validate(const ComponentInput&, const ComponentParams& params) const override {
    return cache_.Get(params).status();
  }

  RewardResult Score(const ComponentInput& input, const ComponentParams& params) const override {
    auto options = cache_.Get(params);
    if (!options.ok()) return ErrorResult(std::string(options.status().message()));
    return tag_count_ ? TagCountReward(input.completion, **options)
                      : FormatReward(input.completion, **options);
  }

 private:
  const ComponentInfo info_;
  const bool tag_count_;
  const CheckerCache<config::FormatRewardOptions> cache_;
};

class CodeTests : public RewardComponent {
 public:
  explicit CodeTests(const config::CodeRewardOptions& defaults)
      : info_{"code_tests", "1",
              "pass fraction (or pass/fail) of the program against the tests, in the sandbox",
              "code", ParamsOf(defaults)},
        defaults_(defaults) {}

  const ComponentInfo& info() const override { return info_; }

  absl::Status Validate(const ComponentInput& input, const ComponentParams& params) const override {
    if (input.reference != ReferenceKind::kCode || input.code == nullptr) {
      return absl::InvalidArgumentError("code_tests needs reference.code (the tests)");
    }
    return Options(input, params).status();
  }

  RewardResult Score(const ComponentInput& input, const ComponentParams& params) const override {
    absl::StatusOr<config::CodeRewardOptions> options = Options(input, params);
    if (!options.ok()) return ErrorResult(std::string(options.status().message()));
    absl::StatusOr<std::shared_ptr<const CodeChecker>> checker = Checker(*options);
    if (!checker.ok()) return ErrorResult(std::string(checker.status().message()));
    return (*checker)->Check(input.completion, *input.code).reward;
  }

 private:
  absl::StatusOr<config::CodeRewardOptions> Options(const ComponentInput& input,
                                                    const ComponentParams& params) const {
    absl::StatusOr<config::CodeRewardOptions> options =
        ApplyParams(defaults_, params, "code_tests");
    if (!options.ok()) return options.status();
    if (!input.code_style.empty()) {
      const std::string upper = Upper(input.code_style);
      config::CodeTestStyle style;
      if (!config::CodeTestStyle_Parse(upper, &style)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "code_tests: unknown style \"", std::string(input.code_style), "\"; valid: humaneval, mbpp, stdio"));
      }
      options->set_test_style(style);
    }
    if (!input.code_language.empty()) {
      std::string upper = Upper(input.code_language);
      if (upper == "C++") upper = "CPP";
      config::CodeLanguage language;
      if (!config::CodeLanguage_Parse(upper, &language)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "code_tests: unknown language \"", std::string(input.code_language), "\"; valid: python, cpp"));
      }
      options->set_language(language);
    }
    return options;
  }

  static std::string Upper(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
  }

  // Checkers (each with its sandbox) by options, built on first use.
  absl::StatusOr<std::shared_ptr<const CodeChecker>> Checker(
      const config::CodeRewardOptions& options) const {
    const std::string key = options.SerializeAsString();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = checkers_.find(key);
    if (it != checkers_.end()) return it->second;
    absl::StatusOr<std::unique_ptr<CodeChecker>> built = CodeChecker::Create(options);
    if (!built.ok()) {
      return absl::Status(built.status().code(),
                          absl::StrCat("code_tests: ", built.status().message()));
    }
    if (checkers_.size() >= kMaxCachedOptionSets) checkers_.clear();
    std::shared_ptr<const CodeChecker> checker(std::move(*built));
    checkers_.emplace(key, checker);
    return checker;
  }

  const ComponentInfo info_;
  const config::CodeRewardOptions defaults_;
  mutable std::mutex mu_;  // held while a checker is built: sandboxes are few
  mutable std::map<std::string, std::shared_ptr<const CodeChecker>> checkers_;
};

}  // namespace

absl::Status ComponentRegistry::Register(std::unique_ptr<RewardComponent> component) {
  if (component == nullptr) return absl::InvalidArgumentError("Register: null component");
  const std::string name = component->info().name;
  if (name.empty()) return absl::InvalidArgumentError("Register: component with an empty name");
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (!components_.emplace(name, std::move(component)).second) {
    return absl::AlreadyExistsError(absl::StrCat("reward component \"", name,
                                                 "\" is already registered"));
  }
  return absl::OkStatus();
}

const RewardComponent* ComponentRegistry::Find(std::string_view name) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = components_.find(name);
  return it == components_.end() ? nullptr : it->second.get();
}

std::vector<ComponentInfo> ComponentRegistry::List() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<ComponentInfo> out;
  for (const auto& [name, component] : components_) out.push_back(component->info());
  return out;
}

std::string ComponentRegistry::Names() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, component] : components_) names.push_back(name);
  return absl::StrJoin(names, ", ");
}

absl::Status RegisterBuiltinComponents(const config::RewardConfig& defaults,
                                       ComponentRegistry* registry) {
  absl::StatusOr<MathChecker> math = MathChecker::Create(defaults.math());
  if (!math.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("reward.math: ", math.status().message()));
  }
  absl::Status status = registry->Register(std::make_unique<MathAccuracy>(defaults.math()));
  if (status.ok()) status = registry->Register(std::make_unique<FormatComponent>(defaults.format(), false));
  if (status.ok()) status = registry->Register(std::make_unique<FormatComponent>(defaults.format(), true));
  if (status.ok()) status = registry->Register(std::make_unique<CodeTests>(defaults.code()));
  // Their params are declared rows (declared_params.h), not config messages.
  if (status.ok()) status = registry->Register(MakeLengthComponent());
  if (status.ok()) status = registry->Register(MakeRepetitionComponent());
  if (status.ok()) status = registry->Register(MakeLanguageConsistencyComponent());
  return status;
}

}  // namespace grpo::reward
