// Finding the final answer in a model completion.
//
// A completion is free text with chain-of-thought. Answer sources are tried in
// priority order (config::MathRewardOptions::extraction_priority); within one
// source the last match in the text wins, because models restate and correct
// themselves before the end.
#ifndef GRPO_REWARD_ANSWER_EXTRACT_H_
#define GRPO_REWARD_ANSWER_EXTRACT_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/config.pb.h"

namespace grpo::reward {

struct Extraction {
  std::string text;           // the answer span, trimmed, without its delimiters
  config::AnswerSource source;
  size_t offset = 0;          // byte offset of the span in the completion
};

// The sources in effective priority order for `options` (the default order
// when the list is empty, LAST_NUMBER appended when the fallback is on).
std::vector<config::AnswerSource> ExtractionOrder(const config::MathRewardOptions& options);

// --- single sources: each returns the last match of its kind, or nullopt ---
std::optional<Extraction> ExtractBoxed(std::string_view text);
std::optional<Extraction> ExtractAnswerTag(std::string_view text);
std::optional<Extraction> ExtractAnswerPhrase(std::string_view text);
std::optional<Extraction> ExtractGsm8kHashes(std::string_view text);
std::optional<Extraction> ExtractLatexMath(std::string_view text);
std::optional<Extraction> ExtractLastNumber(std::string_view text);

// The answer from the first source in `order` that matches; nullopt if none.
// Linear in the text length; never throws.
std::optional<Extraction> ExtractAnswer(std::string_view text,
                                        const std::vector<config::AnswerSource>& order);

}  // namespace grpo::reward

#endif  // GRPO_REWARD_ANSWER_EXTRACT_H_
