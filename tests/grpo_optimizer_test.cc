// The trainer's optimizer step (grpo/optimizer.h): the learning-rate schedule
// by hand-computed values, AdamW against a plain-loop AdamW, clipping,
// non-finite gradients, and a checkpoint round trip that resumes bit for bit.
#include "grpo/optimizer.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace grpo::train {
namespace {

using ::testing::HasSubstr;

TEST(ScheduleTest, WarmupThenCosineToTheFloor) {
  const OptimizerOptions o =
      OptimizerOptions().learning_rate(1e-3).warmup_steps(4).total_steps(14).min_lr_ratio(0.1);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(o, 0), 0.25e-3);  // (0+1)/4
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(o, 3), 1e-3);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(o, 4), 1e-3);    // cosine starts at the peak
  // Halfway through the 10 decay steps: r + (1 - r) / 2 = 0.55.
  EXPECT_NEAR(ScheduledLearningRate(o, 9), 0.55e-3, 1e-15);
  EXPECT_NEAR(ScheduledLearningRate(o, 14), 0.1e-3, 1e-15);
  EXPECT_NEAR(ScheduledLearningRate(o, 100), 0.1e-3, 1e-15);  // stays at the floor
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(OptimizerOptions().learning_rate(2e-5), 1000), 2e-5);
}

TEST(OptimizerTest, AdamWMatchesThePlainLoopWithDecayAndClipping) {
  const OptimizerOptions o = OptimizerOptions()
                                 .learning_rate(0.01)
                                 .beta1(0.9)
                                 .beta2(0.99)
                                 .eps(1e-8)
                                 .weight_decay(0.1)
                                 .warmup_steps(2)
                                 .total_steps(6)
                                 .max_grad_norm(0.5);
  torch::Tensor p = torch::tensor({1.0, -2.0, 0.5}, torch::kDouble).requires_grad_(true);
  auto opt = Optimizer::Create({p}, o);
  ASSERT_TRUE(opt.ok()) << opt.status();
  std::vector<double> want = {1.0, -2.0, 0.5}, m(3, 0.0), v(3, 0.0);
  const std::vector<std::vector<double>> grads = {{3, 4, 0}, {0.1, -0.2, 0.05}, {-1, 0, 2}, {0.3, 0.3, -0.3}};
  for (size_t step = 0; step < grads.size(); ++step) {
    p.mutable_grad() = torch::tensor(grads[step], torch::kDouble);
    auto stats = (*opt)->Step();
    ASSERT_TRUE(stats.ok()) << stats.status();
    // The plain loop: clip by the global norm, then AdamW with decoupled decay.
    double norm = 0;
    for (double g : grads[step]) norm += g * g;
    norm = std::sqrt(norm);
    EXPECT_NEAR(stats->grad_norm, norm, 1e-12);
    const double coef = std::min(1.0, 0.5 / (norm + 1e-6));
    const double lr = ScheduledLearningRate(o, static_cast<int64_t>(step));
    EXPECT_DOUBLE_EQ(stats->learning_rate, lr);
    const double t = static_cast<double>(step + 1);
    for (size_t i = 0; i < 3; ++i) {
      const double g = grads[step][i] * coef;
      want[i] *= 1 - lr * 0.1;
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.99 * v[i] + 0.01 * g * g;
      const double m_hat = m[i] / (1 - std::pow(0.9, t)), v_hat = v[i] / (1 - std::pow(0.99, t));
      want[i] -= lr * m_hat / (std::sqrt(v_hat) + 1e-8);
    }
    for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(p[static_cast<int64_t>(i)].item<double>(), want[i], 1e-12);
    EXPECT_FALSE(p.grad().defined() && p.grad().abs().sum().item<double>() != 0) << "grads not zeroed";
  }
  EXPECT_EQ((*opt)->steps_done(), 4);
}

TEST(OptimizerTest, NonFiniteGradientMakesNoUpdate) {
  torch::Tensor p = torch::ones({2}).requires_grad_(true);
  auto opt = Optimizer::Create({p}, OptimizerOptions().learning_rate(0.1));
  ASSERT_TRUE(opt.ok());
  p.mutable_grad() = torch::tensor({1.0f, std::nanf("")});
  auto stats = (*opt)->Step();
  ASSERT_TRUE(stats.ok());
  EXPECT_TRUE(stats->skipped);
  EXPECT_TRUE(torch::equal(p, torch::ones({2})));
  EXPECT_EQ((*opt)->steps_done(), 1);
}

TEST(OptimizerTest, CheckpointResumesBitForBit) {
  const std::string dir = ::testing::TempDir() + "/grpo_opt_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const OptimizerOptions o = OptimizerOptions().learning_rate(0.05).warmup_steps(1).total_steps(8);
  torch::manual_seed(3);
  const torch::Tensor start = torch::randn({4, 3});
  auto grad_at = [](int step) { return torch::sin(torch::arange(12, torch::kFloat).reshape({4, 3}) * (step + 1)); };
  // Run A: 5 steps straight. Run B: 2 steps, save, fresh optimizer, load, 3 more.
  torch::Tensor a = start.clone().requires_grad_(true);
  auto opt_a = *Optimizer::Create({a}, o);
  for (int s = 0; s < 5; ++s) {
    a.mutable_grad() = grad_at(s);
    ASSERT_TRUE(opt_a->Step().ok());
  }
  torch::Tensor b = start.clone().requires_grad_(true);
  auto opt_b = *Optimizer::Create({b}, o);
  for (int s = 0; s < 2; ++s) {
    b.mutable_grad() = grad_at(s);
    ASSERT_TRUE(opt_b->Step().ok());
  }
  const std::string path = dir + "/optimizer.pt";
  ASSERT_TRUE(opt_b->Save(path).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  torch::Tensor b2 = b.detach().clone().requires_grad_(true);
  auto opt_b2 = *Optimizer::Create({b2}, o);
  ASSERT_TRUE(opt_b2->Load(path).ok());
  EXPECT_EQ(opt_b2->steps_done(), 2);
  for (int s = 2; s < 5; ++s) {
    b2.mutable_grad() = grad_at(s);
    ASSERT_TRUE(opt_b2->Step().ok());
  }
  EXPECT_TRUE(torch::equal(a, b2));
  // A damaged file is an error naming it, and the optimizer is left usable.
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  absl::Status damaged = opt_b2->Load(path);
  EXPECT_EQ(damaged.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(damaged.message(), HasSubstr(path));
  EXPECT_EQ(opt_b2->Load(dir + "/missing.pt").code(), absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(OptimizerTest, BadOptionsAreInvalidArgument) {
  torch::Tensor p = torch::ones({1}).requires_grad_(true);
  EXPECT_THAT(Optimizer::Create({p}, OptimizerOptions().beta2(1.0)).status().message(), HasSubstr("betas"));
  EXPECT_THAT(Optimizer::Create({p}, OptimizerOptions().warmup_steps(10).total_steps(5)).status().message(),
              HasSubstr("warmup_steps"));
  EXPECT_THAT(Optimizer::Create({}, OptimizerOptions()).status().message(), HasSubstr("no parameters"));
}

}  // namespace
}  // namespace grpo::train
