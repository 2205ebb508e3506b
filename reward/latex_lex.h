// The tokenizer behind ParseAnswer: LaTeX or plain text to tokens. It already
// drops what never changes a value: LaTeX spacing, \left/\right sizing,
// dollar signs, degree marks; \text{} words become one kText token.
// Private to reward/.
#ifndef GRPO_REWARD_LATEX_LEX_H_
#define GRPO_REWARD_LATEX_LEX_H_

#include <string>
#include <string_view>
#include <vector>

namespace grpo::reward::math {

enum class Tok {
  kNum,     // "12", "0.5", "1.5e-3" (thousands groups "10{,}000" joined)
  kLetter,  // one letter: a symbol
  kWord,    // two or more letters without a backslash: a unit, "or", or a product
  kCmd,     // \name, without the backslash
  kChar,    // punctuation; "\\{" "\\}" for set braces, "\\\\" for a matrix row break
  kText,    // the words inside \text{...} and friends
  kEnd,
};

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;
  bool space_before = false;
};

// Always ends with a kEnd token.
std::vector<Token> Tokenize(std::string_view s);

bool IsDigit(char c);

// --- vocabulary of the parser ---
// "sin", "log", "ln", ...: names read as functions.
bool IsFunctionName(std::string_view name);
// Unit names of up to three letters ("cm", "kg", "m"): a shorter word after
// a value is otherwise a product of symbols ("2ab").
bool IsShortUnit(std::string_view word);
// Words that name what a value counts ("5 cm", "3 apples"): short units and
// any word of four or more letters that is not a function or a separator.
bool IsUnitWord(std::string_view word);
bool IsInteger(std::string_view digits);
// "=", "<=", ">", "!=" for a relation token (\le, \geq, \neq, ...), else nullptr.
const char* RelationOf(const Token& t);
// Bytes as they may appear in a reason: printable ASCII, the rest escaped.
std::string Printable(std::string_view s);

}  // namespace grpo::reward::math

#endif  // GRPO_REWARD_LATEX_LEX_H_
