// Text-level normalization of an answer, before and beside parsing: the
// canonical text behind the cheap "identical" test, and number formats that
// only make sense for the answer as a whole (thousands separators).
// Private to reward/.
#ifndef GRPO_REWARD_LATEX_NORMALIZE_H_
#define GRPO_REWARD_LATEX_NORMALIZE_H_

#include <string>
#include <string_view>

namespace grpo::reward::math {

// Canonical text of an answer for the cheap equality and text answers:
// LaTeX spacing, \left/\right, \text-like wrappers (with their braces),
// dollar signs, degree marks, whitespace and trailing periods removed;
// \dfrac/\tfrac read as \frac; a brace group of one character unwrapped
// ("\frac{1}{2}" -> "\frac12"). Case is kept: x and X are different symbols.
// Linear in the input; never truncates, so long answers compare in full.
std::string CanonicalText(std::string_view answer);

// Whether a canonical text reads as words ("Evelyn", "yes") rather than
// mathematics: letters and light punctuation only, with two or more letters
// in a row. Words compare without regard to case.
bool LooksLikeWords(std::string_view canonical);

// "1,000,000", "10{,}000", "900,\!000", "\$32,\!348", "-2,500.5", "10 000"
// and "x = 1,000" as the whole answer hold one number, not a list: returns the
// text with the separators removed, or the text unchanged. "1,2" and
// "1, 234" stay lists.
std::string DropThousandsSeparators(std::string_view s);

}  // namespace grpo::reward::math

#endif  // GRPO_REWARD_LATEX_NORMALIZE_H_
