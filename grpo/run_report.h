// report.html: a self-contained page (inline SVG, no scripts, no network)
// with a run's summary and the curves of its metrics.jsonl, written at the
// end of `grpo train`.
#ifndef GRPO_GRPO_RUN_REPORT_H_
#define GRPO_GRPO_RUN_REPORT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace grpo::train {

// The page for `metrics` (one object per step, as in metrics.jsonl) and
// `summary` (summary.json's object). Metrics a run does not have are left out.
std::string RenderRunReport(const std::string& title, const std::vector<nlohmann::json>& metrics,
                            const nlohmann::json& summary);

// Reads RUN_DIR/metrics.jsonl and RUN_DIR/summary.json and writes
// RUN_DIR/report.html atomically. DataLoss/NotFound naming the file.
absl::Status WriteRunReport(const std::string& run_dir, const std::string& title);

}  // namespace grpo::train

#endif  // GRPO_GRPO_RUN_REPORT_H_
