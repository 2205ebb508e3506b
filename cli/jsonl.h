// JSONL helpers for the CLI: making untrusted lines parseable and finding a
// field by its dotted path.
#ifndef GRPO_CLI_JSONL_H_
#define GRPO_CLI_JSONL_H_

#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

namespace grpo::cli {

// Replaces every byte that is not part of a well-formed UTF-8 sequence with
// U+FFFD. Returns true when anything was replaced; leaves valid text as is
// without copying it.
bool SanitizeUtf8(std::string* text);

// SanitizeUtf8, then rewrites \uD800-\uDFFF escapes that do not form a
// surrogate pair to \uFFFD: Python's json.dumps writes such lone surrogates
// (from surrogateescape-decoded bytes), and a strict parser rejects them.
// Returns true when anything was replaced.
bool SanitizeJsonText(std::string* json_text);

// The value at a dotted `path` inside `root`: "a.b" walks objects, a numeric
// segment indexes an array ("response.3"). A key that itself contains dots
// matches whole first. nullptr when the path leads nowhere.
nlohmann::json* FindField(nlohmann::json* root, std::string_view path);

}  // namespace grpo::cli

#endif  // GRPO_CLI_JSONL_H_
