// An example reward plugin: open-r1's cosine length-scaled accuracy
// (get_cosine_scaled_reward, after Yeo et al. 2025, "Demystifying Long
// Chain-of-Thought Reasoning in LLMs"). Short correct answers earn more than
// long correct ones; long wrong answers are punished less than short wrong
// ones:
//   progress = min(len / max_len, 1)   (len in Unicode code points)
//   correct: lo = min_value_correct, hi = max_value_correct
//   wrong:   lo = max_value_wrong,   hi = min_value_wrong
//   reward = lo + 0.5 * (hi - lo) * (1 + cos(progress * pi))
// "Correct" is deliberately simple here: the last \boxed{...} of the
// completion equals the gold answer text (reference.math_answer), both
// trimmed. A completion with no \boxed{} is answered "no_answer".
//
// Copy this file to start a plugin: it needs only reward/grpo_reward_plugin.h.
//   g++ -std=c++17 -O2 -shared -fPIC -I/path/to/grpo.cpp cosine_reward.cc -o libcosine_reward.so
//   grpo reward-server --plugin=./libcosine_reward.so
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "reward/grpo_reward_plugin.h"

namespace {

constexpr double kPi = 3.14159265358979323846;

const grpo_reward_param_info kParams[] = {
    {"max_len", "int64", "1000"},
    {"max_value_correct", "double", "1.0"},
    {"max_value_wrong", "double", "-0.5"},
    {"min_value_correct", "double", "0.5"},
    {"min_value_wrong", "double", "-1.0"},
};

const grpo_reward_plugin_info kInfo = {
    "cosine_accuracy",
    "1.0.0",
    "open-r1 cosine length-scaled accuracy: the last \\boxed{} against the gold, scaled by length",
    "math_answer",
    kParams,
    sizeof(kParams) / sizeof(kParams[0]),
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::strchr(" \t\r\n", s.front()) != nullptr) s.remove_prefix(1);
  while (!s.empty() && std::strchr(" \t\r\n", s.back()) != nullptr) s.remove_suffix(1);
  return s;
}

// The content of the last \boxed{...} (braces balanced); false if none.
bool LastBoxed(std::string_view text, std::string_view* content) {
  const size_t at = text.rfind("\\boxed{");
  if (at == std::string_view::npos) return false;
  const size_t start = at + 7;
  int depth = 1;
  for (size_t i = start; i < text.size(); ++i) {
    if (text[i] == '{') ++depth;
    if (text[i] == '}' && --depth == 0) {
      *content = text.substr(start, i - start);
      return true;
    }
  }
  return false;
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The params arrive complete (every declared one, checked by the server).
double Param(const grpo_reward_sample& s, const char* name) {
  for (size_t i = 0; i < s.num_params; ++i) {
    if (std::strcmp(s.params[i].name, name) == 0) return std::strtod(s.params[i].value, nullptr);
  }
  return 0;
}

void ScoreOne(const grpo_reward_sample& s, grpo_reward_result* r) {
  const std::string_view completion(s.completion.data, s.completion.size);
  const std::string_view gold = Trim(std::string_view(s.reference.data, s.reference.size));
  std::string_view answer;
  if (!LastBoxed(completion, &answer)) {
    r->status = GRPO_REWARD_STATUS_NO_ANSWER;
    std::snprintf(r->reason, sizeof r->reason, "no \\boxed{} answer");
    return;
  }
  answer = Trim(answer);
  const bool correct = answer == gold;
  const double max_len = Param(s, "max_len");
  const double progress = max_len > 0 ? std::fmin(CodePoints(completion) / max_len, 1.0) : 1.0;
  const double lo = correct ? Param(s, "min_value_correct") : Param(s, "max_value_wrong");
  const double hi = correct ? Param(s, "max_value_correct") : Param(s, "min_value_wrong");
  r->value = lo + 0.5 * (hi - lo) * (1.0 + std::cos(progress * kPi));
  r->status = GRPO_REWARD_STATUS_OK;
  std::snprintf(r->extracted, sizeof r->extracted, "%.*s", static_cast<int>(answer.size()),
                answer.data());
  std::snprintf(r->reason, sizeof r->reason, "%s at %zu of %.0f chars",
                correct ? "correct" : "wrong", CodePoints(completion), max_len);
}

}  // namespace

extern "C" {

GRPO_REWARD_PLUGIN_EXPORT uint32_t grpo_reward_plugin_abi_version(void) {
  return GRPO_REWARD_PLUGIN_ABI_VERSION;
}

GRPO_REWARD_PLUGIN_EXPORT const grpo_reward_plugin_info* grpo_reward_plugin_get_info(void) {
  return &kInfo;
}

GRPO_REWARD_PLUGIN_EXPORT void grpo_reward_plugin_score(const grpo_reward_sample* samples,
                                                        size_t count, grpo_reward_result* results) {
  for (size_t i = 0; i < count; ++i) ScoreOne(samples[i], &results[i]);
}

}  // extern "C"
