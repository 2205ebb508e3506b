#include "reward/remote_component.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/grpcpp.h"
#include "proto/reward.grpc.pb.h"
#include "reward/declared_params.h"
#include "reward/sample_scorer.h"
#include "reward/task_json.h"

namespace grpo::reward {
namespace {

using Clock = std::chrono::steady_clock;

RewardResult Failed(RewardStatus status, std::string reason) {
  RewardResult r;
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

RewardStatus StatusFromName(const std::string& name) {
  for (RewardStatus s : {RewardStatus::kOk, RewardStatus::kNoAnswer, RewardStatus::kUnparseableGold,
                         RewardStatus::kTimeout}) {
    if (RewardStatusName(s) == name) return s;
  }
  return RewardStatus::kError;
}

// The sample's reference back in wire form.
void SetReference(const ComponentInput& input, v1::Reference* out) {
  switch (input.reference) {
    case ReferenceKind::kMathAnswer:
      out->set_math_answer(std::string(input.math_answer));
      break;
    case ReferenceKind::kJson:
      out->set_json(std::string(input.json));
      break;
    case ReferenceKind::kCode: {
      *out->mutable_code() = CodeTestsProto(input.code != nullptr ? *input.code : CodeTask(),
                                            std::string(input.code_style), std::string(input.code_language));
      break;
    }
    case ReferenceKind::kNone:
      break;
  }
}

class RemoteComponent : public RewardComponent {
 public:
  RemoteComponent(ComponentInfo info, std::string address,
                  std::unique_ptr<v1::RewardService::Stub> stub)
      : info_(std::move(info)), address_(std::move(address)), stub_(std::move(stub)) {}

  const ComponentInfo& info() const override { return info_; }

  absl::Status Validate(const ComponentInput& input, const ComponentParams& params) const override {
    if (absl::Status s = CheckReference(info_, input); !s.ok()) return s;
    return ResolveParams(info_.name, info_.params, params).status();
  }

  RewardResult Score(const ComponentInput& input, const ComponentParams& params) const override {
    v1::ScoreRequest request;
    v1::Sample* sample = request.add_samples();
    sample->set_id(std::string(input.id));
    sample->set_prompt(std::string(input.prompt));
    sample->set_completion(std::string(input.completion));
    SetReference(input, sample->mutable_reference());
    v1::Component* component = sample->add_components();
    component->set_name(info_.name);
    component->set_weight(1.0);
    // Only the sample's own params: the remote applies its defaults.
    for (const auto& [name, value] : params) (*component->mutable_params())[name] = value;

    grpc::ClientContext context;
    if (input.deadline != Clock::time_point::max()) {
      const auto left = input.deadline - Clock::now();
      if (left <= Clock::duration::zero()) {
        return Failed(RewardStatus::kTimeout, "the deadline passed before the remote call");
      }
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
      sample->set_timeout_ms(static_cast<uint32_t>(std::clamp<int64_t>(ms, 1, 120000)));
    }
    v1::ScoreResponse response;
    const grpc::Status status = stub_->Score(&context, request, &response);
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return Failed(RewardStatus::kTimeout,
                    absl::StrCat(info_.name, ": the remote at ", address_, " did not answer in time"));
    }
    if (!status.ok()) {
      return Failed(RewardStatus::kError,
                    absl::StrCat(info_.name, ": the remote at ", address_, " failed: ",
                                 status.error_message(), " (gRPC code ", status.error_code(), ")"));
    }
    if (response.results_size() != 1) {
      return Failed(RewardStatus::kError, absl::StrCat(info_.name, ": the remote at ", address_,
                                                       " sent ", response.results_size(),
                                                       " results for one sample"));
    }
    const v1::Result& result = response.results(0);
    if (result.status() != kStatusOk || result.components_size() != 1) {
      return Failed(result.status() == kStatusTimeout ? RewardStatus::kTimeout : RewardStatus::kError,
                    absl::StrCat(info_.name, ": the remote answered ", result.status(), ": ",
                                 result.reason()));
    }
    const v1::ComponentResult& c = result.components(0);
    RewardResult r;
    r.status = StatusFromName(c.status());
    r.value = r.status == RewardStatus::kOk ? c.value() : 0;
    r.reason = c.reason();
    r.extracted = c.extracted();
    if (r.status == RewardStatus::kError && c.status() != "error") {
      r.reason = absl::StrCat("the remote's status \"", c.status(), "\" is unknown; ", c.reason());
    }
    return r;
  }

 private:
  const ComponentInfo info_;
  const std::string address_;
  const std::unique_ptr<v1::RewardService::Stub> stub_;
};

}  // namespace

absl::StatusOr<RemoteComponentOptions> ParseRemoteReward(const std::string& flag_value) {
  const size_t eq = flag_value.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == flag_value.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--remote-reward wants NAME=HOST:PORT (the component and the server that scores it), got \"",
        flag_value, "\""));
  }
  RemoteComponentOptions options;
  options.name = flag_value.substr(0, eq);
  options.address = flag_value.substr(eq + 1);
  return options;
}

absl::StatusOr<std::unique_ptr<RewardComponent>> ConnectRemoteComponent(
    const RemoteComponentOptions& options) {
  auto stub = v1::RewardService::NewStub(
      grpc::CreateChannel(options.address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options.connect_timeout));
  context.set_wait_for_ready(true);  // the remote may still be starting
  v1::ListRewardsResponse list;
  const grpc::Status status = stub->ListRewards(&context, v1::ListRewardsRequest(), &list);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("remote reward ", options.name, ": ListRewards at ",
                                               options.address, " failed: ",
                                               status.error_message()));
  }
  std::vector<std::string> served;
  for (const v1::ComponentInfo& c : list.components()) {
    served.push_back(c.name());
    if (c.name() != options.name) continue;
    ComponentInfo info{c.name(), c.version(),
                       absl::StrCat(c.description(), " (remote, at ", options.address, ")"),
                       c.reference().empty() ? "none" : c.reference(),
                       {}};
    for (const v1::ParamInfo& p : c.params()) {
      info.params.push_back({p.name(), p.type(), p.default_value()});
    }
    return std::unique_ptr<RewardComponent>(
        std::make_unique<RemoteComponent>(std::move(info), options.address, std::move(stub)));
  }
  return absl::NotFoundError(absl::StrCat("remote reward ", options.name, ": the server at ",
                                          options.address, " does not serve it; it serves: ",
                                          served.empty() ? "nothing" : absl::StrJoin(served, ", ")));
}

}  // namespace grpo::reward
