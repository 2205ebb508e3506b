#include "reward/reward_client.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "proto/health.grpc.pb.h"
#include "proto/reward.grpc.pb.h"

namespace grpo::reward {

using Clock = std::chrono::steady_clock;

namespace {

absl::Status ToAbsl(const grpc::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

v1::Result MadeHere(const std::string& id, const char* status, std::string reason) {
  v1::Result r;
  r.set_id(id);
  r.set_status(status);
  r.set_reason(std::move(reason));
  return r;
}

}  // namespace

class RewardClient::Impl {
 public:
  explicit Impl(const ClientOptions& options) : options_(options) {
    grpc::ChannelArguments args;
    // Round-robin: each new stream goes to the next ready server, and a dead
    // server is skipped once its connection fails.
    args.SetServiceConfigJSON(R"({"loadBalancingConfig": [{"round_robin": {}}]})");
    args.SetMaxReceiveMessageSize(options.max_message_bytes);
    args.SetMaxSendMessageSize(options.max_message_bytes);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (options.tls) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = options.tls_root_pem;
      ssl.pem_cert_chain = options.tls_cert_pem;
      ssl.pem_private_key = options.tls_key_pem;
      creds = grpc::SslCredentials(ssl);
      if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
    } else {
      creds = grpc::InsecureChannelCredentials();
    }
    channel_ = grpc::CreateCustomChannel(options.target, creds, args);
    stub_ = v1::RewardService::NewStub(channel_);
    slots_.resize(static_cast<size_t>(options.streams));
    for (int i = 0; i < options.streams; ++i) threads_.emplace_back([this, i] { StreamLoop(i); });
    threads_.emplace_back([this] { ReaperLoop(); });
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
      for (Slot& slot : slots_) {
        if (slot.ctx != nullptr) slot.ctx->TryCancel();
      }
    }
    cv_.notify_all();
    space_cv_.notify_all();
    for (std::thread& t : threads_) t.join();
    std::unordered_map<uint64_t, Pending> left;
    {
      std::lock_guard<std::mutex> lock(mu_);
      left.swap(pending_);
    }
    for (auto& [key, p] : left) p.done(MadeHere(p.user_id, kError, "the reward client was closed"));
  }

  absl::Status Submit(v1::Sample sample, ResultCallback done) {
    if (sample.id().empty()) return absl::InvalidArgumentError("Submit: the sample has no id");
    std::unique_lock<std::mutex> lock(mu_);
    space_cv_.wait(lock, [&] {
      return closing_ || static_cast<int>(pending_.size()) < options_.max_in_flight;
    });
    if (closing_) return absl::FailedPreconditionError("Submit: the reward client is closing");
    const uint64_t key = next_key_++;
    Pending& p = pending_[key];
    p.user_id = sample.id();
    sample.set_id(std::to_string(key));  // wire ids are ours: unique, whatever the caller's are
    p.sample = std::move(sample);
    p.done = std::move(done);
    p.deadline = Clock::now() + absl::ToChronoNanoseconds(options_.per_sample_timeout);
    send_queue_.push_back(key);
    ++stats_.submitted;
    lock.unlock();
    cv_.notify_all();
    return absl::OkStatus();
  }

  absl::StatusOr<v1::ScoreResponse> ScoreBatch(const v1::ScoreRequest& request) {
    const Clock::time_point deadline =
        Clock::now() + absl::ToChronoNanoseconds(options_.per_sample_timeout);
    absl::Duration backoff = options_.initial_backoff;
    for (;;) {
      grpc::ClientContext ctx;
      Prepare(&ctx);
      ctx.set_deadline(std::chrono::system_clock::now() + (deadline - Clock::now()));
      v1::ScoreResponse response;
      const grpc::Status status = stub_->Score(&ctx, request, &response);
      if (status.ok()) return response;
      // CANCELLED: this context is never cancelled here, so it is a call that
      // reached a server as it began shutting down.
      const bool retry = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                         status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                         status.error_code() == grpc::StatusCode::CANCELLED;
      if (!retry || Clock::now() + absl::ToChronoNanoseconds(backoff) >= deadline) {
        return ToAbsl(status, absl::StrCat("Score on ", options_.target));
      }
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(Jitter(backoff)));
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }

  absl::StatusOr<v1::ListRewardsResponse> ListRewards() {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListRewardsResponse response;
    const grpc::Status status = stub_->ListRewards(&ctx, v1::ListRewardsRequest(), &response);
    if (!status.ok()) return ToAbsl(status, absl::StrCat("ListRewards on ", options_.target));
    return response;
  }

  absl::StatusOr<bool> Healthy(absl::Duration timeout) {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status =
        stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &response);
    if (!status.ok()) return ToAbsl(status, absl::StrCat("health check of ", options_.target));
    return response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  }

  ClientStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  static constexpr char kError[] = "error";
  static constexpr char kTimeout[] = "timeout";

  struct Pending {
    v1::Sample sample;  // with our wire id
    std::string user_id;
    ResultCallback done;
    Clock::time_point deadline;
    Clock::time_point retry_at;  // resource_exhausted: not before this
    int slot = -1;               // the stream it is on; -1: waiting to be sent
  };

  struct Slot {
    grpc::ClientContext* ctx = nullptr;  // the stream's, while open
    std::unordered_set<uint64_t> outstanding;
    bool broken = false;
  };

  void Prepare(grpc::ClientContext* ctx) const {
    if (!options_.bearer_token.empty()) {
      ctx->AddMetadata("authorization", absl::StrCat("Bearer ", options_.bearer_token));
    }
  }

  absl::Duration Jitter(absl::Duration d) {
    std::lock_guard<std::mutex> lock(rng_mu_);
    return d * std::uniform_real_distribution<double>(0.5, 1.0)(rng_);
  }

  // One stream slot: opens a ScoreStream, writes samples from the shared
  // queue, and on a break puts back what the stream had not answered.
  void StreamLoop(int index) {
    absl::Duration backoff = options_.initial_backoff;
    // The first streams open as soon as one server is connected, so they
    // all land there; they are kept short so that the next round-robin
    // picks see every server.
    int budget = std::min(32, options_.stream_rotate_samples);
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return closing_ || !send_queue_.empty(); });
        if (closing_) return;
      }
      grpc::ClientContext ctx;
      Prepare(&ctx);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (closing_) return;
        slots_[index].ctx = &ctx;
        slots_[index].broken = false;
        ++stats_.streams_opened;
      }
      std::unique_ptr<grpc::ClientReaderWriter<v1::Sample, v1::Result>> stream =
          stub_->ScoreStream(&ctx);
      bool answered_any = false;
      std::thread reader([&] {
        v1::Result result;
        while (stream->Read(&result)) {
          answered_any = true;
          OnResult(index, std::move(result));
          result = v1::Result();
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          slots_[index].broken = true;
        }
        cv_.notify_all();
      });
      const bool rotated = WriteLoop(index, stream.get(), budget);
      budget = options_.stream_rotate_samples;
      ctx.TryCancel();  // ends the reader too
      reader.join();
      const grpc::Status status = stream->Finish();
      bool closing;
      {
        std::lock_guard<std::mutex> lock(mu_);
        Slot& slot = slots_[index];
        slot.ctx = nullptr;
        // Unanswered samples go to the front: another stream sends them now.
        for (uint64_t key : slot.outstanding) {
          auto it = pending_.find(key);
          if (it == pending_.end()) continue;
          it->second.slot = -1;
          send_queue_.push_front(key);
          ++stats_.resent;
        }
        slot.outstanding.clear();
        if (!status.ok()) last_error_ = status.error_message();
        closing = closing_;
      }
      cv_.notify_all();
      if (closing) return;
      if (rotated && status.ok()) {
        backoff = options_.initial_backoff;
        continue;
      }
      backoff = answered_any ? options_.initial_backoff : std::min(backoff * 2, options_.max_backoff);
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, absl::ToChronoNanoseconds(Jitter(backoff)), [&] { return closing_; });
    }
  }

  // Returns true when the stream was closed after `budget` samples (and
  // every answer to them came back), false when it broke or the client closes.
  bool WriteLoop(int index, grpc::ClientReaderWriter<v1::Sample, v1::Result>* stream, int budget) {
    for (int written = 0;; ++written) {
      if (written == budget) {
        // Rotate: half-close, and let the server answer the rest and end.
        stream->WritesDone();
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return closing_ || slots_[index].broken; });
        return !closing_ && slots_[index].outstanding.empty();
      }
      v1::Sample sample;
      {
        std::unique_lock<std::mutex> lock(mu_);
        Slot& slot = slots_[index];
        cv_.wait(lock, [&] {
          return closing_ || slot.broken ||
                 (!send_queue_.empty() &&
                  static_cast<int>(slot.outstanding.size()) < options_.max_in_flight_per_stream);
        });
        if (closing_ || slot.broken) return false;
        const uint64_t key = send_queue_.front();
        send_queue_.pop_front();
        auto it = pending_.find(key);
        if (it == pending_.end() || it->second.slot != -1) {  // answered meanwhile
          --written;
          continue;
        }
        it->second.slot = index;
        slot.outstanding.insert(key);
        sample = it->second.sample;
      }
      // No buffer hint here: another stream may take the rest of the queue,
      // and a hinted write would then wait unflushed.
      if (!stream->Write(sample)) return false;
    }
  }

  void OnResult(int index, v1::Result result) {
    uint64_t key = 0;
    Pending done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = absl::SimpleAtoi(result.id(), &key) ? pending_.find(key) : pending_.end();
      if (it == pending_.end()) {
        ++stats_.late_results;
        return;
      }
      slots_[index].outstanding.erase(key);
      if (result.status() == "resource_exhausted") {
        // Back to the queue after a pause; the reaper moves it.
        it->second.slot = -2;
        it->second.retry_at = Clock::now() + absl::ToChronoNanoseconds(Jitter(options_.initial_backoff * 4));
        ++stats_.retried_exhausted;
        cv_.notify_all();
        return;
      }
      done = std::move(it->second);
      pending_.erase(it);
      ++stats_.answered;
    }
    space_cv_.notify_one();
    cv_.notify_all();  // a slot may be under its cap again
    result.set_id(done.user_id);
    done.done(std::move(result));
  }

  // Answers samples past their deadline, and requeues resource_exhausted
  // ones when their pause is over.
  void ReaperLoop() {
    for (;;) {
      std::vector<Pending> expired;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(10), [&] { return closing_; });
        if (closing_) return;
        const Clock::time_point now = Clock::now();
        bool requeued = false;
        for (auto it = pending_.begin(); it != pending_.end();) {
          Pending& p = it->second;
          if (p.deadline <= now) {
            if (p.slot >= 0) slots_[p.slot].outstanding.erase(it->first);
            expired.push_back(std::move(p));
            it = pending_.erase(it);
            ++stats_.timed_out;
            continue;
          }
          if (p.slot == -2 && p.retry_at <= now) {
            p.slot = -1;
            send_queue_.push_back(it->first);
            requeued = true;
          }
          ++it;
        }
        if (requeued) cv_.notify_all();
      }
      if (!expired.empty()) {
        space_cv_.notify_all();
        cv_.notify_all();
      }
      std::string why;
      {
        std::lock_guard<std::mutex> lock(mu_);
        why = last_error_;
      }
      for (Pending& p : expired) {
        p.done(MadeHere(p.user_id, kTimeout,
                        absl::StrCat("no result within ",
                                     absl::FormatDuration(options_.per_sample_timeout),
                                     why.empty() ? "" : absl::StrCat(" (last stream error: ", why, ")"))));
      }
    }
  }

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::RewardService::Stub> stub_;

  mutable std::mutex mu_;
  std::condition_variable cv_;        // work to send, a slot broke, closing
  std::condition_variable space_cv_;  // room under max_in_flight
  std::unordered_map<uint64_t, Pending> pending_;
  std::deque<uint64_t> send_queue_;
  std::vector<Slot> slots_;
  uint64_t next_key_ = 1;
  bool closing_ = false;
  std::string last_error_;
  ClientStats stats_;
  std::vector<std::thread> threads_;

  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};
};

absl::StatusOr<std::unique_ptr<RewardClient>> RewardClient::Create(const ClientOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("reward client: empty target");
  if (options.streams < 1 || options.max_in_flight < 1 || options.max_in_flight_per_stream < 1 ||
      options.stream_rotate_samples < 1 ||
      options.per_sample_timeout <= absl::ZeroDuration() ||
      options.initial_backoff <= absl::ZeroDuration() || options.max_message_bytes <= 0) {
    return absl::InvalidArgumentError(
        "reward client: streams, in-flight limits, timeout, backoff and message size must be > 0");
  }
  return std::unique_ptr<RewardClient>(new RewardClient(std::make_unique<Impl>(options)));
}

RewardClient::RewardClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RewardClient::~RewardClient() = default;

absl::Status RewardClient::Submit(v1::Sample sample, ResultCallback done) {
  return impl_->Submit(std::move(sample), std::move(done));
}

absl::StatusOr<std::vector<v1::Result>> RewardClient::ScoreAll(std::vector<v1::Sample> samples) {
  for (const v1::Sample& s : samples) {
    if (s.id().empty()) return absl::InvalidArgumentError("ScoreAll: a sample has no id");
  }
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    size_t left = 0;
  };
  auto wait = std::make_shared<Wait>();
  std::vector<v1::Result> results(samples.size());
  wait->left = samples.size();
  for (size_t i = 0; i < samples.size(); ++i) {
    auto done = [wait, &results, i](v1::Result r) {
      results[i] = std::move(r);
      std::lock_guard<std::mutex> lock(wait->mu);
      if (--wait->left == 0) wait->cv.notify_all();
    };
    const std::string id = samples[i].id();
    if (absl::Status s = Submit(std::move(samples[i]), done); !s.ok()) {
      done(MadeHere(id, "error", std::string(s.message())));
    }
  }
  std::unique_lock<std::mutex> lock(wait->mu);
  wait->cv.wait(lock, [&] { return wait->left == 0; });
  return results;
}

absl::StatusOr<v1::ScoreResponse> RewardClient::ScoreBatch(const v1::ScoreRequest& request) {
  return impl_->ScoreBatch(request);
}
absl::StatusOr<v1::ListRewardsResponse> RewardClient::ListRewards() { return impl_->ListRewards(); }
absl::StatusOr<bool> RewardClient::Healthy(absl::Duration timeout) { return impl_->Healthy(timeout); }
ClientStats RewardClient::stats() const { return impl_->stats(); }

}  // namespace grpo::reward
