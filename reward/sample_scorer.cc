#include "reward/sample_scorer.h"

#include <cmath>
#include <exception>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "reward/task_json.h"

namespace grpo::reward {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The sample's reference as the components see it; owns the CodeTask.
struct InputHolder {
  ComponentInput input;
  std::optional<CodeTask> code;
};

void Fill(const v1::Sample& sample, InputHolder* holder, Clock::time_point deadline) {
  ComponentInput& in = holder->input;
  in.id = sample.id();
  in.prompt = sample.prompt();
  in.completion = sample.completion();
  in.deadline = deadline;
  const v1::Reference& ref = sample.reference();
  switch (ref.kind_case()) {
    case v1::Reference::kMathAnswer:
      in.reference = ReferenceKind::kMathAnswer;
      in.math_answer = ref.math_answer();
      break;
    case v1::Reference::kCode: {
      in.reference = ReferenceKind::kCode;
      const v1::CodeTests& tests = ref.code();
      in.code = &holder->code.emplace(CodeTaskFromProto(tests));
      in.code_style = tests.style();
      in.code_language = tests.language();
      break;
    }
    case v1::Reference::kJson:
      in.reference = ReferenceKind::kJson;
      in.json = ref.json();
      break;
    case v1::Reference::KIND_NOT_SET:
      in.reference = ReferenceKind::kNone;
      break;
  }
}

size_t ReferenceBytes(const v1::Reference& ref) {
  switch (ref.kind_case()) {
    case v1::Reference::kMathAnswer:
      return ref.math_answer().size();
    case v1::Reference::kJson:
      return ref.json().size();
    case v1::Reference::kCode:
      return ref.code().ByteSizeLong();
    case v1::Reference::KIND_NOT_SET:
      return 0;
  }
  return 0;
}

absl::Status CheckText(const char* field, std::string_view text, size_t limit) {
  if (text.size() > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", text.size(), " bytes; the limit is ", limit));
  }
  if (!IsValidUtf8(text)) return absl::InvalidArgumentError(absl::StrCat(field, " is not valid UTF-8"));
  return absl::OkStatus();
}

}  // namespace

v1::Result StatusResult(std::string_view id, std::string_view status, std::string_view reason) {
  v1::Result result;
  result.set_id(std::string(id));
  result.set_status(std::string(status));
  result.set_reason(std::string(reason));
  return result;
}

bool IsValidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07;
    } else {
      return false;  // a continuation byte, an overlong lead (C0, C1) or F5..FF
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

SampleScorer::SampleScorer(const ComponentRegistry* registry, SampleLimits limits)
    : registry_(registry), limits_(limits) {}

Clock::time_point SampleScorer::Deadline(const v1::Sample& sample, Clock::time_point arrival,
                                         Clock::time_point call_deadline) const {
  const int ms = sample.timeout_ms() > 0
                     ? static_cast<int>(std::min<uint32_t>(sample.timeout_ms(),
                                                           static_cast<uint32_t>(limits_.max_timeout_ms)))
                     : limits_.default_timeout_ms;
  return std::min(arrival + std::chrono::milliseconds(ms), call_deadline);
}

absl::Status SampleScorer::Validate(const v1::Sample& sample) const {
  if (sample.id().empty()) return absl::InvalidArgumentError("the sample has no id");
  if (sample.id().size() > limits_.max_id_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("id is ", sample.id().size(), " bytes; the limit is ", limits_.max_id_bytes));
  }
  if (absl::Status s = CheckText("completion", sample.completion(), limits_.max_completion_bytes);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckText("prompt", sample.prompt(), limits_.max_completion_bytes); !s.ok()) {
    return s;
  }
  if (ReferenceBytes(sample.reference()) > limits_.max_completion_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("reference is over the ",
                                                   limits_.max_completion_bytes, "-byte limit"));
  }
  if (sample.reference().kind_case() == v1::Reference::kMathAnswer &&
      !IsValidUtf8(sample.reference().math_answer())) {
    return absl::InvalidArgumentError("reference.math_answer is not valid UTF-8");
  }
  if (sample.timeout_ms() > static_cast<uint32_t>(limits_.max_timeout_ms)) {
    return absl::InvalidArgumentError(absl::StrCat("timeout_ms ", sample.timeout_ms(),
                                                   " is over the limit ", limits_.max_timeout_ms));
  }
  if (sample.components().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the reward spec names no component; known: ", registry_->Names()));
  }
  if (sample.components_size() > limits_.max_components) {
    return absl::InvalidArgumentError(absl::StrCat("the reward spec has ", sample.components_size(),
                                                   " components; the limit is ",
                                                   limits_.max_components));
  }
  InputHolder holder;
  Fill(sample, &holder, Clock::time_point::max());
  for (const v1::Component& c : sample.components()) {
    const RewardComponent* component = registry_->Find(c.name());
    if (component == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown reward component \"", c.name(),
                                                     "\"; known: ", registry_->Names()));
    }
    if (!std::isfinite(c.weight())) {
      return absl::InvalidArgumentError(absl::StrCat("component ", c.name(), ": weight is not finite"));
    }
    const ComponentParams params(c.params().begin(), c.params().end());
    if (absl::Status s = component->Validate(holder.input, params); !s.ok()) return s;
  }
  return absl::OkStatus();
}

v1::Result SampleScorer::Score(const v1::Sample& sample, Clock::time_point arrival,
                               Clock::time_point deadline) const {
  try {
    if (absl::Status s = Validate(sample); !s.ok()) {
      v1::Result r = StatusResult(sample.id(), kStatusInvalid, std::string(s.message()));
      r.set_latency_ms(Ms(Clock::now() - arrival));
      return r;
    }
    if (Clock::now() >= deadline) {
      v1::Result r = StatusResult(sample.id(), kStatusTimeout,
                                  "the sample's deadline passed before it was scored");
      r.set_latency_ms(Ms(Clock::now() - arrival));
      return r;
    }
    InputHolder holder;
    Fill(sample, &holder, deadline);
    v1::Result result;
    result.set_id(sample.id());
    result.set_status(kStatusOk);
    double total = 0;
    for (const v1::Component& c : sample.components()) {
      const RewardComponent* component = registry_->Find(c.name());
      const ComponentParams params(c.params().begin(), c.params().end());
      const Clock::time_point start = Clock::now();
      RewardResult r = component->Score(holder.input, params);
      if (r.status != RewardStatus::kOk) r.value = 0;
      v1::ComponentResult* out = result.add_components();
      out->set_name(c.name());
      out->set_weight(c.weight());
      out->set_value(r.value);
      out->set_status(std::string(RewardStatusName(r.status)));
      out->set_reason(std::move(r.reason));
      out->set_extracted(std::move(r.extracted));
      out->set_latency_ms(Ms(Clock::now() - start));
      total += c.weight() * r.value;
    }
    const Clock::time_point end = Clock::now();
    if (end > deadline) {
      // The verdicts stay for inspection; the reward does not count.
      result.set_status(kStatusTimeout);
      result.set_reason(absl::StrCat("scoring ended ", Ms(end - deadline),
                                     " ms past the sample's deadline"));
      total = 0;
    }
    result.set_reward(total);
    result.set_latency_ms(Ms(end - arrival));
    return result;
  } catch (const std::exception& e) {
    return StatusResult(sample.id(), kStatusError, absl::StrCat("internal error: ", e.what()));
  }
}

}  // namespace grpo::reward
