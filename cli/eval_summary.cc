// The end-of-run summary of `grpo eval-rewards`, as text and as JSON.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/eval_rewards.h"
#include "nlohmann/json.hpp"
#include "reward/reward_result.h"

namespace grpo::cli {
namespace {

using OrderedJson = nlohmann::ordered_json;
using reward::RewardStatus;

constexpr RewardStatus kAllStatuses[] = {RewardStatus::kOk, RewardStatus::kNoAnswer,
                                         RewardStatus::kUnparseableGold, RewardStatus::kTimeout,
                                         RewardStatus::kError};

std::string Name(RewardStatus status) { return std::string(reward::RewardStatusName(status)); }

}  // namespace

std::string FormatSummary(const EvalSummary& s) {
  std::string text = absl::StrFormat("eval-rewards: %d lines of %s scored by the %s checker\n",
                                     s.lines, s.input == "-" ? "<stdin>" : s.input, s.checker);
  absl::StrAppendFormat(&text, "  accuracy    %.4f (mean reward; %.2f%%)\n", s.accuracy(),
                        100 * s.accuracy());
  absl::StrAppend(&text, "  status     ");
  for (RewardStatus status : kAllStatuses) {
    const auto it = s.status_counts.find(Name(status));
    absl::StrAppend(&text, " ", Name(status), " ", it == s.status_counts.end() ? 0 : it->second);
  }
  absl::StrAppend(&text, "\n");
  if (!s.verdict_counts.empty()) {
    absl::StrAppend(&text, "  verdicts   ");
    for (const auto& [verdict, count] : s.verdict_counts) {
      absl::StrAppend(&text, " ", verdict, " ", count);
    }
    absl::StrAppend(&text, "\n");
  }
  if (s.malformed > 0) {
    absl::StrAppendFormat(&text, "  malformed   %d input lines (counted as error)\n", s.malformed);
  }
  absl::StrAppendFormat(&text, "  throughput  %.1f checks/s (%d checks on %d thread%s in %.2f s)\n",
                        s.checks_per_second, s.checked, s.threads, s.threads == 1 ? "" : "s",
                        s.seconds);
  absl::StrAppendFormat(&text, "  latency     p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
                        s.latency_p50_ms, s.latency_p99_ms, s.latency_max_ms);
  if (!s.label_field.empty()) {
    absl::StrAppendFormat(&text, "  agreement   %d of %d labeled lines (%.2f%%) with \"%s\"\n",
                          s.agreed, s.labeled, 100 * s.agreement(), s.label_field);
  }
  if (s.invalid_utf8_lines > 0) {
    absl::StrAppendFormat(&text, "  note        %d lines held invalid UTF-8, read as U+FFFD\n",
                          s.invalid_utf8_lines);
  }
  return text;
}

std::string SummaryJson(const EvalSummary& s) {
  OrderedJson json;
  json["input"] = s.input;
  json["output"] = s.output;
  json["checker"] = s.checker;
  json["lines"] = s.lines;
  json["accuracy"] = s.accuracy();
  json["reward_sum"] = s.reward_sum;
  OrderedJson statuses = OrderedJson::object();
  for (RewardStatus status : kAllStatuses) {
    const auto it = s.status_counts.find(Name(status));
    statuses[Name(status)] = it == s.status_counts.end() ? 0 : it->second;
  }
  json["status"] = std::move(statuses);
  if (!s.verdict_counts.empty()) json["verdicts"] = s.verdict_counts;
  json["checked"] = s.checked;
  json["malformed"] = s.malformed;
  json["invalid_utf8_lines"] = s.invalid_utf8_lines;
  json["threads"] = s.threads;
  json["seconds"] = s.seconds;
  json["checks_per_second"] = s.checks_per_second;
  json["latency_ms"] = {
      {"p50", s.latency_p50_ms}, {"p99", s.latency_p99_ms}, {"max", s.latency_max_ms}};
  if (!s.label_field.empty()) {
    json["label_field"] = s.label_field;
    json["labeled"] = s.labeled;
    json["agreed"] = s.agreed;
    json["agreement"] = s.agreement();
  }
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace grpo::cli
