// Three ways to evaluate a scalar math tree, cheapest and most certain first:
// exact rationals (GMP), complex doubles at given symbol values, and the
// GiNaC CAS. Private to reward/.
#ifndef GRPO_REWARD_MATH_EVAL_H_
#define GRPO_REWARD_MATH_EVAL_H_

#include <complex>
#include <map>
#include <set>
#include <string>

#include <gmpxx.h>

#include "reward/latex_parse.h"

namespace grpo::reward::math {

// Caps that keep hostile answers cheap: an exact result may hold this many
// bits; the CAS sees trees up to this many nodes whose symbolic powers add
// up to this degree and whose expansion is estimated at this many terms
// (one GiNaC call cannot be interrupted, so its size is bounded up front).
inline constexpr long kMaxExactBits = 1 << 16;
inline constexpr int kMaxCasNodes = 400;
inline constexpr int kMaxCasDegree = 64;
inline constexpr double kMaxCasTerms = 2000;
// \binom{n}{k} with a symbolic n reaches the CAS for k up to this.
inline constexpr int kMaxCasBinomialK = 8;
// Powers nested in exponents (a^{b^{c^d}} is 3): GiNaC's expand()/normal()
// time grows about 5x per level on towers such as t^T^T^a^T^T^T... (12
// levels: 14 s), while real answers stop at e^{x^2} (2).
inline constexpr int kMaxCasExponentNesting = 4;

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

// How deep powers nest through their exponents: x^2 and (x^2)^3 are 1,
// a^{b^c} is 2, a^b^c^d (right-associative) is 3.
int ExponentNesting(const Node& node);

// An upper estimate of the terms that expanding the tree produces, summed
// over its subtrees: (a+b+c)^{20} counts the 231 monomials of degree 20 in
// three symbols. Saturates at 1e18.
double ExpansionTerms(const Node& node);

enum class CasVerdict {
  kEqual,      // a - b simplifies to zero
  kDifferent,  // a - b simplifies to a nonzero number
  kUndecided,  // anything else, unsupported, or over the caps above
  kTimeout,    // the deadline passed while waiting for the CAS
};

// Asks GiNaC whether a - b simplifies to zero. Serialized by one mutex
// (GiNaC's reference counting is not thread-safe); waits for it no longer
// than the deadline.
CasVerdict CasDifferenceIsZero(const Node& a, const Node& b, const Deadline& deadline);

}  // namespace grpo::reward::math

#endif  // GRPO_REWARD_MATH_EVAL_H_
