#include "cli/code_task.h"

#include <cmath>
#include <string>

namespace grpo::cli {

void AddCodeFields(const reward::CodeResult& result, nlohmann::ordered_json* line) {
  nlohmann::ordered_json& json = *line;
  // No program ran without code, or without a runnable task.
  const bool ran = result.reward.status == reward::RewardStatus::kOk ||
                   result.reward.status == reward::RewardStatus::kError;
  json["verdict"] =
      ran ? nlohmann::ordered_json(std::string(reward::CodeVerdictName(result.verdict)))
          : nlohmann::ordered_json();
  json["cases_passed"] = result.cases_passed;
  json["cases_total"] = result.cases_total;
  json["first_failing_case"] = result.first_failing_case < 0
                                   ? nlohmann::ordered_json()
                                   : nlohmann::ordered_json(result.first_failing_case);
  json["wall_ms"] = std::round(result.wall_seconds * 1e4) / 10;
  json["cpu_ms"] = std::round(result.cpu_seconds * 1e4) / 10;
  json["code_source"] = result.code_source;
}

}  // namespace grpo::cli
