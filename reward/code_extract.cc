#include "reward/code_extract.h"

#include <cctype>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "reward/text_util.h"

namespace grpo::reward {
namespace {

// This Abseil's string_view is its own type, not std::string_view.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

struct Fence {
  char ch = 0;
  size_t length = 0;
  size_t indent = 0;
  std::string_view info;  // the rest of the line, trimmed
};

// The fence on `line` (no newline), if it is one.
std::optional<Fence> ParseFence(std::string_view line) {
  Fence fence;
  while (fence.indent < line.size() && (line[fence.indent] == ' ' || line[fence.indent] == '\t')) {
    ++fence.indent;
  }
  const std::string_view rest = line.substr(fence.indent);
  if (rest.empty() || (rest[0] != '`' && rest[0] != '~')) return std::nullopt;
  fence.ch = rest[0];
  while (fence.length < rest.size() && rest[fence.length] == fence.ch) ++fence.length;
  if (fence.length < 3) return std::nullopt;
  fence.info = TrimSpace(rest.substr(fence.length));
  // CommonMark: a backtick fence's info string holds no backtick, which also
  // keeps one-line ```inline``` spans from opening a block.
  if (fence.ch == '`' && fence.info.find('`') != std::string_view::npos) return std::nullopt;
  return fence;
}

bool Closes(const Fence& open, std::string_view line) {
  std::optional<Fence> fence = ParseFence(line);
  return fence.has_value() && fence->ch == open.ch && fence->length >= open.length &&
         fence->info.empty();
}

// `line` without up to `indent` leading blanks (the fence's own indent: code
// in a fenced block inside a Markdown list is indented with its fence).
std::string_view Dedent(std::string_view line, size_t indent) {
  size_t cut = 0;
  while (cut < indent && cut < line.size() && (line[cut] == ' ' || line[cut] == '\t')) ++cut;
  return line.substr(cut);
}

std::string FirstWordLower(std::string_view info) {
  size_t end = 0;
  while (end < info.size() && !IsAsciiSpace(info[end]) && info[end] != '{') ++end;
  std::string word(info.substr(0, end));
  absl::AsciiStrToLower(&word);
  return word;
}

bool IsBlank(std::string_view s) { return TrimSpace(s).empty(); }

}  // namespace

std::vector<CodeBlock> FindCodeBlocks(std::string_view text) {
  std::vector<CodeBlock> blocks;
  std::optional<Fence> open;
  CodeBlock current;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!open.has_value()) {
      open = ParseFence(line);
      if (open.has_value()) {
        current = CodeBlock();
        current.language = FirstWordLower(open->info);
      }
      continue;
    }
    if (Closes(*open, line)) {
      blocks.push_back(std::move(current));
      open.reset();
      continue;
    }
    absl::StrAppend(&current.code, A(Dedent(line, open->indent)), "\n");
  }
  if (open.has_value()) {
    current.terminated = false;
    blocks.push_back(std::move(current));
  }
  return blocks;
}

bool LanguageTagMatches(std::string_view tag, std::string_view language) {
  const std::string t = absl::AsciiStrToLower(A(tag));
  const std::string l = absl::AsciiStrToLower(A(language));
  if (t == l) return true;
  if (l == "python" || l == "py") {
    return t == "python" || t == "py" || t == "py3" || t == "python3";
  }
  if (l == "cpp" || l == "c++") {
    return t == "cpp" || t == "c++" || t == "cc" || t == "cxx";
  }
  return false;
}

std::optional<ExtractedCode> ExtractCode(std::string_view completion,
                                         const CodeExtractOptions& options) {
  const std::vector<CodeBlock> blocks = FindCodeBlocks(completion);
  if (blocks.empty()) {
    if (!options.whole_text_without_fence || IsBlank(completion)) return std::nullopt;
    return ExtractedCode{std::string(completion), "whole text (no fence)"};
  }
  const bool any = options.language.empty() || options.language == "*";
  int chosen = -1;
  for (int i = 0; i < static_cast<int>(blocks.size()); ++i) {
    const CodeBlock& block = blocks[i];
    if (IsBlank(block.code)) continue;
    if (!any && !block.language.empty() && !LanguageTagMatches(block.language, options.language)) {
      continue;
    }
    switch (options.choice) {
      case BlockChoice::kFirst:
        if (chosen < 0) chosen = i;
        break;
      case BlockChoice::kLast:
        chosen = i;
        break;
      case BlockChoice::kLongest:
        if (chosen < 0 || block.code.size() > blocks[chosen].code.size()) chosen = i;
        break;
    }
  }
  if (chosen < 0) return std::nullopt;
  const CodeBlock& block = blocks[chosen];
  std::string how = absl::StrCat("block ", chosen + 1, " of ", blocks.size());
  if (!block.language.empty()) absl::StrAppend(&how, " (", block.language, ")");
  if (!block.terminated) absl::StrAppend(&how, ", unterminated");
  return ExtractedCode{block.code, std::move(how)};
}

}  // namespace grpo::reward
