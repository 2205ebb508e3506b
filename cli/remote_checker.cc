#include "cli/remote_checker.h"

#include <atomic>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "reward/reward_client.h"

namespace grpo::cli {
namespace {

namespace pb = google::protobuf;
using reward::RewardResult;
using reward::RewardStatus;

// Every field set in `options`, as a param in text format (lists as [a, b]).
std::map<std::string, std::string> Params(const pb::Message& options) {
  std::map<std::string, std::string> params;
  std::vector<const pb::FieldDescriptor*> fields;
  options.GetReflection()->ListFields(options, &fields);
  for (const pb::FieldDescriptor* field : fields) {
    std::string value;
    if (field->is_repeated()) {
      value = "[";
      const int n = options.GetReflection()->FieldSize(options, field);
      for (int i = 0; i < n; ++i) {
        std::string item;
        pb::TextFormat::PrintFieldValueToString(options, field, i, &item);
        absl::StrAppend(&value, i > 0 ? ", " : "", item);
      }
      value += "]";
    } else {
      pb::TextFormat::PrintFieldValueToString(options, field, -1, &value);
    }
    params[field->name()] = value;
  }
  return params;
}

RewardStatus StatusFromName(const std::string& name) {
  for (RewardStatus s : {RewardStatus::kOk, RewardStatus::kNoAnswer, RewardStatus::kUnparseableGold,
                         RewardStatus::kTimeout, RewardStatus::kError}) {
    if (reward::RewardStatusName(s) == name) return s;
  }
  return RewardStatus::kError;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RemoteChecker>> RemoteChecker::Create(
    const std::string& target, const std::string& checker, const config::RewardConfig& reward) {
  std::unique_ptr<RemoteChecker> remote(new RemoteChecker());
  if (checker == "math") {
    remote->component_ = "math_accuracy";
    remote->params_ = Params(reward.math());
    remote->math_ = true;
  } else if (checker == "format") {
    remote->component_ = "format";
    remote->params_ = Params(reward.format());
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--server scores --checker=math or --checker=format, not \"", checker, "\""));
  }
  reward::ClientOptions options;
  options.target = target;
  absl::StatusOr<std::unique_ptr<reward::RewardClient>> client =
      reward::RewardClient::Create(options);
  if (!client.ok()) return client.status();
  absl::StatusOr<bool> healthy = (*client)->Healthy(absl::Seconds(10));
  if (!healthy.ok() || !*healthy) {
    return absl::UnavailableError(
        absl::StrCat("no reward server serving at ", target,
                     healthy.ok() ? " (NOT_SERVING)" : absl::StrCat(": ", healthy.status().message())));
  }
  remote->client_ = std::move(*client);
  return remote;
}

RemoteChecker::~RemoteChecker() = default;

RewardResult RemoteChecker::Check(std::string_view completion, std::string_view gold) const {
  static std::atomic<uint64_t> next_id{0};
  reward::v1::Sample sample;
  sample.set_id(std::to_string(next_id.fetch_add(1)));
  sample.set_completion(std::string(completion));
  if (math_) sample.mutable_reference()->set_math_answer(std::string(gold));
  reward::v1::Component* component = sample.add_components();
  component->set_name(component_);
  component->set_weight(1.0);
  component->mutable_params()->insert(params_.begin(), params_.end());

  RewardResult out;
  absl::StatusOr<std::vector<reward::v1::Result>> results = client_->ScoreAll({std::move(sample)});
  if (!results.ok() || results->size() != 1) {
    out.status = RewardStatus::kError;
    out.reason = absl::StrCat("reward server: ", results.status().message());
    return out;
  }
  const reward::v1::Result& r = results->front();
  if (r.status() != "ok" || r.components_size() != 1) {
    out.status = r.status() == "timeout" ? RewardStatus::kTimeout : RewardStatus::kError;
    out.reason = absl::StrCat("reward server: ", r.status(), ": ", r.reason());
    return out;
  }
  const reward::v1::ComponentResult& c = r.components(0);
  out.value = c.value();
  out.status = StatusFromName(c.status());
  out.extracted = c.extracted();
  out.reason = c.reason();
  return out;
}

}  // namespace grpo::cli
