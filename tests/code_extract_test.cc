#include "reward/code_extract.h"

#include <string>

#include <gtest/gtest.h>

namespace grpo::reward {
namespace {

CodeExtractOptions Options(BlockChoice choice = BlockChoice::kLast,
                           std::string language = "python") {
  CodeExtractOptions options;
  options.choice = choice;
  options.language = std::move(language);
  return options;
}

TEST(FindCodeBlocksTest, TaggedAndUntaggedBlocks) {
  const auto blocks =
      FindCodeBlocks("Think.\n```python\ndef f():\n    return 1\n```\nthen\n```\nprint(2)\n```\n");
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0].language, "python");
  EXPECT_EQ(blocks[0].code, "def f():\n    return 1\n");
  EXPECT_TRUE(blocks[0].terminated);
  EXPECT_EQ(blocks[1].language, "");
  EXPECT_EQ(blocks[1].code, "print(2)\n");
}

TEST(FindCodeBlocksTest, UnterminatedFinalFenceRunsToTheEnd) {
  const auto blocks = FindCodeBlocks("```py\nx = 1\ny = 2");
  ASSERT_EQ(blocks.size(), 1u);
  EXPECT_EQ(blocks[0].code, "x = 1\ny = 2\n");
  EXPECT_FALSE(blocks[0].terminated);
}

TEST(FindCodeBlocksTest, TildesLongerFencesAndCrlf) {
  // A ``` line inside a ```` block does not close it; ~~~ fences work too.
  const auto blocks =
      FindCodeBlocks("````markdown\n```\ninner\n```\n````\r\n~~~ Python3 {.x}\r\na = 1\r\n~~~\r\n");
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0].code, "```\ninner\n```\n");
  EXPECT_EQ(blocks[1].language, "python3");
  EXPECT_EQ(blocks[1].code, "a = 1\n");
}

TEST(FindCodeBlocksTest, IndentedFenceIsDedented) {
  // A fence inside a Markdown list carries its indent on every line.
  const auto blocks = FindCodeBlocks("1. Code:\n   ```python\n   def f():\n       pass\n   ```\n");
  ASSERT_EQ(blocks.size(), 1u);
  EXPECT_EQ(blocks[0].code, "def f():\n    pass\n");
}

TEST(FindCodeBlocksTest, InlineTripleBackticksAreNotFences) {
  EXPECT_TRUE(FindCodeBlocks("use ```x``` here\n```x```\n").empty());
  EXPECT_TRUE(FindCodeBlocks("no code at all").empty());
}

TEST(LanguageTagTest, Aliases) {
  EXPECT_TRUE(LanguageTagMatches("py", "python"));
  EXPECT_TRUE(LanguageTagMatches("Python3", "python"));
  EXPECT_TRUE(LanguageTagMatches("c++", "cpp"));
  EXPECT_TRUE(LanguageTagMatches("cxx", "cpp"));
  EXPECT_FALSE(LanguageTagMatches("cpp", "python"));
  EXPECT_FALSE(LanguageTagMatches("java", "cpp"));
  EXPECT_TRUE(LanguageTagMatches("rust", "rust"));
}

TEST(ExtractCodeTest, LastFirstLongest) {
  const std::string text =
      "```python\na = 1\n```\n```python\nb = 2222222\nc = 3\n```\n```python\nd = 4\n```\n";
  EXPECT_EQ(ExtractCode(text, Options(BlockChoice::kLast))->code, "d = 4\n");
  EXPECT_EQ(ExtractCode(text, Options(BlockChoice::kFirst))->code, "a = 1\n");
  EXPECT_EQ(ExtractCode(text, Options(BlockChoice::kLongest))->code, "b = 2222222\nc = 3\n");
  EXPECT_EQ(ExtractCode(text, Options())->how, "block 3 of 3 (python)");
}

TEST(ExtractCodeTest, LanguageFilterSkipsOtherLanguages) {
  const std::string text = "```python\np = 1\n```\n```text\nsample output\n```\n";
  EXPECT_EQ(ExtractCode(text, Options())->code, "p = 1\n");
  EXPECT_EQ(ExtractCode(text, Options(BlockChoice::kLast, "*"))->code, "sample output\n");
  EXPECT_FALSE(ExtractCode("```java\nint x;\n```\n", Options()).has_value());
  const std::string mixed = "```cpp\nint main() {}\n```\n```python\nprint(1)\n```\n";
  EXPECT_EQ(ExtractCode(mixed, Options(BlockChoice::kLast, "cpp"))->code, "int main() {}\n");
}

TEST(ExtractCodeTest, EmptyBlocksAreSkipped) {
  EXPECT_EQ(ExtractCode("```python\nx = 1\n```\n```python\n\n```\n", Options())->code, "x = 1\n");
  EXPECT_FALSE(ExtractCode("```python\n   \n```\n", Options()).has_value());
}

TEST(ExtractCodeTest, NoFenceIsTheWholeTextUnlessDisabled) {
  std::optional<ExtractedCode> code = ExtractCode("def f():\n    return 1\n", Options());
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(code->code, "def f():\n    return 1\n");
  EXPECT_EQ(code->how, "whole text (no fence)");
  CodeExtractOptions strict = Options();
  strict.whole_text_without_fence = false;
  EXPECT_FALSE(ExtractCode("def f():\n    return 1\n", strict).has_value());
  EXPECT_FALSE(ExtractCode(" \n\t\n", Options()).has_value());
}

TEST(ExtractCodeTest, ChainOfThoughtWithUnterminatedAnswer) {
  const std::string text =
      "<think>\nA draft:\n```python\ndef f(x): return 0\n```\nNo, wrong.\n</think>\n"
      "```python\ndef f(x):\n    return x + 1\n";
  std::optional<ExtractedCode> code = ExtractCode(text, Options());
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(code->code, "def f(x):\n    return x + 1\n");
  EXPECT_EQ(code->how, "block 2 of 2 (python), unterminated");
}

}  // namespace
}  // namespace grpo::reward
