// The LaTeX reader behind the math checker: tree shapes (as DebugString's
// prefix form) for the constructs answers use, the parse errors, and the
// text-level normalization in front of it.
#include "reward/latex_parse.h"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "reward/latex_normalize.h"

namespace grpo::reward::math {
namespace {

Deadline Generous() { return Deadline(std::chrono::seconds(10)); }

// The tree of `answer` in prefix form, or "error: <message>".
std::string Tree(std::string_view answer) {
  Deadline deadline = Generous();
  absl::StatusOr<NodePtr> node = ParseAnswer(answer, deadline);
  if (!node.ok()) return "error: " + std::string(node.status().message());
  return DebugString(**node);
}

absl::StatusCode ErrorCode(std::string_view answer) {
  Deadline deadline = Generous();
  return ParseAnswer(answer, deadline).status().code();
}

struct ShapeCase {
  const char* answer;
  const char* tree;
};

void ExpectShapes(const std::vector<ShapeCase>& cases) {
  for (const auto& c : cases) EXPECT_EQ(Tree(c.answer), c.tree) << "answer: " << c.answer;
}

// --------------------------------------------------------------- scalars --

TEST(LatexParseTest, NumbersAndConstants) {
  ExpectShapes({
      {"42", "42"},
      {"0.35", "0.35"},
      {".5", ".5"},
      {"1.5e-3", "1.5e-3"},
      {"2E10", "2e10"},
      {"5.", "5"},  // a trailing period ends the sentence
      {"\\pi", "#pi"},
      {"e", "#e"},    // Euler's number
      {"i", "#i"},    // the imaginary unit
      {"a_i", "a_#i"},  // ... but a subscript is a name
      {"\\infty", "#inf"},
      {"2e", "(* 2 #e)"},  // not scientific notation without digits
  });
}

TEST(LatexParseTest, PrecedenceAndAssociativity) {
  ExpectShapes({
      {"1+2*3", "(+ 1 (* 2 3))"},
      {"(1+2)*3", "(* (+ 1 2) 3)"},
      {"1-2-3", "(+ 1 (- 2) (- 3))"},
      {"6/2(1+2)", "(* 6 (^ 2 -1) (+ 1 2))"},  // left to right, as written
      {"2\\cdot 3\\times 4", "(* 2 3 4)"},
      {"6 \\div 3", "(* 6 (^ 3 -1))"},
      {"2^3^2", "(^ 2 (^ 3 2))"},  // powers are right-associative
      {"x^x^x", "(^ x (^ x x))"},
      {"2^{10}", "(^ 2 10)"},
      {"2^10", "(^ 2 10)"},  // plain text: the whole number is the exponent
      {"x^-1", "(^ x (- 1))"},
  });
}

TEST(LatexParseTest, UnaryMinus) {
  ExpectShapes({
      {"-x^2", "(- (^ x 2))"},  // minus binds looser than the power
      {"-2+3", "(+ (- 2) 3)"},
      {"2*-3", "(* 2 (- 3))"},
      {"-\\frac{1}{2}", "(- (* 1 (^ 2 -1)))"},
  });
}

TEST(LatexParseTest, ImplicitMultiplication) {
  ExpectShapes({
      {"2x", "(* 2 x)"},
      {"2\\pi r", "(* 2 #pi r)"},
      {"xy", "(* x y)"},
      {"2ab", "(* 2 (* a b))"},  // a short word is a product, not a unit
      {"3(x+1)", "(* 3 (+ x 1))"},
      {"(x+1)(x-1)", "(* (+ x 1) (+ x (- 1)))"},
      {"2\\sqrt{3}", "(* 2 (sqrt 3))"},
  });
}

TEST(LatexParseTest, Fractions) {
  ExpectShapes({
      {"\\frac{a}{b}", "(* a (^ b -1))"},
      {"\\dfrac{1}{2}", "(* 1 (^ 2 -1))"},
      {"\\tfrac{1}{2}", "(* 1 (^ 2 -1))"},
      {"\\frac12", "(* 1 (^ 2 -1))"},  // one-token arguments
      {"\\frac 59", "(* 5 (^ 9 -1))"},
      {"\\frac ab", "(* a (^ b -1))"},
      {"\\frac1e5", "(* (* 1 (^ #e -1)) 5)"},  // one character per argument
      {"12\\frac{3}{5}", "(+ 12 (* 3 (^ 5 -1)))"},  // mixed numbers
      {"1\\frac12", "(+ 1 (* 1 (^ 2 -1)))"},
      {"12 3/5", "(+ 12 (* 3 (^ 5 -1)))"},
      {"2\\frac{x}{5}", "(* 2 (* x (^ 5 -1)))"},  // not a mixed number
  });
}

TEST(LatexParseTest, RootsAndFunctions) {
  ExpectShapes({
      {"\\sqrt{2}", "(sqrt 2)"},
      {"\\sqrt2", "(sqrt 2)"},
      {"sqrt(2)", "(sqrt 2)"},
      {"\\sqrt[3]{x}", "(^ x (^ 3 -1))"},
      {"\\sin x", "(sin x)"},
      {"\\sin(x)", "(sin x)"},
      {"\\sin 2x", "(sin (* 2 x))"},
      {"\\sin x^2", "(sin (^ x 2))"},
      {"\\sin^2 x", "(^ (sin x) 2)"},
      {"\\sin^{-1} x", "(arcsin x)"},  // the inverse function, not 1/sin
      {"\\tan^{-1}(1)", "(arctan 1)"},
      {"\\ln x", "(log x)"},
      {"\\log_2 8", "(* (log 8) (^ (log 2) -1))"},
      {"\\log_{10} x", "(* (log x) (^ (log 10) -1))"},
      {"|x|", "(abs x)"},
      {"\\left| x-1 \\right|", "(abs (+ x (- 1)))"},
      {"\\lfloor x \\rfloor", "(floor x)"},
      {"\\binom{5}{2}", "(binom 5 2)"},
      {"5!", "(! 5)"},
      {"(n+1)!", "(! (+ n 1))"},
  });
}

TEST(LatexParseTest, PercentDegreesUnitsSubscripts) {
  ExpectShapes({
      {"25\\%", "(% 25)"},
      {"25%", "(% 25)"},
      {"25 percent", "(% 25)"},
      {"120^\\circ", "120"},
      {"120^{\\circ}", "120"},
      {"120\xC2\xB0", "120"},
      {"5 cm", "5"},
      {"5 m", "5"},
      {"3 apples", "3"},
      {"100\\text{ square units}", "100"},
      {"15\\mbox{ cm}^2", "15"},
      {"5\\text{ cm}^{2}", "5"},
      {"\\$6", "6"},
      {"a_1", "a_1"},
      {"x_{10}", "x_10"},
      {"\\alpha_2", "alpha_2"},
  });
}

TEST(LatexParseTest, NumberFormats) {
  ExpectShapes({
      {"1,000", "1000"},
      {"10{,}000", "10000"},
      {"900,\\!000,\\!000", "900000000"},
      {"\\$32,\\!348", "32348"},
      {"-2,500.5", "(- 2500.5)"},
      {"10 000", "10000"},
      {"1,2", "(list 1 2)"},       // a list, not 12
      {"1, 234", "(list 1 234)"},  // a space after the comma: a list
  });
}

// ------------------------------------------------------------ structures --

TEST(LatexParseTest, Structures) {
  ExpectShapes({
      {"(1,2)", "(1 2)"},
      {"[1,2)", "[1 2)"},
      {"(-\\infty, 3]", "((- #inf) 3]"},
      {"\\left(1, 2\\right)", "(1 2)"},
      {"\\langle 1,2 \\rangle", "(1 2)"},
      {"\\{1,2\\}", "{1 2}"},
      {"\\emptyset", "{}"},
      {"1, 2, 3", "(list 1 2 3)"},
      {"1 \\text{ or } 2", "(list 1 2)"},
      {"(0,9)\\cup(9,36)", "(cup (0 9) (9 36))"},
      {"3 \\pm 2\\sqrt{2}", "(+- 3 (* 2 (sqrt 2)))"},
      {"\\pm 2", "(+- 0 2)"},
      {"x = 5", "(rel x = 5)"},
      {"1 < x \\le 3", "(rel 1 < x <= 3)"},
      {"x \\ne 2", "(rel x != 2)"},
      {"x \\in [1,2)", "[1 2)"},
      {"\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "(matrix 2x2 1 2 3 4)"},
      {"\\begin{bmatrix}1\\\\2\\end{bmatrix}", "(matrix 2x1 1 2)"},
      {"\\text{Evelyn}", "\"Evelyn\""},
  });
}

// ---------------------------------------------------------------- errors --

TEST(LatexParseTest, ErrorsAreInvalidArgumentWithAReason) {
  struct Case {
    const char* answer;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "empty answer"},
           {"   ", "empty answer"},
           {"(1+2", "unclosed bracket"},
           {"1+2)", "unexpected ')'"},
           {"\\frac{1}{2", "expected '}'"},
           {"()", "empty brackets"},
           {"1+", "answer ends early"},
           {"\\foo{3}", "unsupported command \\foo"},
           {"2 3", "two numbers in a row"},
           {"\\begin{pmatrix}1&2\\\\3\\end{pmatrix}", "ragged matrix"},
           {"5\xff", "unexpected '\\xff'"},  // raw bytes are escaped in reasons
       }) {
    Deadline deadline = Generous();
    absl::StatusOr<NodePtr> node = ParseAnswer(c.answer, deadline);
    ASSERT_FALSE(node.ok()) << c.answer;
    EXPECT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument) << c.answer;
    EXPECT_EQ(node.status().message(), c.message) << c.answer;
  }
}

TEST(LatexParseTest, NulByteIsNotMath) {
  EXPECT_EQ(Tree(std::string("5\0", 2)), "error: unexpected '\\x00'");
}

TEST(LatexParseTest, LimitsAreResourceExhausted) {
  EXPECT_EQ(ErrorCode(std::string(kMaxAnswerBytes + 1, '1')), absl::StatusCode::kResourceExhausted);
  std::string deep = std::string(100, '(') + "1" + std::string(100, ')');
  EXPECT_EQ(ErrorCode(deep), absl::StatusCode::kResourceExhausted);
  std::string powers;
  for (int i = 0; i < 100; ++i) powers += "2^";
  EXPECT_EQ(ErrorCode(powers + "2"), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrorCode("5" + std::string(100, '!')), absl::StatusCode::kResourceExhausted);
  // Within the depth limit it parses.
  EXPECT_EQ(Tree("((((1))))"), "1");
}

TEST(LatexParseTest, ExpiredDeadlineIsDeadlineExceeded) {
  Deadline expired(std::chrono::milliseconds(-1));
  std::string sum = "1";
  for (int i = 0; i < 500; ++i) sum += "+1";
  EXPECT_EQ(ParseAnswer(sum, expired).status().code(), absl::StatusCode::kDeadlineExceeded);
}

// --------------------------------------------------------- normalization --

TEST(CanonicalTextTest, DropsWhatNeverChangesAValue) {
  struct Case {
    const char* answer;
    const char* canonical;
  };
  for (const Case& c : std::vector<Case>{
           {"\\left( 1, 2 \\right)", "(1,2)"},
           {"\\dfrac{1}{2}", "\\frac12"},
           {"\\tfrac{1}{2}", "\\frac12"},
           {"\\frac{12}{3}", "\\frac{12}3"},  // multi-digit groups keep their braces
           {"x^{1}2", "x^{1}2"},              // ... and so does a digit before a digit
           {"\\text{4:30 p.m.}", "4:30p.m"},
           {"4:30 \\text{ p.m.}", "4:30p.m"},
           {"\\textbf{(B)}", "(B)"},
           {"120^\\circ", "120"},
           {"120^{\\circ}", "120"},
           {"\\$ 6", "6"},
           {"$x$", "x"},
           {"10{,}000", "10,000"},
           {"900,\\!000", "900,000"},
           {"25\\%", "25%"},
           {"x \\le 3", "x\\leq3"},
           {"X", "X"},  // case is kept: x and X are different symbols
           {"5.", "5"},
       }) {
    EXPECT_EQ(CanonicalText(c.answer), c.canonical) << c.answer;
  }
}

TEST(CanonicalTextTest, LongAnswersAreComparedInFull) {
  std::string a(20000, '1'), b = a;
  b.back() = '2';
  EXPECT_NE(CanonicalText(a), CanonicalText(b));
}

TEST(CanonicalTextTest, LooksLikeWords) {
  EXPECT_TRUE(LooksLikeWords("Evelyn"));
  EXPECT_TRUE(LooksLikeWords("yes"));
  EXPECT_FALSE(LooksLikeWords("x"));     // one letter: a symbol
  EXPECT_FALSE(LooksLikeWords("2x"));    // mathematics
  EXPECT_FALSE(LooksLikeWords("\\pi"));  // a command
  EXPECT_FALSE(LooksLikeWords("(a,b)"));  // symbols
}

TEST(DropThousandsSeparatorsTest, OnlyWholeNumbers) {
  EXPECT_EQ(DropThousandsSeparators("1,000,000"), "1000000");
  EXPECT_EQ(DropThousandsSeparators("-2,500.5"), "-2500.5");
  EXPECT_EQ(DropThousandsSeparators("1,000 apples"), "1000apples");
  EXPECT_EQ(DropThousandsSeparators("11,\\! 111,\\! 100"), "11111100");
  EXPECT_EQ(DropThousandsSeparators("1 000 000"), "1000000");
  EXPECT_EQ(DropThousandsSeparators("x = 1,000"), "x =1000");
  EXPECT_EQ(DropThousandsSeparators("x = 1,2"), "x = 1,2");
  EXPECT_EQ(DropThousandsSeparators("1,2"), "1,2");
  EXPECT_EQ(DropThousandsSeparators("1,000,(2)"), "1,000,(2)");
  EXPECT_EQ(DropThousandsSeparators("1234,567"), "1234,567");  // first group too long
  EXPECT_EQ(DropThousandsSeparators("1,0000"), "1,0000");
}

}  // namespace
}  // namespace grpo::reward::math
