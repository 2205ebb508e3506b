// JSONL helpers for the CLI: making untrusted lines parseable (and finding a
// field by its dotted path, from reward/task_json.h).
#ifndef GRPO_CLI_JSONL_H_
#define GRPO_CLI_JSONL_H_

#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "reward/task_json.h"

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

using reward::FindField;  // reward/task_json.h

}  // namespace grpo::cli

#endif  // GRPO_CLI_JSONL_H_
