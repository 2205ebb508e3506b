#include "cli/commands.h"

#include <unistd.h>

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/eval_rewards.h"
#include "proto/config_io.h"
#include "proto/status_macros.h"

namespace grpo::cli {
namespace {

constexpr char kEvalRewardsUsage[] = R"(Usage: grpo eval-rewards --input=IN.jsonl [flags]

Scores every line of a JSONL file of model outputs with a reward checker and
writes exactly one result line per input line, in input order:
  {"id": ..., "line": N, "reward": 1.0, "status": "ok", "extracted": "...", "reason": "..."}
plus "label" and "agree" with --label-field. Statuses: ok, no_answer,
unparseable_gold, timeout, error (a malformed input line is an "error" line
and is also reported on stderr as IN.jsonl:LINE: reason). A summary (accuracy,
status counts, throughput, latency, label agreement) goes to stderr.

--checker=code runs each program in the sandbox against the line's tests
(docs/code_checker.md) and adds "verdict" (pass, fail, timeout, memory_limit,
runtime_error, compile_error, output_limit, sandbox_error), "cases_passed",
"cases_total", "first_failing_case", "wall_ms", "cpu_ms" and "code_source".

Field paths are dotted; a number indexes an array: response.3,
6b_finetuning.solution. Precedence: --config < --preset < flags < --set.

Flags:
)";

constexpr char kEvalRewardsExamples[] = R"(
Presets:
  gsm8k     answer field "answer", gold after "####" (reward.math.gold_format=GSM8K)
  math500   answer field "answer", the whole field is the gold (gold_format=PLAIN)
  humaneval --checker=code on HumanEval lines: prompt, test, entry_point
            (reward.code.test_style=HUMANEVAL)
  mbpp      --checker=code on MBPP lines: test_list, test_setup_code
            (reward.code.test_style=MBPP)

Examples:
  grpo eval-rewards --preset=gsm8k --input=data/gsm8k_test.jsonl --completion-field=answer
  grpo eval-rewards --config=configs/eval_math.textproto --input=samples.jsonl \
      --output=scored.jsonl --set reward.math.percent_policy=STRICT
  grpo eval-rewards --checker=code --preset=humaneval --input=data/humaneval.jsonl \
      --completion-field=canonical_solution
  grpo eval-rewards --checker=code --preset=mbpp --input=data/mbpp.jsonl --completion-field=code
)";

void UsageError(const std::string& message) {
  std::cerr << "grpo eval-rewards: " << message << "\nRun 'grpo eval-rewards --help' for usage.\n";
}

absl::Status ApplyPreset(const std::string& preset, config::Config* config) {
  config::EvalRewardsJob* job = config->mutable_eval_rewards();
  config::MathRewardOptions* math = config->mutable_reward()->mutable_math();
  if (preset == "gsm8k") {
    job->set_answer_field("answer");
    math->set_gold_format(config::GSM8K);
  } else if (preset == "math500") {
    job->set_answer_field("answer");
    math->set_gold_format(config::PLAIN);
  } else if (preset == "humaneval" || preset == "mbpp") {
    job->set_checker("code");
    config->mutable_reward()->mutable_code()->set_test_style(preset == "humaneval" ? config::HUMANEVAL
                                                                                  : config::MBPP);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown preset \"", preset, "\"; valid presets: gsm8k, math500, humaneval, mbpp"));
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"train", "run GRPO; by default the miniature DeepSeek-R1 (configs/mini_r1.textproto)",
       &TrainCommand},
      {"report", "write a run's report.html from its metrics (grpo train does it at the end)", &ReportCommand},
      {"eval-rewards", "score a JSONL file of completions with a reward checker",
       &EvalRewardsCommand},
      {"sample", "generate completions from a checkpoint (HF directory or GGUF)", &SampleCommand},
      {"reward-server", "serve the reward components over gRPC (docs/reward_service.md)",
       &RewardServerCommand},
  };
  return commands;
}

std::vector<FlagDef> EvalRewardsFlags() {
  return {
      {"checker", "math|format|code", "the reward checker (default math)"},
      {"input", "IN.jsonl", "the completions to score; - reads stdin"},
      {"output", "OUT.jsonl", "where the result lines go (default stdout)"},
      {"completion-field", "PATH", "field holding the completion (default completion)"},
      {"answer-field", "PATH", "field holding the gold answer (default answer)"},
      {"id-field", "PATH", "field copied to \"id\" (default id; else the line number)"},
      {"label-field", "PATH", "boolean verdict field to measure agreement with"},
      {"threads", "N", "worker threads; 0 = one per core (default 0)"},
      {"summary", "FILE.json", "also write the summary as JSON"},
      {"server", "ADDR", "score through a reward server (grpo reward-server) at ADDR"},
      {"preset", "gsm8k|math500|humaneval|mbpp", "dataset defaults for the gold answer or the tests"},
      {"config", "FILE", "a text-format config (see configs/eval_math.textproto)"},
      {"set", "a.b.c=VALUE", "override any config field, applied last", /*repeatable=*/true},
      {"help", "", "show this help"},
  };
}

absl::StatusOr<config::Config> EvalRewardsConfig(const ParsedFlags& flags) {
  config::Config config;
  if (flags.Has("config")) {
    ASSIGN_OR_RETURN(config, config::LoadConfigFile(flags.Get("config")));
  }
  if (flags.Has("preset")) RETURN_IF_ERROR(ApplyPreset(flags.Get("preset"), &config));

  config::EvalRewardsJob* job = config.mutable_eval_rewards();
  if (flags.Has("checker")) job->set_checker(flags.Get("checker"));
  if (flags.Has("input")) job->set_input(flags.Get("input"));
  if (flags.Has("output")) job->set_output(flags.Get("output"));
  if (flags.Has("completion-field")) job->set_completion_field(flags.Get("completion-field"));
  if (flags.Has("answer-field")) job->set_answer_field(flags.Get("answer-field"));
  if (flags.Has("id-field")) job->set_id_field(flags.Get("id-field"));
  if (flags.Has("label-field")) job->set_label_field(flags.Get("label-field"));
  if (flags.Has("summary")) job->set_summary(flags.Get("summary"));
  if (flags.Has("server")) job->set_server(flags.Get("server"));
  if (flags.Has("threads")) {
    int threads = 0;
    if (!absl::SimpleAtoi(flags.Get("threads"), &threads) || threads < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--threads wants a whole number >= 0, got \"", flags.Get("threads"), "\""));
    }
    job->set_threads(threads);
  }
  for (const std::string& assignment : flags.GetAll("set")) {
    RETURN_IF_ERROR(config::ApplyOverride(assignment, &config));
  }
  return config;
}

int EvalRewardsCommand(const std::vector<std::string>& args) {
  const std::vector<FlagDef> defs = EvalRewardsFlags();
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, defs);
  if (!flags.ok()) {
    UsageError(std::string(flags.status().message()));
    return kExitUsage;
  }
  if (flags->GetBool("help")) {
    std::cout << kEvalRewardsUsage << FlagHelp(defs) << kEvalRewardsExamples;
    return kExitOk;
  }
  if (!flags->positional().empty()) {
    UsageError(absl::StrCat("unexpected argument \"", flags->positional().front(),
                            "\"; did you mean --input=", flags->positional().front(), "?"));
    return kExitUsage;
  }
  absl::StatusOr<config::Config> config = EvalRewardsConfig(*flags);
  if (!config.ok()) {
    UsageError(std::string(config.status().message()));
    return kExitUsage;
  }
  const std::string& output = config->eval_rewards().output();
  const bool to_terminal = (output.empty() || output == "-") && isatty(STDOUT_FILENO);
  // A bar would garble results printed on the same terminal.
  const bool progress = isatty(STDERR_FILENO) && !to_terminal;
  absl::StatusOr<EvalSummary> summary = RunEvalRewards(*config, &std::cerr, progress);
  if (!summary.ok()) {
    std::cerr << "grpo eval-rewards: " << summary.status().message() << "\n";
    return summary.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                                         : kExitFailure;
  }
  return kExitOk;
}

}  // namespace grpo::cli
