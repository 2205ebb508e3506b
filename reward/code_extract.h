// Finding the program in a model completion: Markdown code fences in
// chain-of-thought text.
//
//   ExtractCode("Let me think...\n```python\ndef f(): ...\n```\n", options)
//
// A fence is a line of three or more backticks or tildes (up to three
// spaces of indent, as CommonMark; deeper indents count too because models
// indent fences inside lists), optionally followed by an info string whose
// first word is the language tag. The block ends at a line holding a fence of
// the same character, at least as long, and nothing else; a block left open
// at the end of the text runs to the end (truncated generations).
#ifndef GRPO_REWARD_CODE_EXTRACT_H_
#define GRPO_REWARD_CODE_EXTRACT_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace grpo::reward {

struct CodeBlock {
  std::string language;    // lower-cased first word of the info string; may be empty
  std::string code;        // the lines between the fences, newline-terminated
  bool terminated = true;  // false: the text ended inside the block
};

// Every fenced block, in text order.
std::vector<CodeBlock> FindCodeBlocks(std::string_view text);

// True when `tag` names `language`: "python" matches python, py, py3,
// python3; "cpp" matches cpp, c++, cc, cxx; any other language only itself
// (all case-insensitive).
bool LanguageTagMatches(std::string_view tag, std::string_view language);

enum class BlockChoice { kLast, kFirst, kLongest };

struct CodeExtractOptions {
  BlockChoice choice = BlockChoice::kLast;
  // Blocks tagged with this language and untagged blocks are candidates;
  // "*" or empty: every block.
  std::string language = "python";
  // No fence at all: the whole text is the program (else nothing).
  bool whole_text_without_fence = true;
};

struct ExtractedCode {
  std::string code;
  std::string how;  // "block 2 of 3 (python)", "whole text", ...: for reports
};

// The program in `completion`, or nullopt when there is none: no candidate
// block (blocks exist but none has a matching tag), no fence and
// whole_text_without_fence is false, or only whitespace.
std::optional<ExtractedCode> ExtractCode(std::string_view completion,
                                         const CodeExtractOptions& options);

}  // namespace grpo::reward

#endif  // GRPO_REWARD_CODE_EXTRACT_H_
