// The `language_consistency` reward (DeepSeek-R1, section 2.3.3): the share
// of the chain of thought written in the target language, to stop language
// mixing. The language is read through its script.
//
// Chain of thought: the text before the first think_close ("</think>"),
// after a leading think_open ("<think>") if there is one; with no
// think_close, the whole completion (a cut-off generation is all reasoning).
//
// Words: a letter is a code point of one of the scripts below; a word is a
// maximal run of letters of one Latin, Greek, Cyrillic, Arabic, Hebrew,
// Devanagari or Thai script; every Han, Hiragana, Katakana or Hangul
// code point is a word by itself (those scripts do not space words).
// Digits, punctuation, symbols, LaTeX commands' backslashes and whitespace
// are not letters and count for no language; letters of other scripts are
// ignored too. value = target-script words / all words; no word at all: 0.
// The reasoning's LaTeX is still words: "\frac" counts "frac" as Latin.
#ifndef GRPO_REWARD_LANGUAGE_CONSISTENCY_H_
#define GRPO_REWARD_LANGUAGE_CONSISTENCY_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "reward/reward_registry.h"

namespace grpo::reward {

enum class Script { kNone, kLatin, kGreek, kCyrillic, kArabic, kHebrew, kDevanagari, kThai,
                    kHan, kKana, kHangul };

// The script of a letter; kNone for anything else.
Script ScriptOf(char32_t c);

struct ScriptWords {
  size_t target = 0;
  size_t total = 0;
};

// Words of `text`, and those in a script `language` writes with (an
// unknown language, see IsKnownLanguage, counts no target word).
ScriptWords CountScriptWords(std::string_view text, std::string_view language);

// The chain-of-thought part of `completion`, per the rules above.
std::string_view ChainOfThought(std::string_view completion, std::string_view think_open,
                                std::string_view think_close);

// True for the languages known: en fr de es it pt nl sv ... (Latin), el, ru
// uk bg sr (Cyrillic), ar fa, he, hi mr ne (Devanagari), th, zh (Han), ja
// (Han + Kana), ko (Hangul + Han).
bool IsKnownLanguage(std::string_view language);

// Status kOk; extracted is "target/total" words.
RewardResult LanguageConsistency(std::string_view completion, std::string_view language,
                                 std::string_view think_open, std::string_view think_close);

// The `language_consistency` component; params language (default en),
// think_open, think_close.
std::unique_ptr<RewardComponent> MakeLanguageConsistencyComponent();

}  // namespace grpo::reward

#endif  // GRPO_REWARD_LANGUAGE_CONSISTENCY_H_
