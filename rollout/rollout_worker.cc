#include "rollout/rollout_worker.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace grpo::rollout {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Results arrive on client threads; Run waits for all of them.
class ResultSlots {
 public:
  explicit ResultSlots(size_t n) : results_(n) {}
  void Put(size_t i, reward::v1::Result r) {
    std::lock_guard<std::mutex> lock(mu_);
    results_[i] = std::move(r);
    ++done_;
    if (done_ == results_.size()) all_done_.notify_all();
  }
  std::vector<reward::v1::Result> Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    all_done_.wait(lock, [&] { return done_ == results_.size(); });
    return std::move(results_);
  }

 private:
  std::mutex mu_;
  std::condition_variable all_done_;
  std::vector<reward::v1::Result> results_;
  size_t done_ = 0;
};

}  // namespace

RolloutWorker::RolloutWorker(policy::CausalLM* policy, const policy::Tokenizer* tokenizer,
                             reward::RewardClient* client, RolloutOptions options)
    : policy_(policy), tokenizer_(tokenizer), client_(client), options_(std::move(options)) {}

absl::StatusOr<RolloutBatch> RolloutWorker::Run(const std::vector<RolloutPrompt>& prompts, uint64_t seed) {
  if (prompts.empty()) return absl::InvalidArgumentError("rollout: no prompts");
  const int64_t g = options_.sampler.n();
  const size_t n = prompts.size() * static_cast<size_t>(g);
  RolloutBatch batch;
  batch.num_prompts = static_cast<int64_t>(prompts.size());
  batch.group_size = g;
  for (const RolloutPrompt& p : prompts) batch.prompt_ids.push_back(p.ids);
  batch.texts.resize(n);

  // Each completion goes to the service the moment its last token is drawn.
  ResultSlots slots(n);
  std::vector<std::vector<int64_t>> partial(n);
  std::vector<char> finished(n, 0);  // its last token was drawn (and it was submitted)
  const std::vector<int64_t>& stops = options_.sampler.stop_token_ids();
  absl::Status submit_error;
  policy::SamplerOptions sampler = options_.sampler;
  sampler.seed(seed);
  sampler.on_token([&](int64_t c, int64_t token, bool last) {
    const auto i = static_cast<size_t>(c);
    if (std::find(stops.begin(), stops.end(), token) == stops.end()) partial[i].push_back(token);
    if (!last) return;
    finished[i] = 1;
    const std::vector<int32_t> ids(partial[i].begin(), partial[i].end());
    batch.texts[i] = tokenizer_->Decode(ids);
    reward::v1::Sample sample;
    sample.set_id(absl::StrCat(i));
    sample.set_prompt(prompts[i / static_cast<size_t>(g)].text);
    sample.set_completion(batch.texts[i]);
    *sample.mutable_reference() = prompts[i / static_cast<size_t>(g)].reference;
    for (const reward::v1::Component& comp : options_.components) *sample.add_components() = comp;
    sample.set_timeout_ms(options_.sample_timeout_ms);
    absl::Status s = client_->Submit(std::move(sample), [&slots, i](reward::v1::Result r) { slots.Put(i, std::move(r)); });
    if (!s.ok()) {
      // Not sent: answer the slot here so the wait below still ends.
      if (submit_error.ok()) submit_error = s;
      reward::v1::Result r;
      r.set_status("error");
      r.set_reason(std::string(s.message()));
      slots.Put(i, std::move(r));
    }
  });
  std::vector<std::vector<int64_t>> prompt_ids;
  for (const RolloutPrompt& p : prompts) prompt_ids.push_back(p.ids);
  const Clock::time_point start = Clock::now();
  absl::StatusOr<policy::SampleResult> sampled = policy::Sample(*policy_, prompt_ids, sampler, tokenizer_);
  batch.sample_seconds = SecondsSince(start);
  if (!sampled.ok()) {
    // Completions already submitted still answer into `slots`; wait for them
    // so no callback outlives this frame.
    for (size_t i = 0; i < n; ++i) {
      if (!finished[i]) slots.Put(i, reward::v1::Result());
    }
    slots.Wait();
    return sampled.status();
  }
  const Clock::time_point wait_start = Clock::now();
  std::vector<reward::v1::Result> results = slots.Wait();
  batch.reward_wait_seconds = SecondsSince(wait_start);
  batch.completions = std::move(sampled->completions);
  batch.rewards.resize(n);
  batch.components.resize(n);
  batch.statuses.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const reward::v1::Result& r = results[i];
    batch.statuses[i] = r.status();
    if (r.status() != "ok") {
      ++batch.failed;
      continue;
    }
    batch.rewards[i] = r.reward();
    for (const reward::v1::ComponentResult& c : r.components()) batch.components[i][c.name()] = c.value();
  }
  return batch;
}

}  // namespace grpo::rollout
