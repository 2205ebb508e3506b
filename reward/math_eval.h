// Three ways to evaluate a scalar math tree, cheapest and most certain first:
// exact rationals (GMP), complex doubles at given symbol values, and the
// GiNaC CAS. Private to reward/.
#ifndef GRPO_REWARD_MATH_EVAL_H_
#define GRPO_REWARD_MATH_EVAL_H_

#include <complex>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <gmpxx.h>

#include "reward/latex_parse.h"

namespace grpo::reward::math {

// Caps that keep hostile answers cheap: an exact result may hold this many
// bits; the CAS sees trees up to this many nodes whose symbolic powers add
// up to this degree.
inline constexpr long kMaxExactBits = 1 << 16;
inline constexpr int kMaxCasNodes = 400;
inline constexpr int kMaxCasDegree = 64;

enum class ExactOutcome {
  kValue,     // *value holds the exact rational
  kNotExact,  // irrational, symbolic or undefined (x/0): ask the other evaluators
  kTooLarge,  // would exceed kMaxExactBits
};

// Exact value of a tree built from numbers, + - * /, integer powers, perfect
// roots, factorials, binomials, floor/ceil and percent (as 1/100).
ExactOutcome ExactValue(const Node& node, mpq_class* value);

// Value with `symbols` bound; NaN where undefined or not a scalar.
std::complex<double> NumericValue(const Node& node,
                                  const std::map<std::string, double>& symbols);

// The free symbols of a tree.
void CollectSymbols(const Node& node, std::set<std::string>* symbols);

// Whether the tree contains the constant infinity.
bool ContainsInfinity(const Node& node);

int CountNodes(const Node& node);

// Asks GiNaC whether a - b simplifies to zero: true (proved equal), false
// (simplifies to a nonzero number: proved different), nullopt (undecided,
// unsupported or over kMaxCasNodes). Serialized: GiNaC is not thread-safe.
std::optional<bool> CasDifferenceIsZero(const Node& a, const Node& b);

}  // namespace grpo::reward::math

#endif  // GRPO_REWARD_MATH_EVAL_H_
