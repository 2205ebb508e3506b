#include "grpo/run_inputs.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpo/arithmetic_task.h"
#include "grpo/prompt_dataset.h"
#include "policy/chat_template.h"
#include "policy/pretrained.h"
#include "proto/status_macros.h"

namespace grpo::train {
namespace {

// Special ids of the scratch tokenizer, in its special_tokens order.
constexpr int64_t kScratchPad = 0, kScratchBos = 1, kScratchEos = 2;

std::unique_ptr<policy::Tokenizer> ScratchTokenizer() {
  policy::CharTokenizerOptions o;
  o.special_tokens = {"<pad>", "<s>", "</s>"};
  o.alphabet = "0123456789+= <>/thinkaswer";  // digits, the operators and the R1 tags
  o.unknown_token = "";
  return policy::MakeCharTokenizer(o);
}

absl::StatusOr<policy::CausalLM> ScratchModel(const config::ScratchModel& m, int64_t vocab, uint64_t seed) {
  policy::ModelConfig c;
  c.vocab_size = vocab;
  c.hidden_size = m.hidden_size();
  c.intermediate_size = m.intermediate_size() > 0 ? m.intermediate_size() : m.hidden_size() * 8 / 3;
  c.num_hidden_layers = m.num_layers();
  c.num_attention_heads = m.num_heads();
  c.num_key_value_heads = m.num_heads();
  c.head_dim = m.num_heads() > 0 ? m.hidden_size() / m.num_heads() : 0;
  c.max_position_embeddings = m.max_positions();
  c.bos_token_id = kScratchBos;
  c.eos_token_id = kScratchEos;
  return policy::MakeCausalLM(c, seed);
}

}  // namespace

absl::StatusOr<RunProblems> LoadRunProblems(const config::TrainJob& job) {
  RunProblems out;
  if (job.has_dataset()) {
    const config::PromptDataset& d = job.dataset();
    if (d.train().empty() || d.heldout().empty()) {
      return absl::InvalidArgumentError("train.dataset needs both `train` and `heldout` JSONL paths");
    }
    ASSIGN_OR_RETURN(out.train, LoadPromptDataset(d.train(), d, d.train_skip(), d.train_problems()));
    ASSIGN_OR_RETURN(out.heldout, LoadPromptDataset(d.heldout(), d, d.heldout_skip(), d.heldout_problems()));
    return out;
  }
  const config::ArithmeticTask& t = job.arithmetic();
  const ArithmeticTaskOptions task{t.min_digits(), t.max_digits(), t.carry_drop_rate()};
  ASSIGN_OR_RETURN(out.heldout, GenerateArithmetic(task, t.heldout_problems(), job.seed() * 1000 + 1));
  std::vector<std::string> exclude;
  for (const Problem& p : out.heldout) exclude.push_back(p.prompt);
  ASSIGN_OR_RETURN(out.train, GenerateArithmetic(task, t.train_problems(), job.seed() * 1000 + 2, exclude));
  return out;
}

absl::StatusOr<RunPolicy> RunPolicy::Create(const config::TrainJob& job) {
  RunPolicy p;
  p.job_ = &job;
  if (job.model_dir().empty()) {
    p.tokenizer = ScratchTokenizer();
    ASSIGN_OR_RETURN(p.model, ScratchModel(job.scratch_model(), p.tokenizer->vocab_size(), job.seed()));
    p.stop_ids = {kScratchEos};
    p.eos_id = kScratchEos;
    p.pad_id = kScratchPad;
    p.bos_id_ = kScratchBos;
    return p;
  }
  if (!job.has_dataset()) {
    return absl::InvalidArgumentError("train.model_dir needs train.dataset (a JSONL prompt set to train on)");
  }
  ASSIGN_OR_RETURN(policy::Pretrained pre, policy::LoadPretrained(job.model_dir()));
  if (pre.stop_ids.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(job.model_dir(), ": the checkpoint names no end-of-sequence token to stop completions at"));
  }
  p.model = pre.model;
  p.tokenizer = std::move(pre.tokenizer);
  p.stop_ids = pre.stop_ids;
  p.eos_id = pre.stop_ids.front();
  p.pad_id = pre.stop_ids.front();  // any id works: pads are masked
  p.bos_id_ = pre.bos_id;
  p.add_bos_ = pre.add_bos;
  if (job.dataset().prompt_template() == config::R1_CHAT && !pre.has_chat_format) {
    return absl::InvalidArgumentError(absl::StrCat(
        job.model_dir(), ": prompt_template R1_CHAT needs ChatML tokens (<|im_start|>, <|im_end|>); "
                         "use R1_ZERO for a base model"));
  }
  return p;
}

std::vector<int64_t> RunPolicy::PromptIds(const Problem& problem) const {
  std::string text = problem.prompt;
  if (job_->has_dataset()) {
    switch (job_->dataset().prompt_template()) {
      case config::R1_CHAT:
        text = policy::FormatChatMl({{"system", policy::kR1SystemPrompt}, {"user", problem.prompt}},
                                    /*add_generation_prompt=*/true);
        break;
      case config::R1_ZERO:
        text = policy::FormatR1ZeroPrompt(problem.prompt);
        break;
      case config::RAW_PROMPT:
        break;
    }
  }
  std::vector<int64_t> ids;
  if (add_bos_ && bos_id_ >= 0) ids.push_back(bos_id_);
  for (int32_t id : tokenizer->Encode(text)) ids.push_back(id);
  return ids;
}

absl::StatusOr<policy::CausalLM> RunPolicy::NewModelLikeThis() const {
  if (job_->model_dir().empty()) return ScratchModel(job_->scratch_model(), tokenizer->vocab_size(), job_->seed());
  return policy::LoadCausalLM(job_->model_dir());
}

absl::Status CheckTrainJob(const config::TrainJob& job) {
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

PolicyLossOptions LossOptionsOf(const config::GrpoStage& g) {
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

reward::v1::Component AccuracyComponent(const config::TrainJob& job) {
  reward::v1::Component c;
  c.set_weight(1.0);
  if (job.has_dataset() && job.dataset().task() == config::CODE_TASK) {
    c.set_name("code_tests");
    (*c.mutable_params())["reward_mode"] = "BINARY";  // solved: every test passes
    return c;
  }
  c.set_name("math_accuracy");
  if (job.has_dataset()) {
    (*c.mutable_params())["gold_format"] = config::GoldFormat_Name(job.dataset().gold_format());
  }
  return c;
}

std::vector<reward::v1::Component> RewardSpec(const config::TrainJob& job) {
  std::vector<reward::v1::Component> out;
  for (const config::RewardComponentSpec& r : job.grpo().rewards()) {
    reward::v1::Component& c = out.emplace_back();
    if (r.name() == "math_accuracy") c = AccuracyComponent(job);  // with the dataset's gold format
    c.set_name(r.name());
    c.set_weight(r.weight());
    for (const auto& [key, value] : r.params()) (*c.mutable_params())[key] = value;
  }
  if (out.empty()) {  // the R1 recipe: accuracy, plus a little for the format
    out.push_back(AccuracyComponent(job));
    out.emplace_back().set_name("format");
    out.back().set_weight(0.1);
  }
  return out;
}

}  // namespace grpo::train
