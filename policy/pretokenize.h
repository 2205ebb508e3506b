// The text-splitting stages of a tokenizer pipeline: Unicode normalization
// (utf8proc) and regex pre-tokenization (PCRE2, UTF + Unicode properties,
// JIT-compiled when the library has JIT).
//
// Both accept any byte string. Invalid UTF-8 bytes are never normalized and
// never matched by a regex item, so a regex split leaves each run of them
// as a piece of its own (between the matches around it); nothing is lost.
#ifndef GRPO_POLICY_PRETOKENIZE_H_
#define GRPO_POLICY_PRETOKENIZE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace grpo::policy {

// The GPT-2 pre-tokenizer regex (HF ByteLevel with use_regex: true).
inline constexpr char kGpt2Pattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class NormalForm { kNFC, kNFD, kNFKC, kNFKD };

// Returns `text` in the normal form. Maximal runs of valid UTF-8 are
// normalized separately; invalid bytes between them are copied unchanged.
// Pure ASCII is returned as is.
std::string Normalize(std::string_view text, NormalForm form);

// A compiled pattern. Thread-safe: matching allocates per call.
class Regex {
 public:
  // --- construction ---

  // InvalidArgument with PCRE2's message and offset when the pattern does
  // not compile.
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // --- splitting ---

  // HF `Split` with behavior Isolated: appends to `pieces` every match and
  // every non-empty stretch between matches, in order; their concatenation
  // is `text`. An empty match is skipped (the search moves on by one code
  // point). Should PCRE2 fail on a piece of text (resource limits), the rest
  // of the text is appended as one piece.
  void SplitIsolated(std::string_view text, std::vector<std::string_view>& pieces) const;

  bool jit() const { return jit_; }

 private:
  Regex() = default;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

}  // namespace grpo::policy

#endif  // GRPO_POLICY_PRETOKENIZE_H_
