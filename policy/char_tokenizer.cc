#include "policy/char_tokenizer.h"

#include <algorithm>
#include <memory>

namespace grpo::policy {
namespace {

// This Abseil's string_view is its own type, not std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Length of the UTF-8 character at text[i]; 1 for a byte that does not start
// a well-formed sequence (it then counts as a character of its own).
size_t CharLength(std::string_view text, size_t i) {
  unsigned char c = static_cast<unsigned char>(text[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  if (len == 1 || i + len > text.size()) return 1;
  for (size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return 1;
  }
  return len;
}

}  // namespace

CharTokenizer::CharTokenizer(const CharTokenizerOptions& options) {
  for (const std::string& s : options.special_tokens) {
    if (s.empty() || ids_.contains(s)) continue;
    ids_[s] = static_cast<int32_t>(pieces_.size());
    pieces_.push_back(s);
  }
  num_special_ = static_cast<int32_t>(pieces_.size());
  for (int32_t id = 0; id < num_special_; ++id) specials_by_length_.push_back(id);
  std::stable_sort(specials_by_length_.begin(), specials_by_length_.end(),
                   [&](int32_t a, int32_t b) { return pieces_[a].size() > pieces_[b].size(); });
  std::string alphabet = options.alphabet;
  if (alphabet.empty()) {
    for (char c = ' '; c <= '~'; ++c) alphabet.push_back(c);
    alphabet.push_back('\n');
  }
  for (size_t i = 0; i < alphabet.size();) {
    size_t len = CharLength(alphabet, i);
    std::string ch = alphabet.substr(i, len);
    i += len;
    // A character equal to a special token's text stays the special token.
    if (ids_.contains(ch)) continue;
    ids_[ch] = static_cast<int32_t>(pieces_.size());
    pieces_.push_back(ch);
  }
  auto unk = std::find(pieces_.begin(), pieces_.begin() + num_special_, options.unknown_token);
  if (!options.unknown_token.empty() && unk != pieces_.begin() + num_special_) {
    unknown_ = static_cast<int32_t>(unk - pieces_.begin());
  }
}

std::vector<int32_t> CharTokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    bool matched = false;
    for (int32_t id : specials_by_length_) {
      const std::string& s = pieces_[id];
      if (text.compare(i, s.size(), s) == 0) {
        out.push_back(id);
        i += s.size();
        matched = true;
        break;
      }
    }
    if (matched) continue;
    size_t len = CharLength(text, i);
    auto it = ids_.find(Absl(text.substr(i, len)));
    if (it != ids_.end() && it->second >= num_special_) {
      out.push_back(it->second);
    } else if (unknown_) {
      out.push_back(*unknown_);
    }
    i += len;
  }
  return out;
}

std::string CharTokenizer::Decode(absl::Span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id >= 0 && id < vocab_size()) out += pieces_[id];
  }
  return out;
}

std::optional<int32_t> CharTokenizer::TokenId(std::string_view token) const {
  auto it = ids_.find(Absl(token));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::unique_ptr<Tokenizer> MakeCharTokenizer(const CharTokenizerOptions& options) {
  return std::make_unique<CharTokenizer>(options);
}

}  // namespace grpo::policy
