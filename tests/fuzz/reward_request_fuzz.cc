// libFuzzer target for the reward service's request handling: bytes parsed
// as a ScoreRequest (the wire message of RewardService.Score), then every
// sample through SampleScorer::Validate and ::Score, as the server does.
// Bytes that are not a ScoreRequest become the completion of one sample
// scored by math_accuracy and format, so plain-text seeds reach the checkers.
//
// Properties beyond "no crash, no leak, no hang": one result per sample with
// the sample's id; a known status; invalid_argument exactly when Validate
// fails; for "ok", reward = sum of weight * value and every value in [0, 1]
// and 0 unless its status is "ok".
// code_tests is renamed to format before scoring: the sandbox is fuzzed by
// its own tests, and spawning processes here would only slow the fuzzer.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>

#include "proto/reward.pb.h"
#include "reward/reward_registry.h"
#include "reward/sample_scorer.h"

namespace {

using grpo::reward::SampleScorer;
namespace v1 = grpo::reward::v1;

constexpr int kMaxSamples = 8;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "reward_request_fuzz: property violated: %s\n", what);
  std::abort();
}

const SampleScorer& Scorer() {
  static const auto* registry = [] {
    auto* r = new grpo::reward::ComponentRegistry();
    grpo::config::RewardConfig defaults;
    defaults.mutable_math()->set_time_limit_ms(100);
    if (!grpo::reward::RegisterBuiltinComponents(defaults, r).ok()) Fail("registry");
    return r;
  }();
  static const SampleScorer scorer(registry, grpo::reward::SampleLimits{256, 1 << 16, 16, 1000, 2000});
  return scorer;
}

void CheckResult(const v1::Sample& sample, const v1::Result& r, bool valid) {
  static const std::set<std::string> kStatuses = {"ok", "invalid_argument", "timeout", "error"};
  static const std::set<std::string> kComponentStatuses = {"ok", "no_answer", "unparseable_gold",
                                                           "timeout", "error"};
  if (r.id() != sample.id()) Fail("result id differs from the sample id");
  if (!kStatuses.count(r.status())) Fail("unknown result status");
  if ((r.status() == "invalid_argument") == valid) Fail("invalid_argument disagrees with Validate");
  if (r.status() != "ok") return;
  if (r.components_size() != sample.components_size()) Fail("one component result per component");
  double total = 0;
  for (const v1::ComponentResult& c : r.components()) {
    if (!kComponentStatuses.count(c.status())) Fail("unknown component status");
    if (!(c.value() >= 0 && c.value() <= 1)) Fail("component value outside [0, 1]");
    if (c.status() != "ok" && c.value() != 0) Fail("non-zero value without ok");
    total += c.weight() * c.value();
  }
  if (std::abs(total - r.reward()) > 1e-9 * (1 + std::abs(total))) Fail("reward != sum w*v");
}

}  // namespace

// The math checker's CLN keeps 26 bytes from a static initializer where
// LeakSanitizer cannot see them (as in math_fuzz.cc); only the library can be
// named, and leaks made per input still show our frames.
extern "C" const char* __lsan_default_suppressions() { return "leak:libcln.so\n"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  v1::ScoreRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size)) || request.samples_size() == 0) {
    request.Clear();
    v1::Sample* s = request.add_samples();
    s->set_id("text");
    s->set_completion(std::string(reinterpret_cast<const char*>(data), size));
    s->mutable_reference()->set_math_answer("42");
    s->add_components()->set_name("math_accuracy");
    v1::Component* format = s->add_components();
    format->set_name("format");
    format->set_weight(0.5);
  }
  const SampleScorer& scorer = Scorer();
  const auto now = std::chrono::steady_clock::now();
  for (int i = 0; i < request.samples_size() && i < kMaxSamples; ++i) {
    v1::Sample& sample = *request.mutable_samples(i);
    for (v1::Component& c : *sample.mutable_components()) {
      if (c.name() == "code_tests") c.set_name("format");
    }
    const bool valid = scorer.Validate(sample).ok();
    const v1::Result result = scorer.Score(sample, now, scorer.Deadline(sample, now));
    CheckResult(sample, result, valid);
  }
  return 0;
}
