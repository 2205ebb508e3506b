#include "cli/jsonl.h"

#include <cstddef>
#include <cstdint>

namespace grpo::cli {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// Length of the well-formed UTF-8 sequence at s[0..n), or 0 if there is none
// (Unicode 15, table 3-7: no overlongs, no surrogates, nothing past U+10FFFF).
size_t SequenceLength(const unsigned char* s, size_t n) {
  const unsigned char b = s[0];
  if (b < 0x80) return 1;
  auto cont = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < n && s[i] >= lo && s[i] <= hi;
  };
  if (b >= 0xC2 && b <= 0xDF) return cont(1) ? 2 : 0;
  if (b == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (b == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (b == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b >= 0xF1 && b <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The code unit of a "\uXXXX" escape at text[i], or -1.
int32_t UnicodeEscape(const std::string& text, size_t i) {
  if (i + 6 > text.size() || text[i] != '\\' || text[i + 1] != 'u') return -1;
  int32_t unit = 0;
  for (size_t k = i + 2; k < i + 6; ++k) {
    const int digit = HexValue(text[k]);
    if (digit < 0) return -1;
    unit = unit * 16 + digit;
  }
  return unit;
}

bool IsHighSurrogate(int32_t unit) { return unit >= 0xD800 && unit <= 0xDBFF; }
bool IsLowSurrogate(int32_t unit) { return unit >= 0xDC00 && unit <= 0xDFFF; }

}  // namespace

bool SanitizeUtf8(std::string* text) {
  const auto* data = reinterpret_cast<const unsigned char*>(text->data());
  const size_t n = text->size();
  size_t i = 0;
  size_t length = 0;
  while (i < n && (length = SequenceLength(data + i, n - i)) != 0) i += length;
  if (i == n) return false;  // the common case: valid, untouched

  std::string clean(text->data(), i);
  clean.reserve(n + 16);
  while (i < n) {
    length = SequenceLength(data + i, n - i);
    if (length == 0) {
      clean += kReplacement;
      ++i;
    } else {
      clean.append(text->data() + i, length);
      i += length;
    }
  }
  text->swap(clean);
  return true;
}

bool SanitizeJsonText(std::string* json_text) {
  bool changed = SanitizeUtf8(json_text);
  std::string& text = *json_text;
  // Escapes only occur inside strings, and "\\" is skipped as a pair, so a
  // plain scan for backslashes sees exactly the escapes.
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] != '\\') continue;
    const int32_t unit = UnicodeEscape(text, i);
    if (unit < 0 || !(IsHighSurrogate(unit) || IsLowSurrogate(unit))) {
      ++i;  // skip the escaped character
      continue;
    }
    if (IsHighSurrogate(unit) && IsLowSurrogate(UnicodeEscape(text, i + 6))) {
      i += 11;  // a proper pair
      continue;
    }
    text.replace(i, 6, "\\ufffd");  // same length: in place
    changed = true;
    i += 5;
  }
  return changed;
}

}  // namespace grpo::cli
