// The client of the reward service (proto/reward.proto), for rollout
// workers and `grpo eval-rewards --server`. Thread-safe.
//
//   ClientOptions options;
//   options.target = "ipv4:127.0.0.1:50051,127.0.0.1:50052";  // or dns:///name:port
//   ASSIGN_OR_RETURN(auto client, RewardClient::Create(options));
//   client->Submit(sample, [](v1::Result r) { ... });           // streaming
//   ASSIGN_OR_RETURN(std::vector<v1::Result> rs, client->ScoreAll(samples));
//
// Samples travel on `streams` long-lived ScoreStream calls, spread over the
// target's servers by gRPC's round_robin policy. Every submitted sample gets
// exactly one result: the server's, or one made here: "timeout" when
// per_sample_timeout passes without an answer (the caller never hangs), or
// "error" when the client is destroyed first. When a stream breaks (its
// server died), the samples it had not answered are sent again on another
// stream; streams reopen with exponential backoff. A "resource_exhausted"
// result (the server's queue was full) is retried after a backoff too.
#ifndef GRPO_REWARD_REWARD_CLIENT_H_
#define GRPO_REWARD_REWARD_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/reward.pb.h"

namespace grpo::reward {


struct ClientOptions {
  // A gRPC target: "host:port", "ipv4:h1:p1,h2:p2", "dns:///name:port".
  std::string target;
  // From Submit to the result; past it the result is made here, "timeout".
  absl::Duration per_sample_timeout = absl::Seconds(60);
  int max_in_flight = 4096;         // Submit blocks while this many are unanswered
  int streams = 2;                  // concurrent ScoreStream calls
  int max_in_flight_per_stream = 512;
  // A stream is closed and reopened after this many samples, so new
  // round-robin picks spread the load over servers that joined later.
  int stream_rotate_samples = 2000;
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  int max_message_bytes = 64 << 20;
  // Sent as "authorization: Bearer TOKEN" on every call.
  std::string bearer_token;
  // TLS: on when tls is true; PEM text. root: the CA that signed the
  // server (empty: the system roots); cert + key: for mTLS.
  bool tls = false;
  std::string tls_root_pem;
  std::string tls_cert_pem;
  std::string tls_key_pem;
  std::string tls_server_name;  // overrides the name checked in the server's certificate
};

// Runs once per sample on a client thread; keep it short.
using ResultCallback = std::function<void(v1::Result)>;

struct ClientStats {
  int64_t submitted = 0;
  int64_t answered = 0;          // results from a server
  int64_t timed_out = 0;         // "timeout" results made here
  int64_t resent = 0;            // samples sent again after their stream broke
  int64_t retried_exhausted = 0; // samples sent again after "resource_exhausted"
  int64_t streams_opened = 0;
  int64_t late_results = 0;      // results for samples already answered (dropped)
};

class RewardClient {
 public:
  // InvalidArgument for an empty target or out-of-range options. Does not
  // wait for a server: that is what Healthy() is for.
  static absl::StatusOr<std::unique_ptr<RewardClient>> Create(const ClientOptions& options);
  // Answers every outstanding sample ("error", client closed), then returns.
  ~RewardClient();

  // Queues one sample; `done` runs exactly once with its result, whose id is
  // the sample's. Blocks while max_in_flight samples are unanswered.
  // InvalidArgument for an empty id (the result would have none to match).
  absl::Status Submit(v1::Sample sample, ResultCallback done);

  // Submits every sample and waits: one result per sample, in input order.
  // InvalidArgument for an empty id; nothing is submitted then.
  absl::StatusOr<std::vector<v1::Result>> ScoreAll(std::vector<v1::Sample> samples);

  // One unary Score call, retried with backoff on UNAVAILABLE and
  // RESOURCE_EXHAUSTED until per_sample_timeout; other errors as they come.
  absl::StatusOr<v1::ScoreResponse> ScoreBatch(const v1::ScoreRequest& request);

  absl::StatusOr<v1::ListRewardsResponse> ListRewards();

  // grpc.health.v1 Check of the whole server: true when SERVING. An error
  // when no server answers within `timeout`.
  absl::StatusOr<bool> Healthy(absl::Duration timeout = absl::Seconds(5));

  ClientStats stats() const;

  class Impl;

 private:
  explicit RewardClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace grpo::reward

#endif  // GRPO_REWARD_REWARD_CLIENT_H_
