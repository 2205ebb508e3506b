#include "reward/math_equiv.h"

#include <cmath>
#include <functional>
#include <random>

#include "absl/status/status.h"
#include "reward/math_eval.h"

namespace grpo::reward::math {
namespace {

// Irrationals and decimals against irrationals agree to this when no
// tolerance is configured.
constexpr double kNumericRelTolerance = 1e-9;
constexpr double kNumericAbsTolerance = 1e-12;
// Items in a set or list matched one to one; more is hostile.
constexpr size_t kMaxItems = 64;

bool IsScalar(Op op) {
  switch (op) {
    case Op::kTuple: case Op::kSet: case Op::kList: case Op::kUnion:
    case Op::kRelation: case Op::kMatrix: case Op::kText: case Op::kPlusMinus:
      return false;
    default:
      return true;
  }
}

// Every combination of signs for the \pm inside a scalar (capped at 8).
std::vector<NodePtr> ExpandPlusMinus(const NodePtr& node) {
  if (node->args.empty()) return {node};
  std::vector<std::vector<NodePtr>> choices{{}};
  for (const auto& arg : node->args) {
    std::vector<NodePtr> variants = ExpandPlusMinus(arg);
    std::vector<std::vector<NodePtr>> next;
    for (const auto& prefix : choices) {
      for (const auto& v : variants) {
        next.push_back(prefix);
        next.back().push_back(v);
      }
    }
    choices = std::move(next);
    if (choices.size() > 8) return {node};
  }
  std::vector<NodePtr> out;
  for (auto& args : choices) {
    if (node->op == Op::kPlusMinus) {
      out.push_back(MakeNode(Op::kAdd, {}, {args[0], args[1]}));
      out.push_back(MakeNode(Op::kAdd, {}, {args[0], MakeNode(Op::kNeg, {}, {args[1]})}));
    } else {
      auto copy = std::make_shared<Node>(*node);
      copy->args = std::move(args);
      out.push_back(copy);
    }
  }
  return out;
}

NodePtr LowerPercent(const NodePtr& node, config::PercentPolicy percent) {
  if (node->args.empty()) return node;
  auto copy = std::make_shared<Node>(*node);
  for (auto& a : copy->args) a = LowerPercent(a, percent);
  if (copy->op == Op::kPercent && percent == config::IGNORE_SIGN) return copy->args[0];
  if (copy->op == Op::kPercent && percent == config::STRICT) {
    return MakeNode(Op::kMul, {}, {copy->args[0], MakeNode(Op::kPow, {}, {
        MakeNode(Op::kNumber, "100"), MakeNode(Op::kNumber, "-1")})});
  }
  return copy;
}

// Applies the percent policy and expands \pm, once, before comparing:
// "3 \pm 2" is the set {5, 1}; inside a list its variants join the list.
NodePtr Lower(const NodePtr& node, config::PercentPolicy percent) {
  if (IsScalar(node->op) || node->op == Op::kPlusMinus) {
    auto variants = ExpandPlusMinus(LowerPercent(node, percent));
    return variants.size() > 1 ? MakeNode(Op::kSet, {}, std::move(variants)) : variants[0];
  }
  auto copy = std::make_shared<Node>(*node);
  std::vector<NodePtr> args;
  for (const auto& item : node->args) {
    NodePtr lowered = Lower(item, percent);
    bool splice = (node->op == Op::kList || node->op == Op::kSet) &&
                  lowered->op == Op::kSet && item->op != Op::kSet;
    if (splice) args.insert(args.end(), lowered->args.begin(), lowered->args.end());
    else args.push_back(lowered);
  }
  copy->args = std::move(args);
  return copy;
}

int InfinitySign(const Node& node) {
  if (node.op == Op::kConst && node.text == "inf") return 1;
  if (node.op == Op::kNeg && node.args[0]->op == Op::kConst && node.args[0]->text == "inf") {
    return -1;
  }
  return 0;
}

class Comparer {
 public:
  Comparer(const EquivOptions& options, const Deadline& deadline)
      : options_(options), deadline_(deadline) {}

  absl::Status status() const { return status_; }
  const std::string& how() const { return how_; }

  bool Equal(const NodePtr& a, const NodePtr& b) {
    if (!status_.ok()) return false;
    if (deadline_.Expired()) {
      status_ = absl::DeadlineExceededError("time limit reached while comparing");
      return false;
    }
    // "x = 5" against "5".
    if (options_.strip_variable_assignment) {
      if (IsAssignment(*a) && b->op != Op::kRelation) return Equal(a->args[1], b);
      if (IsAssignment(*b) && a->op != Op::kRelation) return Equal(a, b->args[1]);
    }
    if (IsScalar(a->op) && IsScalar(b->op)) return ScalarEqual(a, b);
    how_ = "structure";
    switch (b->op) {
      case Op::kSet:
      case Op::kList:
        if (a->op == Op::kSet || a->op == Op::kList) return Unordered(a->args, b->args);
        if (b->op == Op::kList && a->op == Op::kTuple && a->open == '(') {
          return Ordered(a->args, b->args);
        }
        return false;
      case Op::kTuple:
        if (a->op == Op::kTuple) {
          return a->open == b->open && a->close == b->close && Ordered(a->args, b->args);
        }
        if (a->op == Op::kList && b->open == '(') return Ordered(a->args, b->args);
        if (a->op == Op::kMatrix && b->open == '(') return VectorEqual(*a, b->args);
        return false;
      case Op::kUnion:
        return a->op == Op::kUnion && Unordered(a->args, b->args);
      case Op::kMatrix:
        if (a->op == Op::kMatrix) {
          return a->rows == b->rows && a->cols == b->cols && Ordered(a->args, b->args);
        }
        if (a->op == Op::kTuple && a->open == '(') return VectorEqual(*b, a->args);
        return false;
      case Op::kRelation:
        return a->op == Op::kRelation && RelationEqual(*a, *b);
      case Op::kText:
        return false;  // MathChecker compares text answers as text
      default:
        return false;
    }
  }

 private:
  static bool IsAssignment(const Node& n) {
    return n.op == Op::kRelation && n.relations.size() == 1 && n.relations[0] == "=" &&
           n.args[0]->op == Op::kSymbol;
  }

  bool Ordered(const std::vector<NodePtr>& a, const std::vector<NodePtr>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!Equal(a[i], b[i])) return false;
    }
    return true;
  }

  // A column or row matrix against a tuple.
  bool VectorEqual(const Node& matrix, const std::vector<NodePtr>& items) {
    if (matrix.rows != 1 && matrix.cols != 1) return false;
    return Ordered(matrix.args, items);
  }

  // One-to-one matching by augmenting paths over the n*n equality table.
  bool Unordered(const std::vector<NodePtr>& a, const std::vector<NodePtr>& b) {
    if (a.size() != b.size()) return false;
    if (a.size() > kMaxItems) {
      status_ = absl::ResourceExhaustedError("too many items to match");
      return false;
    }
    size_t n = a.size();
    std::vector<std::vector<char>> eq(n, std::vector<char>(n));
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) eq[i][j] = Equal(a[i], b[j]);
    }
    std::vector<int> match(n, -1);
    for (size_t i = 0; i < n; ++i) {
      std::vector<char> seen(n, 0);
      std::function<bool(size_t)> augment = [&](size_t u) {
        for (size_t v = 0; v < n; ++v) {
          if (!eq[u][v] || seen[v]) continue;
          seen[v] = 1;
          if (match[v] < 0 || augment(static_cast<size_t>(match[v]))) {
            match[v] = static_cast<int>(u);
            return true;
          }
        }
        return false;
      };
      if (!augment(i)) return false;
    }
    how_ = "structure";
    return true;
  }

  bool RelationEqual(const Node& a, const Node& b) {
    if (a.relations.size() != b.relations.size()) return false;
    auto oriented = [](const Node& r) {
      // a > b is b < a: orient every chain towards "<".
      bool flip = r.relations[0] == ">" || r.relations[0] == ">=";
      std::vector<NodePtr> sides = r.args;
      std::vector<std::string> ops = r.relations;
      if (flip) {
        std::reverse(sides.begin(), sides.end());
        std::reverse(ops.begin(), ops.end());
        for (auto& op : ops) op = op == ">" ? "<" : op == ">=" ? "<=" : op;
      }
      return std::make_pair(sides, ops);
    };
    auto [sa, oa] = oriented(a);
    auto [sb, ob] = oriented(b);
    if (oa != ob) return false;
    if (Ordered(sa, sb)) return true;
    if (oa.size() != 1 || !IsScalar(sa[0]->op) || !IsScalar(sa[1]->op) ||
        !IsScalar(sb[0]->op) || !IsScalar(sb[1]->op)) {
      return false;
    }
    // Same relation written the other way round or rearranged: compare
    // lhs - rhs, and for = and != also up to sign.
    auto diff = [](const std::vector<NodePtr>& s) {
      return MakeNode(Op::kAdd, {}, {s[0], MakeNode(Op::kNeg, {}, {s[1]})});
    };
    NodePtr da = diff(sa), db = diff(sb);
    if (ScalarEqual(da, db)) return true;
    bool symmetric = oa[0] == "=" || oa[0] == "!=";
    if (symmetric && (oa[0] == "=" && ob[0] == "=" ? true : oa[0] == ob[0])) {
      if (Ordered({sa[0], sa[1]}, {sb[1], sb[0]})) return true;
      return ScalarEqual(da, MakeNode(Op::kNeg, {}, {db}));
    }
    return false;
  }

  bool ScalarEqual(const NodePtr& a, const NodePtr& b) {
    // LENIENT percent: "25\%" stands for 25 and for 0.25.
    if (options_.percent == config::LENIENT) {
      bool pa = a->op == Op::kPercent, pb = b->op == Op::kPercent;
      if (pa && pb) return ValueEqual(*a->args[0], *b->args[0]);
      if (pa || pb) {
        const NodePtr& p = pa ? a : b;
        const NodePtr& other = pa ? b : a;
        return ValueEqual(*p->args[0], *other) || ValueEqual(*p, *other);
      }
    }
    return ValueEqual(*a, *b);
  }

  bool ValueEqual(const Node& a, const Node& b) {
    if (ContainsInfinity(a) || ContainsInfinity(b)) {
      how_ = "structure";
      int sa = InfinitySign(a), sb = InfinitySign(b);
      if (sa != 0 || sb != 0) return sa == sb;
      return DebugString(a) == DebugString(b);
    }
    mpq_class qa, qb;
    ExactOutcome ra = ExactValue(a, &qa), rb = ExactValue(b, &qb);
    if (ra == ExactOutcome::kValue && rb == ExactOutcome::kValue) {
      how_ = "exact";
      if (options_.float_rel_tolerance <= 0) return qa == qb;
      mpq_class scale = std::max(abs(qa), abs(qb));
      return abs(qa - qb) <= scale * mpq_class(options_.float_rel_tolerance);
    }
    if (ra == ExactOutcome::kTooLarge || rb == ExactOutcome::kTooLarge) {
      if (DebugString(a) == DebugString(b)) {
        how_ = "structure";
        return true;
      }
      status_ = absl::ResourceExhaustedError("a number is too large to compare");
      return false;
    }
    return ExpressionEqual(a, b);
  }

  // Random points screen; the CAS proves; the points decide where it cannot.
  bool ExpressionEqual(const Node& a, const Node& b) {
    std::set<std::string> names;
    CollectSymbols(a, &names);
    CollectSymbols(b, &names);
    double rel = options_.float_rel_tolerance > 0 ? options_.float_rel_tolerance
                                                  : kNumericRelTolerance;
    // A constant is evaluated once; with symbols, numeric_points = 0 leaves
    // the verdict to the CAS alone.
    int points = names.empty() ? 1 : options_.numeric_points;
    std::mt19937_64 rng(0x9e3779b97f4a7c15ULL);
    std::uniform_real_distribution<double> uniform(0.31, 2.17);
    int agreed = 0;
    for (int k = 0; k < points; ++k) {
      if (deadline_.Expired()) {
        status_ = absl::DeadlineExceededError("time limit reached while evaluating");
        return false;
      }
      std::map<std::string, double> values;
      for (const auto& n : names) values[n] = uniform(rng);
      std::complex<double> va = NumericValue(a, values), vb = NumericValue(b, values);
      if (!std::isfinite(va.real()) || !std::isfinite(va.imag()) || !std::isfinite(vb.real()) ||
          !std::isfinite(vb.imag())) {
        continue;
      }
      double scale = std::max(std::abs(va), std::abs(vb));
      if (std::abs(va - vb) > rel * scale + kNumericAbsTolerance) {
        how_ = "numeric";
        return false;
      }
      ++agreed;
    }
    bool tolerant_numbers = names.empty() && options_.float_rel_tolerance > 0;
    if (options_.symbolic && !tolerant_numbers) {
      switch (CasDifferenceIsZero(a, b, deadline_)) {
        case CasVerdict::kEqual: how_ = "cas"; return true;
        case CasVerdict::kDifferent: how_ = "cas"; return false;
        case CasVerdict::kTimeout:
          status_ = absl::DeadlineExceededError("time limit reached waiting for the CAS");
          return false;
        case CasVerdict::kUndecided: break;
      }
    }
    how_ = "numeric";
    return agreed > 0;
  }

  const EquivOptions& options_;
  const Deadline& deadline_;
  absl::Status status_;
  std::string how_ = "structure";
};

}  // namespace

absl::StatusOr<Equivalence> Equivalent(const NodePtr& prediction, const NodePtr& gold,
                                       const EquivOptions& options, const Deadline& deadline) {
  Comparer comparer(options, deadline);
  NodePtr a = Lower(prediction, options.percent);
  NodePtr b = Lower(gold, options.percent);
  bool equal = comparer.Equal(a, b);
  if (!comparer.status().ok()) return comparer.status();
  return Equivalence{equal, comparer.how()};
}

}  // namespace grpo::reward::math
