#include "reward/math_eval.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include <ginac/ginac.h>

namespace grpo::reward::math {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool AllDigits(std::string_view s) {
  return s.find_first_not_of("0123456789") == std::string_view::npos;
}

// "12.5e-3" -> 125/10000. kNotExact for anything not shaped like a decimal
// literal (the parser should not make one, but GMP would throw on it);
// kTooLarge past 4096 digits or a 10^4096 scale.
ExactOutcome ParseDecimal(const std::string& literal, mpq_class* out) {
  std::string mantissa = literal;
  long exponent = 0;
  if (size_t e = literal.find_first_of("eE"); e != std::string::npos) {
    mantissa = literal.substr(0, e);
    std::string_view exp_text = std::string_view(literal).substr(e + 1);
    if (!exp_text.empty() && (exp_text[0] == '-' || exp_text[0] == '+')) {
      exponent = exp_text[0] == '-' ? -1 : 1;
      exp_text.remove_prefix(1);
    } else {
      exponent = 1;
    }
    if (exp_text.empty() || !AllDigits(exp_text)) return ExactOutcome::kNotExact;
    if (exp_text.size() > 6) return ExactOutcome::kTooLarge;
    exponent *= std::stol(std::string(exp_text));
  }
  long fraction_digits = 0;
  if (size_t dot = mantissa.find('.'); dot != std::string::npos) {
    fraction_digits = static_cast<long>(mantissa.size() - dot - 1);
    mantissa.erase(dot, 1);
  }
  bool negative = !mantissa.empty() && mantissa[0] == '-';  // the parser's "-1"
  if (negative) mantissa.erase(0, 1);
  if (mantissa.empty() || !AllDigits(mantissa)) return ExactOutcome::kNotExact;
  exponent -= fraction_digits;
  if (std::labs(exponent) > 4096 || mantissa.size() > 4096) return ExactOutcome::kTooLarge;
  mpz_class scale;
  mpz_ui_pow_ui(scale.get_mpz_t(), 10, static_cast<unsigned long>(std::labs(exponent)));
  mpz_class digits(mantissa, 10);
  if (negative) digits = -digits;
  *out = exponent >= 0 ? mpq_class(digits * scale) : mpq_class(digits, scale);
  out->canonicalize();
  return ExactOutcome::kValue;
}

long Bits(const mpq_class& q) {
  return static_cast<long>(std::max(mpz_sizeinbase(q.get_num_mpz_t(), 2),
                                    mpz_sizeinbase(q.get_den_mpz_t(), 2)));
}

// Exact q-th root of an integer, if there is one.
bool ExactRoot(const mpz_class& x, unsigned long q, mpz_class* root) {
  return mpz_root(root->get_mpz_t(), x.get_mpz_t(), q) != 0;
}

ExactOutcome ExactPow(const mpq_class& base, const mpq_class& exponent, mpq_class* out) {
  mpz_class num = exponent.get_num(), den = exponent.get_den();
  mpq_class b = base;
  if (den != 1) {  // rational exponent: a perfect root or nothing
    if (den > 64 || (b < 0 && mpz_even_p(den.get_mpz_t()))) return ExactOutcome::kNotExact;
    mpz_class rn, rd;
    if (!ExactRoot(b.get_num(), den.get_ui(), &rn) || !ExactRoot(b.get_den(), den.get_ui(), &rd)) {
      return ExactOutcome::kNotExact;
    }
    b = mpq_class(rn, rd);
  }
  if (b == 0 && num < 0) return ExactOutcome::kNotExact;
  if (b == 0 || b == 1) { *out = b; return ExactOutcome::kValue; }
  if (b == -1) { *out = mpz_even_p(num.get_mpz_t()) ? 1 : -1; return ExactOutcome::kValue; }
  // |b| >= 2 here, so an exponent over kMaxExactBits is too large anyway;
  // checking it first keeps Bits(b) * |n| from overflowing (found by UBSan).
  if (mpz_cmpabs_ui(num.get_mpz_t(), static_cast<unsigned long>(kMaxExactBits)) > 0) {
    return ExactOutcome::kTooLarge;
  }
  long n = num.get_si();
  if (Bits(b) * std::labs(n) > kMaxExactBits) return ExactOutcome::kTooLarge;
  mpz_class p, q;
  mpz_pow_ui(p.get_mpz_t(), b.get_num_mpz_t(), std::labs(n));
  mpz_pow_ui(q.get_mpz_t(), b.get_den_mpz_t(), std::labs(n));
  *out = n >= 0 ? mpq_class(p, q) : mpq_class(q, p);
  out->canonicalize();
  return ExactOutcome::kValue;
}

bool IsSmallNonNegativeInt(const mpq_class& q, unsigned long limit) {
  return q.get_den() == 1 && q >= 0 && q <= limit;
}

}  // namespace

ExactOutcome ExactValue(const Node& node, mpq_class* value) {
  auto arg = [&](size_t i, mpq_class* out) { return ExactValue(*node.args[i], out); };
  switch (node.op) {
    case Op::kNumber:
      return ParseDecimal(node.text, value);
    case Op::kAdd:
    case Op::kMul: {
      mpq_class acc = node.op == Op::kAdd ? 0 : 1;
      for (size_t i = 0; i < node.args.size(); ++i) {
        mpq_class v;
        if (auto r = arg(i, &v); r != ExactOutcome::kValue) return r;
        if (node.op == Op::kAdd) acc += v;
        else acc *= v;
        if (Bits(acc) > kMaxExactBits) return ExactOutcome::kTooLarge;
      }
      *value = acc;
      return ExactOutcome::kValue;
    }
    case Op::kNeg:
    case Op::kPercent: {
      mpq_class v;
      if (auto r = arg(0, &v); r != ExactOutcome::kValue) return r;
      *value = node.op == Op::kNeg ? mpq_class(-v) : mpq_class(v / 100);
      return ExactOutcome::kValue;
    }
    case Op::kPow: {
      mpq_class b, e;
      if (auto r = arg(0, &b); r != ExactOutcome::kValue) return r;
      if (auto r = arg(1, &e); r != ExactOutcome::kValue) return r;
      return ExactPow(b, e, value);
    }
    case Op::kFactorial: {
      mpq_class n;
      if (auto r = arg(0, &n); r != ExactOutcome::kValue) return r;
      if (!IsSmallNonNegativeInt(n, 5000)) return ExactOutcome::kTooLarge;
      mpz_class f;
      mpz_fac_ui(f.get_mpz_t(), n.get_num().get_ui());
      *value = f;
      return ExactOutcome::kValue;
    }
    case Op::kFunc: {
      mpq_class x;
      if (auto r = arg(0, &x); r != ExactOutcome::kValue) return r;
      if (node.text == "sqrt") return ExactPow(x, mpq_class(1, 2), value);
      if (node.text == "abs") { *value = abs(x); return ExactOutcome::kValue; }
      if (node.text == "floor" || node.text == "ceil") {
        mpz_class z;
        if (node.text == "floor") mpz_fdiv_q(z.get_mpz_t(), x.get_num_mpz_t(), x.get_den_mpz_t());
        else mpz_cdiv_q(z.get_mpz_t(), x.get_num_mpz_t(), x.get_den_mpz_t());
        *value = z;
        return ExactOutcome::kValue;
      }
      if (node.text == "binom" && node.args.size() == 2) {
        mpq_class k;
        if (auto r = arg(1, &k); r != ExactOutcome::kValue) return r;
        if (!IsSmallNonNegativeInt(x, 100000) || !IsSmallNonNegativeInt(k, 100000)) {
          return ExactOutcome::kNotExact;
        }
        mpz_class c;
        mpz_bin_uiui(c.get_mpz_t(), x.get_num().get_ui(), k.get_num().get_ui());
        *value = c;
        return ExactOutcome::kValue;
      }
      return ExactOutcome::kNotExact;
    }
    default:
      return ExactOutcome::kNotExact;
  }
}

std::complex<double> NumericValue(const Node& node, const std::map<std::string, double>& symbols) {
  using C = std::complex<double>;
  auto arg = [&](size_t i) { return NumericValue(*node.args[i], symbols); };
  switch (node.op) {
    case Op::kNumber: {
      mpq_class q;
      return ParseDecimal(node.text, &q) == ExactOutcome::kValue ? C(q.get_d()) : C(kNaN);
    }
    case Op::kSymbol: {
      auto it = symbols.find(node.text);
      return it == symbols.end() ? C(kNaN) : C(it->second);
    }
    case Op::kConst:
      if (node.text == "pi") return M_PI;
      if (node.text == "e") return M_E;
      if (node.text == "i") return C(0, 1);
      return C(kNaN);  // infinity is compared by structure, not value
    case Op::kAdd: {
      C acc = 0;
      for (size_t i = 0; i < node.args.size(); ++i) acc += arg(i);
      return acc;
    }
    case Op::kMul: {
      C acc = 1;
      for (size_t i = 0; i < node.args.size(); ++i) acc *= arg(i);
      return acc;
    }
    case Op::kNeg: {
      // -(4+0i) is -4+0i, not -4-0i: the sign of a zero imaginary part
      // picks the branch of sqrt and log.
      C x = -arg(0);
      return x.imag() == 0 ? C(x.real(), 0.0) : x;
    }
    case Op::kPercent: return arg(0) / 100.0;
    case Op::kPow: {
      C b = arg(0), e = arg(1);
      // Real powers stay real where they can: (-8)^(1/3) is -2 to a reader.
      if (b.imag() == 0 && e.imag() == 0) {
        if (b.real() >= 0 || e.real() == std::round(e.real())) return std::pow(b.real(), e.real());
        mpq_class q;
        if (ExactValue(*node.args[1], &q) == ExactOutcome::kValue && mpz_odd_p(q.get_den_mpz_t())) {
          return -std::pow(-b.real(), e.real());
        }
      }
      return std::pow(b, e);
    }
    case Op::kFactorial: return std::tgamma(arg(0).real() + 1);
    case Op::kFunc: {
      const std::string& f = node.text;
      C x = arg(0);
      if (f == "sqrt") return std::sqrt(x);
      if (f == "sin") return std::sin(x);
      if (f == "cos") return std::cos(x);
      if (f == "tan") return std::tan(x);
      if (f == "sec") return 1.0 / std::cos(x);
      if (f == "csc") return 1.0 / std::sin(x);
      if (f == "cot") return std::cos(x) / std::sin(x);
      if (f == "arcsin") return std::asin(x);
      if (f == "arccos") return std::acos(x);
      if (f == "arctan") return std::atan(x);
      if (f == "sinh") return std::sinh(x);
      if (f == "cosh") return std::cosh(x);
      if (f == "tanh") return std::tanh(x);
      if (f == "log") return std::log(x);
      if (f == "log10") return std::log10(x);
      if (f == "exp") return std::exp(x);
      if (f == "abs") return std::abs(x);
      if (f == "floor") return std::floor(x.real());
      if (f == "ceil") return std::ceil(x.real());
      if (f == "binom" && node.args.size() == 2) {
        C k = arg(1);
        // A whole k: the falling product, right for any n ("\binom{n}{2}"
        // at n = 0.5 is negative); else the gamma function.
        if (k.imag() == 0 && k.real() >= 0 && k.real() <= 1e5 && k.real() == std::round(k.real())) {
          C product = 1;
          for (int j = 0; j < static_cast<int>(k.real()); ++j) product *= (x - C(j)) / C(j + 1);
          return product;
        }
        double n = x.real(), kr = k.real();
        return std::tgamma(n + 1) / (std::tgamma(kr + 1) * std::tgamma(n - kr + 1));
      }
      return C(kNaN);
    }
    default:
      return C(kNaN);
  }
}

void CollectSymbols(const Node& node, std::set<std::string>* symbols) {
  if (node.op == Op::kSymbol) symbols->insert(node.text);
  for (const auto& a : node.args) CollectSymbols(*a, symbols);
}

bool ContainsInfinity(const Node& node) {
  if (node.op == Op::kConst && node.text == "inf") return true;
  for (const auto& a : node.args) {
    if (ContainsInfinity(*a)) return true;
  }
  return false;
}

int CountNodes(const Node& node) {
  int n = 1;
  for (const auto& a : node.args) n += CountNodes(*a);
  return n;
}

int ExponentNesting(const Node& node) {
  if (node.op == Op::kPow && node.args.size() == 2) {
    return std::max(ExponentNesting(*node.args[0]), 1 + ExponentNesting(*node.args[1]));
  }
  int deepest = 0;
  for (const auto& a : node.args) deepest = std::max(deepest, ExponentNesting(*a));
  return deepest;
}

namespace {

constexpr double kTermsCap = 1e18;

// Terms of a base of `base_terms` terms raised to `exponent` once expanded.
double PowerTerms(const Node& exponent, double base_terms, double exponent_terms) {
  mpq_class e;
  if (ExactValue(exponent, &e) != ExactOutcome::kValue || e.get_den() != 1 || base_terms <= 1) {
    return std::max(base_terms, exponent_terms);
  }
  // A sum of t terms to the power k has C(k + t - 1, k) monomials.
  double k = std::min(std::fabs(e.get_d()), 1e6), terms = 1;
  for (double i = 1; i <= k && terms < kTermsCap; ++i) {
    terms = std::min(kTermsCap, terms * (base_terms - 1 + i) / i);
  }
  return terms;
}

// Terms of this subtree once expanded; adds every subtree's count to *work.
double Terms(const Node& node, double* work) {
  std::vector<double> t;
  for (const auto& a : node.args) t.push_back(Terms(*a, work));
  double terms = 1;
  switch (node.op) {
    case Op::kAdd:
      terms = 0;
      for (double x : t) terms += x;
      break;
    case Op::kMul:
      for (double x : t) terms = std::min(kTermsCap, terms * x);
      break;
    case Op::kNeg: case Op::kPercent: case Op::kFactorial:
      terms = t[0];
      break;
    case Op::kPow:
      terms = PowerTerms(*node.args[1], t[0], t[1]);
      break;
    case Op::kFunc:  // binomial(n, k) expands like n^k; other arguments stay inside
      if (node.text == "binom" && t.size() == 2) terms = PowerTerms(*node.args[1], t[0], t[1]);
      break;
    default:
      break;  // numbers, symbols (and function arguments, counted in *work)
  }
  *work = std::min(kTermsCap, *work + terms);
  return terms;
}

}  // namespace

double ExpansionTerms(const Node& node) {
  double work = 0;
  Terms(node, &work);
  return work;
}

namespace {

// Tree -> GiNaC expression; nullopt for what the CAS should not see.
class CasBuilder {
 public:
  std::optional<GiNaC::ex> Build(const Node& node) {
    std::vector<GiNaC::ex> args;
    for (const auto& a : node.args) {
      auto e = Build(*a);
      if (!e) return std::nullopt;
      args.push_back(*e);
    }
    switch (node.op) {
      case Op::kNumber: {
        mpq_class q;
        if (ParseDecimal(node.text, &q) != ExactOutcome::kValue) return std::nullopt;
        return GiNaC::numeric(q.get_num().get_str().c_str()) /
               GiNaC::numeric(q.get_den().get_str().c_str());
      }
      case Op::kSymbol: {
        auto [it, inserted] = symbols_.try_emplace(node.text, node.text);
        return GiNaC::ex(it->second);
      }
      case Op::kConst:
        if (node.text == "pi") return GiNaC::ex(GiNaC::Pi);
        if (node.text == "e") return GiNaC::exp(GiNaC::ex(1));
        if (node.text == "i") return GiNaC::ex(GiNaC::I);
        return std::nullopt;
      case Op::kAdd: {
        GiNaC::ex sum = 0;
        for (auto& a : args) sum += a;
        return sum;
      }
      case Op::kMul: {
        GiNaC::ex product = 1;
        for (auto& a : args) product *= a;
        return product;
      }
      case Op::kNeg: return -args[0];
      case Op::kPercent: return args[0] / 100;
      case Op::kPow:
        // GiNaC throws on 0^-1 (also 1/(x-x), which it folds to 0 first) and
        // leaks the half-built power: keep such input away from it.
        if (args[0].is_zero() && !(GiNaC::is_a<GiNaC::numeric>(args[1]) &&
                                   GiNaC::ex_to<GiNaC::numeric>(args[1]).is_positive())) {
          return std::nullopt;
        }
        // Expanding (x+1)^n (y+1)^m ... costs the product of the degrees;
        // the sum of symbolic exponents bounds it (exact arithmetic has the
        // large numeric powers already).
        if (GiNaC::is_a<GiNaC::numeric>(args[1])) {
          const auto& e = GiNaC::ex_to<GiNaC::numeric>(args[1]);
          if (!e.is_rational() || GiNaC::abs(e) > kMaxCasDegree) return std::nullopt;
          if (!GiNaC::is_a<GiNaC::numeric>(args[0])) {
            degree_ += GiNaC::abs(e).to_double();
            if (degree_ > kMaxCasDegree) return std::nullopt;
          } else if (Bits(GiNaC::ex_to<GiNaC::numeric>(args[0])) * GiNaC::abs(e).to_double() >
                     kMaxExactBits) {
            return std::nullopt;  // ((10^64)^64)^64 is computed when it is built
          }
        } else if (!CountExponentConstant(args[1])) {
          return std::nullopt;
        }
        return GiNaC::pow(args[0], args[1]);
      case Op::kFactorial:
        if (!GiNaC::is_a<GiNaC::numeric>(args[0]) ||
            GiNaC::abs(GiNaC::ex_to<GiNaC::numeric>(args[0])) > 1000) {
          return std::nullopt;
        }
        return GiNaC::factorial(args[0]);
      case Op::kFunc:
        // Functions with poles throw (and leak) on them; constant arguments
        // are the numeric evaluation's to judge.
        if (HasPoles(node.text)) {
          std::set<std::string> names;
          CollectSymbols(node, &names);
          if (names.empty() || args[0].is_zero()) return std::nullopt;
        }
        return Function(node.text, args);
      default: return std::nullopt;
    }
  }

 private:
  static bool HasPoles(const std::string& f) {
    return f == "log" || f == "log10" || f == "tan" || f == "sec" || f == "csc" || f == "cot";
  }

  std::optional<GiNaC::ex> Function(const std::string& f, const std::vector<GiNaC::ex>& a) {
    const GiNaC::ex& x = a[0];
    if (f == "sqrt") return GiNaC::sqrt(x);
    if (f == "sin") return GiNaC::sin(x);
    if (f == "cos") return GiNaC::cos(x);
    if (f == "tan") return GiNaC::tan(x);
    if (f == "sec") return 1 / GiNaC::cos(x);
    if (f == "csc") return 1 / GiNaC::sin(x);
    if (f == "cot") return GiNaC::cos(x) / GiNaC::sin(x);
    if (f == "arcsin") return GiNaC::asin(x);
    if (f == "arccos") return GiNaC::acos(x);
    if (f == "arctan") return GiNaC::atan(x);
    if (f == "sinh") return GiNaC::sinh(x);
    if (f == "cosh") return GiNaC::cosh(x);
    if (f == "tanh") return GiNaC::tanh(x);
    if (f == "log") return GiNaC::log(x);
    if (f == "log10") return GiNaC::log(x) / GiNaC::log(GiNaC::ex(10));
    if (f == "exp") return GiNaC::exp(x);
    if (f == "abs") return GiNaC::abs(x);
    if (f == "binom" && a.size() == 2) {
      // GiNaC evaluates binomial(n, k) as it is built: for numbers the exact
      // value, for a symbolic n the expanded product n(n-1)...(n-k+1)/k!,
      // whose cost grows fast with k. Keep both small.
      auto at_most = [](const GiNaC::ex& v, int limit) {
        return GiNaC::is_a<GiNaC::numeric>(v) &&
               GiNaC::abs(GiNaC::ex_to<GiNaC::numeric>(v)) <= limit;
      };
      bool numeric_n = GiNaC::is_a<GiNaC::numeric>(x);
      if (!at_most(a[1], numeric_n ? kMaxCasDegree : kMaxCasBinomialK) ||
          (numeric_n && !at_most(x, kMaxCasDegree))) {
        return std::nullopt;
      }
      return GiNaC::binomial(x, a[1]);
    }
    return std::nullopt;
  }

  // expand() splits a^(y+15000) into a^y a^15000 and expands the second
  // factor: the numbers added in an exponent count towards the degree too.
  bool CountExponentConstant(const GiNaC::ex& exponent) {
    GiNaC::ex e = exponent.expand();
    if (!GiNaC::is_exactly_a<GiNaC::add>(e)) return true;
    for (size_t i = 0; i < e.nops(); ++i) {
      if (!GiNaC::is_a<GiNaC::numeric>(e.op(i))) continue;
      degree_ += GiNaC::abs(GiNaC::ex_to<GiNaC::numeric>(e.op(i))).to_double();
      if (degree_ > kMaxCasDegree) return false;
    }
    return true;
  }

  // Bits of a (rational or complex rational) number; large for anything else.
  static double Bits(const GiNaC::numeric& n) {
    double bits = 0;
    for (const GiNaC::numeric& part : {n.real(), n.imag()}) {
      if (!part.is_rational()) return 1e9;
      bits += part.numer().int_length() + part.denom().int_length();
    }
    return bits;
  }

  std::map<std::string, GiNaC::realsymbol> symbols_;
  double degree_ = 0;  // sum of |integer exponents| on symbolic bases
};

std::timed_mutex& CasMutex() {
  static std::timed_mutex mu;
  return mu;
}

}  // namespace

CasVerdict CasDifferenceIsZero(const Node& a, const Node& b, const Deadline& deadline) {
  if (CountNodes(a) + CountNodes(b) > kMaxCasNodes ||
      ExpansionTerms(a) + ExpansionTerms(b) > kMaxCasTerms ||
      std::max(ExponentNesting(a), ExponentNesting(b)) > kMaxCasExponentNesting) {
    return CasVerdict::kUndecided;
  }
  std::unique_lock<std::timed_mutex> lock(CasMutex(), std::defer_lock);
  if (!lock.try_lock_until(deadline.end())) return CasVerdict::kTimeout;
  try {
    CasBuilder builder;
    auto ea = builder.Build(a);
    auto eb = builder.Build(b);
    if (!ea || !eb) return CasVerdict::kUndecided;
    GiNaC::ex diff = (*ea - *eb).expand().normal();
    if (diff.is_zero()) return CasVerdict::kEqual;
    if (GiNaC::is_a<GiNaC::numeric>(diff)) return CasVerdict::kDifferent;
    return CasVerdict::kUndecided;
  } catch (const std::exception&) {  // GiNaC reports x/0 and friends by throwing
    return CasVerdict::kUndecided;
  }
}

}  // namespace grpo::reward::math
