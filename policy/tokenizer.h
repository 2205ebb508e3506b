// Text <-> token ids for the policy.
//
//   ASSIGN_OR_RETURN(auto tok, LoadHfTokenizer("data/tokenizers/qwen3/tokenizer.json"));
//   std::vector<int32_t> ids = tok->Encode("<|im_start|>user\nhi<|im_end|>");
//   std::string text = tok->Decode(ids);   // == the input
//
// Two implementations behind one interface:
//   - LoadHfTokenizer: a Hugging Face `tokenizer.json` with a byte-level BPE model
//     (GPT-2, Qwen2/2.5/3, Llama-3 style files). See policy/bpe_tokenizer.h for what
//     of the file format is supported.
//   - MakeCharTokenizer: one id per character, for from-scratch toy models.
//
// Encode never adds BOS/EOS or any template; callers add special ids themselves.
// All methods are const and thread-safe; none throws.
#ifndef GRPO_POLICY_TOKENIZER_H_
#define GRPO_POLICY_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace grpo::policy {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // --- encoding and decoding ---

  // The ids of `text`. Added/special tokens written in the text (e.g.
  // "<|im_end|>") are matched first and give their own ids. Never fails:
  // any byte string, including invalid UTF-8, encodes (see the implementation
  // for what happens to bytes it has no token for).
  virtual std::vector<int32_t> Encode(std::string_view text) const = 0;

  // The text of `ids`, special tokens included, as raw bytes: the exact
  // inverse of Encode for byte-level tokenizers. A prefix of a sequence may
  // end in the middle of a UTF-8 character. Ids outside [0, vocab_size())
  // are skipped.
  virtual std::string Decode(absl::Span<const int32_t> ids) const = 0;

  // --- vocabulary ---

  // One more than the highest id (regular and added tokens), so tables
  // indexed by id have this size.
  virtual int32_t vocab_size() const = 0;

  // The id of a special/added token by its text ("<|im_end|>"), or of a
  // regular token by its spelling in the vocabulary; nullopt when unknown.
  virtual std::optional<int32_t> TokenId(std::string_view token) const = 0;

  // True for tokens flagged `special` (HF `added_tokens[].special`, or the
  // char tokenizer's special tokens). False for unknown ids.
  virtual bool IsSpecial(int32_t id) const = 0;
};

// --- factories ---

// Loads a Hugging Face `tokenizer.json` with a byte-level BPE model.
// NotFound when the file cannot be read; InvalidArgument, naming the file and
// the component, when it is not JSON, not a BPE model, or uses a normalizer,
// pre-tokenizer, decoder or BPE option that is not supported.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizer(const std::string& tokenizer_json_path);

struct CharTokenizerOptions {
  // Special tokens, ids 0..n-1 in this order; matched in the text before the
  // characters. Empty strings and duplicates are dropped.
  std::vector<std::string> special_tokens = {"<pad>", "<s>", "</s>", "<unk>"};
  // The characters (UTF-8 code points), ids n, n+1, ... in order of first
  // appearance. Default: printable ASCII and newline.
  std::string alphabet;  // empty: " " .. "~" and "\n"
  // The special token that characters outside the alphabet encode to; when
  // it is not among special_tokens such characters are dropped.
  std::string unknown_token = "<unk>";
};

// A character-level tokenizer: one id per code point of the alphabet. Bytes of
// invalid UTF-8 count as one character each (and so are unknown).
std::unique_ptr<Tokenizer> MakeCharTokenizer(const CharTokenizerOptions& options = {});

}  // namespace grpo::policy

#endif  // GRPO_POLICY_TOKENIZER_H_
