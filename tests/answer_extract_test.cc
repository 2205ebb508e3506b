#include "reward/answer_extract.h"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace grpo::reward {
namespace {

using config::AnswerSource;

// The extracted text, or "<none>".
template <typename Fn>
std::string Text(Fn fn, std::string_view input) {
  auto e = fn(input);
  return e ? e->text : "<none>";
}

std::string Boxed(std::string_view s) { return Text(ExtractBoxed, s); }
std::string Tag(std::string_view s) { return Text(ExtractAnswerTag, s); }
std::string Phrase(std::string_view s) { return Text(ExtractAnswerPhrase, s); }
std::string Hashes(std::string_view s) { return Text(ExtractGsm8kHashes, s); }
std::string Latex(std::string_view s) { return Text(ExtractLatexMath, s); }
std::string Number(std::string_view s) { return Text(ExtractLastNumber, s); }

std::vector<AnswerSource> DefaultOrder() { return ExtractionOrder(config::MathRewardOptions()); }

// ------------------------------------------------------------------ order --

TEST(ExtractionOrderTest, DefaultOrder) {
  EXPECT_EQ(DefaultOrder(),
            (std::vector<AnswerSource>{config::BOXED, config::ANSWER_TAG, config::ANSWER_PHRASE,
                                       config::GSM8K_HASHES, config::LATEX_MATH}));
}

TEST(ExtractionOrderTest, FallbackAppendsLastNumber) {
  config::MathRewardOptions options;
  options.set_last_number_fallback(true);
  auto order = ExtractionOrder(options);
  ASSERT_EQ(order.size(), 6u);
  EXPECT_EQ(order.back(), config::LAST_NUMBER);
}

TEST(ExtractionOrderTest, CustomListDeduplicatedAndFallbackNotRepeated) {
  config::MathRewardOptions options;
  options.add_extraction_priority(config::GSM8K_HASHES);
  options.add_extraction_priority(config::LAST_NUMBER);
  options.add_extraction_priority(config::GSM8K_HASHES);
  options.add_extraction_priority(config::BOXED);
  options.set_last_number_fallback(true);
  EXPECT_EQ(ExtractionOrder(options),
            (std::vector<AnswerSource>{config::GSM8K_HASHES, config::LAST_NUMBER, config::BOXED}));
}

// ------------------------------------------------------------------ boxed --

TEST(BoxedTest, Simple) {
  auto e = ExtractBoxed("so the answer is $\\boxed{42}$.");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "42");
  EXPECT_EQ(e->source, config::BOXED);
  EXPECT_EQ(e->offset, std::string_view("so the answer is $\\boxed{").size());
}

TEST(BoxedTest, NestedBraces) {
  EXPECT_EQ(Boxed("\\boxed{\\frac{1}{2}}"), "\\frac{1}{2}");
  EXPECT_EQ(Boxed("\\boxed{\\left\\{1, 2\\right\\}}"), "\\left\\{1, 2\\right\\}");
  EXPECT_EQ(Boxed("\\boxed{ {a}^{ {b} } }"), "{a}^{ {b} }");
}

TEST(BoxedTest, EscapedBracesDoNotNest) {
  // "\}" inside does not close the box; "\{" does not open a group.
  EXPECT_EQ(Boxed("\\boxed{\\{1,2\\}}"), "\\{1,2\\}");
  EXPECT_EQ(Boxed("\\boxed{\\{x}"), "\\{x");
}

TEST(BoxedTest, LastOfSeveral) {
  EXPECT_EQ(Boxed("first \\boxed{1}, then corrected: \\boxed{2}"), "2");
}

TEST(BoxedTest, FboxAndMixed) {
  EXPECT_EQ(Boxed("\\fbox{7}"), "7");
  EXPECT_EQ(Boxed("\\boxed{1} then \\fbox{x+1}"), "x+1");
}

TEST(BoxedTest, BoxInsideBoxIsUnwrapped) {
  EXPECT_EQ(Boxed("\\boxed{\\boxed{5}}"), "5");
  EXPECT_EQ(Boxed("\\boxed{ \\fbox{ 5 } }"), "5");
  // Not the whole content: keep the outer box.
  EXPECT_EQ(Boxed("\\boxed{2\\boxed{5}}"), "2\\boxed{5}");
}

TEST(BoxedTest, BareTokenArgument) {
  EXPECT_EQ(Boxed("$\\boxed 5$"), "5");
  EXPECT_EQ(Boxed("$\\boxed5$"), "5");
  EXPECT_EQ(Boxed("\\boxed \\pi"), "\\pi");
  EXPECT_EQ(Boxed("\\boxed 42."), "42");
  EXPECT_EQ(Boxed("\\boxed -3"), "-3");
  EXPECT_EQ(Boxed("\\boxed x + 1"), "x");
  // Another control word, not a box.
  EXPECT_EQ(Boxed("\\boxedx{3}"), "<none>");
  EXPECT_EQ(Boxed("\\boxed $"), "<none>");
}

TEST(BoxedTest, SpaceBeforeBrace) { EXPECT_EQ(Boxed("\\boxed {12}"), "12"); }

TEST(BoxedTest, EmptyBoxIsSkipped) {
  EXPECT_EQ(Boxed("\\boxed{}"), "<none>");
  EXPECT_EQ(Boxed("\\boxed{3} and \\boxed{ }"), "3");
}

TEST(BoxedTest, UnterminatedIsSkipped) {
  EXPECT_EQ(Boxed("\\boxed{3"), "<none>");
  EXPECT_EQ(Boxed("\\boxed{3} and finally \\boxed{4"), "3");
  EXPECT_EQ(Boxed("\\boxed{\\boxed{3}"), "3");
}

TEST(BoxedTest, DoubleBackslashIsNotABox) {
  // "\\" is a line break; "boxed{1}" after it is plain text.
  EXPECT_EQ(Boxed("\\\\boxed{1}"), "<none>");
}

TEST(BoxedTest, TrimsContent) { EXPECT_EQ(Boxed("\\boxed{\n  x = 2 \n}"), "x = 2"); }

// ------------------------------------------------------------- answer tag --

TEST(AnswerTagTest, LastTag) {
  auto e = ExtractAnswerTag("<answer>1</answer> hmm <answer> 2 </answer>");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "2");
  EXPECT_EQ(e->source, config::ANSWER_TAG);
  EXPECT_EQ(e->offset, std::string_view("<answer>1</answer> hmm <answer> ").size());
}

TEST(AnswerTagTest, BoxInsideTag) {
  auto e = ExtractAnswerTag("<think>..</think><answer>The value is $\\boxed{7}$</answer>");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "7");
  EXPECT_EQ(e->source, config::ANSWER_TAG);
  EXPECT_EQ(e->offset, std::string_view("<think>..</think><answer>The value is $\\boxed{").size());
}

TEST(AnswerTagTest, UnclosedOrEmptyTags) {
  EXPECT_EQ(Tag("<answer>5</answer> <answer>6"), "5");
  EXPECT_EQ(Tag("<answer>5</answer> <answer> </answer>"), "5");
  EXPECT_EQ(Tag("<answer>5"), "<none>");
  EXPECT_EQ(Tag("</answer>5<answer>"), "<none>");
}

TEST(AnswerTagTest, CaseInsensitiveTags) { EXPECT_EQ(Tag("<Answer>9</ANSWER>"), "9"); }

// ---------------------------------------------------------- answer phrase --

TEST(AnswerPhraseTest, Phrases) {
  EXPECT_EQ(Phrase("The final answer is 12."), "12");
  EXPECT_EQ(Phrase("So the FINAL ANSWER IS: 12"), "12");
  EXPECT_EQ(Phrase("Final answer: 12"), "12");
  EXPECT_EQ(Phrase("Thus the answer is $\\frac{3}{4}$."), "\\frac{3}{4}");
  EXPECT_EQ(Phrase("Answer: (B)"), "(B)");
  EXPECT_EQ(Phrase("**Answer:** 18"), "18");
  EXPECT_EQ(Phrase("**Final Answer**: 18"), "18");
  EXPECT_EQ(Phrase("**Final Answer**\n\n18\n"), "18");
  EXPECT_EQ(Phrase("### Final Answer\n$x = 3$"), "x = 3");
  EXPECT_EQ(Phrase("The answer is \\(2\\sqrt{2}\\)"), "2\\sqrt{2}");
  EXPECT_EQ(Phrase("The answer is **7**."), "7");
}

TEST(AnswerPhraseTest, SourceAndOffset) {
  auto e = ExtractAnswerPhrase("work\nThe answer is 5.");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->source, config::ANSWER_PHRASE);
  EXPECT_EQ(e->offset, std::string_view("work\nThe answer is ").size());
}

TEST(AnswerPhraseTest, LastPhraseWins) {
  EXPECT_EQ(Phrase("The answer is 3.\nWait, no. The final answer is 4."), "4");
  EXPECT_EQ(Phrase("Final answer: 1\nAnswer: 2\n"), "2");
}

TEST(AnswerPhraseTest, BoxInPhraseLine) {
  EXPECT_EQ(Phrase("The final answer is $\\boxed{\\frac{1}{2}}$. I hope it is correct."),
            "\\frac{1}{2}");
  // The box may span lines.
  EXPECT_EQ(Phrase("Final Answer: \\boxed{\\begin{pmatrix}1\\\\\n2\\end{pmatrix}}"),
            "\\begin{pmatrix}1\\\\\n2\\end{pmatrix}");
}

TEST(AnswerPhraseTest, SentenceAfterAnswerIsCut) {
  EXPECT_EQ(Phrase("The answer is 5. Let me double-check this."), "5");
  EXPECT_EQ(Phrase("The answer is 3.5"), "3.5");
}

TEST(AnswerPhraseTest, GsmStyleLineStartA) {
  EXPECT_EQ(Phrase("She makes 9 * 2 = $<<9*2=18>>18 every day.\nA: 18"), "18");
  EXPECT_EQ(Phrase("Q: how many?\n  A: 7\n"), "7");
  // "A:" in the middle of a sentence is not an answer marker.
  EXPECT_EQ(Phrase("Consider plan A: buy 3 apples."), "<none>");
  EXPECT_EQ(Phrase("A: 18\nThen for plan A: 20 more"), "18");
}

TEST(AnswerPhraseTest, WordBoundaries) {
  EXPECT_EQ(Phrase("the answer isn't obvious"), "<none>");
  EXPECT_EQ(Phrase("the reanswer: 3"), "<none>");
  EXPECT_EQ(Phrase("the final answer depends on x"), "<none>");
}

TEST(AnswerPhraseTest, EmptyPhraseFallsBackToEarlier) {
  EXPECT_EQ(Phrase("The answer is 6.\nFinal answer:"), "6");
  EXPECT_EQ(Phrase("Answer:"), "<none>");
}

TEST(AnswerPhraseTest, CurrencyDollarKept) { EXPECT_EQ(Phrase("The answer is $18."), "$18"); }

// --------------------------------------------------------------- hashes ----

TEST(Gsm8kHashesTest, AfterLastHashes) {
  EXPECT_EQ(Hashes("She sells 9 eggs.\n#### 18"), "18");
  EXPECT_EQ(Hashes("#### 1\nmore\n####  2  \ntrailing"), "2");
  EXPECT_EQ(Hashes("##### 3"), "3");
  EXPECT_EQ(Hashes("#### 4\n####\n"), "4");
  EXPECT_EQ(Hashes("no hashes"), "<none>");
  auto e = ExtractGsm8kHashes("x\n#### 18");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->source, config::GSM8K_HASHES);
  EXPECT_EQ(e->offset, 7u);
}

// ---------------------------------------------------------------- latex ----

TEST(LatexMathTest, Spans) {
  EXPECT_EQ(Latex("we get $x=1$ and then $y = 2$."), "y = 2");
  EXPECT_EQ(Latex("$$\\frac{a}{b}$$"), "\\frac{a}{b}");
  EXPECT_EQ(Latex("so \\(3\\pi\\) done"), "3\\pi");
  EXPECT_EQ(Latex("\\[\n  7 \n\\]"), "7");
  EXPECT_EQ(Latex("$1$ then \\[2\\] then $$3$$ then \\(4\\)"), "4");
  EXPECT_EQ(Latex("no math"), "<none>");
  EXPECT_EQ(Latex("unclosed $x"), "<none>");
  EXPECT_EQ(Latex("$$ $$"), "<none>");
}

TEST(LatexMathTest, EscapedDollarIsNotADelimiter) {
  EXPECT_EQ(Latex("costs \\$5 and $z$"), "z");
  EXPECT_EQ(Latex("$a \\$ b$"), "a \\$ b");
}

TEST(LatexMathTest, InlineDollarStopsAtNewline) {
  EXPECT_EQ(Latex("You pay $5 now.\nThe total is $7$."), "7");
}

TEST(LatexMathTest, SourceAndOffset) {
  auto e = ExtractLatexMath("ab $c$");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->source, config::LATEX_MATH);
  EXPECT_EQ(e->offset, 4u);
}

// ----------------------------------------------------------- last number ---

TEST(LastNumberTest, Forms) {
  EXPECT_EQ(Number("there are 3 cats and 12 dogs"), "12");
  EXPECT_EQ(Number("total 1,234,567 units"), "1234567");
  EXPECT_EQ(Number("it is -5 degrees"), "-5");
  EXPECT_EQ(Number("x = (-2.5)"), "-2.5");
  EXPECT_EQ(Number("pi is about 3.14."), "3.14");
  EXPECT_EQ(Number("ratio 3/4"), "3/4");
  EXPECT_EQ(Number("10-5"), "5");
  EXPECT_EQ(Number("12,34"), "34");
  EXPECT_EQ(Number("no digits"), "<none>");
  auto e = ExtractLastNumber("a -7");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->source, config::LAST_NUMBER);
  EXPECT_EQ(e->offset, 2u);
}

// -------------------------------------------------------------- priority ---

TEST(ExtractAnswerTest, BoxedBeatsLaterPhrase) {
  auto e = ExtractAnswer("\\boxed{3}\nThe final answer is 4.", DefaultOrder());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "3");
  EXPECT_EQ(e->source, config::BOXED);
}

TEST(ExtractAnswerTest, FallsThroughInOrder) {
  auto e = ExtractAnswer("we get $x$ and\n#### 18", DefaultOrder());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->source, config::GSM8K_HASHES);
  e = ExtractAnswer("we get $x$ only", DefaultOrder());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->source, config::LATEX_MATH);
  EXPECT_FALSE(ExtractAnswer("the count is 17", DefaultOrder()));
}

TEST(ExtractAnswerTest, LastNumberFallbackOnlyWhenEnabled) {
  config::MathRewardOptions options;
  options.set_last_number_fallback(true);
  auto e = ExtractAnswer("the count is 17", ExtractionOrder(options));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "17");
  EXPECT_EQ(e->source, config::LAST_NUMBER);
}

TEST(ExtractAnswerTest, CustomOrder) {
  const std::string text = "<answer>1</answer> \\boxed{2}";
  auto e = ExtractAnswer(text, {config::ANSWER_TAG, config::BOXED});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "1");
  EXPECT_FALSE(ExtractAnswer(text, {}));
}

// ----------------------------------------------------------- hostile input --

constexpr size_t kMiB = 1 << 20;

// Runs every extractor and returns ExtractAnswer's result under the full order.
// The time bound is only a sanity check against quadratic blow-ups (which
// would take minutes at 1 MB); benchmarks measure real speed.
std::optional<Extraction> RunAll(std::string_view text) {
  config::MathRewardOptions options;
  options.set_last_number_fallback(true);
  const auto order = ExtractionOrder(options);
  const auto start = std::chrono::steady_clock::now();
  for (AnswerSource s : order) (void)ExtractAnswer(text, {s});
  auto result = ExtractAnswer(text, order);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0) << "input of " << text.size() << " bytes";
  return result;
}

std::string Repeat(std::string_view unit, size_t bytes) {
  std::string s;
  s.reserve(bytes + unit.size());
  while (s.size() < bytes) s += unit;
  return s;
}

TEST(HostileInputTest, NestedUnclosedBoxes) {
  const std::string prefix = Repeat("\\boxed{", kMiB);
  EXPECT_FALSE(ExtractBoxed(prefix));
  auto e = RunAll(prefix + "\\boxed{42}");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "42");
  EXPECT_EQ(e->source, config::BOXED);
  EXPECT_EQ(e->offset, prefix.size() + 7);
}

TEST(HostileInputTest, NestedClosedBoxesUnwrap) {
  const std::string open = Repeat("\\boxed{", kMiB);
  const size_t depth = open.size() / 7;
  auto e = RunAll(open + "x" + std::string(depth, '}'));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "x");
}

TEST(HostileInputTest, OpenBraces) {
  const std::string braces(kMiB, '{');
  EXPECT_FALSE(RunAll(braces));
  EXPECT_EQ(Boxed(braces + "\\boxed{1}"), "1");
  EXPECT_EQ(Boxed("\\boxed{" + braces + "}"), "<none>");
  EXPECT_EQ(Boxed(std::string(kMiB, '}') + "\\boxed{2}"), "2");
}

TEST(HostileInputTest, Dollars) {
  const std::string dollars(kMiB, '$');
  EXPECT_FALSE(RunAll(dollars));
  EXPECT_EQ(Latex(dollars + "\n$5$"), "5");
  EXPECT_EQ(Latex(Repeat("\\$", kMiB) + "$6$"), "6");
}

TEST(HostileInputTest, ManyPhrasesAndHashes) {
  // Garbage in: the next line after the last bare "answer:" is another one.
  EXPECT_EQ(Text(RunAll, Repeat("answer:\n", kMiB)), "answer:");
  EXPECT_EQ(Phrase(Repeat("The answer is \n", kMiB) + "The answer is 3"), "3");
  EXPECT_EQ(Hashes(Repeat("####\n", kMiB)), "<none>");
  EXPECT_EQ(Text(RunAll, std::string(kMiB, '#')), "<none>");
  // Only the first "A:" is at a line start; the rest of the line follows it.
  EXPECT_EQ(Text(RunAll, Repeat("A:", kMiB)).size(), kMiB - 2);
  auto e = RunAll(Repeat("1,234,", kMiB));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->source, config::LAST_NUMBER);
}

TEST(HostileInputTest, ManyAnswerTags) {
  EXPECT_FALSE(RunAll(Repeat("<answer>", kMiB)));
  EXPECT_EQ(Tag(Repeat("</answer>", kMiB) + "<answer>1</answer>"), "1");
  EXPECT_EQ(Tag(Repeat("<answer> </answer>", kMiB)), "<none>");
}

TEST(HostileInputTest, InvalidUtf8) {
  std::string bytes;
  for (size_t k = 0; k < kMiB; ++k) bytes.push_back(static_cast<char>(0x80 + k % 128));
  (void)RunAll(bytes);
  EXPECT_EQ(Boxed(bytes + "\\boxed{\xff\xfe}"), "\xff\xfe");
  EXPECT_EQ(Boxed("\\boxed \xe2\x88\x9e"), "\xe2\x88\x9e");
  EXPECT_EQ(Boxed("\\boxed \xff"), "<none>");
  EXPECT_EQ(Phrase("\xc3\x28 answer: \xa0\xa1"), "\xa0\xa1");
}

TEST(HostileInputTest, EmbeddedNuls) {
  const std::string nul(1, '\0');
  std::string text(kMiB, '\0');
  (void)RunAll(text);
  text += "\\boxed{1" + nul + "2}";
  auto e = RunAll(text);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "1" + nul + "2");
  EXPECT_EQ(Hashes("#### 5" + nul + "x"), "5" + nul + "x");
}

TEST(HostileInputTest, EmptyAndTinyInputs) {
  for (std::string_view s : {"", "\\", "{", "}", "$", "\\boxed", "\\boxed{", "<answer>", "####",
                             "A:", "-", "\\(", "\\["}) {
    EXPECT_FALSE(RunAll(s)) << s;
  }
}

}  // namespace
}  // namespace grpo::reward
