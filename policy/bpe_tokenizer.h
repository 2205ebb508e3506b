// A Hugging Face `tokenizer.json` byte-level BPE tokenizer (GPT-2, Qwen2/2.5/3,
// Llama-3 style). The pipeline, as HF runs it:
//
//   1. added tokens with normalized: false are matched in the raw text
//      (leftmost, longest first) and give their ids directly;
//   2. the normalizer (none, NFC, NFD, NFKC, NFKD or a Sequence of them) runs
//      on the text between them, then added tokens with normalized: true are
//      matched in the result;
//   3. the pre-tokenizer splits the rest: Split (regex or string pattern,
//      behavior Isolated, not inverted) stages, then ByteLevel last (with
//      use_regex: true it first splits with the GPT-2 regex; add_prefix_space
//      puts a space before every piece that does not start with one);
//   4. each piece's bytes are merged by BPE rank (lowest rank first, leftmost
//      first among equals) into vocabulary ids.
//
// Unsupported (InvalidArgument at load): other model types, BPE dropout,
// byte_fallback, subword prefixes/suffixes, other normalizers and
// pre-tokenizers, decoders other than ByteLevel, and added tokens with
// single_word, lstrip or rstrip set. The post-processor is ignored: Encode adds
// no BOS/EOS or template.
//
// Bytes without a token (a vocabulary may lack a few, e.g. SmolLM2's lacks
// 0xF5-0xFF and some controls) are dropped by Encode, as HF's BPE does
// without an unk token; fewer than 128 byte tokens is not byte-level.
//
// Invalid UTF-8 input: invalid bytes skip normalization and match no regex
// item, so each run of them becomes a piece of its own and is encoded as
// byte tokens; Decode gives the same bytes back.
#ifndef GRPO_POLICY_BPE_TOKENIZER_H_
#define GRPO_POLICY_BPE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "policy/pretokenize.h"
#include "policy/tokenizer.h"

namespace grpo::policy {

class BpeTokenizer : public Tokenizer {
 public:
  // --- loading ---

  // NotFound when the file cannot be read; otherwise as FromJson.
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> FromFile(const std::string& path);
  // InvalidArgument naming `source` (a file name, for messages) and the
  // offending component when the JSON is malformed or not supported.
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> FromJson(std::string_view json,
                                                                const std::string& source);

  // --- Tokenizer ---

  std::vector<int32_t> Encode(std::string_view text) const override;
  std::string Decode(absl::Span<const int32_t> ids) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(token_bytes_.size()); }
  std::optional<int32_t> TokenId(std::string_view token) const override;
  bool IsSpecial(int32_t id) const override;

  // --- the stages on their own (tests, benchmarks) ---

  // Steps 2-3 for text without added tokens: the pieces BPE will see.
  std::vector<std::string> PreTokenize(std::string_view text) const;
  // Step 4 for one piece, without the cache.
  void EncodePiece(std::string_view piece, std::vector<int32_t>& out) const;
  // Empties the per-piece cache (results of step 4 for short pieces).
  void ClearCache() const;

 private:
  struct AddedToken {
    std::string content;  // as matched (NFC etc. applied when normalized)
    int32_t id = 0;
    bool special = false;
  };
  // Added tokens of one kind (raw or normalized), found leftmost-longest.
  struct AddedMatcher {
    std::vector<AddedToken> tokens;
    std::vector<std::vector<int32_t>> by_first_byte;  // indices, longest first
    void Build();
    // Splits `text`: on_text(segment) for text between matches, on_token(id).
    template <typename OnText, typename OnToken>
    void Split(std::string_view text, OnText on_text, OnToken on_token) const;
  };
  struct Stage {
    std::unique_ptr<Regex> regex;   // null: no split
    bool add_prefix_space = false;  // ByteLevel only
  };

  BpeTokenizer() = default;
  absl::Status Init(const void* json, const std::string& source);  // nlohmann::json*
  std::string NormalizeText(std::string_view text) const;
  void EncodeNormalized(std::string_view text, std::vector<int32_t>& out) const;
  void EncodePieceCached(std::string_view piece, std::vector<int32_t>& out) const;

  // Model.
  std::vector<std::string> token_bytes_;                   // id -> bytes (decode); empty for gaps
  std::vector<bool> special_;                              // id -> added token flagged special
  absl::flat_hash_map<std::string, int32_t> vocab_;        // spelling in the file -> id
  absl::flat_hash_map<std::string, int32_t> bytes_to_id_;  // only with ignore_merges
  int32_t byte_id_[256] = {};
  // (left id << 32 | right id) -> (rank, merged id)
  absl::flat_hash_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  bool ignore_merges_ = false;

  // Pipeline.
  std::vector<NormalForm> normalizers_;
  AddedMatcher raw_added_, normalized_added_;
  absl::flat_hash_map<std::string, int32_t> added_ids_;  // content as written -> id
  std::vector<Stage> stages_;

  // Piece -> ids for short pieces; bounded, cleared when full.
  mutable std::mutex cache_mutex_;
  mutable absl::flat_hash_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace grpo::policy

#endif  // GRPO_POLICY_BPE_TOKENIZER_H_
