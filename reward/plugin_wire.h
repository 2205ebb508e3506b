// The messages between the server and an isolated plugin's helper process
// (plugin_host.h, plugin_host_main.cc) over a socketpair: frames of a
// little-endian u32 length then the payload.
//
//   request  := u32 kind; kind 1 (info): nothing more; kind 2 (score):
//               u32 count, then per sample: str id, prompt, completion,
//               reference, u32 n, n x (str name, str value)
//   info     := u32 ok; ok: str name, version, description, reference,
//               u32 n, n x (str name, type, default); else: str error
//   results  := u32 count, per result: f64 value, u32 status, str reason,
//               str extracted
// where str is a u32 length then the bytes.
#ifndef GRPO_REWARD_PLUGIN_WIRE_H_
#define GRPO_REWARD_PLUGIN_WIRE_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "reward/grpo_reward_plugin.h"
#include "reward/reward_registry.h"

namespace grpo::reward::plugin_wire {

enum Kind : uint32_t { kInfo = 1, kScore = 2 };

// A frame over this many bytes is refused (a broken or hostile peer).
inline constexpr uint32_t kMaxFrameBytes = 512u << 20;

// --- Frames on a stream socket ---

// False when the peer is gone (no SIGPIPE: MSG_NOSIGNAL) or on any error.
bool WriteFrame(int fd, std::string_view payload);

enum class ReadOutcome { kOk, kClosed, kTimeout, kError };
// Waits until `deadline` (time_point::max(): forever).
ReadOutcome ReadFrame(int fd, std::string* payload,
                      std::chrono::steady_clock::time_point deadline =
                          std::chrono::steady_clock::time_point::max());

// --- Messages ---

std::string EncodeInfoRequest();
std::string EncodeScoreRequest(const grpo_reward_sample* samples, size_t count);
std::string EncodeInfo(const ComponentInfo& info);
std::string EncodeInfoError(std::string_view error);
std::string EncodeResults(const grpo_reward_result* results, size_t count);

// A decoded score request: owns the bytes the samples point into.
struct ScoreRequest {
  std::vector<std::string> text;  // 4 per sample, then the params' names and values
  std::vector<std::vector<grpo_reward_param>> params;
  std::vector<grpo_reward_sample> samples;
};

// InvalidArgument when the payload is cut short or malformed.
absl::StatusOr<uint32_t> DecodeKind(std::string_view payload);
absl::StatusOr<ScoreRequest> DecodeScoreRequest(std::string_view payload);
// The info, or the helper's error (FailedPrecondition with its text).
absl::StatusOr<ComponentInfo> DecodeInfo(std::string_view payload);
absl::StatusOr<std::vector<grpo_reward_result>> DecodeResults(std::string_view payload);

}  // namespace grpo::reward::plugin_wire

#endif  // GRPO_REWARD_PLUGIN_WIRE_H_
