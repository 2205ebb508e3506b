// Rule-level tests of the math checker: every normalization and equivalence
// rule that docs/math_checker.md promises, the percent policies and the
// options. Each table row states the prediction, the gold answer and the
// verdict; the status must be `ok` unless a test says otherwise.
#include "reward/math_checker.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/math_test_util.h"

namespace grpo::reward {
namespace {

// ---------------------------------------------------------------- create --

TEST(MathCheckerCreateTest, RejectsOutOfRangeOptions) {
  for (const auto& edit : std::vector<std::function<void(Options&)>>{
           [](Options& o) { o.set_time_limit_ms(0); },
           [](Options& o) { o.set_time_limit_ms(-5); },
           [](Options& o) { o.set_float_rel_tolerance(-0.1); },
           [](Options& o) { o.set_float_rel_tolerance(1.0); },
           [](Options& o) { o.set_numeric_points(-1); },
           [](Options& o) { o.set_numeric_points(1001); },
           [](Options& o) { o.set_max_completion_bytes(0); },
       }) {
    Options options;
    edit(options);
    absl::StatusOr<MathChecker> checker = MathChecker::Create(options);
    ASSERT_FALSE(checker.ok());
    EXPECT_EQ(checker.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(MathChecker::Create(Options()).ok());
}

TEST(MathCheckerCreateTest, Defaults) {
  Options o;
  EXPECT_EQ(o.percent_policy(), config::LENIENT);
  EXPECT_EQ(o.gold_format(), config::AUTO);
  EXPECT_EQ(o.float_rel_tolerance(), 0.0);
  EXPECT_TRUE(o.symbolic());
  EXPECT_EQ(o.numeric_points(), 6);
  EXPECT_EQ(o.time_limit_ms(), 1000);
  EXPECT_EQ(o.max_completion_bytes(), 1048576);
  EXPECT_TRUE(o.multiple_choice());
  EXPECT_TRUE(o.strip_variable_assignment());
  EXPECT_FALSE(o.last_number_fallback());
  EXPECT_EQ(o.extraction_priority_size(), 0);
}

// --------------------------------------------------------- normalization --

TEST(NormalizationTest, Fractions) {
  ExpectVerdicts({
      {"\\frac{1}{2}", "0.5", true},
      {"\\dfrac{1}{2}", "0.5", true},
      {"\\tfrac{1}{2}", "1/2", true},
      {"\\frac12", "\\frac{1}{2}", true},
      {"\\frac 59", "5/9", true},
      {"\\frac{12}{3}", "4", true},
      {"\\frac{12}{3}", "\\frac{1}{23}", false},  // braces are not dropped blindly
      {"\\frac{-1}{2}", "-\\frac12", true},
  });
}

TEST(NormalizationTest, Roots) {
  ExpectVerdicts({
      {"\\sqrt2", "\\sqrt{2}", true},
      {"\\sqrt[3]{8}", "2", true},
      {"\\sqrt[3]{-8}", "-2", true},
      {"\\sqrt[3]{x}", "x^{1/3}", true},
      {"\\sqrt{2}x", "\\sqrt{2x}", false},
  });
}

TEST(NormalizationTest, SizingAndTextWrappers) {
  ExpectVerdicts({
      {"\\left(1, 2\\right)", "(1,2)", true},
      {"\\left[ 1, 2 \\right]", "[1,2]", true},
      {"\\displaystyle \\frac{1}{2}", "0.5", true},
      {"\\text{5}", "5", true},
      {"\\mathrm{e}", "e", true},
      {"\\text{Evelyn}", "Evelyn", true},
      {"\\text{Evelyn}", "evelyn", true},  // words compare without case
      {"Yes", "yes", true},
      {"\\text{4:30 p.m.}", "4:30 \\text{ p.m.}", true},
      {"\\text{yes}", "no", false},
  });
}

TEST(NormalizationTest, Units) {
  ExpectVerdicts({
      {"100\\text{ square units}", "100", true},
      {"15\\mbox{ cm}^2", "15", true},
      {"5\\text{ cm}^{2}", "5", true},
      {"5 cm", "5", true},
      {"5 cm^{2}", "5", true},
      {"5 m", "5", true},
      {"18 dollars", "18", true},
      {"3 apples", "3", true},
      {"2ab", "2", false},  // a product of symbols, not a unit
      {"2xy", "2", false},
      {"\\frac12 x", "0.5x", true},
  });
}

TEST(NormalizationTest, Degrees) {
  ExpectVerdicts({
      {"120^\\circ", "120", true},
      {"120^{\\circ}", "120", true},
      {"120\xC2\xB0", "120", true},
      {"120 ^\\circ", "120", true},
      {"120\\degree", "120", true},
      {"120^\\circ", "60", false},
  });
}

TEST(NormalizationTest, PercentSigns) {
  ExpectVerdicts({
      {"25\\%", "25", true},
      {"25%", "25", true},
      {"25 percent", "25", true},
      {"25 percent", "25\\%", true},
  });
}

TEST(NormalizationTest, ThousandsSeparators) {
  ExpectVerdicts({
      {"1,000", "1000", true},
      {"10{,}000", "10000", true},
      {"900,\\!000,\\!000", "900000000", true},
      {"\\$32,\\!348", "32348", true},
      {"\\$1,000", "1000", true},
      {"1,000.50", "1000.5", true},
      {"-1,000", "-1000", true},
      {"10 000", "10000", true},
      {"10 000", "0", false},
      {"1,2", "12", false},  // a list of two numbers
      {"1,2", "2,1", true},
      {"1, 234", "1234", false},
      {"x = 1,000", "1000", true},
  });
}

TEST(NormalizationTest, ProductsAndConstants) {
  ExpectVerdicts({
      {"2\\cdot 3", "6", true},
      {"2\\times 3", "6", true},
      {"3x \\cdot 2", "6x", true},
      {"2\\pi", "\\pi + \\pi", true},
      {"\\pi", "3.14159265358979", true},
      {"\\pi", "3.14", false},  // decimals against irrationals: 1e-9 relative
      {"e", "2.718281828459045", true},
      {"e^2", "\\exp(2)", true},
      {"\\ln e", "1", true},
      {"2e", "2 \\cdot e", true},
  });
}

TEST(NormalizationTest, MixedNumbers) {
  ExpectVerdicts({
      {"12\\frac{3}{5}", "63/5", true},
      {"12 \\frac{3}{5}", "12.6", true},
      {"1\\frac{1}{10}", "11/10", true},
      {"1\\frac12", "1.5", true},
      {"-12\\frac{3}{5}", "-63/5", true},
      {"12 3/5", "63/5", true},
      {"2\\frac{x}{5}", "2x/5", true},  // a product when the parts are not numbers
  });
}

TEST(NormalizationTest, ScientificNotation) {
  ExpectVerdicts({
      {"1.5e3", "1500", true},
      {"1.5\\times10^{3}", "1500", true},
      {"1.5 \\cdot 10^3", "1.5e3", true},
      {"2E-2", "0.02", true},
      {"1e5", "10^5", true},
      {"1.5e3", "15000", false},
  });
}

TEST(NormalizationTest, PeriodsDollarsAndAssignments) {
  ExpectVerdicts({
      {"5.", "5", true},
      {"\\$6", "6", true},
      {"$6$", "6", true},
      {"x = 5", "5", true},
      {"k=5", "5", true},
      {"5", "x = 5", true},
      {"x = 5", "6", false},
      {"x \\in [1,2)", "[1,2)", true},
      {"x \\in [1,2)", "(1,2)", false},
  });
}

// ----------------------------------------------------------- equivalence --

TEST(EquivalenceTest, ExactRationals) {
  ExpectVerdicts({
      {"0.5", "1/2", true},
      {"0.5", "\\frac{2}{4}", true},
      {"\\frac{6}{4}", "\\frac{3}{2}", true},
      {"1.50", "1.5", true},
      {"3.0", "3", true},
      {"-0", "0", true},
      {"0.333", "1/3", false},
      {"1/3", "0.3333333333", false},  // exact unless a tolerance is set
      {"5000!", "4999!", false},
      {"\\binom{5}{2}", "10", true},
      {"\\binom{n}{2}", "\\frac{n(n-1)}{2}", true},  // also at n = 0.5, where it is negative
      {"\\lfloor 2.5 \\rfloor", "2", true},
      {"|-3|", "3", true},
      {"\\frac{5!}{3!}", "20", true},
  });
}

TEST(EquivalenceTest, FloatRelTolerance) {
  MathChecker tolerant = Make([](Options& o) { o.set_float_rel_tolerance(1e-2); });
  ExpectVerdicts(tolerant, {
                               {"0.333", "1/3", true},
                               {"3.14", "\\pi", true},
                               {"1.414", "\\sqrt{2}", true},
                               {"0.3", "1/3", false},  // 10% off
                           });
}

TEST(EquivalenceTest, Symbolic) {
  ExpectVerdicts({
      {"x^2-1", "(x-1)(x+1)", true},
      {"x^2+2x+1", "(x+1)^2", true},
      {"\\frac{x^2-1}{x-1}", "x+1", true},
      {"\\frac{\\sqrt{21}}{5}", "\\sqrt{21}/5", true},
      {"2\\sqrt{5}", "\\sqrt{20}", true},
      {"\\sqrt{2}/2", "1/\\sqrt{2}", true},
      {"\\frac{1}{\\sqrt{3}}", "\\frac{\\sqrt{3}}{3}", true},
      {"\\frac{1}{2}\\pi", "\\frac{\\pi}{2}", true},
      {"2x+3y", "3y+2x", true},
      {"\\arctan 1", "\\frac{\\pi}{4}", true},
      {"\\log_2 8", "3", true},
      {"2^{x+1}", "2 \\cdot 2^x", true},
      {"2^{x+1}", "2^x+1", false},
      {"x^{1}2", "x^12", false},
  });
}

TEST(EquivalenceTest, HowTheVerdictWasReached) {
  MathChecker checker = Make();
  EXPECT_EQ(checker.CompareAnswers("\\frac{1}{2}", "\\frac{1}{2}").reason,
            "identical after normalization");
  EXPECT_EQ(checker.CompareAnswers("0.5", "\\frac{1}{2}").reason, "equal (exact)");
  EXPECT_EQ(checker.CompareAnswers("x^2-1", "(x-1)(x+1)").reason, "equal (cas)");
  // GiNaC does not apply trigonometric identities: the random points decide.
  EXPECT_EQ(checker.CompareAnswers("\\sin^2 x + \\cos^2 x", "1").reason, "equal (numeric)");
  EXPECT_EQ(checker.CompareAnswers("x+1", "x+2").reason, "not equal (numeric)");
  EXPECT_EQ(checker.CompareAnswers("(1,2)", "(1,2,3)").reason, "not equal (structure)");
}

TEST(EquivalenceTest, NumericSecondOpinion) {
  ExpectVerdicts({
      {"\\sin^2 x + \\cos^2 x", "1", true},
      {"\\sin 2x", "2\\sin x\\cos x", true},
      {"\\sqrt{x^2}", "|x|", true},  // checked at positive points only
      {"\\tan x", "\\frac{\\sin x}{\\cos x}", true},
  });
}

TEST(EquivalenceTest, SymbolicOffLeavesItToThePoints) {
  MathChecker checker = Make([](Options& o) { o.set_symbolic(false); });
  RewardResult r = checker.CompareAnswers("x^2-1", "(x-1)(x+1)");
  EXPECT_EQ(r.value, 1.0);
  EXPECT_EQ(r.reason, "equal (numeric)");
  EXPECT_EQ(checker.CompareAnswers("x^2-1", "(x-1)(x+2)").value, 0.0);
}

TEST(EquivalenceTest, NoPointsLeavesItToTheCas) {
  MathChecker checker = Make([](Options& o) { o.set_numeric_points(0); });
  ExpectVerdicts(checker, {
                              {"x^2-1", "(x-1)(x+1)", true},        // proved
                              {"\\sin^2 x + \\cos^2 x", "1", false},  // cannot be proved
                              {"\\sqrt{2}", "1.41421356237", true},  // constants: one evaluation
                          });
}

TEST(EquivalenceTest, DifferentExpressions) {
  ExpectVerdicts({
      {"x+1", "x+2", false},
      {"2k", "2", false},
      {"-2+7i", "5", false},
      {"a", "b", false},
      {"x", "X", false},  // symbols are case-sensitive
      {"(a,b)", "(A,B)", false},
      {"\\frac{1}{2}x", "\\frac{1}{2x}", false},
  });
}

TEST(EquivalenceTest, ComplexNumbers) {
  ExpectVerdicts({
      {"6-5i", "6-5i", true},
      {"6 - 5i", "-5i+6", true},
      {"6-5i", "6+5i", false},
      {"(1+i)^2", "2i", true},
      {"i^2", "-1", true},
      {"1/i", "-i", true},
      {"\\sqrt{-4}", "2i", true},
      {"\\frac{1+i}{2}", "0.5+0.5i", true},
  });
}

TEST(EquivalenceTest, TuplesAreOrdered) {
  ExpectVerdicts({
      {"(1,2)", "(1, 2)", true},
      {"(1,2)", "(2,1)", false},
      {"(1,2)", "(1,2,3)", false},
      {"(\\frac12, 3)", "(0.5, 3)", true},
      {"(1,2)", "1, 2", true},  // a bare list against a tuple keeps the order
      {"(1,2)", "2, 1", false},
  });
}

TEST(EquivalenceTest, SetsAndBareListsAreUnordered) {
  ExpectVerdicts({
      {"\\{1,2\\}", "\\{2,1\\}", true},
      {"1, 2", "2, 1", true},
      {"1, 2, 2", "2, 1, 1", false},  // matched one to one
      {"\\{1,2\\}", "1, 2", true},
      {"\\{1,2\\}", "(1,2)", false},
      {"\\{1\\}", "1", false},
      {"\\emptyset", "\\{\\}", true},
      {"\\varnothing", "\\emptyset", true},
      {"1 \\text{ or } 2", "2, 1", true},
      {"x = 1 \\text{ or } x = 2", "1, 2", true},
      {"x=1, y=2", "(1,2)", true},
  });
}

TEST(EquivalenceTest, Intervals) {
  ExpectVerdicts({
      {"[1,2)", "[1,2)", true},
      {"[1,2)", "(1,2)", false},
      {"[1,2]", "(1,2)", false},
      {"(-\\infty, 3]", "(-\\infty,3]", true},
      {"(-\\infty, 3]", "(-\\infty,3)", false},
      {"(-\\infty, 3]", "(\\infty,3]", false},
      {"[0, \\infty)", "[0,+\\infty)", true},
      {"(0,9)\\cup(9,36)", "(9,36)\\cup(0,9)", true},
      {"(0,9)\\cup(9,36)", "(0,9)\\cup(9,37)", false},
      {"(0,9)\\cup(9,36)", "(0,36)", false},
  });
}

TEST(EquivalenceTest, PlusMinus) {
  ExpectVerdicts({
      {"3 \\pm 2\\sqrt{2}", "3+2\\sqrt2, 3-2\\sqrt2", true},
      {"3 - 2\\sqrt{2}, 3 + 2\\sqrt{2}", "3 \\pm 2\\sqrt{2}", true},
      {"3 \\pm 2\\sqrt{2}", "3+2\\sqrt2", false},
      {"\\pm 2", "2, -2", true},
      {"\\frac{1 \\pm \\sqrt{5}}{2}", "\\frac{1+\\sqrt5}{2}, \\frac{1-\\sqrt5}{2}", true},
  });
}

// Equations are equal when they are the same relation up to moving terms
// across (lhs - rhs equal, for = also up to sign), not up to a factor:
// a normal form such as "2x - y + 3z + 8 = 0" is often what was asked.
TEST(EquivalenceTest, Equations) {
  ExpectVerdicts({
      {"y = 2x+1", "y = 2x+1", true},
      {"y = 2x+1", "2x+1 = y", true},
      {"y = 2x+1", "y-2x-1=0", true},
      {"y = 2x+1", "2x+1", true},  // the right side of "y = ..." (strip_variable_assignment)
      {"y = 2x+1", "2y = 4x+2", false},
      {"y = 2x+1", "y = 2x-1", false},
      {"x^2 + y^2 = 1", "y^2 + x^2 = 1", true},
      {"x = 1", "y = 1", false},
  });
}

TEST(EquivalenceTest, Inequalities) {
  ExpectVerdicts({
      {"x > 3", "3 < x", true},
      {"x > 3", "x - 3 > 0", true},
      {"x > 3", "-x < -3", true},
      {"x > 3", "x < 3", false},
      {"x \\ge 2", "x > 2", false},
      {"x \\ge 2", "2 \\le x", true},
      {"x \\geq 2", "x \\ge 2", true},
      {"1 < x < 3", "3 > x > 1", true},
      {"1 < x < 3", "1 < x \\le 3", false},
  });
}

TEST(EquivalenceTest, Matrices) {
  ExpectVerdicts({
      {"\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}",
       true},
      {"\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}",
       false},
      {"\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2&3&4\\end{pmatrix}",
       false},
      {"\\begin{pmatrix}\\frac12\\\\2\\end{pmatrix}", "\\begin{pmatrix}0.5\\\\2\\end{pmatrix}",
       true},
      {"\\begin{pmatrix}1\\\\2\\end{pmatrix}", "(1,2)", true},  // a column against a tuple
      {"(1,2)", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", true},
      {"\\begin{pmatrix}1\\\\2\\end{pmatrix}", "(2,1)", false},
      {"\\begin{pmatrix}1\\\\2\\end{pmatrix}", "[1,2]", false},  // an interval is no vector
      {"\\langle 1,2 \\rangle", "(1,2)", true},
  });
}

TEST(EquivalenceTest, MultipleChoice) {
  ExpectVerdicts({
      {"B", "B", true},
      {"(B)", "B", true},
      {"\\text{(B)}", "B", true},
      {"\\textbf{(B)}", "B", true},
      {"B.", "B", true},
      {"b", "B", true},
      {"B", "(B)", true},
      {"C", "B", false},
      {"(C)", "B", false},
      {"B, C", "B", false},
      {"5", "B", false},
  });
  // Off: the letters are read as math (B is the symbol B), text as text.
  MathChecker off = Make([](Options& o) { o.set_multiple_choice(false); });
  ExpectVerdicts(off, {{"(B)", "B", true}, {"\\text{(B)}", "B", false}});
}

TEST(EquivalenceTest, StripVariableAssignmentOption) {
  MathChecker off = Make([](Options& o) { o.set_strip_variable_assignment(false); });
  ExpectVerdicts(off, {{"x = 5", "5", false}, {"x = 5", "x=5", true}});
}

// --------------------------------------------------------------- percent --

TEST(PercentPolicyTest, Lenient) {
  ExpectVerdicts(Make([](Options& o) { o.set_percent_policy(config::LENIENT); }),
                 {
                     {"25\\%", "25", true},
                     {"25\\%", "0.25", true},
                     {"25", "25\\%", true},
                     {"0.25", "25\\%", true},
                     {"198\\%", "198", true},
                     {"25\\%", "\\frac14", true},
                     {"25\\%", "25\\%", true},
                     {"25\\%", "0.3", false},
                     {"25\\%", "2.5", false},
                 });
}

TEST(PercentPolicyTest, Strict) {
  ExpectVerdicts(Make([](Options& o) { o.set_percent_policy(config::STRICT); }),
                 {
                     {"25\\%", "0.25", true},
                     {"25\\%", "\\frac14", true},
                     {"25 percent", "0.25", true},
                     {"0.5\\%", "1/200", true},
                     {"25\\%", "25", false},
                     {"25", "25\\%", false},
                     {"25\\%", "25\\%", true},
                 });
}

TEST(PercentPolicyTest, IgnoreSign) {
  ExpectVerdicts(Make([](Options& o) { o.set_percent_policy(config::IGNORE_SIGN); }),
                 {
                     {"25\\%", "25", true},
                     {"25", "25\\%", true},
                     {"25\\%", "0.25", false},
                     {"198\\%", "198", true},
                 });
}

}  // namespace
}  // namespace grpo::reward
