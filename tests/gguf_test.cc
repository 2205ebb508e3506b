// GGUF: dequantization against gguf-py's values, metadata of every type,
// errors naming the file and tensor, the stories260K GGUF giving the
// safetensors model's logits (the llama Q/K un-permutation), its SentencePiece
// vocabulary agreeing with tok512.bin, and, when GRPO_SMOLLM2_GGUF names the
// real SmolLM2-135M-Instruct Q4_1 file, greedy ids equal to transformers'.
// Fixtures: tests/data/gguf/, made by tests/data/make_gguf_fixtures.py.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "policy/gguf.h"
#include "policy/gguf_model.h"
#include "policy/model.h"
#include "policy/sampler.h"
#include "policy/sp_bpe_tokenizer.h"

namespace grpo::policy {
namespace {

const std::string kDir = std::string(GRPO_TEST_DATA_DIR) + "/gguf";
const std::string kQuant = kDir + "/quant_types.gguf";
const std::string kStories = kDir + "/stories260K_f32.gguf";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
std::string WriteTemp(const std::string& name, const std::string& bytes) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}
bool Contains(const absl::Status& s, const std::string& what) {
  return std::string(s.message()).find(what) != std::string::npos;
}

TEST(Gguf, DequantizesLikeGgufPy) {
  auto f = GgufFile::Open(kQuant);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  for (const char* name : {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1"}) {
    SCOPED_TRACE(name);
    const GgufTensorInfo* t = f->FindTensor(name);
    const GgufTensorInfo* e = f->FindTensor(std::string(name) + ".expected");
    ASSERT_TRUE(t != nullptr && e != nullptr);
    ASSERT_EQ(t->ne, e->ne);
    EXPECT_EQ(t->torch_shape().size(), 2u);
    EXPECT_EQ(t->torch_shape()[1], static_cast<int64_t>(t->ne[0]));
    std::vector<float> got(t->num_elements()), want(e->num_elements()), ref(t->num_elements());
    ASSERT_TRUE(f->Dequantize(*t, got.data()).ok());
    ASSERT_TRUE(f->Dequantize(*e, want.data()).ok());
    ASSERT_TRUE(DequantizeRowReference(t->type, f->Bytes(*t).data(), t->num_elements(), ref.data()).ok());
    for (size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k], want[k]) << "element " << k;
      ASSERT_EQ(std::memcmp(&got[k], &ref[k], 4), 0) << "fast vs reference, element " << k;
    }
  }
  EXPECT_EQ(GgmlTypeName(f->FindTensor("q4_1")->type), "Q4_1");
}

TEST(Gguf, HalfAndBf16Conversions) {
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), 5.9604644775390625e-8f);  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x03FF), 6.097555160522461e-5f);   // largest subnormal
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7C00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
  EXPECT_EQ(Bf16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(Bf16ToFloat(0xC040), -3.0f);
}

TEST(Gguf, MetadataOfEveryType) {
  auto f = GgufFile::Open(kQuant);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Find("test.u8")->u, 200u);
  EXPECT_EQ(f->Find("test.i8")->i, -100);
  EXPECT_EQ(f->Find("test.u16")->u, 60000u);
  EXPECT_EQ(f->Find("test.i16")->i, -30000);
  EXPECT_EQ(*f->GetUint("test.u32"), 4000000000u);
  EXPECT_EQ(f->Find("test.i32")->i, -2000000000);
  EXPECT_EQ(*f->GetUint("test.u64"), (uint64_t{1} << 63) + 5);
  EXPECT_EQ(f->Find("test.i64")->i, -(int64_t{1} << 62));
  EXPECT_EQ(*f->GetFloat("test.f32"), 0.25);
  EXPECT_EQ(*f->GetFloat("test.f64"), 1e-300);
  EXPECT_EQ(*f->GetBool("test.bool"), true);
  EXPECT_EQ(*f->GetString("test.str"), "h\xC3\xA9llo");
  EXPECT_EQ(f->Find("test.arr_i32")->numbers, (std::vector<double>{1, -2, 3}));
  EXPECT_EQ(f->Find("test.arr_str")->strings, (std::vector<std::string>{"a", "", "\xE2\x96\x81" "b"}));
  EXPECT_EQ(f->Find("test.arr_f32")->numbers, (std::vector<double>{0.5, -1.5}));
  const GgufValue* nested = f->Find("test.arr_nested");
  ASSERT_EQ(nested->items.size(), 2u);
  EXPECT_EQ(nested->items[0].numbers, (std::vector<double>{1, 2}));
  EXPECT_EQ(nested->items[1].numbers, (std::vector<double>{3}));
  EXPECT_EQ(f->GetString("no.such.key").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(f->GetString("test.u8").status(), "test.u8"));
  EXPECT_FALSE(f->GetUint("test.i8").ok());  // negative
}

TEST(Gguf, UnsupportedTypeNamesTensorAndType) {
  auto f = GgufFile::Open(kQuant);
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufTensorInfo* t = f->FindTensor("q5_0");
  ASSERT_NE(t, nullptr);
  std::vector<float> out(t->num_elements());
  absl::Status s = f->Dequantize(*t, out.data());
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s, kQuant) && Contains(s, "'q5_0'") && Contains(s, "Q5_0")) << s;
}

TEST(Gguf, CorruptFilesNameTheFile) {
  const std::string good = ReadAll(kQuant);
  auto missing = GgufFile::Open("/nonexistent/x.gguf");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  std::string bad_magic = good;
  bad_magic[0] = 'X';
  std::string path = WriteTemp("bad_magic.gguf", bad_magic);
  auto r = GgufFile::Open(path);
  EXPECT_TRUE(!r.ok() && Contains(r.status(), path) && Contains(r.status(), "magic")) << r.status();

  std::string bad_version = good;
  bad_version[4] = 9;
  path = WriteTemp("bad_version.gguf", bad_version);
  r = GgufFile::Open(path);
  EXPECT_TRUE(!r.ok() && Contains(r.status(), "version 9")) << r.status();

  path = WriteTemp("truncated_header.gguf", good.substr(0, 300));
  r = GgufFile::Open(path);
  EXPECT_TRUE(!r.ok() && Contains(r.status(), path) && Contains(r.status(), "truncated")) << r.status();

  // Cut inside the data region: the last tensor runs past the end.
  path = WriteTemp("truncated_data.gguf", good.substr(0, good.size() - 100));
  r = GgufFile::Open(path);
  EXPECT_TRUE(!r.ok() && Contains(r.status(), path) && Contains(r.status(), "past the end")) << r.status();
}

// The stories260K GGUF (llama arch, F32, Q/K rows permuted by llama.cpp's rule)
// must give the logits of the safetensors model: only right if the loader
// undoes the permutation.
TEST(GgufStories260K, SameLogitsAsSafetensors) {
  auto g = LoadGgufModel(kStories);
  ASSERT_TRUE(g.ok()) << g.status();
  auto st = LoadCausalLM(std::string(GRPO_DATA_DIR) + "/models/stories260K");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(g->config.hidden_size, 64);
  EXPECT_EQ(g->config.num_key_value_heads, 4);
  EXPECT_TRUE(g->config.tie_word_embeddings);
  EXPECT_EQ(g->bos_id, 1);
  EXPECT_EQ(g->eos_id, 2);
  nlohmann::json golden = nlohmann::json::parse(ReadAll(std::string(GRPO_DATA_DIR) + "/models/stories260K/golden.json"));
  std::vector<int64_t> ids = golden["generation"]["ids"].get<std::vector<int64_t>>();
  ids.resize(48);
  torch::Tensor input = torch::tensor(ids, torch::kLong).unsqueeze(0);
  auto a = ComputeLogits(g->model, input);
  auto b = ComputeLogits(*st, input);
  ASSERT_TRUE(a.ok() && b.ok());
  const double diff = (*a - *b).abs().max().item<double>();
  EXPECT_LE(diff, 1e-5);
  // And the permuted q/k are really different from the safetensors rows.
  auto f = GgufFile::Open(kStories);
  ASSERT_TRUE(f.ok());
  std::vector<float> raw(64 * 64);
  ASSERT_TRUE(f->Dequantize(*f->FindTensor("blk.0.attn_q.weight"), raw.data()).ok());
  torch::Tensor raw_t = torch::from_blob(raw.data(), {64, 64}, torch::kFloat);
  torch::Tensor hf_q = (*st)->named_parameters()["model.layers.0.self_attn.q_proj.weight"];
  EXPECT_GT((raw_t - hf_q).abs().max().item<double>(), 1e-3);
}

TEST(GgufStories260K, SentencePieceVocabularyMatchesTok512) {
  auto f = GgufFile::Open(kStories);
  ASSERT_TRUE(f.ok()) << f.status();
  auto gtok = GgufTokenizer(*f);
  ASSERT_TRUE(gtok.ok()) << gtok.status();
  auto ltok = LoadLlama2cTokenizer(std::string(GRPO_DATA_DIR) + "/models/stories260K/tok512.bin");
  ASSERT_TRUE(ltok.ok()) << ltok.status();
  nlohmann::json golden = nlohmann::json::parse(ReadAll(std::string(GRPO_TEST_DATA_DIR) + "/llama2c_tokenizer_golden.json"));
  int n = 0;
  for (const auto& c : golden["cases"]) {
    if (!c.contains("text")) continue;
    const std::string text = c["text"];
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    if (text.find("<s>") != std::string::npos) {  // GGUF vocabularies match control tokens in text
      EXPECT_NE((*gtok)->Encode(text), want);
      continue;
    }
    EXPECT_EQ((*gtok)->Encode(text), want) << text;
    EXPECT_EQ((*gtok)->Decode(want), text);
    ++n;
  }
  EXPECT_GE(n, 15);
  EXPECT_EQ((*gtok)->Encode("<s>Once"), (std::vector<int32_t>{1, 403}));
  EXPECT_EQ((*gtok)->TokenId("\xE2\x96\x81the"), 265);
}

TEST(GgufStories260K, ErrorsNameFileAndTensor) {
  const std::string good = ReadAll(kStories);
  // Rename output_norm.weight in the tensor infos: it is then missing, and the
  // renamed one has no place in the model.
  std::string renamed = good;
  const size_t at = renamed.find("output_norm.weight");
  ASSERT_NE(at, std::string::npos);
  renamed[at + 5] = 'X';
  std::string path = WriteTemp("missing_tensor.gguf", renamed);
  auto r = LoadGgufModel(path);
  EXPECT_TRUE(!r.ok() && Contains(r.status(), path) && Contains(r.status(), "'output_norm.weight' is missing"))
      << r.status();

  // Unknown architecture.
  std::string arch = good;
  const size_t a = arch.find("llama");
  ASSERT_NE(a, std::string::npos);
  arch.replace(a, 5, "lxama");
  path = WriteTemp("bad_arch.gguf", arch);
  r = LoadGgufModel(path);
  EXPECT_TRUE(!r.ok() && Contains(r.status(), "lxama")) << r.status();
}

// --- qwen2: biases, no Q/K permutation, untied output, a "gpt2" vocabulary ---

TEST(GgufQwen2, SameLogitsAsSafetensors) {
  auto g = LoadGgufModel(kDir + "/qwen2_tiny.gguf");
  ASSERT_TRUE(g.ok()) << g.status();
  auto st = LoadCausalLM(kDir + "/qwen2_tiny");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(g->config.model_type, "qwen2");
  EXPECT_TRUE(g->config.qkv_bias);
  EXPECT_FALSE(g->config.tie_word_embeddings);
  EXPECT_EQ(g->config.rope_theta, 1000000.0);
  torch::Tensor input = torch::arange(0, 40, torch::kLong).remainder(g->config.vocab_size).unsqueeze(0);
  auto a = ComputeLogits(g->model, input);
  auto b = ComputeLogits(*st, input);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LE((*a - *b).abs().max().item<double>(), 1e-5);
}

TEST(GgufQwen2, WrongShapeNamesFileAndTensor) {
  std::string bytes = ReadAll(kDir + "/qwen2_tiny.gguf");
  const std::string key = "qwen2.feed_forward_length";
  const size_t at = bytes.find(key);
  ASSERT_NE(at, std::string::npos);
  uint32_t type = 0, value = 0;
  std::memcpy(&type, &bytes[at + key.size()], 4);
  std::memcpy(&value, &bytes[at + key.size() + 4], 4);
  ASSERT_EQ(type, static_cast<uint32_t>(GgufValueType::kUint32));
  ASSERT_EQ(value, 48u);
  value = 64;
  std::memcpy(&bytes[at + key.size() + 4], &value, 4);
  const std::string path = WriteTemp("qwen2_wrong_shape.gguf", bytes);
  auto r = LoadGgufModel(path);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status(), path) && Contains(r.status(), "blk.0.ffn_gate.weight' has shape [48, 32]") &&
              Contains(r.status(), "expects [64, 32]"))
      << r.status();
}

TEST(GgufQwen2, Gpt2VocabularyMatchesHfTokenizers) {
  auto g = LoadGgufModel(kDir + "/qwen2_tiny.gguf");
  ASSERT_TRUE(g.ok()) << g.status();
  nlohmann::json golden = nlohmann::json::parse(ReadAll(kDir + "/qwen2_tiny_tokenizer.json"));
  for (const auto& c : golden["cases"]) {
    const std::string text = c["text"];
    const std::vector<int32_t> ids = g->tokenizer->Encode(text);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << text;
  }
  EXPECT_TRUE(g->tokenizer->IsSpecial(*g->tokenizer->TokenId("<|im_end|>")));
  EXPECT_EQ(g->eos_id, *g->tokenizer->TokenId("<|im_end|>"));
}

// --- the real SmolLM2-135M-Instruct Q4_1 (scripts/fetch_smollm2.sh) ---

TEST(GgufSmolLM2, GreedyIdsEqualTransformers) {
  const char* env = std::getenv("GRPO_SMOLLM2_GGUF");
  if (env == nullptr || *env == '\0' || !std::ifstream(env)) {
    GTEST_SKIP() << "set GRPO_SMOLLM2_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch_smollm2.sh) to run";
  }
  nlohmann::json golden = nlohmann::json::parse(ReadAll(std::string(GRPO_TEST_DATA_DIR) + "/smollm2_q4_1_golden.json"));
  {  // Dequantization alone (fp32 out), for the report.
    auto f = GgufFile::Open(env);
    ASSERT_TRUE(f.ok()) << f.status();
    std::vector<float> buf;
    uint64_t elements = 0;
    const auto d0 = std::chrono::steady_clock::now();
    for (const GgufTensorInfo& t : f->tensors()) {
      buf.resize(t.num_elements());
      ASSERT_TRUE(f->Dequantize(t, buf.data()).ok());
      elements += t.num_elements();
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - d0).count();
    std::printf("SmolLM2 dequantize %.1fM elements: %.3f s\n", elements / 1e6, s);
    const auto k0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(GgufTokenizer(*f).ok());
    std::printf("SmolLM2 tokenizer: %.3f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - k0).count());
    auto config = GgufModelConfig(*f);
    ASSERT_TRUE(config.ok()) << config.status();
    const auto m0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(MakeCausalLM(*config, 0).ok());
    std::printf("SmolLM2 MakeCausalLM (random init): %.3f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - m0).count());
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto g = LoadGgufModel(env);
  ASSERT_TRUE(g.ok()) << g.status();
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("SmolLM2 Q4_1 load: %.2f s\n", load_s);
  EXPECT_EQ(g->config.num_hidden_layers, 30);
  EXPECT_EQ(g->config.vocab_size, 49152);
  const std::string prompt = golden["prompt"];
  const std::vector<int32_t> prompt_ids = g->tokenizer->Encode(prompt);
  EXPECT_EQ(prompt_ids, golden["prompt_ids"].get<std::vector<int32_t>>());
  std::vector<int64_t> prompt64(prompt_ids.begin(), prompt_ids.end());
  for (const auto& c : golden["tokenizer_cases"]) {
    const std::string text = c["text"];
    const std::vector<int32_t> ids = g->tokenizer->Encode(text);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << text;
    EXPECT_EQ(g->tokenizer->Decode(ids), text);
  }

  auto logits = ComputeLogits(g->model, torch::tensor(prompt64, torch::kLong).unsqueeze(0));
  ASSERT_TRUE(logits.ok()) << logits.status();
  torch::Tensor last = (*logits)[0][-1].contiguous();
  if (const char* dump = std::getenv("GRPO_SMOLLM2_DUMP_LOGITS")) {  // for a full comparison in Python
    std::ofstream(dump, std::ios::binary).write(static_cast<const char*>(last.data_ptr()),
                                                static_cast<std::streamsize>(last.nbytes()));
  }
  const auto& top = golden["last_logits_top50"];
  double max_diff = 0;
  for (size_t k = 0; k < top["ids"].size(); ++k) {
    max_diff = std::max(max_diff, std::abs(last[top["ids"][k].get<int64_t>()].item<double>() - top["values"][k].get<double>()));
  }
  std::printf("SmolLM2 last-position logits, top 50 of transformers: max |diff| %.3g\n", max_diff);
  EXPECT_LE(max_diff, 2e-3);

  SamplerOptions opt;
  opt.temperature(0).max_new_tokens(30).stop_token_ids({g->eos_id});
  auto r = Sample(g->model, {prompt64}, opt, g->tokenizer.get());
  ASSERT_TRUE(r.ok()) << r.status();
  const std::vector<int64_t>& out = r->completions[0].ids;
  EXPECT_EQ(out, golden["greedy_ids"].get<std::vector<int64_t>>());
  std::vector<int32_t> out32(out.begin(), out.end());
  const std::string text = g->tokenizer->Decode(out32);
  std::printf("SmolLM2 says: %s\n", text.c_str());
  EXPECT_NE(text.find("Paris"), std::string::npos);
}

}  // namespace
}  // namespace grpo::policy
