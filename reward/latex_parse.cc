#include "reward/latex_parse.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "reward/latex_lex.h"
#include "reward/latex_normalize.h"
#include "reward/text_util.h"

namespace grpo::reward::math {
namespace {

// ---------------------------------------------------------------------------
// Parser: recursive descent over the tokens, depth-limited.
//   list     := relation (',' relation)*
//   relation := union (relop union)*
//   union    := sum ('\cup' sum)*
//   sum      := ['-'|'+'|'\pm'] term (('+'|'-'|'\pm') term)*
//   term     := power (('*'|'/'|implicit) power)*
//   power    := postfix ['^' exponent]     exponent := arg ['^' exponent]
//   postfix  := primary ('!' | '%')*
// Vocabulary (function names, units, relations) lives in latex_lex.
// ---------------------------------------------------------------------------

NodePtr Num(std::string digits) { return MakeNode(Op::kNumber, std::move(digits)); }
NodePtr Inverse(NodePtr x) { return MakeNode(Op::kPow, {}, {std::move(x), Num("-1")}); }
NodePtr Divide(NodePtr a, NodePtr b) {
  return MakeNode(Op::kMul, {}, {std::move(a), Inverse(std::move(b))});
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const Deadline& deadline)
      : t_(std::move(tokens)), deadline_(deadline) {}

  absl::StatusOr<NodePtr> ParseAll() {
    // "x \in [1, 2)": the set is the answer.
    if (t_.size() > 2 && t_[0].kind == Tok::kLetter && IsCmd(t_[1], "in")) pos_ = 2;
    // The whole answer is words: a text answer ("Evelyn", "4:30 p.m.").
    if (t_.size() == 2 && t_[0].kind == Tok::kText) return MakeNode(Op::kText, t_[0].text);
    NodePtr result = List(Tok::kEnd, "");
    if (status_.ok() && Peek().kind != Tok::kEnd) {
      Fail(absl::StrCat("unexpected '", Printable(Peek().text), "'"));
    }
    if (!status_.ok()) return status_;
    return result;
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    return t_[std::min(pos_ + ahead, t_.size() - 1)];
  }
  Token& Next() { return t_[std::min(pos_++, t_.size() - 1)]; }
  bool AtChar(std::string_view c) const { return Peek().kind == Tok::kChar && Peek().text == c; }
  static bool IsCmd(const Token& t, std::string_view name) {
    return t.kind == Tok::kCmd && t.text == name;
  }
  bool Ok() const { return status_.ok(); }
  NodePtr Fail(std::string why) {
    if (status_.ok()) status_ = absl::InvalidArgumentError(std::move(why));
    return nullptr;
  }
  // False after an earlier failure too: callers then never see a null child.
  bool Expect(std::string_view c) {
    if (!Ok()) return false;
    if (AtChar(c)) { ++pos_; return true; }
    Fail(absl::StrCat("expected '", std::string(c), "'"));
    return false;
  }
  bool AtItemEnd(Tok end_kind, std::string_view end_text) const {
    const Token& t = Peek();
    return t.kind == Tok::kEnd || (t.kind == end_kind && t.text == end_text);
  }
  bool AtSeparator() const {
    return AtChar(",") || AtChar(";") ||
           (Peek().kind == Tok::kWord && (Peek().text == "or" || Peek().text == "and")) ||
           (Peek().kind == Tok::kText && (Peek().text == "or" || Peek().text == "and"));
  }

  // Items separated by commas up to (not including) the closing token.
  NodePtr List(Tok end_kind, std::string_view end_text) {
    std::vector<NodePtr> items;
    while (Ok()) {
      items.push_back(Relation());
      if (!Ok() || !AtSeparator()) break;
      ++pos_;
      if (AtItemEnd(end_kind, end_text)) break;  // "1, 2," trailing comma
    }
    if (!Ok()) return nullptr;
    if (items.size() == 1) return items[0];
    return MakeNode(Op::kList, {}, std::move(items));
  }

  NodePtr Relation() {
    NodePtr first = Union();
    if (!Ok() || !RelationOf(Peek())) return first;
    auto rel = std::make_shared<Node>();
    rel->op = Op::kRelation;
    rel->args.push_back(first);
    while (Ok() && RelationOf(Peek())) {
      rel->relations.push_back(RelationOf(Next()));
      rel->args.push_back(Union());
    }
    return Ok() ? rel : nullptr;
  }

  NodePtr Union() {
    NodePtr first = Sum();
    if (!Ok() || !IsCmd(Peek(), "cup")) return first;
    std::vector<NodePtr> parts{first};
    while (Ok() && IsCmd(Peek(), "cup")) {
      ++pos_;
      parts.push_back(Sum());
    }
    return Ok() ? MakeNode(Op::kUnion, {}, std::move(parts)) : nullptr;
  }

  NodePtr Sum() {
    std::vector<NodePtr> terms;
    auto signed_term = [&](char sign) {
      NodePtr t = Term();
      if (!t) return;
      if (sign == '-') t = MakeNode(Op::kNeg, {}, {t});
      if (sign == 'p') {
        NodePtr base = terms.empty() ? Num("0")
                       : terms.size() == 1 ? terms[0] : MakeNode(Op::kAdd, {}, terms);
        terms = {MakeNode(Op::kPlusMinus, {}, {base, t})};
        return;
      }
      terms.push_back(t);
    };
    char sign = '+';
    if (AtChar("-")) { sign = '-'; ++pos_; }
    else if (AtChar("+")) { ++pos_; }
    else if (IsCmd(Peek(), "pm") || IsCmd(Peek(), "mp")) { sign = 'p'; ++pos_; }
    signed_term(sign);
    while (Ok()) {
      if (AtChar("+")) sign = '+';
      else if (AtChar("-")) sign = '-';
      else if (IsCmd(Peek(), "pm") || IsCmd(Peek(), "mp")) sign = 'p';
      else break;
      ++pos_;
      signed_term(sign);
    }
    if (!Ok()) return nullptr;
    return terms.size() == 1 ? terms[0] : MakeNode(Op::kAdd, {}, std::move(terms));
  }

  // Can the next token start a factor of an implicit product ("2x", "3\pi")?
  bool StartsFactor() const {
    const Token& t = Peek();
    switch (t.kind) {
      case Tok::kNum: case Tok::kLetter: return true;
      case Tok::kWord: return !IsUnitWord(t.text) && t.text != "or" && t.text != "and";
      case Tok::kCmd: return !RelationOf(t) && t.text != "cup" && t.text != "pm" &&
                             t.text != "mp" && t.text != "cdot" && t.text != "times" &&
                             t.text != "div" && t.text != "end" && t.text != "in" &&
                             t.text != "rfloor" && t.text != "rceil";
      case Tok::kChar: return t.text == "(" || t.text == "[" || t.text == "\\{" ||
                              t.text == "{" || (t.text == "|" && abs_depth_ == 0);
      default: return false;
    }
  }

  // Words or \text after a value are its unit ("5 cm", "100\text{ sq units}").
  bool AtUnit() const {
    const Token& t = Peek();
    if (t.kind == Tok::kText) return t.text != "or" && t.text != "and";
    if (t.kind == Tok::kWord) return IsUnitWord(t.text);
    // "5 m" at the very end: a one-letter unit after a number.
    return t.kind == Tok::kLetter && t.space_before && IsShortUnit(t.text) &&
           Peek(1).kind == Tok::kEnd && pos_ > 0 && t_[pos_ - 1].kind == Tok::kNum;
  }

  void SkipUnits() {
    while (AtUnit()) {
      ++pos_;
      if (AtChar(".")) {
        ++pos_;
      } else if (AtChar("^")) {  // "cm^2", "\text{ cm}^{2}"
        ++pos_;
        if (!AtChar("{")) { if (Peek().kind != Tok::kEnd) ++pos_; continue; }
        for (int depth = 0; Peek().kind != Tok::kEnd;) {
          if (AtChar("{")) ++depth;
          if (AtChar("}")) --depth;
          ++pos_;
          if (depth == 0) break;
        }
      }
    }
  }

  // "12 3/5" after the whole number 12: its fraction part, else nullptr.
  NodePtr PlainFraction() {
    if (!IsInteger(Peek().text) || !AtCharAt(1, "/") || Peek(2).kind != Tok::kNum ||
        !IsInteger(Peek(2).text)) {
      return nullptr;
    }
    NodePtr frac = Divide(Num(Peek().text), Num(Peek(2).text));
    pos_ += 3;
    return frac;
  }
  bool AtCharAt(size_t ahead, std::string_view c) const {
    return Peek(ahead).kind == Tok::kChar && Peek(ahead).text == c;
  }

  NodePtr Term() {
    std::vector<NodePtr> factors;
    NodePtr f = Power();
    if (!f) return nullptr;
    factors.push_back(f);
    while (Ok()) {
      SkipUnits();
      if (AtChar("*") || IsCmd(Peek(), "cdot") || IsCmd(Peek(), "times")) {
        ++pos_;
        factors.push_back(Power());
      } else if (AtChar("/") || IsCmd(Peek(), "div")) {
        ++pos_;
        NodePtr d = Power();
        if (d) factors.push_back(Inverse(d));
      } else if (Peek().kind == Tok::kNum && Peek().space_before && pos_ > 0 &&
                 t_[pos_ - 1].kind == Tok::kNum) {
        // Nobody writes "2 3" for 6; "12 3/5" is a mixed number.
        NodePtr frac = factors.size() == 1 && factors[0]->op == Op::kNumber &&
                               IsInteger(factors[0]->text)
                           ? PlainFraction()
                           : nullptr;
        if (!frac) return Fail("two numbers in a row");
        factors[0] = MakeNode(Op::kAdd, {}, {factors[0], frac});
      } else if (StartsFactor()) {
        factors.push_back(Power());
      } else {
        break;
      }
    }
    if (!Ok()) return nullptr;
    return factors.size() == 1 ? factors[0] : MakeNode(Op::kMul, {}, std::move(factors));
  }

  NodePtr Power() {
    NodePtr base = Postfix(Primary());
    if (!base || !AtChar("^")) return base;
    ++pos_;
    NodePtr exponent = Exponent();
    if (!exponent) return nullptr;
    return Postfix(MakeNode(Op::kPow, {}, {base, exponent}));
  }

  // What follows '^'. A chain "2^3^2" is 2^(3^2), as in plain-text math.
  NodePtr Exponent() {
    NodePtr exponent;
    if (AtChar("-") || AtChar("+")) {  // plain-text "x^-1"
      bool neg = Next().text == "-";
      exponent = Argument(/*whole_number=*/true);
      if (neg && exponent) exponent = MakeNode(Op::kNeg, {}, {exponent});
    } else {
      exponent = Argument(/*whole_number=*/true);
    }
    if (!exponent || !AtChar("^")) return exponent;
    if (!Enter()) return nullptr;
    ++pos_;
    NodePtr rest = Exponent();
    --depth_;
    return rest ? MakeNode(Op::kPow, {}, {exponent, rest}) : nullptr;
  }

  // One level deeper into the tree; false (with the status set) past kMaxDepth.
  bool Enter() {
    if (++depth_ <= kMaxDepth) return true;
    if (status_.ok()) status_ = absl::ResourceExhaustedError("answer nested too deeply");
    return false;
  }

  NodePtr Postfix(NodePtr x) {
    for (int n = 0; x && Ok(); ++n) {
      if (n == kMaxDepth) {  // "5!!!!...": each one nests the tree deeper
        status_ = absl::ResourceExhaustedError("answer nested too deeply");
        return nullptr;
      }
      if (AtChar("!")) { ++pos_; x = MakeNode(Op::kFactorial, {}, {x}); }
      else if (AtChar("%") || (Peek().kind == Tok::kWord && Peek().text == "percent")) {
        ++pos_; x = MakeNode(Op::kPercent, {}, {x});
      } else break;
    }
    return x;
  }

  // A macro argument: a {group}, or a single token as in "\frac12", "x^2".
  // `whole_number` keeps all digits ("2^10" in plain text means 1024).
  NodePtr Argument(bool whole_number) {
    if (AtChar("{")) {
      ++pos_;
      NodePtr inner = List(Tok::kChar, "}");
      if (!Expect("}")) return nullptr;
      return inner;
    }
    Token& t = t_[std::min(pos_, t_.size() - 1)];
    if (t.kind == Tok::kNum && !whole_number && t.text.size() > 1) {
      // One character is the argument and the rest is read again:
      // "\frac12" is 1/2, "\frac1e3" is (1/e)3.
      std::string first = t.text.substr(0, 1);
      std::vector<Token> rest = Tokenize(std::string_view(t.text).substr(1));
      rest.pop_back();  // kEnd
      if (rest.size() == 1) {
        t = std::move(rest[0]);
      } else {
        t_.erase(t_.begin() + static_cast<std::ptrdiff_t>(pos_));
        t_.insert(t_.begin() + static_cast<std::ptrdiff_t>(pos_), rest.begin(), rest.end());
      }
      if (!IsDigit(first[0])) return Fail(absl::StrCat("unexpected '", first, "'"));
      return Num(first);
    }
    if (t.kind == Tok::kWord && !whole_number) {  // "\frac ab"
      std::string first = t.text.substr(0, 1);
      t.text.erase(0, 1);
      if (t.text.size() == 1) t.kind = Tok::kLetter;
      return MakeNode(Op::kSymbol, first);
    }
    return Primary();
  }

  NodePtr Primary() {
    if (!Ok()) return nullptr;
    if (!Enter()) return nullptr;
    if ((++steps_ & 63) == 0 && deadline_.Expired()) {
      status_ = absl::DeadlineExceededError("time limit reached while parsing");
      return nullptr;
    }
    NodePtr result = PrimaryInner();
    --depth_;
    // A failure deeper down may leave a partial node; never hand one out.
    return Ok() ? result : nullptr;
  }

  NodePtr PrimaryInner() {
    Token& t = Next();
    switch (t.kind) {
      case Tok::kNum: return MixedNumber(Num(t.text));
      case Tok::kLetter:
        // e is Euler's number and i the imaginary unit, unless subscripted.
        if ((t.text == "e" || t.text == "i") && !AtChar("_")) return MakeNode(Op::kConst, t.text);
        return Subscripted(MakeNode(Op::kSymbol, t.text));
      case Tok::kWord: return WordPrimary(t);
      case Tok::kText: return MakeNode(Op::kText, t.text);
      case Tok::kCmd: return CommandPrimary(t.text);
      case Tok::kChar: break;
      case Tok::kEnd: return Fail("answer ends early");
    }
    const std::string c = t.text;
    if (c == "(" || c == "[") return Bracketed(c[0]);
    if (c == "\\{") {
      if (AtChar("\\}")) { ++pos_; return MakeNode(Op::kSet); }
      NodePtr inner = List(Tok::kChar, "\\}");
      if (!inner || !Expect("\\}")) return nullptr;
      return MakeNode(Op::kSet, {}, inner->op == Op::kList ? inner->args
                                                           : std::vector<NodePtr>{inner});
    }
    if (c == "{") {
      if (AtChar("}")) { ++pos_; return MakeNode(Op::kSet); }
      NodePtr inner = List(Tok::kChar, "}");
      if (!Expect("}")) return nullptr;
      return inner;
    }
    if (c == "|") {
      ++abs_depth_;
      NodePtr inner = Sum();
      --abs_depth_;
      if (!Expect("|")) return nullptr;
      return MakeNode(Op::kFunc, "abs", {inner});
    }
    if (c == "-") return MakeNode(Op::kNeg, {}, {Power()});
    return Fail(absl::StrCat("unexpected '", Printable(c), "'"));
  }

  // "12\frac{3}{5}" and "1\frac12" are twelve and three fifths, one and a
  // half: a whole number followed by a fraction of whole numbers.
  NodePtr MixedNumber(NodePtr whole) {
    if (!IsInteger(whole->text)) return whole;
    if (!(IsCmd(Peek(), "frac") || IsCmd(Peek(), "dfrac") || IsCmd(Peek(), "tfrac"))) return whole;
    // Reads one integer argument at token `at`, digit `off` of it: "{12}"
    // or a single digit of a number token ("\frac12").
    size_t at = pos_ + 1, off = 0;
    auto int_arg = [&](std::string* out) {
      if (at + 2 < t_.size() && off == 0 && t_[at].kind == Tok::kChar && t_[at].text == "{" &&
          t_[at + 1].kind == Tok::kNum && IsInteger(t_[at + 1].text) &&
          t_[at + 2].kind == Tok::kChar && t_[at + 2].text == "}") {
        *out = t_[at + 1].text;
        at += 3;
        return true;
      }
      if (at >= t_.size() || t_[at].kind != Tok::kNum || !IsInteger(t_[at].text)) return false;
      *out = t_[at].text.substr(off, 1);
      if (++off == t_[at].text.size()) { ++at; off = 0; }
      return true;
    };
    std::string num, den;
    if (!int_arg(&num) || !int_arg(&den) || off != 0) return whole;
    pos_ = at;
    return MakeNode(Op::kAdd, {}, {whole, Divide(Num(num), Num(den))});
  }

  NodePtr Subscripted(NodePtr symbol) {
    if (!AtChar("_") || symbol->op != Op::kSymbol) return symbol;
    ++pos_;
    NodePtr sub = Argument(/*whole_number=*/true);
    if (!sub || !Ok()) return nullptr;
    return MakeNode(Op::kSymbol, absl::StrCat(symbol->text, "_", DebugString(*sub)));
  }

  NodePtr WordPrimary(const Token& t) {
    if (IsFunctionName(t.text) || t.text == "sqrt") return Function(t.text);
    if (t.text == "pi") return MakeNode(Op::kConst, "pi");
    if (t.text == "inf" || t.text == "infinity") return MakeNode(Op::kConst, "inf");
    // "xy" is a product of one-letter symbols.
    std::vector<NodePtr> letters;
    for (char ch : t.text) {
      bool constant = ch == 'e' || ch == 'i';
      letters.push_back(MakeNode(constant ? Op::kConst : Op::kSymbol, {ch}));
    }
    return MakeNode(Op::kMul, {}, std::move(letters));
  }

  NodePtr Bracketed(char open) {
    if (AtChar(")") || AtChar("]")) return Fail("empty brackets");
    NodePtr inner = List(Tok::kChar, open == '(' ? ")" : "]");
    if (!Ok()) return nullptr;
    if (!AtChar(")") && !AtChar("]")) return Fail("unclosed bracket");
    char close = Next().text[0];
    bool matched = (open == '(' && close == ')') || (open == '[' && close == ']');
    if (inner->op != Op::kList && matched) {
      return inner;  // grouping
    }
    auto tuple = std::make_shared<Node>();
    tuple->op = Op::kTuple;
    tuple->open = open;
    tuple->close = close;
    tuple->args = inner->op == Op::kList ? inner->args : std::vector<NodePtr>{inner};
    return tuple;
  }

  NodePtr CommandPrimary(const std::string& name) {
    if (name == "frac" || name == "dfrac" || name == "tfrac" || name == "cfrac") {
      NodePtr a = Argument(false);
      NodePtr b = a ? Argument(false) : nullptr;
      return b ? Divide(a, b) : nullptr;
    }
    if (name == "sqrt") return Function("sqrt");
    if (name == "binom" || name == "dbinom" || name == "tbinom") {
      NodePtr n = Argument(false);
      NodePtr k = n ? Argument(false) : nullptr;
      return k ? MakeNode(Op::kFunc, "binom", {n, k}) : nullptr;
    }
    if (name == "pi" || name == "Pi") return MakeNode(Op::kConst, "pi");
    if (name == "infty" || name == "infin") return MakeNode(Op::kConst, "inf");
    if (name == "emptyset" || name == "varnothing") return MakeNode(Op::kSet);
    if (IsFunctionName(name)) return Function(name);
    if (name == "lfloor" || name == "lceil") {
      NodePtr inner = Sum();
      if (!Ok()) return nullptr;
      if (!IsCmd(Peek(), name == "lfloor" ? "rfloor" : "rceil")) return Fail("unclosed floor");
      ++pos_;
      return MakeNode(Op::kFunc, name == "lfloor" ? "floor" : "ceil", {inner});
    }
    if (name == "begin") return Environment();
    if (name == "boxed" || name == "fbox" || name == "mathbf" || name == "mathit" ||
        name == "bm" || name == "boldsymbol" || name == "mathbb") {
      return Argument(true);
    }
    if (name == "alpha" || name == "beta" || name == "gamma" || name == "theta" ||
        name == "lambda" || name == "mu" || name == "phi" || name == "omega" ||
        name == "sigma" || name == "delta" || name == "tau" || name == "rho") {
      return Subscripted(MakeNode(Op::kSymbol, name));
    }
    return Fail(absl::StrCat("unsupported command \\", name));
  }

  // sin x, \sin^2(x), \log_2 8, sqrt(2), \sqrt[3]{x}.
  NodePtr Function(const std::string& raw_name) {
    std::string name = raw_name == "ln" ? "log" : raw_name == "lg" ? "log10" : raw_name;
    NodePtr root, base, power;
    if (name == "sqrt" && AtChar("[")) {
      ++pos_;
      root = Sum();
      if (!Expect("]")) return nullptr;
    }
    if (name == "log" && AtChar("_")) { ++pos_; base = Argument(true); }
    if (AtChar("^") && name != "sqrt") { ++pos_; power = Argument(true); }
    if (!Ok()) return nullptr;
    NodePtr arg;
    if (AtChar("(")) {
      ++pos_;
      arg = List(Tok::kChar, ")");
      if (!Expect(")")) return nullptr;
    } else if (AtChar("{")) {
      arg = Argument(true);
    } else if (name == "sqrt") {
      arg = Argument(false);
    } else {
      arg = Power();  // "\sin x", "\log 8"
      while (arg && Ok() && (Peek().kind == Tok::kNum || Peek().kind == Tok::kLetter)) {
        arg = MakeNode(Op::kMul, {}, {arg, Power()});  // "\sin 2x" is sin(2x)
      }
    }
    if (!arg || !Ok()) return nullptr;
    NodePtr f;
    // \sin^{-1} x is arcsin x, not 1 / sin x.
    if (power && power->op == Op::kNeg && power->args[0]->op == Op::kNumber &&
        power->args[0]->text == "1" && (name == "sin" || name == "cos" || name == "tan")) {
      name = "arc" + name;
      power = nullptr;
    }
    if (root) f = MakeNode(Op::kPow, {}, {arg, Inverse(root)});
    else if (base) f = Divide(MakeNode(Op::kFunc, "log", {arg}),
                              MakeNode(Op::kFunc, "log", {base}));
    else f = MakeNode(Op::kFunc, name, {arg});
    return power ? MakeNode(Op::kPow, {}, {f, power}) : f;
  }

  // \begin{pmatrix} a & b \\ c & d \end{pmatrix}, bmatrix, array, ...
  NodePtr Environment() {
    if (!Expect("{")) return nullptr;
    std::string env;
    while (Peek().kind == Tok::kWord || Peek().kind == Tok::kLetter) env += Next().text;
    if (AtChar("*")) ++pos_;
    if (!Expect("}")) return nullptr;
    if (env == "array" && AtChar("{")) {  // column spec
      while (!AtChar("}") && Peek().kind != Tok::kEnd) ++pos_;
      ++pos_;
    }
    std::vector<std::vector<NodePtr>> rows(1);
    while (Ok() && !IsCmd(Peek(), "end")) {
      if (Peek().kind == Tok::kEnd) return Fail("unclosed \\begin{" + env + "}");
      rows.back().push_back(Relation());
      if (AtChar("&")) ++pos_;
      else if (AtChar("\\\\")) { ++pos_; rows.emplace_back(); }
      else if (!IsCmd(Peek(), "end")) return Fail("expected & or \\\\ in matrix");
    }
    if (!Ok()) return nullptr;
    ++pos_;  // \end
    if (AtChar("{")) { while (!AtChar("}") && Peek().kind != Tok::kEnd) ++pos_; ++pos_; }
    if (rows.back().empty()) rows.pop_back();
    if (rows.empty()) return Fail("empty matrix");
    auto m = std::make_shared<Node>();
    m->op = Op::kMatrix;
    m->rows = static_cast<int>(rows.size());
    m->cols = static_cast<int>(rows[0].size());
    for (auto& row : rows) {
      if (static_cast<int>(row.size()) != m->cols) return Fail("ragged matrix");
      for (auto& cell : row) m->args.push_back(cell);
    }
    return m;
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
  int depth_ = 0;
  int abs_depth_ = 0;
  unsigned steps_ = 0;
  const Deadline& deadline_;
  absl::Status status_;
};

}  // namespace

absl::StatusOr<NodePtr> ParseAnswer(std::string_view answer, const Deadline& deadline) {
  if (answer.size() > kMaxAnswerBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("answer is ", answer.size(), " bytes, over the ", kMaxAnswerBytes, " limit"));
  }
  std::string text(TrimSpace(answer));
  while (!text.empty() && (text.back() == '.' || text.back() == ',')) text.pop_back();
  text = DropThousandsSeparators(text);
  std::vector<Token> tokens = Tokenize(text);
  if (tokens.size() == 1) return absl::InvalidArgumentError("empty answer");
  return Parser(std::move(tokens), deadline).ParseAll();
}

}  // namespace grpo::reward::math
