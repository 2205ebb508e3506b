// A character-level tokenizer for from-scratch toy models (digits, arithmetic,
// small alphabets): special tokens first, then one id per code point of the
// alphabet. Built by MakeCharTokenizer (policy/tokenizer.h).
#ifndef GRPO_POLICY_CHAR_TOKENIZER_H_
#define GRPO_POLICY_CHAR_TOKENIZER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "policy/tokenizer.h"

namespace grpo::policy {

class CharTokenizer : public Tokenizer {
 public:
  // --- construction (never fails; see CharTokenizerOptions) ---

  explicit CharTokenizer(const CharTokenizerOptions& options);

  // --- Tokenizer ---

  // Special tokens written in the text are matched first (longest first);
  // every other code point gives its id, or the unknown token's id when it is
  // not in the alphabet (dropped when there is no unknown token). Round trip
  // is exact for text drawn from the alphabet and special tokens.
  std::vector<int32_t> Encode(std::string_view text) const override;
  // Special tokens decode to their text, the unknown token included.
  std::string Decode(absl::Span<const int32_t> ids) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  // Special tokens by text, and single characters of the alphabet.
  std::optional<int32_t> TokenId(std::string_view token) const override;
  bool IsSpecial(int32_t id) const override { return id >= 0 && id < num_special_; }

 private:
  std::vector<std::string> pieces_;  // id -> text
  int32_t num_special_ = 0;
  std::vector<int32_t> specials_by_length_;  // special ids, longest text first
  absl::flat_hash_map<std::string, int32_t> ids_;
  std::optional<int32_t> unknown_;
};

}  // namespace grpo::policy

#endif  // GRPO_POLICY_CHAR_TOKENIZER_H_
