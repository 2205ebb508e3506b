#include "policy/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <cstdlib>
#include <string>

#include "absl/status/status.h"

namespace grpo::policy {
namespace {

bool IsAscii(std::string_view text) {
  for (unsigned char c : text) {
    if (c >= 0x80) return false;
  }
  return true;
}

// True when every code point is below U+0300 (no lead byte from 0xCC up):
// such text has no combining marks and no NFC composition exclusions or
// singletons, so it is already in NFC (not necessarily in the other forms).
bool BelowU0300(std::string_view text) {
  for (unsigned char c : text) {
    if (c >= 0xCC) return false;
  }
  return true;
}

// Appends the normal form of a valid UTF-8 run.
void NormalizeValid(std::string_view run, NormalForm form, std::string& out) {
  if (IsAscii(run) || (form == NormalForm::kNFC && BelowU0300(run))) {
    out.append(run);
    return;
  }
  int options = UTF8PROC_STABLE;
  switch (form) {
    case NormalForm::kNFC:
      options |= UTF8PROC_COMPOSE;
      break;
    case NormalForm::kNFD:
      options |= UTF8PROC_DECOMPOSE;
      break;
    case NormalForm::kNFKC:
      options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
      break;
    case NormalForm::kNFKD:
      options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
      break;
  }
  utf8proc_uint8_t* result = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(run.data()),
                                    static_cast<utf8proc_ssize_t>(run.size()), &result,
                                    static_cast<utf8proc_option_t>(options));
  if (n >= 0 && result != nullptr) {
    out.append(reinterpret_cast<const char*>(result), static_cast<size_t>(n));
  } else {
    out.append(run);  // out of memory: leave the run as it is
  }
  std::free(result);
}

}  // namespace

std::string Normalize(std::string_view text, NormalForm form) {
  if (IsAscii(text)) return std::string(text);
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const size_t n = text.size();
  size_t run_start = 0, i = 0;
  while (i < n) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t len = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(n - i), &cp);
    if (len > 0) {
      i += static_cast<size_t>(len);
      continue;
    }
    // An invalid byte: flush the valid run before it, copy the byte.
    NormalizeValid(text.substr(run_start, i - run_start), form, out);
    out.push_back(text[i]);
    run_start = ++i;
  }
  NormalizeValid(text.substr(run_start), form, out);
  return out;
}

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(const std::string& pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    return absl::InvalidArgumentError("regex does not compile at offset " + std::to_string(offset) +
                                      ": " + reinterpret_cast<const char*>(message) + ": " +
                                      pattern);
  }
  std::unique_ptr<Regex> regex(new Regex());
  regex->code_ = code;
  regex->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return regex;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Regex::SplitIsolated(std::string_view text, std::vector<std::string_view>& pieces) const {
  const auto* code = static_cast<const pcre2_code*>(code_);
  pcre2_match_data* match = pcre2_match_data_create(1, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  size_t start = 0;  // where the next search begins
  size_t done = 0;   // text before this is in pieces
  while (match != nullptr && start < n) {
    int rc = pcre2_match(code, subject, n, start, 0, match, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      rc = pcre2_match(code, subject, n, start, PCRE2_NO_JIT, match, nullptr);
    }
    if (rc < 0) break;  // no more matches, or a resource limit: the rest is one piece
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
    size_t s = ov[0], e = ov[1];
    if (e <= s) {  // empty match: move on by one code point
      start = s + 1;
      while (start < n && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
      continue;
    }
    if (s > done) pieces.push_back(text.substr(done, s - done));
    pieces.push_back(text.substr(s, e - s));
    done = start = e;
  }
  if (done < n) pieces.push_back(text.substr(done));
  pcre2_match_data_free(match);
}

}  // namespace grpo::policy
