#include "reward/latex_normalize.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "absl/strings/str_replace.h"
#include "reward/latex_lex.h"

namespace grpo::reward::math {
namespace {

bool IsAlpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Wrappers whose argument is kept and whose braces go: \text{ cm} is " cm".
bool IsTextWrapper(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "text",   "textbf", "textit", "textnormal", "textrm", "textsf",
      "mbox",   "mathrm", "mathbf", "mathit",     "operatorname"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

// Commands that only size or space things.
bool IsLayoutCommand(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "left", "right", "displaystyle", "textstyle", "quad", "qquad", "big",  "Big",
      "bigl", "bigr",  "Bigl",         "Bigr",      "bigg", "Bigg",  "degree"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

// Length of "{\circ}" (spaces allowed) at s[i], or 0.
size_t CircGroupAt(std::string_view s, size_t i) {
  size_t j = i + 1;
  while (j < s.size() && IsSpace(s[j])) ++j;
  if (s.substr(j, 5) != "\\circ") return 0;
  j += 5;
  while (j < s.size() && IsSpace(s[j])) ++j;
  return j < s.size() && s[j] == '}' ? j + 1 - i : 0;
}

// -?ddd( ddd)+(.d+)? : digit groups separated by single spaces (SI style).
bool IsSpaceGrouped(std::string_view s) {
  size_t i = !s.empty() && s[0] == '-' ? 1 : 0;
  size_t lead = 0;
  while (i + lead < s.size() && IsDigit(s[i + lead])) ++lead;
  if (lead == 0 || lead > 3) return false;
  size_t j = i + lead;
  bool any = false;
  while (j + 4 <= s.size() && s[j] == ' ' && IsDigit(s[j + 1]) && IsDigit(s[j + 2]) &&
         IsDigit(s[j + 3]) && (j + 4 == s.size() || !IsDigit(s[j + 4]))) {
    j += 4;
    any = true;
  }
  if (j < s.size() && s[j] == '.') {
    ++j;
    while (j < s.size() && IsDigit(s[j])) ++j;
  }
  return any && j == s.size();
}

}  // namespace

std::string CanonicalText(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::vector<bool> drop_close;  // per open brace: is its '}' dropped
  size_t i = 0;
  while (i < in.size()) {
    const char c = in[i];
    if (IsSpace(c) || c == '$' || c == '~') {
      ++i;
    } else if (c == '\\' && i + 1 < in.size() && !IsAlpha(in[i + 1])) {
      const char n = in[i + 1];
      i += 2;
      if (n == '%') out += '%';
      else if (n != '$' && n != '!' && n != ',' && n != ';' && n != ':' && !IsSpace(n)) {
        out += c;
        out += n;
      }
    } else if (c == '\\') {
      size_t j = i + 1;
      while (j < in.size() && IsAlpha(in[j])) ++j;
      std::string_view name = in.substr(i + 1, j - i - 1);
      i = j;
      if (IsTextWrapper(name)) {
        while (j < in.size() && IsSpace(in[j])) ++j;
        if (j < in.size() && in[j] == '{') {
          drop_close.push_back(true);
          i = j + 1;
        }
      } else if (name == "circ" && !out.empty() && out.back() == '^') {
        out.pop_back();  // 120^\circ
      } else if (!IsLayoutCommand(name)) {
        out += '\\';
        out += name == "dfrac" || name == "tfrac" ? "frac"
               : name == "le"                     ? "leq"
               : name == "ge"                     ? "geq"
                                                  : std::string(name);
      }
    } else if (c == '{') {
      if (in.substr(i, 3) == "{,}") {
        out += ',';
        i += 3;
      } else if (size_t n = CircGroupAt(in, i); n > 0 && !out.empty() && out.back() == '^') {
        out.pop_back();  // 120^{\circ}
        i += n;
      } else if (i + 2 < in.size() && in[i + 2] == '}' && in[i + 1] != '\\' &&
                 in[i + 1] != '{' && in[i + 1] != '}' && !IsSpace(in[i + 1]) &&
                 (i + 3 == in.size() || !IsDigit(in[i + 3]))) {
        // "{2}" is "2" as an argument; but "x^{1}2" is not "x^12".
        out += in[i + 1];
        i += 3;
      } else {
        drop_close.push_back(false);
        out += '{';
        ++i;
      }
    } else if (c == '}') {
      bool dropped = !drop_close.empty() && drop_close.back();
      if (!drop_close.empty()) drop_close.pop_back();
      if (!dropped) out += '}';
      ++i;
    } else if (in.substr(i, 2) == "\xC2\xB0") {  // the degree sign
      i += 2;
    } else {
      out += c;
      ++i;
    }
  }
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool LooksLikeWords(std::string_view canonical) {
  size_t run = 0, longest = 0;
  for (char c : canonical) {
    if (IsAlpha(c)) {
      longest = std::max(longest, ++run);
    } else if (std::string_view(".,:;'-()!?").find(c) != std::string_view::npos) {
      run = 0;
    } else {
      return false;
    }
  }
  return longest >= 2;  // "(a,b)" is a pair of symbols, not words
}

std::string DropThousandsSeparators(std::string_view s) {
  // "\!" (and a space after it) and "{,}" belong to the separator.
  std::string compact =
      absl::StrReplaceAll(std::string(s), {{"\\! ", ""}, {"\\!", ""}, {"{,}", ","}});
  // A comma with a space after it separates list items: "1, 234" is a list.
  if (compact.find(", ") != std::string::npos) return std::string(s);
  // "x = 1,000": the number after a variable is still one number.
  std::string prefix;
  if (compact.size() > 1 && IsAlpha(compact[0])) {
    size_t eq = compact.find_first_not_of(" ", 1);
    if (eq == std::string::npos || compact[eq] != '=') return std::string(s);
    prefix = compact.substr(0, eq + 1);
    compact.erase(0, eq + 1);
  }
  while (!compact.empty() && IsSpace(compact.front())) compact.erase(0, 1);
  for (std::string_view currency : {"\\$", "$"}) {
    if (compact.rfind(currency, 0) == 0) compact.erase(0, currency.size());
  }
  if (IsSpaceGrouped(compact)) return prefix + absl::StrReplaceAll(compact, {{" ", ""}});
  compact = absl::StrReplaceAll(compact, {{" ", ""}});
  size_t i = (!compact.empty() && compact[0] == '-') ? 1 : 0;
  size_t lead = 0;
  while (i + lead < compact.size() && IsDigit(compact[i + lead])) ++lead;
  if (lead == 0 || lead > 3) return std::string(s);
  size_t j = i + lead;
  bool any = false;
  while (j + 4 <= compact.size() && compact[j] == ',' && IsDigit(compact[j + 1]) &&
         IsDigit(compact[j + 2]) && IsDigit(compact[j + 3]) &&
         (j + 4 == compact.size() || !IsDigit(compact[j + 4]))) {
    j += 4;
    any = true;
  }
  if (!any) return std::string(s);
  std::string rest = compact.substr(j);
  if (!rest.empty() && rest[0] == '.') {  // decimal part
    size_t k = 1;
    while (k < rest.size() && IsDigit(rest[k])) ++k;
    rest = rest.substr(k);
  }
  // Only a unit or a percent sign may follow, not more items.
  if (!rest.empty() && rest.find_first_of(",()[]") != std::string::npos) return std::string(s);
  return prefix + absl::StrReplaceAll(compact.substr(0, j), {{",", ""}}) + compact.substr(j);
}

}  // namespace grpo::reward::math
