// Shared helpers of the math checker's rule and hostile-input tests.
#ifndef GRPO_TESTS_MATH_TEST_UTIL_H_
#define GRPO_TESTS_MATH_TEST_UTIL_H_

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "reward/math_checker.h"

namespace grpo::reward {

using Options = config::MathRewardOptions;

inline MathChecker Make(const std::function<void(Options&)>& edit = nullptr) {
  Options options;
  if (edit) edit(options);
  absl::StatusOr<MathChecker> checker = MathChecker::Create(options);
  EXPECT_TRUE(checker.ok()) << checker.status();
  return *std::move(checker);
}

struct Case {
  const char* prediction;
  const char* gold;
  bool equal;
};

inline void ExpectVerdicts(const MathChecker& checker, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    RewardResult r = checker.CompareAnswers(c.prediction, c.gold);
    EXPECT_EQ(r.status, RewardStatus::kOk)
        << "'" << c.prediction << "' vs '" << c.gold << "': " << r.reason;
    EXPECT_EQ(r.value, c.equal ? 1.0 : 0.0)
        << "'" << c.prediction << "' vs '" << c.gold << "': " << r.reason;
  }
}

inline void ExpectVerdicts(const std::vector<Case>& cases) { ExpectVerdicts(Make(), cases); }

// Runs `fn` and returns how long it took; hostile inputs must come back fast.
inline double Seconds(const std::function<void()>& fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
constexpr double kSanitySeconds = 2.0;

inline std::string Repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

inline std::string NumberList(int n, bool reversed) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(reversed ? n - 1 - i : i);
  }
  return out;
}

}  // namespace grpo::reward

#endif  // GRPO_TESTS_MATH_TEST_UTIL_H_
