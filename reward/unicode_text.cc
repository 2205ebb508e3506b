#include "reward/unicode_text.h"

namespace grpo::reward {

char32_t NextCodePoint(std::string_view text, size_t* pos) {
  const auto lead = static_cast<unsigned char>(text[*pos]);
  // The sequence's length by its lead byte; 0 for a byte that starts none
  // (a continuation byte, an overlong C0/C1, F5..FF).
  const size_t len = lead < 0x80   ? 1
                     : lead < 0xC2 ? 0
                     : lead < 0xE0 ? 2
                     : lead < 0xF0 ? 3
                     : lead < 0xF5 ? 4
                                   : 0;
  if (len == 0 || *pos + len > text.size()) {
    ++*pos;
    return 0xFFFD;
  }
  char32_t cp = len == 1 ? lead : (lead & (0x7Fu >> len));
  for (size_t k = 1; k < len; ++k) {
    const auto next = static_cast<unsigned char>(text[*pos + k]);
    if ((next & 0xC0) != 0x80) {
      ++*pos;
      return 0xFFFD;
    }
    cp = (cp << 6) | (next & 0x3Fu);
  }
  *pos += len;
  return cp;
}

size_t CountCodePoints(std::string_view text) {
  size_t n = 0;
  for (size_t pos = 0; pos < text.size(); ++n) NextCodePoint(text, &pos);
  return n;
}

bool IsUnicodeSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

std::vector<std::string_view> SplitOnSpace(std::string_view text) {
  std::vector<std::string_view> words;
  size_t start = std::string_view::npos;
  for (size_t pos = 0; pos < text.size();) {
    const size_t here = pos;
    const bool space = IsUnicodeSpace(NextCodePoint(text, &pos));
    if (space && start != std::string_view::npos) {
      words.push_back(text.substr(start, here - start));
      start = std::string_view::npos;
    } else if (!space && start == std::string_view::npos) {
      start = here;
    }
  }
  if (start != std::string_view::npos) words.push_back(text.substr(start));
  return words;
}

}  // namespace grpo::reward
