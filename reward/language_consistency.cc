#include "reward/language_consistency.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "reward/declared_params.h"
#include "reward/unicode_text.h"

namespace grpo::reward {
namespace {

constexpr std::string_view kLatinLanguages[] = {
    "en", "fr", "de", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs", "sk",
    "ro", "hu", "tr", "vi", "id", "ms", "ca", "hr", "sl", "et", "lv", "lt", "sw", "tl"};

bool IsLatinLanguage(std::string_view language) {
  for (std::string_view code : kLatinLanguages) {
    if (code == language) return true;
  }
  return false;
}

// The scripts of `language`; empty when unknown.
std::vector<Script> LanguageScripts(std::string_view language) {
  if (IsLatinLanguage(language)) return {Script::kLatin};
  if (language == "el") return {Script::kGreek};
  if (language == "ru" || language == "uk" || language == "bg" || language == "sr") {
    return {Script::kCyrillic};
  }
  if (language == "ar" || language == "fa") return {Script::kArabic};
  if (language == "he") return {Script::kHebrew};
  if (language == "hi" || language == "mr" || language == "ne") return {Script::kDevanagari};
  if (language == "th") return {Script::kThai};
  if (language == "zh") return {Script::kHan};
  if (language == "ja") return {Script::kHan, Script::kKana};
  if (language == "ko") return {Script::kHangul, Script::kHan};
  return {};
}

// Scripts whose every letter is a word.
bool IsSyllabicOrIdeographic(Script s) {
  return s == Script::kHan || s == Script::kKana || s == Script::kHangul;
}

}  // namespace

Script ScriptOf(char32_t c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return Script::kLatin;
  if (c < 0xC0) return Script::kNone;
  if ((c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x1E00 && c <= 0x1EFF)) return Script::kLatin;
  if ((c >= 0x370 && c <= 0x3FF && c != 0x37E && c != 0x387) || (c >= 0x1F00 && c <= 0x1FFF)) {
    return Script::kGreek;
  }
  if (c >= 0x400 && c <= 0x52F) return Script::kCyrillic;
  if (c >= 0x5D0 && c <= 0x5EA) return Script::kHebrew;
  if ((c >= 0x620 && c <= 0x64A) || (c >= 0x671 && c <= 0x6D3)) return Script::kArabic;
  if ((c >= 0x900 && c <= 0x963) || (c >= 0x971 && c <= 0x97F)) return Script::kDevanagari;
  if ((c >= 0xE01 && c <= 0xE3A) || (c >= 0xE40 && c <= 0xE4E)) return Script::kThai;
  if ((c >= 0x1100 && c <= 0x11FF) || (c >= 0x3131 && c <= 0x318E) ||
      (c >= 0xAC00 && c <= 0xD7A3)) {
    return Script::kHangul;
  }
  if ((c >= 0x3041 && c <= 0x3096) || (c >= 0x30A1 && c <= 0x30FA) || c == 0x30FC) {
    return Script::kKana;
  }
  if ((c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
      (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FA1F)) {
    return Script::kHan;
  }
  return Script::kNone;
}

bool IsKnownLanguage(std::string_view language) { return !LanguageScripts(language).empty(); }

ScriptWords CountScriptWords(std::string_view text, std::string_view language) {
  const std::vector<Script> targets = LanguageScripts(language);
  auto is_target = [&](Script s) {
    for (Script t : targets) {
      if (t == s) return true;
    }
    return false;
  };
  ScriptWords count;
  Script run = Script::kNone;  // the script of the word being read
  for (size_t pos = 0; pos < text.size();) {
    const Script s = ScriptOf(NextCodePoint(text, &pos));
    // A new word starts at a letter after a non-letter, at a change of
    // script, and at every ideograph or syllable.
    if (s != Script::kNone && (s != run || IsSyllabicOrIdeographic(s))) {
      ++count.total;
      if (is_target(s)) ++count.target;
    }
    run = s;
  }
  return count;
}

std::string_view ChainOfThought(std::string_view completion, std::string_view think_open,
                                std::string_view think_close) {
  const size_t close = think_close.empty() ? std::string_view::npos : completion.find(think_close);
  std::string_view cot = completion.substr(0, close);
  const size_t open = think_open.empty() ? std::string_view::npos : cot.find(think_open);
  if (open != std::string_view::npos) cot.remove_prefix(open + think_open.size());
  return cot;
}

RewardResult LanguageConsistency(std::string_view completion, std::string_view language,
                                 std::string_view think_open, std::string_view think_close) {
  const ScriptWords words =
      CountScriptWords(ChainOfThought(completion, think_open, think_close), language);
  RewardResult r;
  r.status = RewardStatus::kOk;
  r.value = words.total == 0 ? 0.0 : static_cast<double>(words.target) / static_cast<double>(words.total);
  r.extracted = absl::StrCat(words.target, "/", words.total);
  r.reason = words.total == 0 ? "no words in the chain of thought"
                              : absl::StrCat(words.target, " of ", words.total, " words in ",
                                             std::string(language));
  return r;
}

std::unique_ptr<RewardComponent> MakeLanguageConsistencyComponent() {
  ComponentInfo info{"language_consistency", "1",
                     "share of the chain-of-thought words written in the target language's "
                     "script (DeepSeek-R1)",
                     "none",
                     {{"language", "string", "en"},
                      {"think_open", "string", "<think>"},
                      {"think_close", "string", "</think>"}}};
  auto check = [](const ParamValues& p) -> absl::Status {
    if (IsKnownLanguage(p.String("language"))) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown language \"", p.String("language"),
        "\"; known: Latin-script codes (en, fr, de, es, ...), el, ru, uk, bg, sr, ar, fa, he, "
        "hi, mr, ne, th, zh, ja, ko"));
  };
  auto score = [](const ComponentInput& input, const ParamValues& p) {
    return LanguageConsistency(input.completion, p.String("language"), p.String("think_open"),
                               p.String("think_close"));
  };
  return std::make_unique<DeclaredComponent>(std::move(info), check, score);
}

}  // namespace grpo::reward
