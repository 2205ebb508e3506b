// LoadPretrained: a checkpoint directory or GGUF file becomes model +
// tokenizer + BOS/stop ids, as `grpo sample` uses them.
#include "policy/pretrained.h"

#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "policy/model_config.h"

namespace grpo::policy {
namespace {

namespace fs = std::filesystem;

bool Contains(const std::vector<int64_t>& ids, int64_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

TEST(Pretrained, Llama2cDirectoryStartsFromBos) {
  torch::set_num_threads(1);
  auto p = LoadPretrained(GRPO_DATA_DIR "/models/stories260K");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->add_bos);
  EXPECT_EQ(p->bos_id, 1);
  EXPECT_EQ(p->stop_ids, std::vector<int64_t>({2}));
  EXPECT_FALSE(p->has_chat_format);
  const std::vector<int64_t> ids = p->PromptIds("Once upon a time");
  ASSERT_GT(ids.size(), 1u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(p->PromptIds(""), std::vector<int64_t>({1}));
  EXPECT_EQ(RecommendedCpuThreads(p->model, 16), 1);  // 260K parameters
}

TEST(Pretrained, QwenStyleDirectoryHasChatFormatAndEndOfTurnStops) {
  torch::set_num_threads(1);
  ModelConfig c;
  c.model_type = "qwen2";
  c.architecture = "Qwen2ForCausalLM";
  c.qkv_bias = true;
  c.vocab_size = 151669;  // the Qwen3 tokenizer's size
  c.hidden_size = 8;
  c.intermediate_size = 16;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 4;
  c.tie_word_embeddings = true;
  c.eos_token_id = 151643;
  auto lm = MakeCausalLM(c, /*seed=*/3);
  ASSERT_TRUE(lm.ok()) << lm.status();
  const fs::path dir = fs::path(testing::TempDir()) / "pretrained_qwen";
  fs::remove_all(dir);
  ASSERT_TRUE(SaveCausalLM(*lm, dir.string()).ok());
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    fs::copy_file(fs::path(GRPO_DATA_DIR "/tokenizers/qwen3") / f, dir / f);
  }
  auto p = LoadPretrained(dir.string());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->add_bos);  // tokenizer_config.json: add_bos_token false
  EXPECT_TRUE(p->has_chat_format);
  EXPECT_TRUE(Contains(p->stop_ids, 151643));  // <|endoftext|>, config eos
  EXPECT_TRUE(Contains(p->stop_ids, 151645));  // <|im_end|>, tokenizer_config eos
  EXPECT_EQ(p->PromptIds("hi"), std::vector<int64_t>({6023}));
}

TEST(Pretrained, ErrorsNameThePath) {
  auto missing = LoadPretrained("/nonexistent/model");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.status().message()).find("/nonexistent/model"), std::string::npos);

  const fs::path dir = fs::path(testing::TempDir()) / "pretrained_no_tokenizer";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors"}) {
    fs::copy_file(fs::path(GRPO_DATA_DIR "/models/stories260K") / f, dir / f);
  }
  auto no_tokenizer = LoadPretrained(dir.string());
  EXPECT_EQ(no_tokenizer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(no_tokenizer.status().message()).find("no tokenizer"), std::string::npos);

  const fs::path text = dir / "notes.txt";
  std::ofstream(text) << "not a model";
  auto not_a_model = LoadPretrained(text.string());
  EXPECT_EQ(not_a_model.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace grpo::policy
