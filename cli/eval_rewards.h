// `grpo eval-rewards`: score every line of a JSONL file of model outputs with
// a reward checker, in parallel, writing one result line per input line in
// input order, then a summary (accuracy, statuses, speed, label agreement).
#ifndef GRPO_CLI_EVAL_REWARDS_H_
#define GRPO_CLI_EVAL_REWARDS_H_

#include <cstdint>
#include <map>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "proto/config.pb.h"

namespace grpo::cli {

struct EvalSummary {
  std::string input;               // as configured ("-" is stdin)
  std::string output;              // empty: stdout
  std::string checker;             // "math", "format" or "code"
  int64_t lines = 0;               // input lines, blank and malformed ones included
  int64_t checked = 0;             // lines that reached the checker
  int64_t malformed = 0;           // lines scored "error" because the line itself was unreadable
  int64_t invalid_utf8_lines = 0;  // lines whose invalid UTF-8 became U+FFFD
  double reward_sum = 0;
  // Every status name ("ok", "no_answer", "unparseable_gold", "timeout",
  // "error") to its line count; malformed lines count as "error".
  std::map<std::string, int64_t> status_counts;
  // --checker=code: every verdict name ("pass", "fail", "timeout", ...) seen,
  // to its line count.
  std::map<std::string, int64_t> verdict_counts;
  int threads = 0;
  double seconds = 0;            // wall time of the whole run
  double checks_per_second = 0;  // checked / seconds
  // Time inside the checker per checked line.
  double latency_p50_ms = 0;
  double latency_p99_ms = 0;
  double latency_max_ms = 0;
  // Label agreement, over checked lines that carry a readable label; a
  // reward above 0.5 counts as the verdict "correct".
  std::string label_field;  // empty: no labels asked for
  int64_t labeled = 0;
  int64_t agreed = 0;

  // Mean reward over all lines (a malformed line scores 0).
  double accuracy() const { return lines > 0 ? reward_sum / static_cast<double>(lines) : 0; }
  double agreement() const {
    return labeled > 0 ? static_cast<double>(agreed) / static_cast<double>(labeled) : 0;
  }
};

// Runs config.eval_rewards() with the checker options in config.reward().
// Malformed input lines are reported to `log` as "INPUT:LINE: reason" (the
// first 100; all of them get an output line with status "error"), and the
// summary is printed there at the end; `log` may be null. `progress` draws a
// progress bar on `log`, at most 10 times a second.
// Errors (InvalidArgument, NotFound, ...) are for a bad job: unknown checker,
// no input, unreadable input, unwritable output or summary. The output file
// is written to OUTPUT.tmp and renamed into place only on success.
absl::StatusOr<EvalSummary> RunEvalRewards(const config::Config& config, std::ostream* log,
                                           bool progress = false);

// The summary as the lines printed at the end of a run.
std::string FormatSummary(const EvalSummary& summary);

// The summary as one JSON object (what --summary=FILE.json holds).
std::string SummaryJson(const EvalSummary& summary);

}  // namespace grpo::cli

#endif  // GRPO_CLI_EVAL_REWARDS_H_
