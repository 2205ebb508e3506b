// A SentencePiece-style, score-based BPE tokenizer: the vocabulary of
// llama2.c's tokenizer.bin (e.g. stories260K's tok512.bin) and of GGUF files
// whose tokenizer.ggml.model is "llama".
//
//   ASSIGN_OR_RETURN(auto tok, LoadLlama2cTokenizer("data/models/stories260K/tok512.bin"));
//   std::vector<int32_t> ids = tok->Encode("Once upon a time");  // no BOS
//
// Encode, as llama2.c's run.c `encode` (and llama.cpp's SPM tokenizer) do it:
//   1. with escape_spaces, every ' ' becomes U+2581 (SentencePiece's "▁");
//      with add_space_prefix, one space (or "▁") is put before non-empty text;
//   2. each UTF-8 code point becomes the token spelled like it; a code point
//      with no token becomes its byte tokens "<0xXX>" (or unk_id when the
//      vocabulary has none), which never merge;
//   3. repeatedly, the adjacent pair whose concatenation is a token with the
//      highest score is merged (leftmost first among equal scores).
// With match_special_in_text, control and user-defined tokens written in the
// text are matched first (leftmost, longest) and give their ids; as in
// llama.cpp, the space prefix is then also put before text that follows one.
//
// Decode: byte tokens give their raw byte; control tokens (BOS, EOS) give
// nothing (SentencePiece's rule, so llama2.c's "\n<s>\n" spellings never show),
// unknown and user-defined tokens their spelling;
// "▁" is turned back into ' ' when escape_spaces. With add_space_prefix, one
// leading space is dropped from the first piece of `ids` and from the first
// piece after a control or user-defined token, which removes the prefix that
// Encode added. Hence Decode(Encode(x)) == x for any byte string x, and
// Decode({bos} + Encode(x)) == x (with match_special_in_text: unless x spells
// a control token, which Encode matches and Decode drops). Decoding one token at a time does NOT
// concatenate to the whole decode (a word's leading space is dropped).
#ifndef GRPO_POLICY_SP_BPE_TOKENIZER_H_
#define GRPO_POLICY_SP_BPE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "policy/tokenizer.h"

namespace grpo::policy {

// SentencePiece / GGUF token types (tokenizer.ggml.token_type values).
enum class SpTokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct SpBpeVocab {
  std::vector<std::string> pieces;  // id -> spelling
  std::vector<float> scores;        // id -> merge score (higher merges first)
  std::vector<SpTokenType> types;   // id -> type; empty: all kNormal
  bool add_space_prefix = true;
  bool escape_spaces = false;          // pieces spell spaces as U+2581
  bool match_special_in_text = false;  // see the header comment
  int32_t unk_id = -1;                 // -1: none
};

class SpBpeTokenizer : public Tokenizer {
 public:
  // InvalidArgument naming `source` when pieces/scores/types differ in
  // length, the vocabulary is empty, or unk_id is out of range.
  static absl::StatusOr<std::unique_ptr<SpBpeTokenizer>> Create(SpBpeVocab vocab,
                                                                const std::string& source);

  std::vector<int32_t> Encode(std::string_view text) const override;
  std::string Decode(absl::Span<const int32_t> ids) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(vocab_.pieces.size()); }
  // A token by its spelling in the vocabulary; control tokens also by their
  // spelling without surrounding whitespace ("<s>" for llama2.c's "\n<s>\n").
  std::optional<int32_t> TokenId(std::string_view token) const override;
  // True for control tokens.
  bool IsSpecial(int32_t id) const override;

  // Step 3 by the plain quadratic loop of llama2.c (rescan all pairs after
  // each merge), for tests: must give the same ids as Encode.
  std::vector<int32_t> EncodeReference(std::string_view text) const;

 private:
  struct Symbol {  // a span of the escaped text and its token
    int32_t start, len, id;
    bool mergeable;
  };
  SpBpeTokenizer() = default;
  // Steps 1-2 for one text segment.
  std::string Escape(std::string_view text, bool prefix) const;
  void InitialSymbols(std::string_view escaped, std::vector<Symbol>& out) const;
  void EncodeSegment(std::string_view text, bool prefix, std::vector<int32_t>& out) const;
  void EncodeSegmentReference(std::string_view text, bool prefix, std::vector<int32_t>& out) const;
  template <typename EncodeFn>
  std::vector<int32_t> EncodeWith(std::string_view text, EncodeFn encode) const;
  // id of a mergeable spelling, or -1.
  int32_t Lookup(std::string_view s) const;

  SpBpeVocab vocab_;
  std::string source_;
  absl::flat_hash_map<std::string, int32_t> mergeable_;  // normal/user-defined spellings
  absl::flat_hash_map<std::string, int32_t> all_;        // every spelling (first id wins)
  std::vector<std::pair<std::string, int32_t>> specials_;  // matched in text, longest first
  int32_t byte_id_[256];
};

// Loads a llama2.c tokenizer.bin: int32 max_token_length, then per token a
// float32 score, an int32 byte length and the bytes. The file does not store
// the token count, so `vocab_size` says how many to read. Ids 0 <unk>, 1 BOS,
// 2 EOS are typed unknown/control, "<0xXX>" pieces byte; spaces are literal
// and a space prefix is added (llama2.c's encode). NotFound when the file
// cannot be opened; InvalidArgument naming the file and the token index when
// it is truncated or garbled, or has bytes left over.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadLlama2cTokenizer(const std::string& path,
                                                               int32_t vocab_size = 512);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_SP_BPE_TOKENIZER_H_
