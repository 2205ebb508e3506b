// Model weight dtypes (fp32 / bf16 / fp16 / fp64): a bf16 stories260K against
// fp32, bf16 save and reload, and the real Qwen2.5-0.5B shape
// (data/models/qwen2.5-0.5b-shape/config.json) built, run and counted.
#include <torch/utils.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "policy/model.h"
#include "policy/model_config.h"
#include "policy/safetensors.h"

namespace grpo::policy {
namespace {

using ::testing::HasSubstr;

const std::string kStories = std::string(GRPO_DATA_DIR) + "/models/stories260K";
const std::string kQwenShape = std::string(GRPO_DATA_DIR) + "/models/qwen2.5-0.5b-shape";

std::string FreshDir(const std::string& name) {
  const std::string dir =
      ::testing::TempDir() + "/grpo_dtype_test_" + std::to_string(::getpid()) + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

class DtypeTestEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { torch::set_num_threads(2); }  // the CI machines have 2 cores
  void TearDown() override {
    std::filesystem::remove_all(::testing::TempDir() + "/grpo_dtype_test_" + std::to_string(::getpid()));
  }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new DtypeTestEnvironment);

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

int64_t CountParameters(CausalLM& lm) {
  int64_t n = 0;
  for (const auto& p : lm->parameters()) n += p.numel();
  return n;
}

// Every parameter of `lm` has dtype `want`.
void ExpectAllOf(CausalLM& lm, torch::Dtype want) {
  for (const auto& item : lm->named_parameters()) {
    EXPECT_EQ(item.value().scalar_type(), want) << item.key();
  }
}

TEST(DtypeTest, NamesMapBothWays) {
  for (const char* name : {"float32", "bfloat16", "float16", "float64"}) {
    auto dtype = DtypeFromName(name);
    ASSERT_TRUE(dtype.ok()) << name;
    auto back = DtypeName(*dtype);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, name);
  }
  EXPECT_FALSE(DtypeFromName("int8").ok());
  EXPECT_FALSE(DtypeName(torch::kInt).ok());
  ModelConfig c;
  c.vocab_size = c.hidden_size = c.intermediate_size = 8;
  c.num_hidden_layers = 1;
  c.num_attention_heads = c.num_key_value_heads = 2;
  c.head_dim = 4;
  auto lm = MakeCausalLM(c, 1, torch::kInt);
  ASSERT_FALSE(lm.ok());
  EXPECT_EQ(lm.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DtypeTest, Bf16StoriesLogitsAreCloseToFp32) {
  torch::NoGradGuard no_grad;
  auto f32 = LoadCausalLM(kStories);
  LoadOptions options;
  options.dtype = torch::kBFloat16;
  auto bf16 = LoadCausalLM(kStories, options);
  ASSERT_TRUE(f32.ok() && bf16.ok()) << bf16.status();
  ExpectAllOf(*bf16, torch::kBFloat16);
  EXPECT_EQ((*bf16)->config().torch_dtype, "bfloat16");
  // The model's own greedy story (golden.json), 64 tokens of natural text.
  std::ifstream in(kStories + "/golden.json");
  const nlohmann::json golden = nlohmann::json::parse(in);
  std::vector<int64_t> story = golden["generation"]["ids"];
  story.resize(64);
  const torch::Tensor ids = torch::tensor(story, torch::kLong).unsqueeze(0);
  auto a = ComputeLogits(*f32, ids);
  auto b = ComputeLogits(*bf16, ids);
  ASSERT_TRUE(a.ok() && b.ok()) << b.status();
  EXPECT_EQ(b->scalar_type(), torch::kFloat);  // logits come back fp32
  const torch::Tensor diff = (*a - *b).abs();
  const double max_diff = diff.max().item<double>(), mean_diff = diff.mean().item<double>();
  const double scale = a->abs().max().item<double>();
  std::printf("bf16 vs fp32 stories260K logits (64 tokens): max |diff| %.4g, mean %.4g (max |logit| %.3g)\n",
              max_diff, mean_diff, scale);
  EXPECT_GT(max_diff, 0.0);  // it really ran in bf16
  // bf16 keeps 8 significant bits (relative step 2^-8 = 0.4%); through 5
  // layers that is a few 1e-2 on average, a few 1e-1 at the worst logit.
  EXPECT_LT(mean_diff, 0.08);
  EXPECT_LT(max_diff, 0.03 * scale);
  // The greedy choices agree almost everywhere.
  const double agree = (a->argmax(-1) == b->argmax(-1)).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(agree, 0.9);
}

TEST(DtypeTest, Bf16SaveWritesBf16TensorsThatReload) {
  torch::NoGradGuard no_grad;
  LoadOptions options;
  options.dtype = torch::kBFloat16;
  auto bf16 = LoadCausalLM(kStories, options);
  ASSERT_TRUE(bf16.ok());
  const std::string dir = FreshDir("bf16") + "/ckpt";
  ASSERT_TRUE(SaveCausalLM(*bf16, dir).ok());
  auto files = ReadSafetensorsDir(dir);
  ASSERT_TRUE(files.ok()) << files.status();
  for (const SafetensorsEntry& e : (*files)[0].entries()) {
    EXPECT_EQ(e.dtype, SafetensorsDType::kBF16) << e.name;
  }
  auto config = LoadModelConfig(dir + "/config.json");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->torch_dtype, "bfloat16");
  // Reloaded in bf16: the same weights, so identical logits.
  auto again = LoadCausalLM(dir, options);
  ASSERT_TRUE(again.ok()) << again.status();
  const torch::Tensor ids = torch::randint(1, 512, {1, 20}, torch::kLong);
  EXPECT_TRUE(torch::equal(*ComputeLogits(*bf16, ids), *ComputeLogits(*again, ids)));
  // Reloaded in fp32 (the default): the bf16 values widened exactly.
  auto wide = LoadCausalLM(dir);
  ASSERT_TRUE(wide.ok());
  ExpectAllOf(*wide, torch::kFloat);
  EXPECT_TRUE(torch::equal((*wide)->model->norm->weight, (*bf16)->model->norm->weight.to(torch::kFloat)));
  // And an fp32 model still saves F32.
  const std::string dir32 = FreshDir("f32") + "/ckpt";
  ASSERT_TRUE(SaveCausalLM(*wide, dir32).ok());
  auto files32 = ReadSafetensorsDir(dir32);
  ASSERT_TRUE(files32.ok());
  EXPECT_EQ((*files32)[0].entries()[0].dtype, SafetensorsDType::kF32);
}

TEST(DtypeTest, Fp16AndFp64ModelsHoldTheirDtype) {
  auto config = LoadModelConfig(kStories + "/config.json");
  ASSERT_TRUE(config.ok());
  auto half = MakeCausalLM(*config, 5, torch::kHalf);
  ASSERT_TRUE(half.ok()) << half.status();
  ExpectAllOf(*half, torch::kHalf);
  EXPECT_EQ((*half)->config().torch_dtype, "float16");
  const std::string dir = FreshDir("f16") + "/ckpt";
  ASSERT_TRUE(SaveCausalLM(*half, dir).ok());
  auto files = ReadSafetensorsDir(dir);
  ASSERT_TRUE(files.ok());
  EXPECT_EQ((*files)[0].entries()[0].dtype, SafetensorsDType::kF16);
  LoadOptions options;
  options.dtype = torch::kDouble;
  auto wide = LoadCausalLM(dir, options);
  ASSERT_TRUE(wide.ok()) << wide.status();
  ExpectAllOf(*wide, torch::kDouble);
  EXPECT_TRUE(torch::equal((*wide)->lm_head ? (*wide)->lm_head->weight : (*wide)->model->embed_tokens->weight,
                           ((*half)->lm_head ? (*half)->lm_head->weight : (*half)->model->embed_tokens->weight)
                               .to(torch::kDouble)));
  // fp16 matmul needs a GPU in LibTorch 1.13; on CPU the forward may refuse,
  // but as a Status, never an exception.
  torch::NoGradGuard no_grad;
  auto logits = ComputeLogits(*half, torch::ones({1, 3}, torch::kLong));
  if (logits.ok()) {
    EXPECT_EQ(logits->scalar_type(), torch::kFloat);
  } else {
    std::printf("fp16 forward on CPU: %s\n", std::string(logits.status().message()).c_str());
  }
}

// --- the real Qwen2.5-0.5B shape ---

// 494,032,768 with the embedding tied: embed 151936*896; per layer q (896x896
// + bias), k and v (896x128 + bias), o (896x896), gate/up/down (3 x 896x4864),
// two norms; the final norm.
constexpr int64_t kQwen05Params = 151936LL * 896 +
                                  24 * (896LL * 896 + 896 + 2 * (896LL * 128 + 128) + 896LL * 896 +
                                        3 * 896LL * 4864 + 2 * 896) +
                                  896;
static_assert(kQwen05Params == 494032768, "the published Qwen2.5-0.5B parameter count");

TEST(QwenShapeTest, ConfigIsThePublishedOne) {
  auto c = LoadModelConfig(kQwenShape + "/config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "qwen2");
  EXPECT_EQ(c->hidden_size, 896);
  EXPECT_EQ(c->intermediate_size, 4864);
  EXPECT_EQ(c->num_hidden_layers, 24);
  EXPECT_EQ(c->num_attention_heads, 14);
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->vocab_size, 151936);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_EQ(c->torch_dtype, "bfloat16");
  EXPECT_EQ(c->eos_token_id, 151645);
}

// The full model in bf16 (~1 GB; built in fp32 first, ~2 GB at the peak):
// built, counted and run. Timed; see the printout.
TEST(QwenShapeTest, FullModelBuildsCountsAndRunsInBf16) {
  auto c = LoadModelConfig(kQwenShape + "/config.json");
  ASSERT_TRUE(c.ok());
  const auto start = std::chrono::steady_clock::now();
  auto lm = MakeCausalLM(*c, /*seed=*/1, torch::kBFloat16);
  ASSERT_TRUE(lm.ok()) << lm.status();
  const double build_s = Seconds(start);
  EXPECT_EQ(CountParameters(*lm), kQwen05Params);
  EXPECT_EQ(CountParameters(*lm), 494032768);
  EXPECT_FALSE((*lm)->lm_head);  // tied
  torch::NoGradGuard no_grad;
  const auto run = std::chrono::steady_clock::now();
  auto logits = ComputeLogits(*lm, torch::tensor({{151644, 872, 198, 9707}}, torch::kLong));
  ASSERT_TRUE(logits.ok()) << logits.status();
  const double forward_s = Seconds(run);
  EXPECT_EQ(logits->sizes(), (std::vector<int64_t>{1, 4, 151936}));
  EXPECT_TRUE(logits->isfinite().all().item<bool>());
  std::printf("Qwen2.5-0.5B shape, bf16: build %.2f s, 4-token forward %.2f s\n", build_s, forward_s);
}

// Save and reload at full width but 2 layers (the full model's round trip
// would write and read ~1 GB on every CI run).
TEST(QwenShapeTest, TwoLayerVariantRoundTripsWithIdenticalLogits) {
  auto c = LoadModelConfig(kQwenShape + "/config.json");
  ASSERT_TRUE(c.ok());
  c->num_hidden_layers = 2;
  const auto start = std::chrono::steady_clock::now();
  auto lm = MakeCausalLM(*c, /*seed=*/2, torch::kBFloat16);
  ASSERT_TRUE(lm.ok()) << lm.status();
  const std::string dir = FreshDir("qwen_shape") + "/ckpt";
  ASSERT_TRUE(SaveCausalLM(*lm, dir).ok());
  LoadOptions options;
  options.dtype = torch::kBFloat16;
  auto again = LoadCausalLM(dir, options);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->config().num_hidden_layers, 2);
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = torch::tensor({{151644, 872, 198, 9707, 11, 1879}}, torch::kLong);
  auto a = ComputeLogits(*lm, ids);
  auto b = ComputeLogits(*again, ids);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(torch::equal(*a, *b));
  std::printf("Qwen2.5-0.5B width, 2 layers, bf16: build+save+reload+2 forwards %.2f s\n", Seconds(start));
}

}  // namespace
}  // namespace grpo::policy
