#include "policy/sp_bpe_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "proto/status_macros.h"

namespace grpo::policy {
namespace {

constexpr char kSpaceSymbol[] = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// This Abseil's string_view is its own type, not std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// "<0xAB>" -> 0xAB; -1 when the spelling is not a byte token.
int ByteTokenValue(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  int value = 0;
  for (int i = 3; i < 5; ++i) {
    char c = piece[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    value = value * 16 + d;
  }
  return value;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SpBpeTokenizer>> SpBpeTokenizer::Create(SpBpeVocab vocab,
                                                                       const std::string& source) {
  const size_t n = vocab.pieces.size();
  if (n == 0) return absl::InvalidArgumentError(source + ": empty vocabulary");
  if (vocab.scores.size() != n || (!vocab.types.empty() && vocab.types.size() != n)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", n, " tokens but ", vocab.scores.size(),
                                                   " scores and ", vocab.types.size(), " token types"));
  }
  if (vocab.unk_id >= static_cast<int32_t>(n)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": unknown-token id ", vocab.unk_id,
                                                   " is outside the vocabulary of ", n));
  }
  if (vocab.types.empty()) vocab.types.assign(n, SpTokenType::kNormal);
  std::unique_ptr<SpBpeTokenizer> tok(new SpBpeTokenizer());
  std::fill(std::begin(tok->byte_id_), std::end(tok->byte_id_), -1);
  for (size_t i = 0; i < n; ++i) {
    const std::string& p = vocab.pieces[i];
    const int32_t id = static_cast<int32_t>(i);
    const SpTokenType type = vocab.types[i];
    tok->all_.try_emplace(p, id);
    if (type == SpTokenType::kNormal || type == SpTokenType::kUserDefined) {
      tok->mergeable_.try_emplace(p, id);
    }
    if (type == SpTokenType::kByte) {
      int b = ByteTokenValue(p);
      if (b >= 0 && tok->byte_id_[b] < 0) tok->byte_id_[b] = id;
    }
    if (type == SpTokenType::kControl) {
      std::string_view t = Trim(p);
      if (!t.empty()) tok->all_.try_emplace(std::string(t), id);
    }
    if (vocab.match_special_in_text && !p.empty() &&
        (type == SpTokenType::kControl || type == SpTokenType::kUserDefined)) {
      tok->specials_.emplace_back(p, id);
    }
  }
  std::stable_sort(tok->specials_.begin(), tok->specials_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  tok->vocab_ = std::move(vocab);
  tok->source_ = source;
  return tok;
}

int32_t SpBpeTokenizer::Lookup(std::string_view s) const {
  auto it = mergeable_.find(Absl(s));
  return it == mergeable_.end() ? -1 : it->second;
}

std::string SpBpeTokenizer::Escape(std::string_view text, bool prefix) const {
  std::string out;
  const std::string_view space = vocab_.escape_spaces ? std::string_view(kSpaceSymbol) : " ";
  if (prefix) out.append(space);
  if (!vocab_.escape_spaces) {
    out.append(text);
    return out;
  }
  for (char c : text) {
    if (c == ' ')
      out.append(space);
    else
      out.push_back(c);
  }
  return out;
}

// llama2.c's grouping: a byte starts a code point unless it is a continuation
// byte; up to 4 bytes are grouped (invalid UTF-8 included).
void SpBpeTokenizer::InitialSymbols(std::string_view s, std::vector<Symbol>& out) const {
  out.clear();
  const int32_t n = static_cast<int32_t>(s.size());
  for (int32_t i = 0; i < n;) {
    int32_t len = 1;
    while (i + len < n && len < 4 && (static_cast<unsigned char>(s[i + len]) & 0xC0) == 0x80) ++len;
    int32_t id = Lookup(s.substr(i, len));
    if (id >= 0) {
      out.push_back({i, len, id, true});
    } else {
      for (int32_t k = 0; k < len; ++k) {
        int32_t b = byte_id_[static_cast<unsigned char>(s[i + k])];
        out.push_back({i + k, 1, b >= 0 ? b : vocab_.unk_id, false});
      }
    }
    i += len;
  }
}

// Best-first merging over a linked list with a max-heap of candidate pairs;
// a popped candidate is used only if both symbols are still as they were.
// Ties go to the leftmost pair, as in the rescanning loop of llama2.c.
void SpBpeTokenizer::EncodeSegment(std::string_view text, bool prefix,
                                   std::vector<int32_t>& out) const {
  const std::string s = Escape(text, prefix);
  thread_local std::vector<Symbol> syms;
  InitialSymbols(s, syms);
  const int32_t n = static_cast<int32_t>(syms.size());
  struct Node {
    int32_t prev, next;
  };
  struct Candidate {
    float score;
    int32_t pos, left_len, right_len, merged;
    bool operator<(const Candidate& o) const {  // max-heap: best score, then leftmost
      return score != o.score ? score < o.score : pos > o.pos;
    }
  };
  thread_local std::vector<Node> links;
  thread_local std::vector<Candidate> heap;
  links.resize(static_cast<size_t>(n));
  heap.clear();
  for (int32_t i = 0; i < n; ++i) links[i] = {i - 1, i + 1 < n ? i + 1 : -1};
  auto push = [&](int32_t i) {
    const int32_t j = links[i].next;
    if (j < 0 || !syms[i].mergeable || !syms[j].mergeable) return;
    const int32_t id = Lookup(std::string_view(s).substr(syms[i].start, syms[i].len + syms[j].len));
    if (id < 0) return;
    heap.push_back({vocab_.scores[id], i, syms[i].len, syms[j].len, id});
    std::push_heap(heap.begin(), heap.end());
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = syms[c.pos];
    const int32_t j = links[c.pos].next;
    if (left.len != c.left_len || j < 0 || syms[j].len != c.right_len) continue;  // stale
    left.len += syms[j].len;
    left.id = c.merged;
    syms[j].len = 0;
    links[c.pos].next = links[j].next;
    if (links[j].next >= 0) links[links[j].next].prev = c.pos;
    if (links[c.pos].prev >= 0) push(links[c.pos].prev);
    push(c.pos);
  }
  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = links[i].next) {
    if (syms[i].id >= 0) out.push_back(syms[i].id);
  }
}

void SpBpeTokenizer::EncodeSegmentReference(std::string_view text, bool prefix,
                                            std::vector<int32_t>& out) const {
  const std::string s = Escape(text, prefix);
  std::vector<Symbol> syms;
  InitialSymbols(s, syms);
  while (true) {
    float best = -1e10f;
    int32_t best_id = -1;
    size_t best_i = 0;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      if (!syms[i].mergeable || !syms[i + 1].mergeable) continue;
      int32_t id = Lookup(std::string_view(s).substr(syms[i].start, syms[i].len + syms[i + 1].len));
      if (id >= 0 && vocab_.scores[id] > best) best = vocab_.scores[id], best_id = id, best_i = i;
    }
    if (best_id < 0) break;
    syms[best_i].len += syms[best_i + 1].len;
    syms[best_i].id = best_id;
    syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(best_i) + 1);
  }
  for (const Symbol& sym : syms) {
    if (sym.id >= 0) out.push_back(sym.id);
  }
}

// Every text segment starts the input or follows a special token, so each
// gets the space prefix (llama.cpp's rule).
template <typename EncodeFn>
std::vector<int32_t> SpBpeTokenizer::EncodeWith(std::string_view text, EncodeFn encode) const {
  std::vector<int32_t> out;
  const bool prefix = vocab_.add_space_prefix;
  size_t done = 0;
  if (!specials_.empty()) {
    for (size_t i = 0; i < text.size(); ++i) {
      for (const auto& [piece, id] : specials_) {
        if (text.compare(i, piece.size(), piece) != 0) continue;
        if (i > done) encode(text.substr(done, i - done), prefix, out);
        out.push_back(id);
        done = i + piece.size();
        i = done - 1;
        break;
      }
    }
  }
  if (done < text.size()) encode(text.substr(done), prefix, out);
  return out;
}

std::vector<int32_t> SpBpeTokenizer::Encode(std::string_view text) const {
  return EncodeWith(text, [this](std::string_view t, bool p, std::vector<int32_t>& o) {
    EncodeSegment(t, p, o);
  });
}

std::vector<int32_t> SpBpeTokenizer::EncodeReference(std::string_view text) const {
  return EncodeWith(text, [this](std::string_view t, bool p, std::vector<int32_t>& o) {
    EncodeSegmentReference(t, p, o);
  });
}

std::string SpBpeTokenizer::Decode(absl::Span<const int32_t> ids) const {
  std::string out;
  bool strip = vocab_.add_space_prefix;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    const SpTokenType type = vocab_.types[id];
    const std::string& p = vocab_.pieces[id];
    if (type == SpTokenType::kControl) {
      strip = vocab_.add_space_prefix;
      continue;
    }
    if (type == SpTokenType::kByte) {
      const int b = ByteTokenValue(p);
      if (b >= 0) {
        // A prefix space grouped with continuation bytes fell back to bytes.
        if (!(strip && b == ' ')) out.push_back(static_cast<char>(b));
        strip = false;
        continue;
      }
    }
    std::string_view piece = p;
    std::string text;
    if (vocab_.escape_spaces) {
      for (size_t i = 0; i < piece.size();) {
        if (piece.compare(i, 3, kSpaceSymbol) == 0) {
          text.push_back(' ');
          i += 3;
        } else {
          text.push_back(piece[i++]);
        }
      }
      piece = text;
    }
    if (strip && type != SpTokenType::kUserDefined && !piece.empty() && piece[0] == ' ') {
      piece.remove_prefix(1);
    }
    out.append(piece);
    strip = type == SpTokenType::kUserDefined && vocab_.add_space_prefix;
  }
  return out;
}

std::optional<int32_t> SpBpeTokenizer::TokenId(std::string_view token) const {
  auto it = all_.find(Absl(token));
  if (it == all_.end()) return std::nullopt;
  return it->second;
}

bool SpBpeTokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < vocab_size() && vocab_.types[id] == SpTokenType::kControl;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadLlama2cTokenizer(const std::string& path,
                                                               int32_t vocab_size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open llama2.c tokenizer file " + path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (vocab_size <= 3) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": vocab_size ", vocab_size, " is too small"));
  }
  size_t off = 0;
  auto read_i32 = [&](int32_t& v) {
    if (bytes.size() - off < 4) return false;
    std::memcpy(&v, bytes.data() + off, 4);
    off += 4;
    return true;
  };
  int32_t max_len = 0;
  if (!read_i32(max_len) || max_len <= 0 || max_len > 1 << 16) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": bad or missing max_token_length header (",
                                                   max_len, "); not a llama2.c tokenizer.bin"));
  }
  SpBpeVocab v;
  v.add_space_prefix = true;
  v.unk_id = 0;
  for (int32_t i = 0; i < vocab_size; ++i) {
    float score = 0;
    int32_t len = 0;
    if (bytes.size() - off < 8) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": truncated at token ", i, " of ", vocab_size,
                                                     " (offset ", off, ", file size ", bytes.size(), ")"));
    }
    std::memcpy(&score, bytes.data() + off, 4);
    std::memcpy(&len, bytes.data() + off + 4, 4);
    off += 8;
    if (len < 0 || len > max_len || bytes.size() - off < static_cast<size_t>(len)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": token ", i, " has length ", len,
                                                     " (max_token_length ", max_len, ", ",
                                                     bytes.size() - off, " bytes left)"));
    }
    v.pieces.emplace_back(bytes, off, static_cast<size_t>(len));
    v.scores.push_back(score);
    off += static_cast<size_t>(len);
    SpTokenType type = SpTokenType::kNormal;
    if (i == 0) type = SpTokenType::kUnknown;
    else if (i <= 2) type = SpTokenType::kControl;
    else if (ByteTokenValue(v.pieces.back()) >= 0) type = SpTokenType::kByte;
    v.types.push_back(type);
  }
  if (off != bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", bytes.size() - off, " bytes left after ",
                                                   vocab_size, " tokens; is the vocabulary size right?"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SpBpeTokenizer> tok, SpBpeTokenizer::Create(std::move(v), path));
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

}  // namespace grpo::policy
