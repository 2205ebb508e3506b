#include "reward/latex_parse.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "reward/latex_lex.h"

namespace grpo::reward::math {
namespace {

// ---------------------------------------------------------------------------
// Parser: recursive descent over the tokens, depth-limited.
//   list     := relation (',' relation)*
//   relation := union (relop union)*
//   union    := sum ('\cup' sum)*
//   sum      := ['-'|'+'|'\pm'] term (('+'|'-'|'\pm') term)*
//   term     := power (('*'|'/'|implicit) power)*
//   power    := postfix ['^' arg]
//   postfix  := primary ('!' | '%')*
// ---------------------------------------------------------------------------

bool IsFunctionName(std::string_view n) {
  static constexpr std::string_view kNames[] = {
      "sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh",
      "cosh", "tanh", "log", "ln", "exp", "lg"};
  return std::find(std::begin(kNames), std::end(kNames), n) != std::end(kNames);
}

bool IsUnitWord(std::string_view w) {
  // Words after a value that name what it counts; "or"/"and" separate items.
  return w != "or" && w != "and" && !IsFunctionName(w) && w != "pi" && w != "sqrt" &&
         w != "inf" && w != "infinity";
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
    if (status_.ok() && Peek().kind != Tok::kEnd) Fail(absl::StrCat("unexpected '", Peek().text, "'"));
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
  bool Expect(std::string_view c) {
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
  void SkipUnits() {
    while ((Peek().kind == Tok::kText && Peek().text != "or" && Peek().text != "and") ||
           (Peek().kind == Tok::kWord && IsUnitWord(Peek().text)) ||
           (Peek().kind == Tok::kLetter && Peek().space_before && Peek(1).kind == Tok::kEnd &&
            pos_ > 0 && t_[pos_ - 1].kind == Tok::kNum)) {
      ++pos_;
      if (AtChar(".") || AtChar("^")) {
        if (AtChar("^")) ++pos_;  // "cm^2"
        ++pos_;
      }
    }
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
    NodePtr exponent;
    if (AtChar("-") || AtChar("+")) {  // plain-text "x^-1"
      bool neg = Next().text == "-";
      exponent = Argument(/*whole_number=*/true);
      if (neg && exponent) exponent = MakeNode(Op::kNeg, {}, {exponent});
    } else {
      exponent = Argument(/*whole_number=*/true);
    }
    if (!exponent) return nullptr;
    return Postfix(MakeNode(Op::kPow, {}, {base, exponent}));
  }

  NodePtr Postfix(NodePtr x) {
    while (x && Ok()) {
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
      std::string first = t.text.substr(0, 1);
      t.text.erase(0, 1);
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
    if (++depth_ > kMaxDepth) {
      status_ = absl::ResourceExhaustedError("answer nested too deeply");
      return nullptr;
    }
    if ((++steps_ & 63) == 0 && deadline_.Expired()) {
      status_ = absl::DeadlineExceededError("time limit reached while parsing");
      return nullptr;
    }
    NodePtr result = PrimaryInner();
    --depth_;
    return result;
  }

  NodePtr PrimaryInner() {
    Token& t = Next();
    switch (t.kind) {
      case Tok::kNum: return MixedNumber(Num(t.text));
      case Tok::kLetter: return Subscripted(t.text == "e" ? MakeNode(Op::kConst, "e")
                                                          : MakeNode(Op::kSymbol, t.text));
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
      if (!Expect("\\}")) return nullptr;
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
    return Fail(absl::StrCat("unexpected '", c, "'"));
  }

  // "12\frac{3}{5}" is twelve and three fifths when both parts are integers.
  NodePtr MixedNumber(NodePtr whole) {
    if (whole->text.find_first_not_of("0123456789") != std::string::npos) return whole;
    if (!(IsCmd(Peek(), "frac") || IsCmd(Peek(), "dfrac") || IsCmd(Peek(), "tfrac"))) return whole;
    auto is_int_group = [&](size_t at) {
      return at + 2 < t_.size() && t_[at].kind == Tok::kChar && t_[at].text == "{" &&
             t_[at + 1].kind == Tok::kNum &&
             t_[at + 1].text.find_first_not_of("0123456789") == std::string::npos &&
             t_[at + 2].kind == Tok::kChar && t_[at + 2].text == "}";
    };
    if (!is_int_group(pos_ + 1) || !is_int_group(pos_ + 4)) return whole;
    ++pos_;
    NodePtr frac = Divide(Num(t_[pos_ + 1].text), Num(t_[pos_ + 4].text));
    pos_ += 6;
    return MakeNode(Op::kAdd, {}, {whole, frac});
  }

  NodePtr Subscripted(NodePtr symbol) {
    if (!AtChar("_") || symbol->op != Op::kSymbol) return symbol;
    ++pos_;
    NodePtr sub = Argument(/*whole_number=*/true);
    if (!sub) return nullptr;
    return MakeNode(Op::kSymbol, absl::StrCat(symbol->text, "_", DebugString(*sub)));
  }

  NodePtr WordPrimary(const Token& t) {
    if (IsFunctionName(t.text) || t.text == "sqrt") return Function(t.text);
    if (t.text == "pi") return MakeNode(Op::kConst, "pi");
    if (t.text == "inf" || t.text == "infinity") return MakeNode(Op::kConst, "inf");
    // "xy" is a product of one-letter symbols.
    std::vector<NodePtr> letters;
    for (char ch : t.text) {
      letters.push_back(ch == 'e' ? MakeNode(Op::kConst, "e") : MakeNode(Op::kSymbol, {ch}));
    }
    return MakeNode(Op::kMul, {}, std::move(letters));
  }

  NodePtr Bracketed(char open) {
    if (AtChar(")") || AtChar("]")) return Fail("empty brackets");
    NodePtr inner = List(Tok::kChar, open == '(' ? ")" : "]");
    if (!Ok()) return nullptr;
    if (!AtChar(")") && !AtChar("]")) return Fail("unclosed bracket");
    char close = Next().text[0];
    if (inner->op != Op::kList && ((open == '(' && close == ')') || (open == '[' && close == ']'))) {
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
    if (root) f = MakeNode(Op::kPow, {}, {arg, Inverse(root)});
    else if (base) f = Divide(MakeNode(Op::kFunc, "log", {arg}), MakeNode(Op::kFunc, "log", {base}));
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

// "1,000,000" (and "-2,500.5") as the whole answer is one number, not a list.
std::string DropThousandsSeparators(std::string_view s) {
  std::string compact = absl::StrReplaceAll(std::string(s), {{"\\!", ""}, {"{,}", ","}, {" ", ""}});
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
  // Only digits (and a trailing unit or percent) may follow.
  if (!rest.empty() && rest.find_first_of(",()[]{}") != std::string::npos) return std::string(s);
  return absl::StrReplaceAll(compact.substr(0, j), {{",", ""}}) + compact.substr(j);
}

}  // namespace

NodePtr MakeNode(Op op, std::string text, std::vector<NodePtr> args) {
  auto node = std::make_shared<Node>();
  node->op = op;
  node->text = std::move(text);
  node->args = std::move(args);
  return node;
}

absl::StatusOr<NodePtr> ParseAnswer(std::string_view answer, const Deadline& deadline) {
  if (answer.size() > kMaxAnswerBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("answer is ", answer.size(), " bytes, over the ", kMaxAnswerBytes, " limit"));
  }
  std::string text = Trim(answer);
  while (!text.empty() && (text.back() == '.' || text.back() == ',')) text.pop_back();
  text = DropThousandsSeparators(text);
  std::vector<Token> tokens = Tokenize(text);
  if (tokens.size() == 1) return absl::InvalidArgumentError("empty answer");
  return Parser(std::move(tokens), deadline).ParseAll();
}

std::string CanonicalText(std::string_view answer) {
  std::string s = absl::StrReplaceAll(
      std::string(answer.substr(0, kMaxAnswerBytes)),
      {{"\\left", ""}, {"\\right", ""}, {"\\!", ""}, {"\\,", ""}, {"\\;", ""}, {"\\:", ""},
       {"\\dfrac", "\\frac"}, {"\\tfrac", "\\frac"}, {"\\text", ""}, {"\\mathrm", ""},
       {"\\textbf", ""}, {"\\mbox", ""}, {"\\displaystyle", ""}, {"^\\circ", ""},
       {"^{\\circ}", ""}, {"\\%", "%"}, {"\\$", ""}, {"$", ""}, {"{", ""}, {"}", ""},
       {"\\le ", "\\leq "}, {"\\ge ", "\\geq "}});
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (!std::isspace(static_cast<unsigned char>(c))) out += absl::ascii_tolower(c);
  }
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

std::string DebugString(const Node& node) {
  std::vector<std::string> parts;
  for (const auto& a : node.args) parts.push_back(DebugString(*a));
  std::string args = absl::StrJoin(parts, " ");
  switch (node.op) {
    case Op::kNumber: case Op::kSymbol: return node.text;
    case Op::kConst: return absl::StrCat("#", node.text);
    case Op::kText: return absl::StrCat("\"", node.text, "\"");
    case Op::kAdd: return absl::StrCat("(+ ", args, ")");
    case Op::kMul: return absl::StrCat("(* ", args, ")");
    case Op::kPow: return absl::StrCat("(^ ", args, ")");
    case Op::kNeg: return absl::StrCat("(- ", args, ")");
    case Op::kFunc: return absl::StrCat("(", node.text, " ", args, ")");
    case Op::kFactorial: return absl::StrCat("(! ", args, ")");
    case Op::kPercent: return absl::StrCat("(% ", args, ")");
    case Op::kPlusMinus: return absl::StrCat("(+- ", args, ")");
    case Op::kTuple: return absl::StrCat(std::string(1, node.open), args, std::string(1, node.close));
    case Op::kSet: return absl::StrCat("{", args, "}");
    case Op::kList: return absl::StrCat("(list ", args, ")");
    case Op::kUnion: return absl::StrCat("(cup ", args, ")");
    case Op::kRelation: {
      std::string out = DebugString(*node.args[0]);
      for (size_t i = 0; i < node.relations.size(); ++i) {
        absl::StrAppend(&out, " ", node.relations[i], " ", DebugString(*node.args[i + 1]));
      }
      return absl::StrCat("(rel ", out, ")");
    }
    case Op::kMatrix: return absl::StrCat("(matrix ", node.rows, "x", node.cols, " ", args, ")");
  }
  return "?";
}

}  // namespace grpo::reward::math
