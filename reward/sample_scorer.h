// One wire Sample (proto/reward.proto) in, one wire Result out: validation
// of the sample, then each named component of its reward spec through the
// ComponentRegistry. The gRPC service, the fuzz target and the in-process
// side of the benchmark all score through this, so they agree by
// construction.
#ifndef GRPO_REWARD_SAMPLE_SCORER_H_
#define GRPO_REWARD_SAMPLE_SCORER_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "proto/reward.pb.h"
#include "reward/reward_registry.h"

namespace grpo::reward {


struct SampleLimits {
  size_t max_id_bytes = 256;
  size_t max_completion_bytes = 1 << 20;  // also the bound on the prompt and the reference
  int max_components = 16;
  int default_timeout_ms = 10000;  // a sample's deadline when it sets none
  int max_timeout_ms = 120000;     // a larger timeout_ms is invalid
};

// Result statuses, beside the per-component ones of reward_result.h.
inline constexpr char kStatusOk[] = "ok";
inline constexpr char kStatusInvalid[] = "invalid_argument";
inline constexpr char kStatusTimeout[] = "timeout";
inline constexpr char kStatusExhausted[] = "resource_exhausted";
inline constexpr char kStatusUnavailable[] = "unavailable";
inline constexpr char kStatusError[] = "error";

// A result with no components: `status` and `reason` say why.
v1::Result StatusResult(std::string_view id, std::string_view status, std::string_view reason);

// True for well-formed UTF-8 (no overlong forms, surrogates or code points
// past U+10FFFF).
bool IsValidUtf8(std::string_view text);

class SampleScorer {
 public:
  // `registry` must outlive the scorer.
  SampleScorer(const ComponentRegistry* registry, SampleLimits limits);

  // OK, or InvalidArgument saying what is wrong: an empty or long id, no
  // components or too many, an unknown component, a weight that is not
  // finite, a completion or prompt that is too long or not UTF-8, a
  // reference a component needs that is missing, a bad param, a timeout_ms
  // over the limit. Cheap: no scoring.
  absl::Status Validate(const v1::Sample& sample) const;

  // Validates, then scores every component; never throws and always answers
  // (invalid_argument, timeout when `deadline` passes before or while
  // scoring, else ok with each component's verdict). latency_ms counts from
  // `arrival`.
  v1::Result Score(const v1::Sample& sample, std::chrono::steady_clock::time_point arrival,
                   std::chrono::steady_clock::time_point deadline) const;

  // arrival + the sample's timeout (or the default), capped by `call_deadline`.
  std::chrono::steady_clock::time_point Deadline(
      const v1::Sample& sample, std::chrono::steady_clock::time_point arrival,
      std::chrono::steady_clock::time_point call_deadline =
          std::chrono::steady_clock::time_point::max()) const;

  const SampleLimits& limits() const { return limits_; }
  const ComponentRegistry& registry() const { return *registry_; }

 private:
  const ComponentRegistry* registry_;
  SampleLimits limits_;
};

}  // namespace grpo::reward

#endif  // GRPO_REWARD_SAMPLE_SCORER_H_
