#include "reward/answer_extract.h"

#include <algorithm>
#include <cstddef>

// Every extractor here is a constant number of passes over the text, with heap
// state bounded by the text size and no recursion: completions are untrusted
// (a policy under RL will find any quadratic path or stack overflow).

namespace grpo::reward {
namespace {

using config::AnswerSource;

constexpr size_t kNpos = std::string_view::npos;

// ASCII-only classes: <cctype> is locale-dependent and undefined for bytes
// above 0x7f, which invalid UTF-8 hands us.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAlnum(char c) { return IsDigit(c) || IsAlpha(c); }
char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool HasAt(std::string_view text, size_t pos, std::string_view needle) {
  return pos <= text.size() && text.size() - pos >= needle.size() &&
         text.compare(pos, needle.size(), needle) == 0;
}

// `needle` must be lower case.
bool HasAtCaseless(std::string_view text, size_t pos, std::string_view needle) {
  if (pos > text.size() || text.size() - pos < needle.size()) return false;
  for (size_t k = 0; k < needle.size(); ++k) {
    if (ToLower(text[pos + k]) != needle[k]) return false;
  }
  return true;
}

// The last start p < start_before where the lower-case `needle` occurs
// ignoring ASCII case, or kNpos. O(n * |needle|) for the short needles used.
size_t RFindCaseless(std::string_view text, std::string_view needle, size_t start_before) {
  if (needle.empty() || text.size() < needle.size() || start_before == 0) return kNpos;
  size_t p = std::min(start_before - 1, text.size() - needle.size());
  for (;; --p) {
    if (ToLower(text[p]) == needle[0] && HasAtCaseless(text, p, needle)) return p;
    if (p == 0) return kNpos;
  }
}

// The last start p < start_before of `needle` (case-sensitive), or kNpos.
size_t RFind(std::string_view text, std::string_view needle, size_t start_before) {
  if (start_before == 0) return kNpos;
  return text.rfind(needle, start_before - 1);
}

size_t LineEnd(std::string_view text, size_t pos) {
  size_t eol = text.find('\n', pos);
  return eol == kNpos ? text.size() : eol;
}

// Half-open byte range [begin, end) of the completion.
struct Span {
  size_t begin = 0;
  size_t end = 0;
  bool empty() const { return begin >= end; }
};

Span Trim(std::string_view text, Span s) {
  while (s.begin < s.end && IsSpace(text[s.begin])) ++s.begin;
  while (s.end > s.begin && IsSpace(text[s.end - 1])) --s.end;
  return s;
}

Extraction Make(std::string_view text, Span s, AnswerSource source) {
  Extraction e;
  e.text = std::string(text.substr(s.begin, s.end - s.begin));
  e.source = source;
  e.offset = s.begin;
  return e;
}

// ---------------------------------------------------------------- \boxed{} --

struct Box {
  size_t command = 0;    // the backslash of \boxed / \fbox
  size_t brace = kNpos;  // its '{', kNpos for a bare token argument
  Span content;          // inside the braces, or the bare token
  size_t end = 0;        // one past the closing brace or the token
  bool complete = false;
};

// Length of a \boxed or \fbox control word at `pos`, else 0. "\boxedx" is a
// different control word, so a letter may not follow the name.
size_t BoxCommandLength(std::string_view text, size_t pos) {
  for (std::string_view name : {std::string_view("\\boxed"), std::string_view("\\fbox")}) {
    if (HasAt(text, pos, name) &&
        (pos + name.size() == text.size() || !IsAlpha(text[pos + name.size()]))) {
      return name.size();
    }
  }
  return 0;
}

// End of the bare argument of "\boxed 5" starting at `pos`, or `pos` if there
// is none. TeX takes one token; a whole number ("\boxed 42", "\boxed -3") is
// taken instead, since that is what a model writing it means.
size_t BareTokenEnd(std::string_view text, size_t pos) {
  const size_t n = text.size();
  if (pos >= n) return pos;
  const char c = text[pos];
  if (c == '\\') {  // a control word such as \pi
    size_t q = pos + 1;
    while (q < n && IsAlpha(text[q])) ++q;
    return q > pos + 1 ? q : pos;
  }
  size_t q = pos + (c == '-' ? 1 : 0);
  if (q < n && IsDigit(text[q])) {
    while (q < n && IsDigit(text[q])) ++q;
    if (q + 1 < n && text[q] == '.' && IsDigit(text[q + 1])) {
      for (++q; q < n && IsDigit(text[q]); ++q) {
      }
    }
    return q;
  }
  if (IsAlpha(c)) return pos + 1;
  const unsigned char lead = static_cast<unsigned char>(c);
  if (lead >= 0xC2 && lead <= 0xF4) {  // one UTF-8 character (a valid lead byte)
    q = pos + 1;
    while (q < n && q < pos + 4 && (static_cast<unsigned char>(text[q]) & 0xC0) == 0x80) ++q;
    return q;
  }
  return pos;
}

// The box that ends last among the complete, non-empty boxes whose command
// starts in [from, start_limit), with braces matched over text[from, end).
// A box whose content is exactly another box is unwrapped
// (\boxed{\boxed{5}} gives 5). Returns the trimmed content span.
//
// One forward pass. Braces are matched with a stack that holds only the open
// box arguments; plain '{' nesting is kept as counters, so 1 MB of '{' costs
// no memory. "\{" and "\}" are escaped and do not nest.
std::optional<Span> LastBox(std::string_view text, size_t from, size_t start_limit) {
  const size_t n = text.size();
  struct Open {
    size_t box;
    size_t plain_above;  // plain '{' opened inside it and not yet closed
  };
  std::vector<Box> boxes;
  std::vector<Open> open;
  size_t plain_below = 0;        // plain '{' open beneath every box argument
  size_t pending_brace = kNpos;  // the '{' that opens the last box's argument

  size_t i = from;
  while (i < n) {
    // Past the limit nothing new can be chosen; only open arguments need
    // their closing brace.
    if (i >= start_limit && open.empty() && pending_brace == kNpos) break;
    const char c = text[i];
    if (c == '\\') {
      const size_t len = BoxCommandLength(text, i);
      if (len == 0) {
        i += 2;  // an escaped character ("\{", "\$", "\\") or a command's backslash
        continue;
      }
      Box box;
      box.command = i;
      size_t arg = i + len;
      while (arg < n && IsSpace(text[arg])) ++arg;
      if (arg < n && text[arg] == '{') {
        box.brace = arg;
        pending_brace = arg;
      } else {
        const size_t token_end = BareTokenEnd(text, arg);
        if (token_end > arg) {
          box.content = {arg, token_end};
          box.end = token_end;
          box.complete = true;
        }
      }
      boxes.push_back(box);
      i = arg;  // the argument may itself be a box ("\boxed\boxed{5}")
      continue;
    }
    if (c == '{') {
      if (i == pending_brace) {
        open.push_back({boxes.size() - 1, 0});
        pending_brace = kNpos;
      } else if (!open.empty()) {
        ++open.back().plain_above;
      } else {
        ++plain_below;
      }
    } else if (c == '}') {
      if (!open.empty()) {
        if (open.back().plain_above > 0) {
          --open.back().plain_above;
        } else {
          Box& box = boxes[open.back().box];
          box.content = {box.brace + 1, i};
          box.end = i + 1;
          box.complete = true;
          open.pop_back();
        }
      } else if (plain_below > 0) {
        --plain_below;
      }
    }
    ++i;
  }

  size_t best = kNpos;
  for (size_t k = 0; k < boxes.size(); ++k) {
    const Box& box = boxes[k];
    if (!box.complete || box.command >= start_limit) continue;
    if (Trim(text, box.content).empty()) continue;
    if (best == kNpos || box.end > boxes[best].end) best = k;
  }
  if (best == kNpos) return std::nullopt;

  // Unwrap: the only box that can start where the content starts is the next
  // one recorded (only the name, spaces and '{' lie between).
  Span s = Trim(text, boxes[best].content);
  for (size_t k = best; boxes[k].brace != kNpos && k + 1 < boxes.size();) {
    const Box& inner = boxes[k + 1];
    if (inner.command != s.begin || inner.brace == kNpos || !inner.complete || inner.end != s.end) {
      break;
    }
    const Span inner_content = Trim(text, inner.content);
    if (inner_content.empty()) break;
    s = inner_content;
    ++k;
  }
  return s;
}

// ------------------------------------------------------------ answer phrase --

// Strips what decorates an answer on its line: surrounding whitespace, a
// trailing '.', markdown bold, and a math delimiter pair around all of it.
Span StripDecorations(std::string_view text, Span s) {
  // Every round removes at least one byte or stops, so this is linear.
  for (;;) {
    s = Trim(text, s);
    const size_t len = s.end - s.begin;
    if (len == 0) return s;
    if (text[s.end - 1] == '.') {
      --s.end;
    } else if (HasAt(text, s.begin, "**")) {
      s.begin += 2;
    } else if (len >= 2 && text[s.end - 1] == '*' && text[s.end - 2] == '*') {
      s.end -= 2;
    } else if (len >= 2 && text[s.begin] == '$' && text[s.end - 1] == '$' &&
               !(len >= 3 && text[s.end - 2] == '\\')) {
      ++s.begin;
      --s.end;
    } else if (len >= 4 && ((HasAt(text, s.begin, "\\(") && HasAt(text, s.end - 2, "\\)")) ||
                            (HasAt(text, s.begin, "\\[") && HasAt(text, s.end - 2, "\\]")))) {
      s.begin += 2;
      s.end -= 2;
    } else {
      return s;
    }
  }
}

// Cuts "5. Let me check that." down to "5.": a period outside $...$ followed
// by a space and a letter ends the answer sentence (decimals have no space).
Span CutAtSentenceEnd(std::string_view text, Span s) {
  bool in_math = false;
  for (size_t i = s.begin; i < s.end; ++i) {
    const char c = text[i];
    if (c == '\\') {
      ++i;
    } else if (c == '$') {
      in_math = !in_math;
    } else if (c == '.' && !in_math) {
      size_t j = i + 1;
      if (j >= s.end || !IsSpace(text[j])) continue;
      while (j < s.end && IsSpace(text[j])) ++j;
      if (j < s.end && IsAlpha(text[j])) return {s.begin, i + 1};
    }
  }
  return s;
}

// The answer that starts at `begin` (right after a phrase): the rest of the
// line, or the next non-empty line when the rest is bare.
std::optional<Extraction> AnswerAfterPhrase(std::string_view text, size_t begin) {
  const size_t n = text.size();
  Span line{begin, LineEnd(text, begin)};
  if (StripDecorations(text, line).empty()) {
    size_t p = line.end;
    while (p < n && IsSpace(text[p])) ++p;
    if (p >= n) return std::nullopt;
    line = {p, LineEnd(text, p)};
  }
  if (auto box = LastBox(text, line.begin, line.end)) {
    return Make(text, *box, config::ANSWER_PHRASE);
  }
  const Span s = StripDecorations(text, CutAtSentenceEnd(text, line));
  if (s.empty()) return std::nullopt;
  return Make(text, s, config::ANSWER_PHRASE);
}

enum class Phrase { kFinalAnswer, kTheAnswerIs, kAnswerColon, kLineA };

size_t SkipBlanks(std::string_view text, size_t p) {
  while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
  return p;
}

// Whether only blanks and markdown ('#', '*') lie between the line start and
// `p`. The walk is over a run no other phrase occurrence shares.
bool AtLineStart(std::string_view text, size_t p, bool allow_markdown) {
  while (p > 0) {
    const char c = text[p - 1];
    if (c == '\n') return true;
    if (c == ' ' || c == '\t' || (allow_markdown && (c == '#' || c == '*'))) {
      --p;
    } else {
      return false;
    }
  }
  return true;
}

// Where the answer starts if the occurrence of `kind`'s needle at `p` is a
// real answer phrase, else kNpos.
size_t PhraseAnswerStart(std::string_view text, Phrase kind, size_t p) {
  const size_t n = text.size();
  if (kind == Phrase::kLineA) {
    return AtLineStart(text, p, /*allow_markdown=*/false) ? p + 2 : kNpos;
  }
  if (p > 0 && IsAlpha(text[p - 1])) return kNpos;  // "reanswer:", "breathe answer"
  switch (kind) {
    case Phrase::kAnswerColon:
      return p + 7;
    case Phrase::kTheAnswerIs: {
      size_t q = p + 13;
      if (q < n && IsAlpha(text[q])) return kNpos;  // "the answer isn't"
      q = SkipBlanks(text, q);
      return (q < n && text[q] == ':') ? q + 1 : q;
    }
    case Phrase::kFinalAnswer: {
      size_t q = p + 12;
      if (HasAt(text, q, "**")) {  // **Final Answer**, **Final Answer**:
        q = SkipBlanks(text, q + 2);
        return (q < n && text[q] == ':') ? q + 1 : q;
      }
      q = SkipBlanks(text, q);
      if (q < n && text[q] == ':') return q + 1;
      if (HasAtCaseless(text, q, "is") && (q + 2 >= n || !IsAlpha(text[q + 2]))) {
        q = SkipBlanks(text, q + 2);
        return (q < n && text[q] == ':') ? q + 1 : q;
      }
      // A heading such as "### Final Answer" with the answer below it.
      if ((q >= n || text[q] == '\n' || text[q] == '\r') &&
          AtLineStart(text, p, /*allow_markdown=*/true)) {
        return q;
      }
      return kNpos;
    }
    case Phrase::kLineA:
      break;
  }
  return kNpos;
}

// Walks the occurrences of one phrase from the end of the text backwards.
// Its search position only decreases, so all cursors together stay linear.
class PhraseCursor {
 public:
  PhraseCursor(std::string_view text, Phrase kind, std::string_view needle, bool caseless)
      : text_(text),
        kind_(kind),
        needle_(needle),
        caseless_(caseless),
        searched_below_(text.size() + 1) {}

  // The last valid occurrence starting before `limit`: {start, answer start}.
  std::optional<std::pair<size_t, size_t>> Next(size_t limit) {
    if (found_ != kNpos && found_ < limit) return std::make_pair(found_, answer_);
    size_t end = std::min(limit, searched_below_);
    while (end > 0) {
      const size_t p = caseless_ ? RFindCaseless(text_, needle_, end) : RFind(text_, needle_, end);
      if (p == kNpos) break;
      searched_below_ = end = p;
      const size_t answer = PhraseAnswerStart(text_, kind_, p);
      if (answer != kNpos) {
        found_ = p;
        answer_ = answer;
        return std::make_pair(p, answer);
      }
    }
    searched_below_ = 0;
    found_ = kNpos;
    return std::nullopt;
  }

 private:
  std::string_view text_;
  Phrase kind_;
  std::string_view needle_;
  bool caseless_;
  size_t searched_below_;  // every start >= this has been looked at
  size_t found_ = kNpos;
  size_t answer_ = 0;
};

}  // namespace

std::vector<AnswerSource> ExtractionOrder(const config::MathRewardOptions& options) {
  std::vector<AnswerSource> order;
  auto add = [&order](AnswerSource s) {
    if (std::find(order.begin(), order.end(), s) == order.end()) order.push_back(s);
  };
  if (options.extraction_priority_size() == 0) {
    for (AnswerSource s : {config::BOXED, config::ANSWER_TAG, config::ANSWER_PHRASE,
                           config::GSM8K_HASHES, config::LATEX_MATH}) {
      add(s);
    }
  } else {
    for (int s : options.extraction_priority()) {
      if (config::AnswerSource_IsValid(s)) add(static_cast<AnswerSource>(s));
    }
  }
  if (options.last_number_fallback()) add(config::LAST_NUMBER);
  return order;
}

std::optional<Extraction> ExtractBoxed(std::string_view text) {
  auto box = LastBox(text, 0, text.size());
  if (!box) return std::nullopt;
  return Make(text, *box, config::BOXED);
}

std::optional<Extraction> ExtractAnswerTag(std::string_view text) {
  constexpr std::string_view kOpen = "<answer>";
  constexpr std::string_view kClose = "</answer>";
  // Each round searches below the previous open tag: the scans are disjoint.
  size_t limit = text.size() + 1;
  for (;;) {
    const size_t close = RFindCaseless(text, kClose, limit);
    if (close == kNpos || close < kOpen.size()) return std::nullopt;
    const size_t open = RFindCaseless(text, kOpen, close - kOpen.size() + 1);
    if (open == kNpos) return std::nullopt;
    const Span s = Trim(text, {open + kOpen.size(), close});
    if (!s.empty()) {
      const std::string_view inside = text.substr(s.begin, s.end - s.begin);
      if (auto box = LastBox(inside, 0, inside.size())) {
        return Make(text, {s.begin + box->begin, s.begin + box->end}, config::ANSWER_TAG);
      }
      return Make(text, s, config::ANSWER_TAG);
    }
    limit = open;
  }
}

std::optional<Extraction> ExtractAnswerPhrase(std::string_view text) {
  PhraseCursor cursors[] = {
      PhraseCursor(text, Phrase::kFinalAnswer, "final answer", true),
      PhraseCursor(text, Phrase::kTheAnswerIs, "the answer is", true),
      PhraseCursor(text, Phrase::kAnswerColon, "answer:", true),
      PhraseCursor(text, Phrase::kLineA, "A:", false),
  };
  // A phrase with nothing after it (a cut-off completion) falls back to the
  // one before it; a few tries are enough and keep the worst case linear.
  constexpr int kMaxTries = 8;
  size_t limit = text.size() + 1;
  for (int attempt = 0; attempt < kMaxTries; ++attempt) {
    std::optional<std::pair<size_t, size_t>> best;
    for (PhraseCursor& cursor : cursors) {
      auto hit = cursor.Next(limit);
      if (hit && (!best || hit->first > best->first)) best = hit;
    }
    if (!best) return std::nullopt;
    if (auto answer = AnswerAfterPhrase(text, best->second)) return answer;
    limit = best->first;
  }
  return std::nullopt;
}

std::optional<Extraction> ExtractGsm8kHashes(std::string_view text) {
  size_t limit = text.size() + 1;
  for (;;) {
    const size_t p = RFind(text, "####", limit);
    if (p == kNpos) return std::nullopt;
    // Treat a run of five or more '#' as one marker.
    size_t begin = p + 4;
    while (begin < text.size() && text[begin] == '#') ++begin;
    const Span s = Trim(text, {begin, LineEnd(text, begin)});
    if (!s.empty()) return Make(text, s, config::GSM8K_HASHES);
    size_t run = p;
    while (run > 0 && text[run - 1] == '#') --run;
    limit = run;
  }
}

std::optional<Extraction> ExtractLatexMath(std::string_view text) {
  enum class Mode { kText, kDollar, kDoubleDollar, kParen, kBracket };
  const size_t n = text.size();
  Mode mode = Mode::kText;
  size_t content = 0;
  std::optional<Span> last;
  auto close_at = [&](size_t end) {
    const Span s = Trim(text, {content, end});
    if (!s.empty()) last = s;
    mode = Mode::kText;
  };
  size_t i = 0;
  while (i < n) {
    const char c = text[i];
    const char next = i + 1 < n ? text[i + 1] : '\0';
    if (c == '\\') {
      if (mode == Mode::kText && (next == '(' || next == '[')) {
        mode = next == '(' ? Mode::kParen : Mode::kBracket;
        content = i + 2;
      } else if ((mode == Mode::kParen && next == ')') || (mode == Mode::kBracket && next == ']')) {
        close_at(i);
      }
      i += 2;  // also skips "\$", which is a dollar sign, not a delimiter
      continue;
    }
    if (c == '$') {
      if (mode == Mode::kText) {
        const bool display = next == '$';
        mode = display ? Mode::kDoubleDollar : Mode::kDollar;
        i += display ? 2 : 1;
        content = i;
        continue;
      }
      if (mode == Mode::kDollar) {
        close_at(i);
      } else if (mode == Mode::kDoubleDollar && next == '$') {
        close_at(i);
        ++i;
      }
    } else if (c == '\n' && mode == Mode::kDollar) {
      // Inline math does not cross lines; a lone '$' is most likely currency.
      mode = Mode::kText;
    }
    ++i;
  }
  if (!last) return std::nullopt;
  return Make(text, *last, config::LATEX_MATH);
}

std::optional<Extraction> ExtractLastNumber(std::string_view text) {
  const size_t n = text.size();
  std::optional<Span> last;
  size_t i = 0;
  while (i < n) {
    if (!IsDigit(text[i])) {
      ++i;
      continue;
    }
    // "1.2.3": the digits after a number's second '.' are not a new number.
    if (i >= 2 && text[i - 1] == '.' && IsDigit(text[i - 2])) {
      while (i < n && IsDigit(text[i])) ++i;
      continue;
    }
    size_t begin = i;
    // A '-' is a sign unless it follows an operand ("5-3", "x-3", "(a)-3").
    if (i >= 1 && text[i - 1] == '-' &&
        (i == 1 || !(IsAlnum(text[i - 2]) || text[i - 2] == ')' || text[i - 2] == ']' ||
                     text[i - 2] == '}'))) {
      begin = i - 1;
    }
    size_t q = i;
    while (q < n && IsDigit(text[q])) ++q;
    // Thousands groups: exactly three digits after each comma.
    if (q - i <= 3) {
      while (q + 3 < n && text[q] == ',' && IsDigit(text[q + 1]) && IsDigit(text[q + 2]) &&
             IsDigit(text[q + 3]) && (q + 4 >= n || !IsDigit(text[q + 4]))) {
        q += 4;
      }
    }
    if (q + 1 < n && text[q] == '.' && IsDigit(text[q + 1])) {
      for (q += 1; q < n && IsDigit(text[q]); ++q) {
      }
    }
    if (q + 1 < n && text[q] == '/' && IsDigit(text[q + 1])) {
      for (q += 1; q < n && IsDigit(text[q]); ++q) {
      }
    }
    last = Span{begin, q};
    i = q;
  }
  if (!last) return std::nullopt;
  Extraction e;
  e.source = config::LAST_NUMBER;
  e.offset = last->begin;
  for (size_t k = last->begin; k < last->end; ++k) {
    if (text[k] != ',') e.text.push_back(text[k]);
  }
  return e;
}

std::optional<Extraction> ExtractAnswer(std::string_view text,
                                        const std::vector<AnswerSource>& order) {
  for (AnswerSource source : order) {
    std::optional<Extraction> e;
    switch (source) {
      case config::BOXED:
        e = ExtractBoxed(text);
        break;
      case config::ANSWER_TAG:
        e = ExtractAnswerTag(text);
        break;
      case config::ANSWER_PHRASE:
        e = ExtractAnswerPhrase(text);
        break;
      case config::GSM8K_HASHES:
        e = ExtractGsm8kHashes(text);
        break;
      case config::LATEX_MATH:
        e = ExtractLatexMath(text);
        break;
      case config::LAST_NUMBER:
        e = ExtractLastNumber(text);
        break;
    }
    if (e) return e;
  }
  return std::nullopt;
}

}  // namespace grpo::reward
