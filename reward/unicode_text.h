// Code-point level helpers for the text rewards (length, repetition,
// language_consistency). Input is UTF-8 that the service already validated;
// a stray invalid byte is read as one code point U+FFFD, never past the end.
#ifndef GRPO_REWARD_UNICODE_TEXT_H_
#define GRPO_REWARD_UNICODE_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace grpo::reward {

// The code point at text[*pos], and *pos moved past it. *pos < text.size().
char32_t NextCodePoint(std::string_view text, size_t* pos);

// Unicode code points in `text`.
size_t CountCodePoints(std::string_view text);

// The characters Python's str.split() splits on: ASCII whitespace, the
// separators \x1c-\x1f, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028,
// U+2029, U+202F, U+205F, U+3000.
bool IsUnicodeSpace(char32_t c);

// Python's text.split(): the maximal runs of non-space characters.
std::vector<std::string_view> SplitOnSpace(std::string_view text);

}  // namespace grpo::reward

#endif  // GRPO_REWARD_UNICODE_TEXT_H_
