#include "grpo/trainer.h"

#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpo/checkpoint.h"
#include "grpo/data_cursor.h"
#include "grpo/data_parallel.h"
#include "grpo/objective.h"
#include "grpo/problem.h"
#include "grpo/optimizer.h"
#include "grpo/pass_at_k.h"
#include "grpo/policy_update.h"
#include "grpo/run_inputs.h"
#include "grpo/run_report.h"
#include "grpo/sequence_batch.h"
#include "grpo/tensorboard_writer.h"
#include "nlohmann/json.hpp"
#include "policy/logprobs.h"
#include "policy/model.h"
#include "policy/tokenizer.h"
#include "policy/torch_status.h"
#include "proto/status_macros.h"
#include "reward/reward_client.h"
#include "rollout/rollout_worker.h"

namespace grpo::train {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Everything one run holds.
class Run {
 public:
  Run(const config::TrainJob& job, std::ostream* log, std::function<bool()> stop_requested, DataParallel* dp)
      : job_(job), log_(log), stop_requested_(std::move(stop_requested)), dp_(dp) {}

  absl::StatusOr<TrainSummary> Go(const std::string& reward_target);

 private:
  // Data-parallel ranks: rank 0 leads (writes the run's files); one process is rank 0 of 1.
  int Rank() const { return dp_ != nullptr ? dp_->rank() : 0; }
  int World() const { return dp_ != nullptr ? dp_->world_size() : 1; }
  bool Lead() const { return Rank() == 0; }

  rollout::RolloutPrompt Prompt(const Problem& p) const {
    rollout::RolloutPrompt r;
    r.ids = policy_.PromptIds(p);
    r.text = p.prompt;
    if (p.code_tests) {
      *r.reference.mutable_code() = *p.code_tests;
    } else {
      r.reference.set_math_answer(p.answer);
    }
    return r;
  }
  absl::Status Sft();
  // Per held-out completion, 1 when the accuracy component holds: n samples per problem at `temperature`.
  absl::StatusOr<std::vector<double>> HeldOutCorrect(double temperature, int n);
  absl::StatusOr<double> HeldOutAccuracy();  // greedy
  absl::StatusOr<double> HeldOutPassAtK();   // eval_samples at the rollout temperature
  absl::StatusOr<json> GrpoStep(int step, Optimizer& optimizer, std::ofstream& samples);

  const config::TrainJob& job_;
  std::ostream* log_;
  RunPolicy policy_;
  policy::CausalLM reference_{nullptr};  // frozen copy when beta > 0
  std::vector<Problem> train_, heldout_;
  std::unique_ptr<reward::RewardClient> client_;
  std::optional<DataCursor> cursor_;  // over train_
  std::function<bool()> stop_requested_;
  int64_t failed_rewards_ = 0;
  double accounted_grpo_seconds_ = 0;  // GRPO time already added to the checkpointed state
  DataParallel* dp_;                   // null: one process
};

absl::Status Run::Sft() {
  const config::SftStage& s = job_.sft();
  if (s.steps() == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> opt,
                   Optimizer::Create(policy_.model->parameters(), OptimizerOptions()
                                                              .learning_rate(s.learning_rate())
                                                              .warmup_steps(std::min(s.warmup_steps(), s.steps()))
                                                              .total_steps(s.steps())
                                                              .min_lr_ratio(s.min_lr_ratio())
                                                              .weight_decay(s.weight_decay())));
  policy_.model->train();
  for (int step = 0; step < s.steps(); ++step) {
    std::vector<std::vector<int64_t>> prompts, completions;
    for (int i = 0; i < s.batch_size(); ++i) {
      const Problem& p = train_[cursor_->Next()];
      if (i % World() != Rank()) continue;  // every rank draws the batch; each trains on its share
      prompts.push_back(policy_.PromptIds(p));
      std::vector<int64_t> c;
      for (int32_t id : policy_.tokenizer->Encode(p.solution)) c.push_back(id);
      c.push_back(policy_.eos_id);
      completions.push_back(std::move(c));
    }
    ASSIGN_OR_RETURN(SequenceBatch b, PackSequences(prompts, completions, policy_.pad_id));
    ASSIGN_OR_RETURN(policy::TokenScores scores, policy::ScoreTokens(policy_.model, b.ids, {}, b.attention_mask));
    std::vector<double> loss_value = {0};
    try {
      // Token-mean negative log-likelihood of the solutions, over the whole batch.
      std::vector<double> tokens = {b.completion_mask.sum().item<double>()};
      RETURN_IF_ERROR(SumOverRanks(dp_, &tokens));
      torch::Tensor loss = -(scores.logprobs * b.completion_mask).sum() / tokens[0];
      loss.backward();
      loss_value[0] = loss.item<double>();
    } catch (...) {
      return policy::StatusFromCurrentException("SFT step");
    }
    if (dp_ != nullptr) RETURN_IF_ERROR(dp_->AllReduceGradients(policy_.model->parameters()));
    ASSIGN_OR_RETURN(StepStats stats, opt->Step());
    if (step % 100 == 0 || step + 1 == s.steps()) {
      RETURN_IF_ERROR(SumOverRanks(dp_, &loss_value));
      *log_ << absl::StrFormat("sft %4d/%d  loss %.4f  lr %.2e\n", step + 1, s.steps(), loss_value[0],
                               stats.learning_rate)
            << std::flush;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> Run::HeldOutCorrect(double temperature, int n) {
  rollout::RolloutOptions o;
  o.sampler.temperature(temperature).n(n).max_new_tokens(job_.grpo().max_new_tokens()).stop_token_ids(policy_.stop_ids);
  o.components = {AccuracyComponent(job_)};
  rollout::RolloutWorker worker(&policy_.model, policy_.tokenizer.get(), client_.get(), o);
  std::vector<rollout::RolloutPrompt> prompts;  // this rank's problems: every World()-th
  for (size_t p = static_cast<size_t>(Rank()); p < heldout_.size(); p += static_cast<size_t>(World())) {
    prompts.push_back(Prompt(heldout_[p]));
  }
  policy_.model->eval();
  ASSIGN_OR_RETURN(rollout::RolloutBatch batch, worker.Run(prompts, job_.seed()));
  policy_.model->train();
  // [problem * n + sample] over all ranks, then the failures.
  const size_t per = static_cast<size_t>(n);
  std::vector<double> correct(heldout_.size() * per + 1, 0.0);
  for (size_t k = 0; k < batch.components.size(); ++k) {
    if (batch.statuses[k] != "ok") continue;
    const size_t problem = static_cast<size_t>(Rank()) + (k / per) * static_cast<size_t>(World());
    correct[problem * per + k % per] = batch.components[k].at(o.components.front().name());
  }
  correct.back() = static_cast<double>(batch.failed);
  RETURN_IF_ERROR(SumOverRanks(dp_, &correct));
  if (correct.back() > 0) {
    const auto first = std::find_if(batch.statuses.begin(), batch.statuses.end(),
                                    [](const std::string& s) { return s != "ok"; });
    return absl::UnavailableError(absl::StrCat("held-out evaluation: ", correct.back(), " of ",
                                               correct.size() - 1, " rewards failed",
                                               first != batch.statuses.end() ? " (first status \"" + *first + "\")" : ""));
  }
  correct.pop_back();
  return correct;
}

absl::StatusOr<double> Run::HeldOutAccuracy() {
  ASSIGN_OR_RETURN(std::vector<double> correct, HeldOutCorrect(0, 1));
  double sum = 0;
  for (double c : correct) sum += c;
  return sum / static_cast<double>(correct.size());
}

absl::StatusOr<double> Run::HeldOutPassAtK() {
  const config::GrpoStage& g = job_.grpo();
  const int n = g.eval_samples(), k = g.eval_pass_k() > 0 ? g.eval_pass_k() : n;
  ASSIGN_OR_RETURN(std::vector<double> correct, HeldOutCorrect(g.temperature(), n));
  double sum = 0;
  for (size_t p = 0; p < heldout_.size(); ++p) {
    int c = 0;
    for (int i = 0; i < n; ++i) c += correct[p * static_cast<size_t>(n) + static_cast<size_t>(i)] > 0.5;
    sum += PassAtK(n, c, k);
  }
  return sum / static_cast<double>(heldout_.size());
}

absl::StatusOr<json> Run::GrpoStep(int step, Optimizer& optimizer, std::ofstream& samples) {
  const config::GrpoStage& g = job_.grpo();
  const Clock::time_point start = Clock::now();
  // --- rollout: sample and score (with dynamic sampling, more rounds until
  // the batch has prompts_per_step groups whose rewards differ) ---
  rollout::RolloutOptions ro;
  ro.sampler.temperature(g.temperature()).n(g.group_size()).max_new_tokens(g.max_new_tokens()).stop_token_ids(policy_.stop_ids);
  ro.components = RewardSpec(job_);
  rollout::RolloutWorker worker(&policy_.model, policy_.tokenizer.get(), client_.get(), ro);
  const int64_t gsize = g.group_size();
  std::vector<rollout::RolloutPrompt> prompts;       // the groups kept, [B]
  std::vector<policy::Completion> completions;       // [B*G]
  std::vector<std::string> texts;
  std::vector<double> reward_values;
  std::vector<std::map<std::string, double>> components;
  std::vector<std::string> statuses;
  double sample_seconds = 0, reward_wait_seconds = 0;
  int rounds = 0, dropped_groups = 0, sampled_groups = 0, failed_all_rounds = 0;
  const int local_groups = g.prompts_per_step() / World();  // this rank's share of B
  const int max_rounds = g.dynamic_sampling() ? g.max_sampling_rounds() : 1;
  for (;;) {
    // Until every rank has its groups: all ranks draw each round's B prompts
    // (so the data cursor is the same everywhere) and sample their share.
    std::vector<double> wanting = {static_cast<int>(prompts.size()) < local_groups ? 1.0 : 0.0};
    RETURN_IF_ERROR(SumOverRanks(dp_, &wanting));
    if (wanting[0] == 0 || rounds >= max_rounds) break;
    std::vector<rollout::RolloutPrompt> round;
    for (int i = 0; i < g.prompts_per_step(); ++i) {
      const Problem& p = train_[cursor_->Next()];
      if (i / local_groups == Rank()) round.push_back(Prompt(p));
    }
    const uint64_t round_index = static_cast<uint64_t>(rounds++);
    if (static_cast<int>(prompts.size()) >= local_groups) continue;
    policy_.model->eval();
    ASSIGN_OR_RETURN(rollout::RolloutBatch batch,
                     worker.Run(round, job_.seed() * 1000003 + step + round_index * 1000000007ULL +
                                           static_cast<uint64_t>(Rank()) * 0x9E3779B97F4A7C15ULL));
    policy_.model->train();
    sample_seconds += batch.sample_seconds;
    reward_wait_seconds += batch.reward_wait_seconds;
    failed_all_rounds += batch.failed;
    if (batch.failed > 0) {
      *log_ << "warning: step " << step + 1 << ": " << batch.failed
            << " rewards did not come back ok (scored 0); is the reward server alive?\n";
    }
    for (size_t p = 0; p < round.size() && static_cast<int>(prompts.size()) < local_groups; ++p) {
      const auto first = static_cast<size_t>(p * gsize), last = first + static_cast<size_t>(gsize);
      ++sampled_groups;
      const auto [lo, hi] = std::minmax_element(batch.rewards.begin() + first, batch.rewards.begin() + last);
      // A last round that found no group with signal still trains on what it
      // has (zero advantages: no policy-gradient step), rather than failing.
      const bool last_chance = rounds == g.max_sampling_rounds() && prompts.empty() && p + 1 == round.size();
      if (g.dynamic_sampling() && *lo == *hi && !last_chance) {
        ++dropped_groups;
        continue;
      }
      prompts.push_back(round[p]);
      for (size_t i = first; i < last; ++i) {
        completions.push_back(std::move(batch.completions[i]));
        texts.push_back(batch.texts[i]);
        reward_values.push_back(batch.rewards[i]);
        components.push_back(batch.components[i]);
        statuses.push_back(batch.statuses[i]);
      }
    }
  }
  const int64_t b = static_cast<int64_t>(prompts.size()), n = b * gsize;  // this rank's groups and rows
  // --- advantages over the whole batch (every rank's groups), and the update ---
  const Clock::time_point train_start = Clock::now();
  int64_t offset = 0;
  ASSIGN_OR_RETURN(const torch::Tensor rewards,
                   GatherRows(dp_, torch::tensor(reward_values, torch::kDouble).reshape({b, gsize}), &offset));
  ASSIGN_OR_RETURN(torch::Tensor advantages, ComputeAdvantages(rewards, AdvantageOptionsOf(g)));
  ASSIGN_OR_RETURN(torch::Tensor signal, GroupsWithSignal(rewards));
  UpdateInput input;
  int64_t tokens = 0, longest = 0, truncated = 0;
  for (int64_t i = 0; i < n; ++i) {
    const policy::Completion& c = completions[static_cast<size_t>(i)];
    input.prompts.push_back(prompts[static_cast<size_t>(i / gsize)].ids);
    tokens += static_cast<int64_t>(c.ids.size());
    longest = std::max<int64_t>(longest, static_cast<int64_t>(c.ids.size()));
    truncated += c.finish == policy::FinishReason::kLength;
  }
  input.completions = std::move(completions);  // not read after the update
  input.advantages = advantages.narrow(0, offset, b).reshape(-1);
  UpdateOptions uo;
  uo.loss = LossOptionsOf(g);
  uo.epochs = g.epochs();
  uo.micro_batch_rows = g.micro_batch_rows();
  uo.mask_truncated = g.mask_truncated();
  uo.pad_id = policy_.pad_id;
  uo.data_parallel = dp_;
  ASSIGN_OR_RETURN(UpdateStats update, UpdatePolicy(policy_.model, reference_ ? &reference_ : nullptr, optimizer, input, uo));
  const double train_seconds = SecondsSince(train_start);
  // --- metrics, over all ranks ---
  // Per component, the sum and sum of squares (a sample whose reward failed counts as 0).
  std::vector<std::string> names;
  for (const reward::v1::Component& c : ro.components) names.push_back(c.name());
  std::vector<double> sums(2 * names.size());
  for (const auto& comps : components) {
    for (size_t k = 0; k < names.size(); ++k) {
      const auto it = comps.find(names[k]);
      if (it == comps.end()) continue;
      sums[k] += it->second;
      sums[names.size() + k] += it->second * it->second;
    }
  }
  const int64_t failed_kept =
      std::count_if(statuses.begin(), statuses.end(), [](const std::string& st) { return st != "ok"; });
  for (const double v : {static_cast<double>(tokens), static_cast<double>(truncated), static_cast<double>(failed_kept),
                         static_cast<double>(failed_all_rounds), static_cast<double>(dropped_groups),
                         static_cast<double>(sampled_groups)}) {
    sums.push_back(v);
  }
  std::vector<double> maxes = {static_cast<double>(longest), sample_seconds, reward_wait_seconds};
  RETURN_IF_ERROR(SumOverRanks(dp_, &sums));
  RETURN_IF_ERROR(MaxOverRanks(dp_, &maxes));
  const size_t at = 2 * names.size();
  const double all_tokens = sums[at], all_truncated = sums[at + 1], all_dropped = sums[at + 4],
               all_sampled = sums[at + 5];
  failed_rewards_ += static_cast<int64_t>(sums[at + 3]);
  json m;
  m["step"] = step + 1;
  m["sampling_rounds"] = rounds;
  m["groups_dropped"] = static_cast<int64_t>(all_dropped);
  m["frac_reward_zero_std_sampled"] = g.dynamic_sampling() ? all_dropped / std::max(all_sampled, 1.0) : 0.0;
  m["loss"] = update.loss;
  m["entropy"] = update.entropy;
  m["clip_frac_low"] = update.clip_frac_low;
  m["clip_frac_high"] = update.clip_frac_high;
  if (g.beta() > 0) m["kl"] = update.kl;
  // Sampler against teacher-forced log-probs of the same tokens (should be ~1e-6).
  m["logprob_mismatch_max"] = update.logprob_mismatch_max;
  m["tokens_trained"] = update.tokens_trained;
  m["reward_mean"] = rewards.mean().item<double>();
  m["reward_std"] = rewards.std().item<double>();
  m["frac_reward_zero_std"] = 1.0 - signal.to(torch::kDouble).mean().item<double>();
  // Each component's mean and sample std (as reward_std).
  const double count = static_cast<double>(rewards.numel());
  for (size_t k = 0; k < names.size(); ++k) {
    const double sum = sums[k], var = count > 1 ? (sums[names.size() + k] - sum * sum / count) / (count - 1) : 0.0;
    m["reward/" + names[k]] = sum / count;
    m["reward_std/" + names[k]] = std::sqrt(std::max(0.0, var));
  }
  const std::string accuracy = "reward/" + AccuracyComponent(job_).name();
  m["accuracy"] = m.contains(accuracy) ? m[accuracy].get<double>() : 0.0;
  m["completion_len_mean"] = all_tokens / count;
  m["completion_len_max"] = static_cast<int64_t>(maxes[0]);
  m["truncated_frac"] = all_truncated / count;
  m["grad_norm"] = update.grad_norm;
  m["update_skipped"] = update.skipped;
  m["learning_rate"] = update.learning_rate;
  m["failed_rewards"] = static_cast<int64_t>(sums[at + 2]);
  // Time: the slowest rank's (the step waits for it).
  m["time/rollout_s"] = maxes[1];
  m["time/reward_wait_s"] = maxes[2];
  m["time/train_s"] = train_seconds;
  m["time/step_s"] = SecondsSince(start);
  m["rollout_tokens_per_s"] = all_tokens / std::max(maxes[1], 1e-9);
  m["train_tokens_per_s"] = all_tokens * g.epochs() / std::max(train_seconds, 1e-9);
  if (!Lead()) return m;
  // The first group's completions, for reading what the policy writes.
  for (int64_t i = 0; i < std::min<int64_t>(gsize, 4); ++i) {
    samples << json{{"step", step + 1},
                    {"prompt", prompts[0].text},
                    {"completion", texts[static_cast<size_t>(i)]},
                    {"reward", reward_values[static_cast<size_t>(i)]},
                    {"status", statuses[static_cast<size_t>(i)]}}
                   .dump()
            << "\n";
  }
  samples.flush();
  return m;
}

absl::StatusOr<TrainSummary> Run::Go(const std::string& reward_target) {
  RETURN_IF_ERROR(CheckTrainJob(job_));
  if (job_.grpo().prompts_per_step() % World() != 0 || job_.sft().batch_size() < World()) {
    return absl::InvalidArgumentError(absl::StrCat("train: with ", World(), " data-parallel ranks, grpo.prompts_per_step (",
                                                   job_.grpo().prompts_per_step(), ") must be a multiple of ", World(),
                                                   " and sft.batch_size (", job_.sft().batch_size(), ") at least ",
                                                   World()));
  }
  const Clock::time_point start = Clock::now();
  torch::set_num_threads(job_.threads());
  torch::manual_seed(job_.seed());
  TrainSummary summary;
  summary.run_dir = (std::filesystem::path(job_.output_dir()) / job_.name()).string();
  std::error_code ec;
  std::filesystem::create_directories(summary.run_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", summary.run_dir, ": ", ec.message()));

  // The reward service must be up, and know every component the spec names.
  reward::ClientOptions co;
  co.target = reward_target;
  co.per_sample_timeout = absl::Seconds(job_.reward_timeout_seconds());
  ASSIGN_OR_RETURN(client_, reward::RewardClient::Create(co));
  absl::StatusOr<bool> healthy = client_->Healthy(absl::Seconds(10));
  if (!healthy.ok() || !*healthy) {
    return absl::UnavailableError(absl::StrCat("the reward service at ", reward_target, " is not serving",
                                               healthy.ok() ? "" : ": " + std::string(healthy.status().message())));
  }
  ASSIGN_OR_RETURN(reward::v1::ListRewardsResponse served, client_->ListRewards());
  for (const reward::v1::Component& c : RewardSpec(job_)) {
    const bool known = std::any_of(served.components().begin(), served.components().end(),
                                   [&](const reward::v1::ComponentInfo& i) { return i.name() == c.name(); });
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("train.grpo.rewards: the reward service has no component \"", c.name(), "\""));
    }
  }

  // Problems and policy.
  ASSIGN_OR_RETURN(RunProblems problems, LoadRunProblems(job_));
  train_ = std::move(problems.train);
  heldout_ = std::move(problems.heldout);
  cursor_.emplace(train_.size(), job_.seed());
  if (train_.empty()) return absl::InvalidArgumentError("train: no training problems");
  if (heldout_.size() < static_cast<size_t>(World())) {
    return absl::InvalidArgumentError(
        absl::StrCat("train: ", heldout_.size(), " held-out problems for ", World(), " ranks; need one per rank"));
  }
  ASSIGN_OR_RETURN(policy_, RunPolicy::Create(job_));
  int64_t params = 0;
  for (const torch::Tensor& p : policy_.model->parameters()) params += p.numel();
  int wrong = 0;
  for (const Problem& p : train_) wrong += !p.solution_correct;
  *log_ << absl::StrFormat("policy: %d parameters; %d training problems (%.1f%% of worked solutions wrong), %d held out\n",
                           params, train_.size(), 100.0 * wrong / static_cast<double>(train_.size()),
                           heldout_.size());
  if (job_.sft().steps() > 0 && std::any_of(train_.begin(), train_.end(),
                                            [](const Problem& p) { return p.solution.empty(); })) {
    return absl::InvalidArgumentError(
        "train.sft.steps > 0 needs worked solutions, which this prompt set does not have; set train.sft.steps=0");
  }

  // Resume from the newest checkpoint, or cold-start with SFT.
  const config::GrpoStage& g = job_.grpo();
  TrainerState state;
  std::string checkpoint;
  if (job_.resume()) {
    absl::StatusOr<std::string> latest = LatestCheckpoint(summary.run_dir);
    if (latest.ok()) {
      checkpoint = *latest;
    } else {
      *log_ << "no checkpoint to resume from in " << summary.run_dir << "; starting fresh\n";
    }
  }
  if (!checkpoint.empty()) {
    ASSIGN_OR_RETURN(state, ReadTrainerState(checkpoint));
    ASSIGN_OR_RETURN(policy_.model, policy::LoadCausalLM(checkpoint + "/model"));
    if (g.beta() > 0) {
      ASSIGN_OR_RETURN(reference_, policy::LoadCausalLM(checkpoint + "/reference"));
    }
    if (absl::Status s = cursor_->Seek(state.data_epoch, state.data_position); !s.ok()) {
      return absl::DataLossError(absl::StrCat(checkpoint, "/state.json: ", s.message()));
    }
    *log_ << "resumed from " << checkpoint << " at GRPO step " << state.step << "\n";
  } else {
    const Clock::time_point sft_start = Clock::now();
    RETURN_IF_ERROR(Sft());
    state.sft_seconds = SecondsSince(sft_start);
    ASSIGN_OR_RETURN(state.accuracy_before, HeldOutAccuracy());
    *log_ << absl::StrFormat("after SFT (%.0f s): held-out greedy accuracy %.3f\n", state.sft_seconds,
                             state.accuracy_before);
    if (g.beta() > 0) {
      ASSIGN_OR_RETURN(reference_, policy_.NewModelLikeThis());
      torch::NoGradGuard no_grad;
      const auto src = policy_.model->parameters();
      auto dst = reference_->parameters();
      for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
    }
  }
  if (reference_) reference_->eval();
  if (dp_ != nullptr) {  // the same start on every rank, whatever each one loaded
    RETURN_IF_ERROR(dp_->BroadcastParameters(policy_.model->parameters()));
    if (reference_) RETURN_IF_ERROR(dp_->BroadcastParameters(reference_->parameters()));
  }
  summary.accuracy_before = state.accuracy_before;
  summary.sft_seconds = state.sft_seconds;
  failed_rewards_ = state.failed_rewards;

  // GRPO.
  const Clock::time_point grpo_start = Clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> opt,
                   Optimizer::Create(policy_.model->parameters(), OptimizerOptions()
                                                              .learning_rate(g.learning_rate())
                                                              .warmup_steps(std::min(g.warmup_steps(), g.steps()))
                                                              .max_grad_norm(g.max_grad_norm())));
  if (!checkpoint.empty()) RETURN_IF_ERROR(opt->Load(checkpoint + "/optimizer.pt"));
  // Rank 0 writes the run's files. The logs keep exactly the lines of the steps the model has seen.
  std::ofstream metrics, samples;
  std::unique_ptr<TensorBoardWriter> tensorboard;
  if (Lead()) {
    RETURN_IF_ERROR(KeepLinesUpToStep(summary.run_dir + "/metrics.jsonl", state.step));
    RETURN_IF_ERROR(KeepLinesUpToStep(summary.run_dir + "/samples.jsonl", state.step));
    metrics.open(summary.run_dir + "/metrics.jsonl", std::ios::app);
    samples.open(summary.run_dir + "/samples.jsonl", std::ios::app);
    if (!metrics || !samples) return absl::PermissionDeniedError(absl::StrCat("cannot write in ", summary.run_dir));
    ASSIGN_OR_RETURN(tensorboard, TensorBoardWriter::Create(summary.run_dir));
  }
  auto save = [&](int64_t steps_done) {
    if (!Lead()) return absl::OkStatus();
    state.step = steps_done;
    state.data_epoch = cursor_->epoch();
    state.data_position = cursor_->position();
    state.failed_rewards = failed_rewards_;
    state.grpo_seconds += SecondsSince(grpo_start) - accounted_grpo_seconds_;
    accounted_grpo_seconds_ = SecondsSince(grpo_start);
    return WriteCheckpoint(summary.run_dir, policy_.model, reference_ ? &reference_ : nullptr, *opt, state,
                           job_.keep_checkpoints());
  };
  for (int step = static_cast<int>(state.step); step < g.steps(); ++step) {
    ASSIGN_OR_RETURN(json m, GrpoStep(step, *opt, samples));
    if (g.eval_every() > 0 && (step + 1) % g.eval_every() == 0 && step + 1 < g.steps()) {
      ASSIGN_OR_RETURN(double acc, HeldOutAccuracy());
      m["heldout_accuracy"] = acc;
      if (g.eval_samples() > 0) {
        ASSIGN_OR_RETURN(double pass, HeldOutPassAtK());
        m["heldout_pass_at_k"] = pass;
      }
    }
    if (Lead()) {
      metrics << m.dump() << "\n" << std::flush;
      for (const auto& [key, value] : m.items()) {
        if (key != "step" && value.is_number()) RETURN_IF_ERROR(tensorboard->AddScalar(key, value.get<double>(), step + 1));
      }
      RETURN_IF_ERROR(tensorboard->Flush());
    }
    *log_ << absl::StrFormat("grpo %3d/%d  reward %.3f  acc %.3f  len %.1f  clip %.3f  step %.2fs%s\n", step + 1,
                             g.steps(), m["reward_mean"].get<double>(), m["accuracy"].get<double>(),
                             m["completion_len_mean"].get<double>(), m["clip_frac_high"].get<double>() +
                             m["clip_frac_low"].get<double>(), m["time/step_s"].get<double>(),
                             m.contains("heldout_accuracy")
                                 ? absl::StrFormat("  held-out %.3f", m["heldout_accuracy"].get<double>())
                                 : std::string())
          << std::flush;
    std::vector<double> stop = {stop_requested_ && stop_requested_() ? 1.0 : 0.0};
    RETURN_IF_ERROR(MaxOverRanks(dp_, &stop));  // any rank asked: all stop at this step
    const bool stopping = stop[0] > 0;
    if (stopping || step + 1 == g.steps() ||
        (job_.checkpoint_every() > 0 && (step + 1) % job_.checkpoint_every() == 0)) {
      RETURN_IF_ERROR(save(step + 1));
    }
    if (stopping && step + 1 < g.steps()) {
      *log_ << "stopped at GRPO step " << step + 1 << "; continue with --resume\n";
      summary.interrupted = true;
      summary.accuracy_after = std::nan("");
      summary.grpo_seconds = state.grpo_seconds;
      summary.wall_seconds = SecondsSince(start);
      return summary;
    }
  }
  summary.grpo_seconds = state.grpo_seconds;
  ASSIGN_OR_RETURN(summary.accuracy_after, HeldOutAccuracy());
  if (g.eval_samples() > 0) {
    ASSIGN_OR_RETURN(summary.pass_at_k_after, HeldOutPassAtK());
  }
  summary.failed_rewards = failed_rewards_;
  summary.wall_seconds = SecondsSince(start);
  if (dp_ != nullptr) {
    ASSIGN_OR_RETURN(const double checksum, CheckInSync(dp_, policy_.model->parameters()));
    *log_ << absl::StrFormat("%d ranks in sync (parameter checksum %.17g)\n", World(), checksum);
  }
  if (!Lead()) return summary;
  RETURN_IF_ERROR(policy::SaveCausalLM(policy_.model, summary.run_dir + "/model"));
  json s{{"accuracy_before", summary.accuracy_before}, {"accuracy_after", summary.accuracy_after},
               {"sft_seconds", summary.sft_seconds},         {"grpo_seconds", summary.grpo_seconds},
               {"wall_seconds", summary.wall_seconds},       {"failed_rewards", summary.failed_rewards},
               {"seed", job_.seed()},                        {"grpo_steps", g.steps()}};
  if (g.eval_samples() > 0) {
    s["pass_at_k_after"] = summary.pass_at_k_after;
    s["pass_k"] = g.eval_pass_k() > 0 ? g.eval_pass_k() : g.eval_samples();
  }
  std::ofstream out(summary.run_dir + "/summary.json", std::ios::trunc);
  out << s.dump(2) << "\n";
  if (!out.flush()) return absl::DataLossError(absl::StrCat("cannot write ", summary.run_dir, "/summary.json"));
  out.close();
  RETURN_IF_ERROR(WriteRunReport(summary.run_dir, absl::StrCat("grpo train: ", job_.name(), " (seed ", job_.seed(), ")")));
  return summary;
}

}  // namespace

absl::StatusOr<TrainSummary> RunTraining(const config::TrainJob& job, const std::string& reward_target,
                                         std::ostream* log, std::function<bool()> stop_requested,
                                         DataParallel* data_parallel) {
  Run run(job, log, std::move(stop_requested), data_parallel);
  return run.Go(reward_target);
}

}  // namespace grpo::train
