#include "grpo/run_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace grpo::train {
namespace {

using nlohmann::json;

std::string Escape(const std::string& s) {
  return absl::StrReplaceAll(s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

struct Series {
  std::string key, label, color;
};

// One chart of one or more series over the steps: axes, ticks, polylines.
std::string Chart(const std::string& title, const std::vector<Series>& series,
                  const std::vector<json>& metrics) {
  constexpr double kW = 440, kH = 230, kLeft = 58, kRight = 16, kTop = 34, kBottom = 28;
  std::vector<std::vector<std::pair<double, double>>> points(series.size());
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
  for (size_t s = 0; s < series.size(); ++s) {
    for (const json& m : metrics) {
      if (!m.contains(series[s].key) || !m[series[s].key].is_number() || !m.contains("step")) continue;
      const double x = m["step"].get<double>(), y = m[series[s].key].get<double>();
      if (!std::isfinite(y)) continue;
      points[s].emplace_back(x, y);
      x_min = std::min(x_min, x), x_max = std::max(x_max, x);
      y_min = std::min(y_min, y), y_max = std::max(y_max, y);
    }
  }
  if (!std::isfinite(x_min)) return "";  // the run has none of these metrics
  if (x_max == x_min) x_max = x_min + 1;
  if (y_max == y_min) y_max = y_min + 1;
  const double pad = 0.05 * (y_max - y_min);
  y_min -= pad, y_max += pad;
  auto px = [&](double x) { return kLeft + (x - x_min) / (x_max - x_min) * (kW - kLeft - kRight); };
  auto py = [&](double y) { return kH - kBottom - (y - y_min) / (y_max - y_min) * (kH - kTop - kBottom); };
  std::string svg = absl::StrFormat(
      "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">"
      "<text x=\"%.0f\" y=\"16\" class=\"t\">%s</text>"
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"ax\"/>"
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"ax\"/>",
      kW, kH, kW, kH, kLeft, Escape(title), kLeft, kTop, kLeft, kH - kBottom, kLeft, kH - kBottom, kW - kRight,
      kH - kBottom);
  for (int i = 0; i <= 4; ++i) {
    const double y = y_min + (y_max - y_min) * i / 4;
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" class=\"yl\">%.4g</text>",
                          kLeft, py(y), kW - kRight, py(y), kLeft - 4, py(y) + 4, y);
  }
  absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">%.0f</text>", px(x_min), kH - 10, x_min);
  absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" class=\"xr\">step %.0f</text>", px(x_max), kH - 10,
                        x_max);
  // The legend sits in its own row between the title and the plot.
  double legend_x = kLeft;
  for (size_t s = 0; s < series.size(); ++s) {
    if (points[s].empty()) continue;
    std::string line;
    for (const auto& [x, y] : points[s]) absl::StrAppendFormat(&line, "%.1f,%.1f ", px(x), py(y));
    absl::StrAppendFormat(&svg, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"/>", line,
                          series[s].color);
    if (points[s].size() == 1) {
      absl::StrAppendFormat(&svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", px(points[s][0].first),
                            py(points[s][0].second), series[s].color);
    }
    absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\" class=\"lg\">%s</text>", legend_x,
                          kTop - 8, series[s].color, Escape(series[s].label));
    legend_x += 10 + 7.0 * static_cast<double>(series[s].label.size());
  }
  return svg + "</svg>";
}

std::string Figure(const json& summary, const char* key, const char* format) {
  if (!summary.contains(key) || !summary[key].is_number()) return "n/a";
  return absl::StrFormat(format, summary[key].get<double>());
}

}  // namespace

std::string RenderRunReport(const std::string& title, const std::vector<json>& metrics, const json& summary) {
  const char* kBlue = "#1f77b4";
  const char* kOrange = "#ff7f0e";
  const char* kGreen = "#2ca02c";
  const char* kRed = "#d62728";
  std::string html = absl::StrCat(
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>", Escape(title),
      "</title><style>body{font-family:sans-serif;margin:24px;color:#222}h1{font-size:20px}"
      "table{border-collapse:collapse;margin:12px 0}td,th{padding:4px 12px;border-bottom:1px solid #ddd;"
      "text-align:left}.charts{display:flex;flex-wrap:wrap;gap:12px}svg{border:1px solid #eee}"
      ".t{font-size:13px;font-weight:bold}.ax{stroke:#444}.grid{stroke:#eee}.yl{font-size:10px;"
      "text-anchor:end}.xl{font-size:10px;text-anchor:start}.xr{font-size:10px;text-anchor:end}.lg{font-size:11px}</style></head><body>");
  absl::StrAppend(&html, "<h1>", Escape(title), "</h1><table>",
                  "<tr><th>held-out accuracy before GRPO</th><td>", Figure(summary, "accuracy_before", "%.3f"),
                  "</td></tr><tr><th>held-out accuracy after GRPO</th><td>",
                  Figure(summary, "accuracy_after", "%.3f"), "</td></tr><tr><th>wall time</th><td>",
                  Figure(summary, "wall_seconds", "%.1f s"), " (SFT ", Figure(summary, "sft_seconds", "%.1f s"),
                  ", GRPO ", Figure(summary, "grpo_seconds", "%.1f s"), ")</td></tr><tr><th>GRPO steps</th><td>",
                  metrics.size(), "</td></tr><tr><th>failed rewards</th><td>",
                  Figure(summary, "failed_rewards", "%.0f"), "</td></tr></table><div class=\"charts\">");
  // The mean and each component the run scored (math_accuracy or code_tests, format, ...).
  std::vector<Series> rewards = {{"reward_mean", "mean", kBlue}};
  const char* const component_colors[] = {kOrange, kGreen, kRed, "#9467bd", "#8c564b", "#e377c2"};
  if (!metrics.empty() && metrics.front().is_object()) {
    for (const auto& [key, value] : metrics.front().items()) {
      if (key.rfind("reward/", 0) != 0 || rewards.size() > std::size(component_colors)) continue;
      rewards.push_back({key, key.substr(7), component_colors[rewards.size() - 1]});
    }
  }
  const std::vector<std::pair<std::string, std::vector<Series>>> charts = {
      {"reward", rewards},
      {"accuracy", {{"accuracy", "train samples", kBlue}, {"heldout_accuracy", "held-out greedy", kRed},
                    {"heldout_pass_at_k", "held-out pass@k", kGreen}}},
      {"completion length (tokens)", {{"completion_len_mean", "mean", kBlue}, {"completion_len_max", "max", kOrange}}},
      {"entropy and KL", {{"entropy", "entropy", kBlue}, {"kl", "KL", kRed}}},
      {"clip fractions", {{"clip_frac_low", "low", kBlue}, {"clip_frac_high", "high", kOrange}}},
      {"optimization", {{"grad_norm", "grad norm", kBlue}, {"frac_reward_zero_std", "zero-std groups", kGreen}}},
      {"step time (s)", {{"time/rollout_s", "rollout", kBlue}, {"time/reward_wait_s", "reward wait", kGreen},
                         {"time/train_s", "train", kOrange}}},
      {"tokens/s", {{"rollout_tokens_per_s", "rollout", kBlue}, {"train_tokens_per_s", "train", kOrange}}},
  };
  for (const auto& [name, series] : charts) absl::StrAppend(&html, Chart(name, series, metrics));
  absl::StrAppend(&html, "</div></body></html>\n");
  return html;
}

absl::Status WriteRunReport(const std::string& run_dir, const std::string& title) {
  std::vector<json> metrics;
  {
    std::ifstream in(run_dir + "/metrics.jsonl");
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", run_dir, "/metrics.jsonl"));
    std::string line;
    while (std::getline(in, line)) {
      json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object()) metrics.push_back(std::move(j));
    }
  }
  json summary = json::object();
  {
    std::ifstream in(run_dir + "/summary.json");
    if (in) summary = json::parse(in, nullptr, /*allow_exceptions=*/false);
  }
  const std::string path = run_dir + "/report.html", tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << RenderRunReport(title, metrics, summary.is_object() ? summary : json::object());
    if (!out.flush()) return absl::DataLossError(absl::StrCat("cannot write ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::DataLossError(absl::StrCat("cannot rename ", tmp, " to ", path, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace grpo::train
