// RoPE tables and config.json rope_scaling: every type checked against
// Hugging Face transformers (tests/data/rope_golden.json, made by
// tests/data/make_rope_golden.py), the parsing errors, and the tables inside
// a model (cached decoding against a full pass).
#include "policy/rope.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "policy/model.h"
#include "policy/model_config.h"

namespace grpo::policy {
namespace {

using ::testing::HasSubstr;

nlohmann::json Golden() {
  std::ifstream in(std::string(GRPO_TEST_DATA_DIR) + "/rope_golden.json");
  std::ostringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

TEST(RopeGoldenTest, EveryTypeMatchesHuggingFace) {
  torch::set_num_threads(1);
  const nlohmann::json golden = Golden();
  ASSERT_GE(golden["cases"].size(), 8u);
  for (const auto& tc : golden["cases"]) {
    const std::string name = tc["name"];
    SCOPED_TRACE(name);
    auto config = ParseModelConfig(tc["config"].dump(), name + "/config.json");
    ASSERT_TRUE(config.ok()) << config.status();
    const RopeParams p = RopeParamsFromConfig(*config);
    const int64_t seq_len = tc["seq_len"];

    // inv_freq: HF computes it in fp32, we in float64; 1e-6 relative.
    const std::vector<double> want = tc["inv_freq"];
    const RopeFrequencies f = RopeInvFreq(p, seq_len);
    ASSERT_EQ(f.inv_freq.numel(), static_cast<int64_t>(want.size()));
    const double* got = f.inv_freq.data_ptr<double>();
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 1e-6 * want[i]) << "inv_freq[" << i << "]";
    }
    EXPECT_NEAR(f.attention_factor, tc["attention_factor"].get<double>(), 1e-9);

    // The tables at HF's positions, against HF's rotary module (fp32). HF's
    // own rounding grows with the angle: 1e-6 plus 2e-7 of the angle.
    const auto [cos, sin] = RopeTables(p, 0, seq_len);
    ASSERT_EQ(cos.sizes(), (std::vector<int64_t>{seq_len, config->head_dim}));
    const int64_t half = config->head_dim / 2;
    EXPECT_TRUE(torch::equal(cos.narrow(1, 0, half), cos.narrow(1, half, half)));
    const std::vector<int64_t> positions = tc["positions"];
    for (size_t r = 0; r < positions.size(); ++r) {
      const int64_t pos = positions[r];
      for (int64_t j = 0; j < half; ++j) {
        const double angle = static_cast<double>(pos) * want[j];
        const double tol = 1e-6 + 2e-7 * angle * f.attention_factor;
        EXPECT_NEAR(cos[pos][j].item<float>(), tc["cos"][r][j].get<double>(), tol) << pos << "," << j;
        EXPECT_NEAR(sin[pos][j].item<float>(), tc["sin"][r][j].get<double>(), tol) << pos << "," << j;
      }
    }
  }
}

TEST(RopeTest, DefaultPathIsTheFloat64FormulaBitForBit) {
  RopeParams p;
  p.head_dim = 8;
  p.theta = 10000.0;
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor inv = at::pow(10000.0, -at::arange(0, 8, 2, f64) / 8.0);
  const at::Tensor freqs = at::outer(at::arange(40, f64), inv);
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  const auto [cos, sin] = RopeTables(p, 0, 40);
  EXPECT_TRUE(torch::equal(cos, emb.cos().to(at::kFloat)));
  EXPECT_TRUE(torch::equal(sin, emb.sin().to(at::kFloat)));
  // A window of positions is the same rows of the full table.
  const auto [wcos, wsin] = RopeTables(p, 25, 15);
  EXPECT_TRUE(torch::equal(wcos, cos.narrow(0, 25, 15)));
  EXPECT_TRUE(torch::equal(wsin, sin.narrow(0, 25, 15)));
}

TEST(RopeTest, DynamicNtkDependsOnTheTotalLengthOnlyBeyondTheMaximum) {
  RopeParams p;
  p.head_dim = 16;
  p.max_position_embeddings = 64;
  p.scaling.rope_type = "dynamic";
  p.scaling.factor = 2.0;
  RopeParams plain = p;
  plain.scaling = RopeScaling();
  // Within the maximum: the plain tables.
  EXPECT_TRUE(torch::equal(RopeTables(p, 10, 54).first, RopeTables(plain, 10, 54).first));
  // Beyond it the base grows with start + count, so the same position differs.
  const at::Tensor at100 = RopeTables(p, 0, 100).first[50];
  const at::Tensor at200 = RopeTables(p, 150, 50).first[0];  // position 150, L = 200
  EXPECT_FALSE(torch::equal(at100, RopeTables(plain, 0, 100).first[50]));
  EXPECT_FALSE(torch::equal(at100, RopeTables(p, 0, 200).first[50]));
  EXPECT_TRUE(torch::equal(at200, RopeTables(p, 0, 200).first[150]));
  // Position 0 is unrotated whatever the base.
  EXPECT_TRUE(torch::equal(RopeTables(p, 0, 300).first[0], at::ones({16})));
}

// --- config.json ---

const char* kBase = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "vocab_size": 32, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256 EXTRA})";

absl::StatusOr<ModelConfig> Parse(const std::string& extra) {
  std::string text = kBase;
  text.replace(text.find("EXTRA"), 5, extra);
  return ParseModelConfig(text, "dir/config.json");
}

void ExpectError(const std::string& extra, const std::string& needle) {
  auto c = Parse(extra);
  ASSERT_FALSE(c.ok()) << extra;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("dir/config.json"));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(needle)) << extra;
}

TEST(RopeConfigTest, ParsesEachTypeAndTheOldTypeKey) {
  auto c = Parse(R"(, "rope_scaling": null)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.rope_type, "default");
  c = Parse(R"(, "rope_scaling": {"type": "linear", "factor": 2.5})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.rope_type, "linear");
  EXPECT_EQ(c->rope_scaling.factor, 2.5);
  c = Parse(R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1,
               "high_freq_factor": 4, "original_max_position_embeddings": 128})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 128);
  c = Parse(R"(, "rope_scaling": {"rope_type": "yarn", "factor": 4, "beta_fast": 16, "mscale": 0.5,
               "mscale_all_dim": 1, "truncate": false})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.beta_fast, 16);
  EXPECT_EQ(c->rope_scaling.beta_slow, 1);  // HF's default
  EXPECT_FALSE(c->rope_scaling.truncate);
  // yarn without a factor: max_position_embeddings / original (HF).
  c = Parse(R"(, "rope_scaling": {"rope_type": "yarn", "original_max_position_embeddings": 64})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.factor, 4.0);
  // transformers 5 writes "rope_parameters", with rope_theta inside.
  c = Parse(R"(, "rope_parameters": {"rope_type": "linear", "factor": 2, "rope_theta": 500000.0})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.rope_type, "linear");
  EXPECT_EQ(c->rope_theta, 500000.0);
  c = Parse(R"(, "rope_parameters": {"rope_theta": 20000.0})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.rope_type, "default");
  EXPECT_EQ(c->rope_theta, 20000.0);
  c = Parse(R"(, "partial_rotary_factor": 1.0, "torch_dtype": "bfloat16")");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->torch_dtype, "bfloat16");
}

TEST(RopeConfigTest, ErrorsNameTheFileAndTheProblem) {
  ExpectError(R"(, "rope_scaling": {"rope_type": "longrope", "factor": 2})", "unsupported 'rope_scaling' type 'longrope'");
  ExpectError(R"(, "rope_scaling": {"factor": 2})", "no 'rope_type'");
  ExpectError(R"(, "rope_scaling": {"type": "linear"})", "needs 'factor'");
  ExpectError(R"(, "rope_scaling": {"type": "linear", "factor": 0.5})", "must be >= 1");
  ExpectError(R"(, "rope_scaling": {"type": "linear", "rope_type": "dynamic", "factor": 2})", "different");
  ExpectError(R"(, "rope_scaling": {"type": "linear", "factor": 2, "low_freq_factor": 1})",
              "key 'low_freq_factor' is not used by rope type 'linear'");
  ExpectError(R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1,
               "high_freq_factor": 4})", "needs 'original_max_position_embeddings'");
  ExpectError(R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 4,
               "high_freq_factor": 1, "original_max_position_embeddings": 64})", "low_freq_factor < high_freq_factor");
  ExpectError(R"(, "rope_scaling": {"rope_type": "yarn", "factor": "4"})", "'factor' is not a number");
  ExpectError(R"(, "rope_scaling": [1])", "not an object");
  ExpectError(R"(, "partial_rotary_factor": 0.5)", "'partial_rotary_factor' 0.5 is not supported");
  ExpectError(R"(, "torch_dtype": "int8")", "'torch_dtype' \"int8\"");
}

TEST(RopeConfigTest, JsonRoundTripKeepsRopeScaling) {
  for (const std::string& extra :
       {std::string(R"(, "rope_scaling": {"type": "dynamic", "factor": 3})"),
        std::string(R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1,
               "high_freq_factor": 4, "original_max_position_embeddings": 128})"),
        std::string(R"(, "rope_scaling": {"rope_type": "yarn", "factor": 4, "beta_fast": 16,
               "mscale": 0.5, "mscale_all_dim": 1, "attention_factor": 1.5, "truncate": false,
               "original_max_position_embeddings": 64})")}) {
    auto c = Parse(extra);
    ASSERT_TRUE(c.ok()) << c.status();
    const std::string json = ModelConfigToJson(*c);
    EXPECT_THAT(json, HasSubstr("rope_scaling"));
    auto again = ParseModelConfig(json, "again");
    ASSERT_TRUE(again.ok()) << again.status() << json;
    const RopeScaling& a = c->rope_scaling;
    const RopeScaling& b = again->rope_scaling;
    EXPECT_EQ(a.rope_type, b.rope_type);
    EXPECT_EQ(a.factor, b.factor);
    EXPECT_EQ(a.low_freq_factor, b.low_freq_factor);
    EXPECT_EQ(a.high_freq_factor, b.high_freq_factor);
    EXPECT_EQ(a.original_max_position_embeddings, b.original_max_position_embeddings);
    EXPECT_EQ(a.beta_fast, b.beta_fast);
    EXPECT_EQ(a.beta_slow, b.beta_slow);
    EXPECT_EQ(a.mscale, b.mscale);
    EXPECT_EQ(a.mscale_all_dim, b.mscale_all_dim);
    EXPECT_EQ(a.attention_factor, b.attention_factor);
    EXPECT_EQ(a.truncate, b.truncate);
  }
  auto plain = Parse("");
  ASSERT_TRUE(plain.ok());
  EXPECT_THAT(ModelConfigToJson(*plain), ::testing::Not(HasSubstr("rope_scaling")));
}

// --- inside the model ---

TEST(RopeModelTest, ScaledModelsDecodeWithTheCacheAsInOnePass) {
  torch::set_num_threads(1);
  torch::NoGradGuard no_grad;
  for (const std::string& extra :
       {std::string(R"(, "rope_scaling": {"type": "linear", "factor": 2})"),
        std::string(R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1,
               "high_freq_factor": 4, "original_max_position_embeddings": 16})"),
        std::string(R"(, "rope_scaling": {"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 16})"),
        // Dynamic stays below max_position_embeddings (256) here: cached == full.
        std::string(R"(, "rope_scaling": {"rope_type": "dynamic", "factor": 2})")}) {
    SCOPED_TRACE(extra);
    auto c = Parse(extra);
    ASSERT_TRUE(c.ok()) << c.status();
    auto lm = MakeCausalLM(*c, /*seed=*/3);
    ASSERT_TRUE(lm.ok()) << lm.status();
    const at::Tensor ids = at::randint(0, 32, {2, 12}, at::kLong);
    auto full = ComputeLogits(*lm, ids);
    ASSERT_TRUE(full.ok()) << full.status();
    KvCache cache;
    auto prefill = ComputeLogits(*lm, ids.narrow(1, 0, 5), &cache);
    ASSERT_TRUE(prefill.ok());
    EXPECT_TRUE(at::allclose(*prefill, full->narrow(1, 0, 5), 1e-5, 1e-5));
    for (int64_t t = 5; t < 12; ++t) {
      auto step = ComputeLogits(*lm, ids.narrow(1, t, 1), &cache);
      ASSERT_TRUE(step.ok());
      EXPECT_TRUE(at::allclose(*step, full->narrow(1, t, 1), 1e-5, 1e-5)) << t;
    }
  }
  // The scaling changes the model's output (it is not ignored).
  auto plain = Parse("");
  auto linear = Parse(R"(, "rope_scaling": {"type": "linear", "factor": 2})");
  auto a = MakeCausalLM(*plain, 3);
  auto b = MakeCausalLM(*linear, 3);
  const at::Tensor ids = at::arange(10, at::kLong).unsqueeze(0);
  EXPECT_FALSE(at::allclose(*ComputeLogits(*a, ids), *ComputeLogits(*b, ids)));
}

}  // namespace
}  // namespace grpo::policy
