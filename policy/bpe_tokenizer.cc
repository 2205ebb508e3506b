#include "policy/bpe_tokenizer.h"

#include <algorithm>
#include <deque>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "proto/status_macros.h"

namespace grpo::policy {
namespace {

// This Abseil's string_view is its own type, not std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

using Json = nlohmann::json;

constexpr size_t kMaxCachedPiece = 128;  // bytes
constexpr size_t kMaxCacheEntries = 1 << 16;
constexpr int32_t kMaxVocab = 1 << 24;  // ids are dense table indices

// GPT-2's reversible byte <-> code point map: printable Latin-1 bytes stand
// for themselves, the other 68 bytes for U+0100 onwards, in byte order.
struct ByteLevelMap {
  char32_t byte_to_cp[256];
  absl::flat_hash_map<char32_t, uint8_t> cp_to_byte;
  ByteLevelMap() {
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      byte_to_cp[b] = printable ? static_cast<char32_t>(b) : next++;
      cp_to_byte[byte_to_cp[b]] = static_cast<uint8_t>(b);
    }
  }
};
const ByteLevelMap& ByteMap() {
  static const ByteLevelMap map;
  return map;
}

void AppendUtf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The raw bytes a byte-level spelling stands for; nullopt when a character
// is outside the byte alphabet (or the spelling is not valid UTF-8).
std::optional<std::string> ByteLevelToBytes(std::string_view s) {
  std::string out;
  const ByteLevelMap& map = ByteMap();
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    char32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c, len = 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
      cp = ((c & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F), len = 2;
    } else {
      return std::nullopt;  // the byte alphabet has nothing above U+0143
    }
    auto it = map.cp_to_byte.find(cp);
    if (it == map.cp_to_byte.end()) return std::nullopt;
    out.push_back(static_cast<char>(it->second));
    i += len;
  }
  return out;
}

absl::Status Unsupported(const std::string& source, const std::string& what) {
  return absl::InvalidArgumentError(source + ": unsupported " + what);
}

std::string TypeOf(const Json& j) { return j.is_object() ? j.value("type", "") : ""; }

std::string QuoteRegex(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

// --- added tokens ---

void BpeTokenizer::AddedMatcher::Build() {
  by_first_byte.assign(256, {});
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].content.empty()) continue;
    by_first_byte[static_cast<unsigned char>(tokens[i].content[0])].push_back(
        static_cast<int32_t>(i));
  }
  for (auto& list : by_first_byte) {
    std::stable_sort(list.begin(), list.end(), [&](int32_t a, int32_t b) {
      return tokens[a].content.size() > tokens[b].content.size();
    });
  }
}

template <typename OnText, typename OnToken>
void BpeTokenizer::AddedMatcher::Split(std::string_view text, OnText on_text,
                                       OnToken on_token) const {
  size_t done = 0;
  if (!tokens.empty()) {
    for (size_t i = 0; i < text.size(); ++i) {
      const auto& candidates = by_first_byte[static_cast<unsigned char>(text[i])];
      for (int32_t k : candidates) {
        const std::string& c = tokens[k].content;
        if (text.compare(i, c.size(), c) != 0) continue;
        if (i > done) on_text(text.substr(done, i - done));
        on_token(tokens[k].id);
        done = i + c.size();
        i = done - 1;
        break;
      }
    }
  }
  if (done < text.size()) on_text(text.substr(done));
}

// --- loading ---

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open tokenizer file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return FromJson(buffer.str(), path);
}

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromJson(std::string_view json,
                                                                     const std::string& source) {
  Json j = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(source + ": not a JSON object (malformed tokenizer.json)");
  }
  std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer());
  try {
    RETURN_IF_ERROR(tok->Init(&j, source));
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(source + ": malformed tokenizer.json: " + e.what());
  }
  return tok;
}

absl::Status BpeTokenizer::Init(const void* json_ptr, const std::string& source) {
  const Json& j = *static_cast<const Json*>(json_ptr);

  // Model.
  if (!j.contains("model") || TypeOf(j["model"]) != "BPE") {
    return Unsupported(source, "model type '" +
                                   (j.contains("model") ? TypeOf(j["model"]) : std::string()) +
                                   "' (only BPE)");
  }
  const Json& model = j["model"];
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      model["dropout"].get<double>() != 0.0) {
    return Unsupported(source, "BPE option dropout");
  }
  if (model.value("byte_fallback", false)) return Unsupported(source, "BPE option byte_fallback");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty()) {
      return Unsupported(source, std::string("BPE option ") + key);
    }
  }
  ignore_merges_ = model.value("ignore_merges", false);
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return absl::InvalidArgumentError(source + ": model.vocab is missing or not an object");
  }
  int32_t max_id = -1;
  for (const auto& [spelling, id_json] : model["vocab"].items()) {
    int32_t id = id_json.get<int32_t>();
    if (id < 0) return absl::InvalidArgumentError(source + ": negative id in model.vocab");
    vocab_[spelling] = id;
    max_id = std::max(max_id, id);
  }
  const Json added = j.contains("added_tokens") && j["added_tokens"].is_array() ? j["added_tokens"]
                                                                                : Json::array();
  for (const Json& a : added) max_id = std::max(max_id, a.at("id").get<int32_t>());
  if (max_id >= kMaxVocab) {
    return absl::InvalidArgumentError(source + ": token id " + std::to_string(max_id) +
                                      " is too large (at most " + std::to_string(kMaxVocab - 1) +
                                      ")");
  }
  token_bytes_.assign(static_cast<size_t>(max_id + 1), std::string());
  special_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [spelling, id] : vocab_) {
    std::optional<std::string> bytes = ByteLevelToBytes(spelling);
    token_bytes_[id] = bytes ? *bytes : spelling;
    if (ignore_merges_ && bytes) bytes_to_id_[*bytes] = id;
  }
  // Some vocabularies (SmolLM2) lack a few bytes that text rarely or never
  // holds (0xF5-0xFF, some controls); like HF's BPE without an unk token,
  // Encode drops such bytes. Fewer than 128 byte tokens: not byte-level.
  int bytes_found = 0;
  for (int b = 0; b < 256; ++b) {
    std::string spelling;
    AppendUtf8(ByteMap().byte_to_cp[b], spelling);
    auto it = vocab_.find(spelling);
    byte_id_[b] = it == vocab_.end() ? -1 : it->second;
    bytes_found += it != vocab_.end();
  }
  if (bytes_found < 128) {
    return Unsupported(source, "vocabulary: not byte-level, only " + std::to_string(bytes_found) +
                                   " of the 256 byte tokens");
  }
  if (!model.contains("merges") || !model["merges"].is_array()) {
    return absl::InvalidArgumentError(source + ": model.merges is missing or not an array");
  }
  int32_t rank = 0;
  for (const Json& m : model["merges"]) {
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return absl::InvalidArgumentError(source + ": merge '" + s + "' is not \"a b\"");
      }
      left = s.substr(0, space), right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2) {
      left = m[0].get<std::string>(), right = m[1].get<std::string>();
    } else {
      return absl::InvalidArgumentError(source + ": merge #" + std::to_string(rank) +
                                        " is neither \"a b\" nor [a, b]");
    }
    auto l = vocab_.find(left), r = vocab_.find(right), lr = vocab_.find(left + right);
    if (l == vocab_.end() || r == vocab_.end() || lr == vocab_.end()) {
      return absl::InvalidArgumentError(source + ": merge '" + left + " " + right +
                                        "' uses a token missing from model.vocab");
    }
    uint64_t key = (static_cast<uint64_t>(l->second) << 32) | static_cast<uint32_t>(r->second);
    merges_.try_emplace(key, rank, lr->second);  // the first (lowest) rank wins
    ++rank;
  }

  // Normalizer.
  const Json normalizer = j.contains("normalizer") ? j["normalizer"] : Json();
  std::vector<Json> norm_list;
  if (TypeOf(normalizer) == "Sequence") {
    for (const Json& n : normalizer.at("normalizers")) norm_list.push_back(n);
  } else if (!normalizer.is_null()) {
    norm_list.push_back(normalizer);
  }
  for (const Json& n : norm_list) {
    std::string type = TypeOf(n);
    if (type == "NFC")
      normalizers_.push_back(NormalForm::kNFC);
    else if (type == "NFD")
      normalizers_.push_back(NormalForm::kNFD);
    else if (type == "NFKC")
      normalizers_.push_back(NormalForm::kNFKC);
    else if (type == "NFKD")
      normalizers_.push_back(NormalForm::kNFKD);
    else
      return Unsupported(source, "normalizer '" + type + "'");
  }

  // Pre-tokenizer: Split stages, then ByteLevel.
  const Json pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : Json();
  std::vector<Json> pre_list;
  if (TypeOf(pre) == "Sequence") {
    for (const Json& p : pre.at("pretokenizers")) pre_list.push_back(p);
  } else if (!pre.is_null()) {
    pre_list.push_back(pre);
  }
  if (pre_list.empty() || TypeOf(pre_list.back()) != "ByteLevel") {
    return Unsupported(source, "pre-tokenizer: a byte-level pipeline must end with ByteLevel");
  }
  for (size_t i = 0; i < pre_list.size(); ++i) {
    const Json& p = pre_list[i];
    std::string type = TypeOf(p);
    Stage stage;
    if (type == "Split" && i + 1 < pre_list.size()) {
      if (p.value("behavior", "") != "Isolated" || p.value("invert", false)) {
        return Unsupported(source, "pre-tokenizer Split behavior '" + p.value("behavior", "") +
                                       "'" + (p.value("invert", false) ? " (inverted)" : "") +
                                       " (only Isolated, not inverted)");
      }
      const Json& pattern = p.at("pattern");
      std::string regex = pattern.contains("Regex") ? pattern["Regex"].get<std::string>()
                                                    : QuoteRegex(pattern.at("String"));
      auto compiled = Regex::Compile(regex);
      if (!compiled.ok()) {
        return absl::InvalidArgumentError(
            source + ": pre-tokenizer Split: " + std::string(compiled.status().message()));
      }
      stage.regex = std::move(*compiled);
    } else if (type == "ByteLevel" && i + 1 == pre_list.size()) {
      stage.add_prefix_space = p.value("add_prefix_space", false);
      if (p.value("use_regex", true)) {
        auto compiled = Regex::Compile(kGpt2Pattern);
        if (!compiled.ok()) return compiled.status();
        stage.regex = std::move(*compiled);
      }
    } else {
      return Unsupported(source, "pre-tokenizer '" + type + "' at position " + std::to_string(i));
    }
    stages_.push_back(std::move(stage));
  }

  // Decoder.
  const Json decoder = j.contains("decoder") ? j["decoder"] : Json();
  if (!decoder.is_null() && TypeOf(decoder) != "ByteLevel") {
    return Unsupported(source, "decoder '" + TypeOf(decoder) + "' (only ByteLevel)");
  }

  // Added tokens.
  for (const Json& a : added) {
    AddedToken t;
    t.content = a.at("content").get<std::string>();
    t.id = a.at("id").get<int32_t>();
    t.special = a.value("special", false);
    for (const char* key : {"single_word", "lstrip", "rstrip"}) {
      if (a.value(key, false)) {
        return Unsupported(
            source, std::string("added token option ") + key + " (token '" + t.content + "')");
      }
    }
    if (t.content.empty()) continue;
    token_bytes_[t.id] = t.content;
    special_[t.id] = t.special;
    added_ids_[t.content] = t.id;
    if (a.value("normalized", !t.special) && !normalizers_.empty()) {
      t.content = NormalizeText(t.content);
      normalized_added_.tokens.push_back(std::move(t));
    } else {
      raw_added_.tokens.push_back(std::move(t));
    }
  }
  raw_added_.Build();
  normalized_added_.Build();
  return absl::OkStatus();
}

// --- encoding ---

std::string BpeTokenizer::NormalizeText(std::string_view text) const {
  std::string s(text);
  for (NormalForm form : normalizers_) s = Normalize(s, form);
  return s;
}

std::vector<std::string> BpeTokenizer::PreTokenize(std::string_view text) const {
  std::deque<std::string> owned;  // pieces given a prefix space
  std::vector<std::string_view> pieces = {text}, next;
  for (const Stage& stage : stages_) {
    next.clear();
    for (std::string_view piece : pieces) {
      if (stage.add_prefix_space && (piece.empty() || piece[0] != ' ')) {
        owned.push_back(" " + std::string(piece));
        piece = owned.back();
      }
      if (stage.regex) {
        stage.regex->SplitIsolated(piece, next);
      } else if (!piece.empty()) {
        next.push_back(piece);
      }
    }
    pieces.swap(next);
  }
  return std::vector<std::string>(pieces.begin(), pieces.end());
}

void BpeTokenizer::EncodeNormalized(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  if (stages_.back().add_prefix_space) {  // rare: take the slow, owning path
    for (const std::string& piece : PreTokenize(text)) EncodePieceCached(piece, out);
    return;
  }
  thread_local std::vector<std::string_view> pieces, next;
  pieces.assign(1, text);
  for (const Stage& stage : stages_) {
    if (!stage.regex) continue;
    next.clear();
    for (std::string_view piece : pieces) stage.regex->SplitIsolated(piece, next);
    pieces.swap(next);
  }
  for (std::string_view piece : pieces) EncodePieceCached(piece, out);
}

std::vector<int32_t> BpeTokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  auto on_token = [&](int32_t id) { out.push_back(id); };
  raw_added_.Split(
      text,
      [&](std::string_view segment) {
        if (normalizers_.empty()) {
          EncodeNormalized(segment, out);
          return;
        }
        const std::string normalized = NormalizeText(segment);
        normalized_added_.Split(
            normalized, [&](std::string_view s) { EncodeNormalized(s, out); }, on_token);
      },
      on_token);
  return out;
}

void BpeTokenizer::EncodePieceCached(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() == 1) {
    const int32_t id = byte_id_[static_cast<unsigned char>(piece[0])];
    if (id >= 0) out.push_back(id);
    return;
  }
  if (piece.size() > kMaxCachedPiece) {
    EncodePiece(piece, out);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(Absl(piece));
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t start = out.size();
  EncodePiece(piece, out);
  std::vector<int32_t> ids(out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.try_emplace(std::string(piece), std::move(ids));
}

// Rank-ordered merging over a linked list of symbols, with a heap of
// candidate pairs that are checked for staleness when popped. A symbol's id
// fixes its byte span, so "same ids at the same places" means "still valid".
void BpeTokenizer::EncodePiece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    auto it = bytes_to_id_.find(Absl(piece));
    if (it != bytes_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  struct Symbol {
    int32_t id, prev, next;
  };
  struct Candidate {
    int32_t rank, pos, left, right, merged;
    bool operator<(const Candidate& o) const {  // max-heap: invert
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  thread_local std::vector<Symbol> syms;
  thread_local std::vector<Candidate> heap;
  const int32_t n = static_cast<int32_t>(piece.size());
  syms.resize(static_cast<size_t>(n));
  heap.clear();
  for (int32_t i = 0; i < n; ++i) {
    syms[i] = {byte_id_[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};
  }
  auto push = [&](int32_t pos) {
    int32_t nx = syms[pos].next;
    if (nx < 0) return;
    uint64_t key = (static_cast<uint64_t>(syms[pos].id) << 32) | static_cast<uint32_t>(syms[nx].id);
    auto it = merges_.find(key);
    if (it == merges_.end()) return;
    heap.push_back({it->second.first, pos, syms[pos].id, syms[nx].id, it->second.second});
    std::push_heap(heap.begin(), heap.end());
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = syms[c.pos];
    if (left.id != c.left || left.next < 0 || syms[left.next].id != c.right) continue;
    Symbol& right = syms[left.next];
    left.id = c.merged;
    right.id = -1;
    left.next = right.next;
    if (left.next >= 0) syms[left.next].prev = c.pos;
    if (left.prev >= 0) push(left.prev);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = syms[i].next) {
    if (syms[i].id >= 0) out.push_back(syms[i].id);  // -1: a byte the vocabulary lacks
  }
}

void BpeTokenizer::ClearCache() const {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  cache_.clear();
}

// --- decoding and vocabulary ---

std::string BpeTokenizer::Decode(absl::Span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id >= 0 && id < vocab_size()) out += token_bytes_[id];
  }
  return out;
}

std::optional<int32_t> BpeTokenizer::TokenId(std::string_view token) const {
  auto it = added_ids_.find(Absl(token));
  if (it != added_ids_.end()) return it->second;
  auto v = vocab_.find(Absl(token));
  if (v != vocab_.end()) return v->second;
  return std::nullopt;
}

bool BpeTokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < vocab_size() && special_[id];
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizer(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<BpeTokenizer> tok, BpeTokenizer::FromFile(path));
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

}  // namespace grpo::policy
