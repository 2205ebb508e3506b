#include "grpo/arithmetic_task.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace grpo::train {
namespace {

// Digit i from the right of a decimal string, 0 past its left end.
int DigitFromRight(const std::string& s, size_t i) {
  return i < s.size() ? s[s.size() - 1 - i] - '0' : 0;
}

// Column-wise addition; with `drop`, each carry is forgotten with probability
// `drop_rate` (one draw per column that has a carry coming in).
// Returns {thought, answer}.
std::pair<std::string, std::string> AddInColumns(const std::string& a, const std::string& b,
                                                 std::mt19937_64* drop = nullptr, double drop_rate = 0) {
  const size_t columns = std::max(a.size(), b.size());
  std::string thought, digits;
  int carry = 0;
  for (size_t i = 0; i < columns; ++i) {
    if (carry && drop != nullptr && std::uniform_real_distribution<double>(0, 1)(*drop) < drop_rate) carry = 0;
    const int x = DigitFromRight(a, i), y = DigitFromRight(b, i), sum = x + y + carry;
    absl::StrAppend(&thought, i ? " " : "", x, "+", y, carry ? "+1" : "", "=", sum);
    digits.push_back(static_cast<char>('0' + sum % 10));
    carry = sum / 10;
  }
  if (carry) digits.push_back('1');
  std::reverse(digits.begin(), digits.end());
  return {thought, digits};
}

std::string Format(const std::string& thought, const std::string& answer) {
  return absl::StrCat("<think>", thought, "</think><answer>", answer, "</answer>");
}

std::string RandomNumber(int digits, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> first(1, 9), rest(0, 9);
  std::string s(1, static_cast<char>('0' + first(rng)));
  for (int i = 1; i < digits; ++i) s.push_back(static_cast<char>('0' + rest(rng)));
  return s;
}

}  // namespace

std::string WorkedSolution(const std::string& a, const std::string& b) {
  auto [thought, answer] = AddInColumns(a, b);
  return Format(thought, answer);
}

absl::StatusOr<std::vector<Problem>> GenerateArithmetic(const ArithmeticTaskOptions& options,
                                                                  int64_t count, uint64_t seed,
                                                                  const std::vector<std::string>& exclude) {
  if (options.min_digits < 1 || options.max_digits > 18 || options.min_digits > options.max_digits) {
    return absl::InvalidArgumentError(absl::StrCat("digits must satisfy 1 <= min_digits (", options.min_digits,
                                                   ") <= max_digits (", options.max_digits, ") <= 18"));
  }
  if (!(options.carry_drop_rate >= 0 && options.carry_drop_rate <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("carry_drop_rate must be in [0, 1], got ", options.carry_drop_rate));
  }
  // Distinct ordered pairs of operands with lengths in range.
  const double numbers = 9 * std::pow(10.0, options.max_digits - 1) * (options.max_digits - options.min_digits + 1);
  if (static_cast<double>(count + static_cast<int64_t>(exclude.size())) > numbers * numbers / 4) {
    return absl::FailedPreconditionError(absl::StrCat("cannot draw ", count, " distinct problems of ",
                                                      options.min_digits, "-", options.max_digits, " digits"));
  }
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> digits(options.min_digits, options.max_digits);
  absl::flat_hash_set<std::string> seen(exclude.begin(), exclude.end());
  std::vector<Problem> out;
  out.reserve(static_cast<size_t>(count));
  while (static_cast<int64_t>(out.size()) < count) {
    const std::string a = RandomNumber(digits(rng), rng), b = RandomNumber(digits(rng), rng);
    Problem p;
    p.prompt = absl::StrCat(a, "+", b, "=");
    // The solution's draws come from their own stream, seeded per problem, so
    // they do not shift the operands of later problems.
    std::mt19937_64 drops(rng());
    if (!seen.insert(p.prompt).second) continue;
    p.answer = AddInColumns(a, b).second;
    auto [thought, answer] = AddInColumns(a, b, &drops, options.carry_drop_rate);
    p.solution = Format(thought, answer);
    p.solution_correct = answer == p.answer;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace grpo::train
