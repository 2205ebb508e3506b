// Reading an answer (LaTeX or plain text) into a small math tree.
//
// One tree type covers scalars and structures, so that "(1, 2)", "[0, 1)",
// "\{1, 2\}", "x = 5", "3 \pm \sqrt{2}" and matrices are compared by the same
// recursive rule in math_equiv. Private to reward/.
#ifndef GRPO_REWARD_LATEX_PARSE_H_
#define GRPO_REWARD_LATEX_PARSE_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace grpo::reward::math {

enum class Op {
  // Scalars.
  kNumber,     // text: exact decimal literal, "12", "0.35", "1.5e-3"
  kSymbol,     // text: name ("x", "a_1")
  kConst,      // text: "pi", "e" (Euler), "inf"
  kAdd,        // args: terms
  kMul,        // args: factors (division is a factor to the power -1)
  kPow,        // args: base, exponent
  kNeg,        // args: operand
  kFunc,       // text: name ("sqrt", "sin", "log", "abs", "floor", ...); args
  kFactorial,  // args: operand
  kPercent,    // args: operand; what it means is the percent policy's call
  kPlusMinus,  // args: a, b for "a \pm b" (or 0, b for "\pm b"); expanded before comparing
  // Structures.
  kTuple,      // args: items; open/close: the brackets, "(" "[" "]" ")"
  kSet,        // args: items, unordered ("\{...\}", "\emptyset")
  kList,       // args: items of a bare comma list "1, 2, 3"
  kUnion,      // args: intervals joined by \cup
  kRelation,   // args: sides; relations: ops between them ("=", "<", "<=", "!=")
  kMatrix,     // args: rows * cols entries, row-major
  kText,       // text: words that are not math ("Evelyn", "4:30 p.m.")
};

struct Node;
using NodePtr = std::shared_ptr<const Node>;

struct Node {
  Op op = Op::kNumber;
  std::string text;
  std::vector<NodePtr> args;
  char open = 0, close = 0;          // kTuple
  std::vector<std::string> relations;  // kRelation
  int rows = 0, cols = 0;            // kMatrix
};

NodePtr MakeNode(Op op, std::string text = {}, std::vector<NodePtr> args = {});

// A monotonic deadline shared by every stage of one check.
class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds budget)
      : end_(std::chrono::steady_clock::now() + budget) {}
  bool Expired() const { return std::chrono::steady_clock::now() > end_; }
  std::chrono::steady_clock::time_point end() const { return end_; }

 private:
  std::chrono::steady_clock::time_point end_;
};

// Longest answer we read as math; longer ones are errors, not work.
inline constexpr size_t kMaxAnswerBytes = 8192;
// Deepest nesting of brackets, exponents and arguments.
inline constexpr int kMaxDepth = 64;

// Parses one answer. Returns InvalidArgument (with a short reason) for text
// that is not readable math, ResourceExhausted for answers over the size or
// depth limits, DeadlineExceeded past the deadline. Never throws.
absl::StatusOr<NodePtr> ParseAnswer(std::string_view answer, const Deadline& deadline);

// The tree in a compact, unambiguous prefix form; for tests and reasons.
std::string DebugString(const Node& node);

}  // namespace grpo::reward::math

#endif  // GRPO_REWARD_LATEX_PARSE_H_
