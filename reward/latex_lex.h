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
std::string Trim(std::string_view s);

}  // namespace grpo::reward::math

#endif  // GRPO_REWARD_LATEX_LEX_H_
