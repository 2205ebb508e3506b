#include "reward/plugin_wire.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace grpo::reward::plugin_wire {
namespace {

using Clock = std::chrono::steady_clock;

class Writer {
 public:
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  void F64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    U32(static_cast<uint32_t>(bits));
    U32(static_cast<uint32_t>(bits >> 32));
  }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U32(uint32_t* v) {
    if (in_.size() < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v |= static_cast<uint32_t>(static_cast<unsigned char>(in_[i])) << (8 * i);
    in_.remove_prefix(4);
    return true;
  }
  bool F64(double* v) {
    uint32_t lo, hi;
    if (!U32(&lo) || !U32(&hi)) return false;
    const uint64_t bits = (static_cast<uint64_t>(hi) << 32) | lo;
    std::memcpy(v, &bits, sizeof bits);
    return true;
  }
  bool Str(std::string* s) {
    uint32_t n;
    if (!U32(&n) || in_.size() < n) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }

 private:
  std::string_view in_;
};

absl::Status Malformed(const char* what) {
  return absl::InvalidArgumentError(absl::StrCat("plugin helper: malformed ", what));
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

ReadOutcome ReadAll(int fd, char* data, size_t size, Clock::time_point deadline) {
  while (size > 0) {
    int timeout_ms = -1;
    if (deadline != Clock::time_point::max()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return ReadOutcome::kTimeout;
      timeout_ms = static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30));
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return ReadOutcome::kError;
    if (ready == 0) return ReadOutcome::kTimeout;
    const ssize_t n = read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return ReadOutcome::kClosed;
    if (n < 0) return errno == ECONNRESET ? ReadOutcome::kClosed : ReadOutcome::kError;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return ReadOutcome::kOk;
}

}  // namespace

bool WriteFrame(int fd, std::string_view payload) {
  Writer header;
  header.U32(static_cast<uint32_t>(payload.size()));
  const std::string h = header.Take();
  return WriteAll(fd, h.data(), h.size()) && WriteAll(fd, payload.data(), payload.size());
}

ReadOutcome ReadFrame(int fd, std::string* payload, Clock::time_point deadline) {
  char header[4];
  if (ReadOutcome r = ReadAll(fd, header, 4, deadline); r != ReadOutcome::kOk) return r;
  uint32_t size = 0;
  Reader(std::string_view(header, 4)).U32(&size);
  if (size > kMaxFrameBytes) return ReadOutcome::kError;
  payload->resize(size);
  return ReadAll(fd, payload->data(), size, deadline);
}

std::string EncodeInfoRequest() {
  Writer w;
  w.U32(kInfo);
  return w.Take();
}

std::string EncodeScoreRequest(const grpo_reward_sample* samples, size_t count) {
  Writer w;
  w.U32(kScore);
  w.U32(static_cast<uint32_t>(count));
  for (size_t i = 0; i < count; ++i) {
    const grpo_reward_sample& s = samples[i];
    for (const grpo_reward_text& t : {s.id, s.prompt, s.completion, s.reference}) {
      w.Str(std::string_view(t.data, t.size));
    }
    w.U32(static_cast<uint32_t>(s.num_params));
    for (size_t k = 0; k < s.num_params; ++k) {
      w.Str(s.params[k].name);
      w.Str(s.params[k].value);
    }
  }
  return w.Take();
}

std::string EncodeInfo(const ComponentInfo& info) {
  Writer w;
  w.U32(1);
  for (const std::string* s : {&info.name, &info.version, &info.description, &info.reference}) {
    w.Str(*s);
  }
  w.U32(static_cast<uint32_t>(info.params.size()));
  for (const ParamInfo& p : info.params) {
    w.Str(p.name);
    w.Str(p.type);
    w.Str(p.default_value);
  }
  return w.Take();
}

std::string EncodeInfoError(std::string_view error) {
  Writer w;
  w.U32(0);
  w.Str(error);
  return w.Take();
}

std::string EncodeResults(const grpo_reward_result* results, size_t count) {
  Writer w;
  w.U32(static_cast<uint32_t>(count));
  for (size_t i = 0; i < count; ++i) {
    const grpo_reward_result& r = results[i];
    w.F64(r.value);
    w.U32(static_cast<uint32_t>(r.status));
    w.Str(std::string_view(r.reason, strnlen(r.reason, sizeof r.reason)));
    w.Str(std::string_view(r.extracted, strnlen(r.extracted, sizeof r.extracted)));
  }
  return w.Take();
}

absl::StatusOr<uint32_t> DecodeKind(std::string_view payload) {
  uint32_t kind = 0;
  if (!Reader(payload).U32(&kind) || (kind != kInfo && kind != kScore)) return Malformed("request");
  return kind;
}

absl::StatusOr<ScoreRequest> DecodeScoreRequest(std::string_view payload) {
  Reader r(payload);
  uint32_t kind = 0, count = 0;
  if (!r.U32(&kind) || kind != kScore || !r.U32(&count)) return Malformed("score request");
  ScoreRequest out;
  std::vector<uint32_t> param_counts;
  for (uint32_t i = 0; i < count; ++i) {
    for (int k = 0; k < 4; ++k) {
      if (!r.Str(&out.text.emplace_back())) return Malformed("sample");
    }
    uint32_t n = 0;
    if (!r.U32(&n)) return Malformed("sample");
    for (uint32_t k = 0; k < 2 * n; ++k) {
      if (!r.Str(&out.text.emplace_back())) return Malformed("param");
    }
    param_counts.push_back(n);
  }
  // Pointers are taken once `text` no longer grows.
  size_t t = 0;
  out.params.resize(count);
  for (uint32_t i = 0; i < count; ++i) {
    auto view = [&](size_t k) { return grpo_reward_text{out.text[k].data(), out.text[k].size()}; };
    grpo_reward_sample s{view(t), view(t + 1), view(t + 2), view(t + 3), nullptr, param_counts[i]};
    t += 4;
    for (uint32_t k = 0; k < param_counts[i]; ++k, t += 2) {
      out.params[i].push_back({out.text[t].c_str(), out.text[t + 1].c_str()});
    }
    s.params = out.params[i].data();
    out.samples.push_back(s);
  }
  return out;
}

absl::StatusOr<ComponentInfo> DecodeInfo(std::string_view payload) {
  Reader r(payload);
  uint32_t ok = 0;
  if (!r.U32(&ok)) return Malformed("info");
  if (ok == 0) {
    std::string error;
    if (!r.Str(&error)) return Malformed("info");
    return absl::FailedPreconditionError(error);
  }
  ComponentInfo info;
  uint32_t n = 0;
  if (!r.Str(&info.name) || !r.Str(&info.version) || !r.Str(&info.description) ||
      !r.Str(&info.reference) || !r.U32(&n)) {
    return Malformed("info");
  }
  for (uint32_t i = 0; i < n; ++i) {
    ParamInfo& p = info.params.emplace_back();
    if (!r.Str(&p.name) || !r.Str(&p.type) || !r.Str(&p.default_value)) return Malformed("info");
  }
  return info;
}

absl::StatusOr<std::vector<grpo_reward_result>> DecodeResults(std::string_view payload) {
  Reader r(payload);
  uint32_t count = 0;
  if (!r.U32(&count)) return Malformed("results");
  std::vector<grpo_reward_result> out;
  for (uint32_t i = 0; i < count; ++i) {
    grpo_reward_result& res = out.emplace_back();
    uint32_t status = 0;
    std::string reason, extracted;
    if (!r.F64(&res.value) || !r.U32(&status) || !r.Str(&reason) || !r.Str(&extracted)) {
      return Malformed("results");
    }
    res.status = static_cast<int32_t>(status);
    std::snprintf(res.reason, sizeof res.reason, "%s", reason.c_str());
    std::snprintf(res.extracted, sizeof res.extracted, "%s", extracted.c_str());
  }
  return out;
}

}  // namespace grpo::reward::plugin_wire
