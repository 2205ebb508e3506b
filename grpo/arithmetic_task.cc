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

// Column-wise addition; skip_carry_at >= 0 drops the carry into that column.
// Returns {thought, answer}.
std::pair<std::string, std::string> AddInColumns(const std::string& a, const std::string& b,
                                                 int skip_carry_at) {
  const size_t columns = std::max(a.size(), b.size());
  std::string thought, digits;
  int carry = 0;
  for (size_t i = 0; i < columns; ++i) {
    if (static_cast<int>(i) == skip_carry_at) carry = 0;
    const int x = DigitFromRight(a, i), y = DigitFromRight(b, i), sum = x + y + carry;
    absl::StrAppend(&thought, i ? " " : "", x, "+", y, carry ? "+1" : "", "=", sum);
    digits.push_back(static_cast<char>('0' + sum % 10));
    carry = sum / 10;
  }
  if (carry) digits.push_back('1');
  std::reverse(digits.begin(), digits.end());
  return {thought, digits};
}

// Columns that receive a carry in the correct addition.
std::vector<int> CarryColumns(const std::string& a, const std::string& b) {
  std::vector<int> out;
  int carry = 0;
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (carry) out.push_back(static_cast<int>(i));
    carry = (DigitFromRight(a, i) + DigitFromRight(b, i) + carry) / 10;
  }
  return out;
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
  auto [thought, answer] = AddInColumns(a, b, -1);
  return Format(thought, answer);
}

absl::StatusOr<std::vector<ArithmeticProblem>> GenerateArithmetic(const ArithmeticTaskOptions& options,
                                                                  int64_t count, uint64_t seed,
                                                                  const std::vector<std::string>& exclude) {
  if (options.min_digits < 1 || options.max_digits > 18 || options.min_digits > options.max_digits) {
    return absl::InvalidArgumentError(absl::StrCat("digits must satisfy 1 <= min_digits (", options.min_digits,
                                                   ") <= max_digits (", options.max_digits, ") <= 18"));
  }
  if (!(options.solution_error_rate >= 0 && options.solution_error_rate <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("solution_error_rate must be in [0, 1], got ", options.solution_error_rate));
  }
  // Distinct ordered pairs of operands with lengths in range.
  const double numbers = 9 * std::pow(10.0, options.max_digits - 1) * (options.max_digits - options.min_digits + 1);
  if (static_cast<double>(count + static_cast<int64_t>(exclude.size())) > numbers * numbers / 4) {
    return absl::FailedPreconditionError(absl::StrCat("cannot draw ", count, " distinct problems of ",
                                                      options.min_digits, "-", options.max_digits, " digits"));
  }
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> digits(options.min_digits, options.max_digits);
  std::uniform_real_distribution<double> unit(0, 1);
  absl::flat_hash_set<std::string> seen(exclude.begin(), exclude.end());
  std::vector<ArithmeticProblem> out;
  out.reserve(static_cast<size_t>(count));
  while (static_cast<int64_t>(out.size()) < count) {
    const std::string a = RandomNumber(digits(rng), rng), b = RandomNumber(digits(rng), rng);
    ArithmeticProblem p;
    p.prompt = absl::StrCat(a, "+", b, "=");
    // Draw the error decision before the duplicate check, so one problem's
    // draws do not depend on which earlier problems were duplicates.
    const bool make_error = unit(rng) < options.solution_error_rate;
    const std::vector<int> carries = CarryColumns(a, b);
    const int error_column =
        carries.empty() ? -1 : carries[std::uniform_int_distribution<size_t>(0, carries.size() - 1)(rng)];
    if (!seen.insert(p.prompt).second) continue;
    auto [thought, answer] = AddInColumns(a, b, -1);
    p.answer = answer;
    if (make_error && error_column >= 0) {
      auto [wrong_thought, wrong_answer] = AddInColumns(a, b, error_column);
      p.solution = Format(wrong_thought, wrong_answer);
      p.solution_correct = false;
    } else {
      p.solution = Format(thought, answer);
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace grpo::train
