#include "grpo/trainer.h"

#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <sstream>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpo/checkpoint.h"
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

absl::Status CheckJob(const config::TrainJob& job) {
  const auto& g = job.grpo();
  if (g.steps() < 0 || g.prompts_per_step() < 1 || g.group_size() < 2 || g.max_new_tokens() < 1 ||
      g.epochs() < 1 || g.micro_batch_rows() < 0 || g.max_sampling_rounds() < 1 || job.sft().steps() < 0 ||
      !(job.reward_timeout_seconds() > 0) || g.eval_samples() < 0 || g.eval_pass_k() < 0 ||
      g.eval_pass_k() > std::max(g.eval_samples(), 1) ||
      job.sft().batch_size() < 1 || job.threads() < 1) {
    return absl::InvalidArgumentError(
        "train: need grpo.steps >= 0, prompts_per_step >= 1, group_size >= 2, max_new_tokens >= 1, epochs >= 1, "
        "micro_batch_rows >= 0, max_sampling_rounds >= 1, sft.steps >= 0, sft.batch_size >= 1, threads >= 1, "
        "reward_timeout_seconds > 0, 0 <= eval_pass_k <= eval_samples");
  }
  if (job.name().empty() || job.name().find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("train.name must be one path component, got \"", job.name(), "\""));
  }
  return absl::OkStatus();
}

PolicyLossOptions LossOptions(const config::GrpoStage& g) {
  const KlEstimator kl[] = {KlEstimator::kK1, KlEstimator::kK2, KlEstimator::kK3};
  const LossAggregation agg[] = {LossAggregation::kTokenMean, LossAggregation::kSeqMeanTokenMean,
                                 LossAggregation::kSeqMeanTokenSumNorm};
  return PolicyLossOptions()
      .eps_low(g.eps_low())
      .eps_high(g.eps_high())
      .dual_clip(g.dual_clip())
      .beta(g.beta())
      .kl_estimator(kl[g.kl_estimator()])
      .aggregation(agg[g.loss_aggregation()])
      .sum_norm(g.max_new_tokens());
}

AdvantageOptions AdvantageOptionsOf(const config::GrpoStage& g) {
  const AdvantageEstimator est[] = {AdvantageEstimator::kGrpo, AdvantageEstimator::kDrGrpo,
                                    AdvantageEstimator::kRloo};
  const StdScope scope[] = {StdScope::kGroup, StdScope::kBatch, StdScope::kNone};
  return AdvantageOptions().estimator(est[g.advantage()]).std_scope(scope[g.std_scope()]).std_eps(g.std_eps());
}

// Drops the JSONL lines of `path` whose "step" is past `steps_done` (they came
// after the checkpoint being resumed); a missing file is fine.
absl::Status KeepLinesUpToStep(const std::string& path, int64_t steps_done) {
  std::ifstream in(path);
  if (!in) return absl::OkStatus();
  std::string kept, line;
  while (std::getline(in, line)) {
    const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
        j["step"].get<int64_t>() <= steps_done) {
      kept += line + "\n";
    }
  }
  in.close();
  std::ofstream out(path, std::ios::trunc);
  out << kept;
  if (!out.flush()) return absl::DataLossError(absl::StrCat("cannot rewrite ", path));
  return absl::OkStatus();
}

// Everything one run holds.
class Run {
 public:
  Run(const config::TrainJob& job, std::ostream* log, std::function<bool()> stop_requested)
      : job_(job), log_(log), stop_requested_(std::move(stop_requested)) {}

  absl::StatusOr<TrainSummary> Go(const std::string& reward_target);

 private:
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
  std::mt19937_64 rng_;
  std::function<bool()> stop_requested_;
  int64_t failed_rewards_ = 0;
  double accounted_grpo_seconds_ = 0;  // GRPO time already added to the checkpointed state
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
      const Problem& p = train_[rng_() % train_.size()];
      prompts.push_back(policy_.PromptIds(p));
      std::vector<int64_t> c;
      for (int32_t id : policy_.tokenizer->Encode(p.solution)) c.push_back(id);
      c.push_back(policy_.eos_id);
      completions.push_back(std::move(c));
    }
    ASSIGN_OR_RETURN(SequenceBatch b, PackSequences(prompts, completions, policy_.pad_id));
    ASSIGN_OR_RETURN(policy::TokenScores scores, policy::ScoreTokens(policy_.model, b.ids, {}, b.attention_mask));
    double loss_value = 0;
    try {
      // Token-mean negative log-likelihood of the solutions.
      torch::Tensor loss = -(scores.logprobs * b.completion_mask).sum() / b.completion_mask.sum();
      loss.backward();
      loss_value = loss.item<double>();
    } catch (...) {
      return policy::StatusFromCurrentException("SFT step");
    }
    ASSIGN_OR_RETURN(StepStats stats, opt->Step());
    if (step % 100 == 0 || step + 1 == s.steps()) {
      *log_ << absl::StrFormat("sft %4d/%d  loss %.4f  lr %.2e\n", step + 1, s.steps(), loss_value,
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
  std::vector<rollout::RolloutPrompt> prompts;
  for (const Problem& p : heldout_) prompts.push_back(Prompt(p));
  policy_.model->eval();
  ASSIGN_OR_RETURN(rollout::RolloutBatch batch, worker.Run(prompts, job_.seed()));
  policy_.model->train();
  if (batch.failed > 0) {
    return absl::UnavailableError(absl::StrCat("held-out evaluation: ", batch.failed, " of ",
                                               batch.statuses.size(), " rewards failed (first status \"",
                                               *std::find_if(batch.statuses.begin(), batch.statuses.end(),
                                                             [](const std::string& s) { return s != "ok"; }),
                                               "\")"));
  }
  std::vector<double> correct;
  for (const auto& c : batch.components) correct.push_back(c.at(o.components.front().name()));
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
  int rounds = 0, dropped_groups = 0, sampled_groups = 0;
  while (static_cast<int>(prompts.size()) < g.prompts_per_step() &&
         rounds < (g.dynamic_sampling() ? g.max_sampling_rounds() : 1)) {
    std::vector<rollout::RolloutPrompt> round;
    for (int i = 0; i < g.prompts_per_step(); ++i) round.push_back(Prompt(train_[rng_() % train_.size()]));
    policy_.model->eval();
    ASSIGN_OR_RETURN(rollout::RolloutBatch batch, worker.Run(round, job_.seed() * 1000003 + step + rounds * 1000000007ULL));
    policy_.model->train();
    ++rounds;
    sample_seconds += batch.sample_seconds;
    reward_wait_seconds += batch.reward_wait_seconds;
    failed_rewards_ += batch.failed;
    if (batch.failed > 0) {
      *log_ << "warning: step " << step + 1 << ": " << batch.failed
            << " rewards did not come back ok (scored 0); is the reward server alive?\n";
    }
    for (size_t p = 0; p < round.size() && static_cast<int>(prompts.size()) < g.prompts_per_step(); ++p) {
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
  json m;
  m["step"] = step + 1;
  m["sampling_rounds"] = rounds;
  m["groups_dropped"] = dropped_groups;
  m["frac_reward_zero_std_sampled"] =
      g.dynamic_sampling() ? static_cast<double>(dropped_groups) / std::max(sampled_groups, 1) : 0.0;
  const int64_t b = static_cast<int64_t>(prompts.size()), n = b * gsize;
  // --- advantages and the update ---
  const Clock::time_point train_start = Clock::now();
  torch::Tensor rewards = torch::tensor(reward_values, torch::kDouble).reshape({b, gsize});
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
  input.advantages = advantages.reshape(-1);
  UpdateOptions uo;
  uo.loss = LossOptions(g);
  uo.epochs = g.epochs();
  uo.micro_batch_rows = g.micro_batch_rows();
  uo.mask_truncated = g.mask_truncated();
  uo.pad_id = policy_.pad_id;
  ASSIGN_OR_RETURN(UpdateStats update, UpdatePolicy(policy_.model, reference_ ? &reference_ : nullptr, optimizer, input, uo));
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
  StepStats stats;
  stats.grad_norm = update.grad_norm;
  stats.learning_rate = update.learning_rate;
  stats.skipped = update.skipped;
  const double train_seconds = SecondsSince(train_start);
  // --- metrics ---
  // Per component, mean and sample std (as reward_std) over the step's samples; a
  // sample whose reward failed counts as 0.
  std::map<std::string, double> component_sum, component_sum_sq;
  for (const auto& comps : components) {
    for (const auto& [name, value] : comps) {
      component_sum[name] += value;
      component_sum_sq[name] += value * value;
    }
  }
  const double count = static_cast<double>(n);
  for (const auto& [name, sum] : component_sum) {
    m["reward/" + name] = sum / count;
    const double var = count > 1 ? (component_sum_sq[name] - sum * sum / count) / (count - 1) : 0.0;
    m["reward_std/" + name] = std::sqrt(std::max(0.0, var));
  }
  const std::string accuracy = AccuracyComponent(job_).name();
  m["accuracy"] = component_sum.count(accuracy) ? component_sum[accuracy] / static_cast<double>(n) : 0.0;
  m["completion_len_mean"] = static_cast<double>(tokens) / static_cast<double>(n);
  m["completion_len_max"] = longest;
  m["truncated_frac"] = static_cast<double>(truncated) / static_cast<double>(n);
  m["grad_norm"] = stats.grad_norm;
  m["update_skipped"] = stats.skipped;
  m["learning_rate"] = stats.learning_rate;
  m["failed_rewards"] = std::count_if(statuses.begin(), statuses.end(), [](const std::string& st) { return st != "ok"; });
  m["time/rollout_s"] = sample_seconds;
  m["time/reward_wait_s"] = reward_wait_seconds;
  m["time/train_s"] = train_seconds;
  m["time/step_s"] = SecondsSince(start);
  m["rollout_tokens_per_s"] = static_cast<double>(tokens) / std::max(sample_seconds, 1e-9);
  m["train_tokens_per_s"] = static_cast<double>(tokens) * g.epochs() / std::max(train_seconds, 1e-9);
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
  RETURN_IF_ERROR(CheckJob(job_));
  const Clock::time_point start = Clock::now();
  torch::set_num_threads(job_.threads());
  torch::manual_seed(job_.seed());
  rng_.seed(job_.seed());
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
    std::istringstream rng_text(state.rng);
    rng_text >> rng_;
    if (rng_text.fail()) return absl::DataLossError(absl::StrCat(checkpoint, "/state.json: bad rng state"));
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
  // The logs keep exactly the lines of the steps the model has seen.
  RETURN_IF_ERROR(KeepLinesUpToStep(summary.run_dir + "/metrics.jsonl", state.step));
  RETURN_IF_ERROR(KeepLinesUpToStep(summary.run_dir + "/samples.jsonl", state.step));
  std::ofstream metrics(summary.run_dir + "/metrics.jsonl", std::ios::app);
  std::ofstream samples(summary.run_dir + "/samples.jsonl", std::ios::app);
  if (!metrics || !samples) return absl::PermissionDeniedError(absl::StrCat("cannot write in ", summary.run_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<TensorBoardWriter> tensorboard, TensorBoardWriter::Create(summary.run_dir));
  auto save = [&](int64_t steps_done) {
    std::ostringstream rng_text;
    rng_text << rng_;
    state.step = steps_done;
    state.rng = rng_text.str();
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
    metrics << m.dump() << "\n" << std::flush;
    for (const auto& [key, value] : m.items()) {
      if (key != "step" && value.is_number()) RETURN_IF_ERROR(tensorboard->AddScalar(key, value.get<double>(), step + 1));
    }
    RETURN_IF_ERROR(tensorboard->Flush());
    *log_ << absl::StrFormat("grpo %3d/%d  reward %.3f  acc %.3f  len %.1f  clip %.3f  step %.2fs%s\n", step + 1,
                             g.steps(), m["reward_mean"].get<double>(), m["accuracy"].get<double>(),
                             m["completion_len_mean"].get<double>(), m["clip_frac_high"].get<double>() +
                             m["clip_frac_low"].get<double>(), m["time/step_s"].get<double>(),
                             m.contains("heldout_accuracy")
                                 ? absl::StrFormat("  held-out %.3f", m["heldout_accuracy"].get<double>())
                                 : std::string())
          << std::flush;
    const bool stopping = stop_requested_ && stop_requested_();
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
                                         std::ostream* log, std::function<bool()> stop_requested) {
  Run run(job, log, std::move(stop_requested));
  return run.Go(reward_target);
}

}  // namespace grpo::train
