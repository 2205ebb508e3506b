// The real stories260K Llama shipped in data/models/stories260K, its golden
// file, and a fixture that loads it in eval mode without gradients. Shared by
// the model tests.
#ifndef GRPO_TESTS_STORIES260K_FIXTURE_H_
#define GRPO_TESTS_STORIES260K_FIXTURE_H_

#include <torch/types.h>
#include <torch/utils.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "policy/model.h"

namespace grpo::policy::testing {

inline const std::string kModelDir = std::string(GRPO_DATA_DIR) + "/models/stories260K";

// golden.json: greedy ids from BOS and float64 reference logits.
inline nlohmann::json Golden() {
  std::ifstream in(kModelDir + "/golden.json");
  std::ostringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

// One row of ids, [1, T].
inline torch::Tensor Ids(const std::vector<int64_t>& ids) {
  return torch::tensor(ids, torch::kLong).unsqueeze(0);
}

class Stories260KTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto lm = LoadCausalLM(kModelDir);
    ASSERT_TRUE(lm.ok()) << lm.status();
    lm_ = *std::move(lm);
    lm_->eval();
  }
  CausalLM lm_{nullptr};
  torch::NoGradGuard no_grad_;
};

}  // namespace grpo::policy::testing

#endif  // GRPO_TESTS_STORIES260K_FIXTURE_H_
