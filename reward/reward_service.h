// The gRPC reward server (proto/reward.proto RewardService, plus the
// standard grpc.health.v1 health service). gRPC's threads only read, queue
// and write; every sample is scored on a WorkQueue of `threads` workers
// through a SampleScorer. docs/reward_service.md has the behaviour under
// limits and faults.
//
//   ASSIGN_OR_RETURN(auto server, RewardServer::Start(options, &registry));
//   ... server->port() ...
//   server->Shutdown(absl::Seconds(30));   // the SIGTERM drain
#ifndef GRPO_REWARD_REWARD_SERVICE_H_
#define GRPO_REWARD_REWARD_SERVICE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "reward/reward_registry.h"
#include "reward/sample_scorer.h"

namespace grpo::reward {

struct ServerOptions {
  // host:port; port 0 picks a free one (see RewardServer::port()).
  std::string listen = "127.0.0.1:50051";
  int threads = 0;                 // scoring workers; 0: one per core
  size_t queue_capacity = 0;       // samples queued, not yet started; 0: 1024 per worker
  int max_message_bytes = 64 << 20;
  int max_batch = 10000;           // samples in one Score call
  int max_stream_in_flight = 512;  // per stream: reading pauses past this (backpressure)
  // A component still running this long past its sample's deadline is
  // abandoned: the sample is answered "timeout" and its worker is replaced
  // (at most max_abandoned_workers stuck ones alive at once).
  std::chrono::milliseconds hung_grace{100};
  int max_abandoned_workers = 64;
  SampleLimits limits;
  // TLS: PEM text (not paths). With client_ca_pem, clients must present a
  // certificate it signed (mTLS).
  std::string tls_cert_pem;
  std::string tls_key_pem;
  std::string tls_client_ca_pem;
  // When set, every RewardService call must carry the metadata
  // "authorization: Bearer TOKEN", else UNAUTHENTICATED. The health service
  // stays open.
  std::string bearer_token;
};

// True for 127.0.0.0/8, ::1, localhost and unix: sockets.
bool IsLoopbackAddress(std::string_view listen);

class RewardServer {
 public:
  // Starts serving. InvalidArgument for bad options, and for a non-loopback
  // address without TLS or a bearer token; Unavailable when the address
  // cannot be bound. `registry` must outlive the server.
  static absl::StatusOr<std::unique_ptr<RewardServer>> Start(const ServerOptions& options,
                                                             const ComponentRegistry* registry);
  // Shutdown(absl::ZeroDuration()) if not yet shut down.
  ~RewardServer();

  int port() const;
  int threads() const;
  // Workers abandoned in a hung component so far.
  int64_t abandoned_workers() const;

  // The drain: health turns NOT_SERVING, no new calls are accepted, calls
  // in flight may finish until `grace` has passed and are then cancelled;
  // returns when every queued sample has been scored and every call ended.
  void Shutdown(absl::Duration grace);

  class Impl;

 private:
  explicit RewardServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace grpo::reward

#endif  // GRPO_REWARD_REWARD_SERVICE_H_
