// report.html (grpo/run_report.h): a self-contained page whose charts follow
// the metrics, with the summary's figures and an escaped title.
#include "grpo/run_report.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace grpo::train {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RunReportTest, ChartsFollowTheMetricsAndTheSummaryIsShown) {
  std::vector<nlohmann::json> metrics;
  for (int step = 1; step <= 5; ++step) {
    metrics.push_back({{"step", step}, {"reward_mean", 0.1 * step}, {"accuracy", 0.2 * step},
                       {"time/rollout_s", 1.0}, {"time/train_s", 0.5}});
  }
  metrics[4]["heldout_accuracy"] = 0.9;
  const nlohmann::json summary = {{"accuracy_before", 0.56}, {"accuracy_after", 0.995}, {"wall_seconds", 450.7}};
  const std::string html = RenderRunReport("run <1> & co", metrics, summary);
  EXPECT_THAT(html, HasSubstr("<title>run &lt;1&gt; &amp; co</title>"));
  EXPECT_THAT(html, HasSubstr("<td>0.560</td>"));
  EXPECT_THAT(html, HasSubstr("<td>0.995</td>"));
  EXPECT_THAT(html, HasSubstr("450.7 s"));
  EXPECT_THAT(html, HasSubstr(">reward<"));
  EXPECT_THAT(html, HasSubstr(">held-out greedy<"));
  EXPECT_THAT(html, HasSubstr("step 5"));
  // Five points per series: the polyline has five coordinates.
  const size_t at = html.find("<polyline points=\"");
  ASSERT_NE(at, std::string::npos);
  const std::string points = html.substr(at + 18, html.find('"', at + 18) - at - 18);
  EXPECT_EQ(std::count(points.begin(), points.end(), ','), 5);
  // No chart for metrics the run does not have, and nothing external.
  EXPECT_THAT(html, Not(HasSubstr("clip fractions")));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("http")));
}

TEST(RunReportTest, RewardChartShowsTheComponentsTheRunScored) {
  std::vector<nlohmann::json> metrics;
  for (int step = 1; step <= 3; ++step) {
    metrics.push_back({{"step", step}, {"reward_mean", 0.1 * step}, {"reward/code_tests", 0.1 * step},
                       {"reward/format", 0.5}});
  }
  const std::string html = RenderRunReport("mbpp", metrics, nlohmann::json::object());
  EXPECT_THAT(html, HasSubstr(">code_tests<"));
  EXPECT_THAT(html, HasSubstr(">format<"));
  EXPECT_THAT(html, Not(HasSubstr("math_accuracy")));
}

}  // namespace
}  // namespace grpo::train
