#include "reward/latex_lex.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/strings/str_cat.h"
#include "reward/text_util.h"

namespace grpo::reward::math {
namespace {

bool IsAlpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

// Commands that only size or space things.
bool IsIgnoredCommand(std::string_view name) {
  static constexpr std::string_view kIgnored[] = {
      "left",   "right",  "big",         "Big",       "bigg",   "Bigg",   "bigl",  "bigr",
      "Bigl",   "Bigr",   "biggl",       "biggr",     "displaystyle", "textstyle", "limits",
      "quad",   "qquad",  "$",           "!",         ",",      ";",      ":",     " ",
      "degree", "middle", "scriptstyle", "nonumber",  "hfill",  "allowbreak"};
  return std::find(std::begin(kIgnored), std::end(kIgnored), name) != std::end(kIgnored);
}

bool IsTextCommand(std::string_view name) {
  return name == "text" || name == "textbf" || name == "textit" || name == "mbox" ||
         name == "textnormal" || name == "textrm" || name == "mathrm" || name == "operatorname";
}

// Reads the brace group that starts at s[i] == '{'; returns its contents and
// moves i past the closing brace. Unbalanced: returns the rest.
std::string_view ReadBraceGroup(std::string_view s, size_t& i) {
  size_t start = ++i;
  int depth = 1;
  for (; i < s.size(); ++i) {
    if (s[i] == '\\') { ++i; continue; }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return s.substr(start, i++ - start);
  }
  return s.substr(start);
}

// Unicode symbols models write instead of LaTeX.
struct Utf8Alias { std::string_view utf8; Tok kind; std::string_view as; };
constexpr Utf8Alias kUtf8Aliases[] = {
    {"\xCF\x80", Tok::kCmd, "pi"},      {"\xE2\x88\x9A", Tok::kCmd, "sqrt"},
    {"\xE2\x88\x9E", Tok::kCmd, "infty"}, {"\xC3\x97", Tok::kChar, "*"},
    {"\xC2\xB7", Tok::kChar, "*"},      {"\xE2\x8B\x85", Tok::kChar, "*"},
    {"\xE2\x88\x92", Tok::kChar, "-"},  {"\xE2\x89\xA4", Tok::kCmd, "le"},
    {"\xE2\x89\xA5", Tok::kCmd, "ge"},  {"\xE2\x89\xA0", Tok::kCmd, "ne"},
    {"\xE2\x88\xAA", Tok::kCmd, "cup"}, {"\xC2\xB1", Tok::kCmd, "pm"},
    {"\xC2\xB0", Tok::kEnd, ""},  // degree sign: dropped
};

class Tokenizer {
 public:
  explicit Tokenizer(std::string_view s) : s_(s) {}

  std::vector<Token> Run() {
    while (i_ < s_.size()) Step();
    Push(Tok::kEnd, "");
    return std::move(out_);
  }

 private:
  void Push(Tok kind, std::string text) {
    out_.push_back({kind, std::move(text), space_});
    space_ = false;
  }

  void Step() {
    char c = s_[i_];
    if (std::isspace(static_cast<unsigned char>(c)) || c == '~' || c == '$') {
      space_ = true;
      ++i_;
      return;
    }
    if (IsDigit(c) || (c == '.' && i_ + 1 < s_.size() && IsDigit(s_[i_ + 1]))) return Number();
    if (IsAlpha(c)) return Word();
    if (c == '\\') return Command();
    if (c == '^' && DegreeMarkAt(i_ + 1)) return;
    if (static_cast<unsigned char>(c) >= 0x80) {
      for (const auto& alias : kUtf8Aliases) {
        if (s_.substr(i_).substr(0, alias.utf8.size()) == alias.utf8) {
          i_ += alias.utf8.size();
          if (alias.kind != Tok::kEnd) Push(alias.kind, std::string(alias.as));
          return;
        }
      }
    }
    Push(Tok::kChar, std::string(1, c));
    ++i_;
  }

  // "^\circ" or "^{\circ}" at s_[at-1]: consumes it (degrees carry no value).
  bool DegreeMarkAt(size_t at) {
    for (std::string_view mark : {"\\circ", "{\\circ}", "{ \\circ }", "{\\circ }"}) {
      if (s_.substr(at, mark.size()) == mark) {
        i_ = at + mark.size();
        return true;
      }
    }
    return false;
  }

  void Number() {
    std::string digits;
    auto take_digits = [&] {
      while (i_ < s_.size() && IsDigit(s_[i_])) digits += s_[i_++];
    };
    take_digits();
    // "10{,}000" is a thousands separator wherever it appears.
    while (s_.substr(i_, 3) == "{,}" && i_ + 6 <= s_.size() && IsDigit(s_[i_ + 3]) &&
           IsDigit(s_[i_ + 4]) && IsDigit(s_[i_ + 5])) {
      i_ += 3;
      take_digits();
    }
    if (i_ < s_.size() && s_[i_] == '.' && i_ + 1 < s_.size() && IsDigit(s_[i_ + 1])) {
      digits += s_[i_++];
      take_digits();
    } else if (i_ < s_.size() && s_[i_] == '.' && !digits.empty()) {
      ++i_;  // "5." : a trailing period or a bare decimal point
    }
    // Scientific notation: 1.5e-3, 2E10 (but not 2e alone, which is 2*e).
    if (i_ + 1 < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      size_t j = i_ + 1;
      if (j < s_.size() && (s_[j] == '+' || s_[j] == '-')) ++j;
      if (j < s_.size() && IsDigit(s_[j])) {
        digits += 'e';
        digits.append(s_.substr(i_ + 1, j - i_ - 1));
        i_ = j;
        take_digits();
      }
    }
    Push(Tok::kNum, digits);
  }

  void Word() {
    size_t start = i_;
    while (i_ < s_.size() && IsAlpha(s_[i_])) ++i_;
    Tok kind = i_ - start == 1 ? Tok::kLetter : Tok::kWord;
    Push(kind, std::string(s_.substr(start, i_ - start)));
  }

  void Command() {
    size_t start = ++i_;
    if (i_ >= s_.size()) return;
    if (!IsAlpha(s_[i_])) {
      char c = s_[i_++];
      std::string name(1, c);
      if (c == '{' || c == '}') return Push(Tok::kChar, c == '{' ? "\\{" : "\\}");
      if (c == '\\') return Push(Tok::kChar, "\\\\");
      if (c == '%') return Push(Tok::kChar, "%");
      if (c == '|') return Push(Tok::kChar, "|");
      if (!IsIgnoredCommand(name)) Push(Tok::kChar, name);
      return;
    }
    while (i_ < s_.size() && IsAlpha(s_[i_])) ++i_;
    std::string_view name = s_.substr(start, i_ - start);
    if (IsIgnoredCommand(name)) return;
    if (name == "lvert" || name == "rvert" || name == "vert" || name == "mid") {
      return Push(Tok::kChar, "|");
    }
    if (name == "langle" || name == "rangle") return Push(Tok::kChar, name == "langle" ? "(" : ")");
    if (IsTextCommand(name)) {
      while (i_ < s_.size() && s_[i_] == ' ') ++i_;
      if (i_ < s_.size() && s_[i_] == '{') {
        std::string content(TrimSpace(ReadBraceGroup(s_, i_)));
        if (content.empty()) return;
        // \mathrm{e}, \text{5}: math written in a text font.
        bool has_letters = std::any_of(content.begin(), content.end(), IsAlpha);
        if (content.size() == 1 || !has_letters) {
          std::vector<Token> inner = Tokenizer(content).Run();
          inner.pop_back();
          if (!inner.empty()) inner.front().space_before = space_;
          space_ = false;
          for (auto& t : inner) out_.push_back(std::move(t));
          return;
        }
        return Push(Tok::kText, std::move(content));
      }
      return;
    }
    Push(Tok::kCmd, std::string(name));
  }

  std::string_view s_;
  size_t i_ = 0;
  bool space_ = false;
  std::vector<Token> out_;
};

}  // namespace

bool IsFunctionName(std::string_view n) {
  static constexpr std::string_view kNames[] = {
      "sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh",
      "cosh", "tanh", "log", "ln", "exp", "lg"};
  return std::find(std::begin(kNames), std::end(kNames), n) != std::end(kNames);
}

bool IsShortUnit(std::string_view w) {
  static constexpr std::string_view kUnits[] = {
      "m",  "g",   "s",   "h",   "l",   "L",   "K",   "N",   "J",   "W",   "V",  "cm",
      "mm", "km",  "kg",  "mg",  "ft",  "in",  "yd",  "mi",  "lb",  "oz",  "hr", "ml",
      "mL", "sq",  "cc",  "yr",  "wk",  "ms",  "Hz",  "kW",  "lbs", "yds", "hrs", "min",
      "sec", "deg", "rad", "mph", "kph", "cal", "yrs", "pts"};
  return std::find(std::begin(kUnits), std::end(kUnits), w) != std::end(kUnits);
}

bool IsUnitWord(std::string_view w) {
  return w != "or" && w != "and" && !IsFunctionName(w) && w != "pi" && w != "sqrt" &&
         w != "inf" && w != "infinity" && (w.size() >= 4 || IsShortUnit(w));
}

bool IsInteger(std::string_view digits) {
  return !digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos;
}

std::string Printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 32)) {
    if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
  }
  return out;
}

const char* RelationOf(const Token& t) {
  if (t.kind == Tok::kChar) {
    if (t.text == "=") return "=";
    if (t.text == "<") return "<";
    if (t.text == ">") return ">";
  }
  if (t.kind == Tok::kCmd) {
    std::string_view n = t.text;
    if (n == "le" || n == "leq" || n == "leqslant") return "<=";
    if (n == "ge" || n == "geq" || n == "geqslant") return ">=";
    if (n == "ne" || n == "neq") return "!=";
    if (n == "approx" || n == "equiv") return "=";
    if (n == "lt") return "<";
    if (n == "gt") return ">";
  }
  return nullptr;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::vector<Token> Tokenize(std::string_view s) { return Tokenizer(s).Run(); }

}  // namespace grpo::reward::math
