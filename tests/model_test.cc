// The policy model: safetensors and config.json reading/writing, and the
// LibTorch decoder checked against the real stories260K (Llama) golden
// logits and greedy generation (data/models/stories260K/golden.json).
#include <torch/nn/functional/linear.h>
#include <torch/utils.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "policy/model.h"
#include "policy/model_config.h"
#include "policy/safetensors.h"
#include "tests/stories260k_fixture.h"

namespace grpo::policy {
namespace {

using ::testing::HasSubstr;
using testing::Golden;
using testing::Ids;
using testing::kModelDir;
using testing::Stories260KTest;

// Per-process scratch space, so parallel ctest runs do not share files.
std::string ScratchDir() {
  return ::testing::TempDir() + "/grpo_model_test_" + std::to_string(::getpid());
}

class ModelTestEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { torch::set_num_threads(2); }  // the CI machines have 2 cores
  void TearDown() override { std::filesystem::remove_all(ScratchDir()); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new ModelTestEnvironment);

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A fresh empty directory under the test temp dir.
std::string FreshDir(const std::string& name) {
  const std::string dir = ScratchDir() + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A header + data file built by hand, for malformed-input cases.
std::string RawSafetensors(const std::string& header, const std::string& data) {
  const uint64_t n = header.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + data;
}

// --- safetensors ---

TEST(SafetensorsTest, WriteReadRoundTripKeepsBytesDtypesAndMetadata) {
  const std::string path = FreshDir("st_roundtrip") + "/t.safetensors";
  const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -1e-3f};
  const std::vector<uint16_t> half = {0x3c00, 0xc000, 0x7bff};  // bit patterns, F16 and BF16 alike
  auto span = [](const auto& v) {
    return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(v[0]));
  };
  ASSERT_TRUE(WriteSafetensors(path,
                               {{"b.f32", SafetensorsDType::kF32, {2, 3}, span(f32)},
                                {"a.f16", SafetensorsDType::kF16, {3}, span(half)},
                                {"c.bf16", SafetensorsDType::kBF16, {1, 3}, span(half)}},
                               {{"format", "pt"}})
                  .ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const std::string raw = ReadAll(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, raw.data(), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u) << "data region must start 8-byte aligned";

  auto file = SafetensorsFile::Read(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->entries().size(), 3u);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  const SafetensorsEntry* e = file->Find("b.f32");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dtype, SafetensorsDType::kF32);
  EXPECT_EQ(e->shape, (std::vector<int64_t>{2, 3}));
  absl::Span<const uint8_t> got = file->Bytes(*e);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), span(f32).begin(), span(f32).end()));
  ASSERT_NE(file->Find("c.bf16"), nullptr);
  EXPECT_EQ(file->Find("c.bf16")->dtype, SafetensorsDType::kBF16);
  got = file->Bytes(*file->Find("a.f16"));
  EXPECT_TRUE(std::equal(got.begin(), got.end(), span(half).begin(), span(half).end()));
  EXPECT_EQ(file->Find("nope"), nullptr);
}

TEST(SafetensorsTest, WriterRejectsSizeMismatchAndDuplicates) {
  const std::string path = FreshDir("st_bad_write") + "/t.safetensors";
  const std::vector<float> v = {1, 2, 3};
  const absl::Span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(v.data()), 12);
  absl::Status s = WriteSafetensors(path, {{"x", SafetensorsDType::kF32, {4}, bytes}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'x'"));
  s = WriteSafetensors(path, {{"x", SafetensorsDType::kF32, {3}, bytes}, {"x", SafetensorsDType::kF32, {3}, bytes}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SafetensorsTest, MalformedFilesNameTheFileAndTensor) {
  auto err = [](const std::string& bytes) {
    auto f = SafetensorsFile::Parse(bytes, "bad.safetensors");
    EXPECT_FALSE(f.ok());
    return std::string(f.status().message());
  };
  EXPECT_THAT(err("abc"), HasSubstr("bad.safetensors"));
  EXPECT_THAT(err(std::string("\xff\xff\xff\x00\x00\x00\x00\x00{}", 10)), HasSubstr("header length"));
  EXPECT_THAT(err(RawSafetensors("{not json", "")), HasSubstr("not a JSON object"));
  const std::string data(16, '\0');
  EXPECT_THAT(err(RawSafetensors(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data)),
              HasSubstr("tensor 'w': shape [3] x F32 needs 12 bytes"));
  EXPECT_THAT(err(RawSafetensors(R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", data)),
              HasSubstr("tensor 'w': data_offsets end at 32"));
  EXPECT_THAT(err(RawSafetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                 data)),
              HasSubstr("'a' and 'b' overlap"));
  EXPECT_THAT(err(RawSafetensors(R"({"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", data)),
              HasSubstr("unsupported dtype 'Q4'"));
  EXPECT_THAT(err(RawSafetensors(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", data)),
              HasSubstr("tensor 'w'"));
  EXPECT_EQ(SafetensorsFile::Read("/nonexistent/x.safetensors").status().code(), absl::StatusCode::kNotFound);
}

TEST(SafetensorsTest, TruncatedRealFileNamesFileAndTensor) {
  const std::string bytes = ReadAll(kModelDir + "/model.safetensors");
  ASSERT_GT(bytes.size(), 1000u);
  const std::string path = FreshDir("st_trunc") + "/model.safetensors";
  WriteAll(path, bytes.substr(0, bytes.size() - 100));
  auto f = SafetensorsFile::Read(path);
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(std::string(f.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(f.status().message()), HasSubstr("truncated"));
  EXPECT_THAT(std::string(f.status().message()), HasSubstr("tensor 'model."));
}

TEST(SafetensorsTest, ShardedDirectoryWithIndexRoundTrips) {
  const std::string dir = FreshDir("st_shards");
  std::vector<std::vector<float>> data;
  for (int i = 0; i < 5; ++i) data.push_back(std::vector<float>(10, static_cast<float>(i)));
  std::vector<SafetensorsTensorToWrite> tensors;
  for (int i = 0; i < 5; ++i) {
    tensors.push_back({"t" + std::to_string(i), SafetensorsDType::kF32, {10},
                       absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(data[i].data()), 40)});
  }
  ASSERT_TRUE(WriteSafetensorsDir(dir, tensors, {}, /*max_shard_bytes=*/100).ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/model-00003-of-00003.safetensors"));
  auto files = ReadSafetensorsDir(dir);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 3u);  // 2 + 2 + 1 tensors of 40 bytes
  EXPECT_NE((*files)[2].Find("t4"), nullptr);
  const nlohmann::json index = nlohmann::json::parse(ReadAll(dir + "/model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"], 200);
  EXPECT_EQ(index["weight_map"]["t2"], "model-00002-of-00003.safetensors");

  // An index that points a tensor at the wrong shard is an error naming both.
  nlohmann::json wrong = index;
  wrong["weight_map"]["t2"] = "model-00001-of-00003.safetensors";
  WriteAll(dir + "/model.safetensors.index.json", wrong.dump());
  auto bad = ReadSafetensorsDir(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("model.safetensors.index.json"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("tensor 't2'"));
  nlohmann::json escape = index;
  escape["weight_map"]["t2"] = "../elsewhere.safetensors";
  WriteAll(dir + "/model.safetensors.index.json", escape.dump());
  EXPECT_FALSE(ReadSafetensorsDir(dir).ok());

  // Saving one file over a sharded directory switches the layout back.
  ASSERT_TRUE(WriteSafetensorsDir(dir, tensors).ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/model.safetensors.index.json"));
  files = ReadSafetensorsDir(dir);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->size(), 1u);
  EXPECT_EQ(ReadSafetensorsDir(FreshDir("st_empty")).status().code(), absl::StatusCode::kNotFound);
}

// --- config.json ---

TEST(ModelConfigTest, ParsesStories260K) {
  auto c = LoadModelConfig(kModelDir + "/config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->intermediate_size, 172);
  EXPECT_EQ(c->num_hidden_layers, 5);
  EXPECT_EQ(c->num_attention_heads, 8);
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 8);
  EXPECT_EQ(c->vocab_size, 512);
  EXPECT_EQ(c->max_position_embeddings, 512);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_EQ(c->eos_token_id, 2);
  // ModelConfigToJson parses back to the same fields.
  auto again = ParseModelConfig(ModelConfigToJson(*c), "round trip");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(ModelConfigToJson(*again), ModelConfigToJson(*c));
}

TEST(ModelConfigTest, Qwen2HasQkvBiasAndRejectsWhatIsNotImplemented) {
  const std::string qwen = R"({"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2",
    "hidden_size":32,"intermediate_size":64,"num_hidden_layers":2,"num_attention_heads":4,
    "num_key_value_heads":2,"vocab_size":100,"rope_theta":1000000.0,"tie_word_embeddings":false})";
  auto c = ParseModelConfig(qwen, "qwen.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_FALSE(c->o_proj_bias);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);

  auto bad = ParseModelConfig(R"({"architectures":["GPT2LMHeadModel"],"model_type":"gpt2"})", "gpt2.json");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("gpt2.json"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("unsupported architecture"));
  std::string no_layers = qwen;
  no_layers.replace(no_layers.find("\"num_hidden_layers\""), 3, "\"xx");
  EXPECT_THAT(std::string(ParseModelConfig(no_layers, "q.json").status().message()),
              HasSubstr("missing 'num_hidden_layers'"));
  std::string scaled = qwen;
  scaled.insert(1, R"("rope_scaling":{"type":"longrope","factor":2.0},)");  // linear etc.: rope_test
  EXPECT_THAT(std::string(ParseModelConfig(scaled, "q.json").status().message()), HasSubstr("rope_scaling"));
  std::string uneven = qwen;
  uneven.replace(uneven.find("\"num_key_value_heads\":2"), 23, "\"num_key_value_heads\":3");
  EXPECT_FALSE(ParseModelConfig(uneven, "q.json").ok());
}

// --- the model on stories260K ---

TEST_F(Stories260KTest, LogitsMatchGoldenWithin1e4) {
  const nlohmann::json check = Golden()["logits_check"];
  const std::vector<int64_t> ids = check["input_ids"].get<std::vector<int64_t>>();
  auto logits = ComputeLogits(lm_, Ids(ids));
  ASSERT_TRUE(logits.ok()) << logits.status();
  ASSERT_EQ(logits->sizes(), (std::vector<int64_t>{1, static_cast<int64_t>(ids.size()), 512}));
  EXPECT_EQ(logits->scalar_type(), torch::kFloat);
  const auto golden = check["logits"].get<std::vector<std::vector<double>>>();
  ASSERT_EQ(golden.size(), ids.size());
  const torch::Tensor want = torch::tensor(golden[0], torch::kDouble).unsqueeze(0);
  torch::Tensor all = want;
  for (size_t i = 1; i < golden.size(); ++i) {
    all = torch::cat({all, torch::tensor(golden[i], torch::kDouble).unsqueeze(0)});
  }
  const double max_diff = (logits->squeeze(0).to(torch::kDouble) - all).abs().max().item<double>();
  std::printf("stories260K max |logit diff| vs float64 golden over %zu positions: %.3g\n",
              golden.size(), max_diff);
  EXPECT_LT(max_diff, 1e-4);
}

TEST_F(Stories260KTest, Greedy200TokensFromBosMatchGolden) {
  const std::vector<int64_t> want = Golden()["generation"]["ids"].get<std::vector<int64_t>>();
  ASSERT_EQ(want.size(), 201u);
  std::vector<int64_t> ids = {1};
  for (int step = 0; step < 200; ++step) {
    auto logits = ComputeLogits(lm_, Ids(ids));  // full pass each step: no KV cache yet
    ASSERT_TRUE(logits.ok()) << logits.status();
    ids.push_back((*logits)[0][-1].argmax().item<int64_t>());
  }
  EXPECT_EQ(ids, want);
}

TEST_F(Stories260KTest, KvCacheGreedyMatchesGolden) {
  const std::vector<int64_t> want = Golden()["generation"]["ids"].get<std::vector<int64_t>>();
  KvCache cache;
  std::vector<int64_t> ids = {1};
  torch::Tensor next = Ids(ids);
  for (int step = 0; step < 200; ++step) {
    auto logits = ComputeLogits(lm_, next, &cache);
    ASSERT_TRUE(logits.ok()) << logits.status();
    ids.push_back((*logits)[0][-1].argmax().item<int64_t>());
    next = Ids({ids.back()});
  }
  EXPECT_EQ(cache.length(), 200);
  EXPECT_EQ(ids, want);
}

TEST_F(Stories260KTest, KvCacheChunksGiveTheFullPassLogits) {
  std::vector<int64_t> seq = Golden()["generation"]["ids"].get<std::vector<int64_t>>();
  seq.resize(40);
  auto full = ComputeLogits(lm_, Ids(seq));
  ASSERT_TRUE(full.ok());
  // Two rows, so the batch dimension is exercised too.
  const torch::Tensor batch = torch::cat({Ids(seq), Ids(seq).flip(1)});
  auto full_batch = ComputeLogits(lm_, batch);
  ASSERT_TRUE(full_batch.ok());
  KvCache cache;
  std::vector<torch::Tensor> parts;
  for (auto [begin, len] : {std::pair<int64_t, int64_t>{0, 7}, {7, 1}, {8, 1}, {9, 20}, {29, 11}}) {
    auto part = ComputeLogits(lm_, batch.narrow(1, begin, len), &cache);
    ASSERT_TRUE(part.ok()) << part.status();
    parts.push_back(*part);
  }
  const torch::Tensor cached = torch::cat(parts, 1);
  // Different matmul shapes round differently in fp32 (measured ~2e-5 on
  // logits up to ~20); a position or mask bug would be off by whole units.
  const double diff = (cached - *full_batch).abs().max().item<double>();
  std::printf("KV-cache chunks vs one full pass, max |logit diff|: %.3g\n", diff);
  EXPECT_LT(diff, 1e-4);
  EXPECT_LT((cached[0] - (*full)[0]).abs().max().item<double>(), 1e-4);

  // A cache of another batch size is refused and left as it was.
  EXPECT_EQ(ComputeLogits(lm_, Ids({5}), &cache).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.length(), 40);
}

TEST_F(Stories260KTest, SaveReloadGivesBitwiseIdenticalLogits) {
  const std::string dir = FreshDir("save_reload") + "/ckpt";  // SaveCausalLM creates it
  ASSERT_TRUE(SaveCausalLM(lm_, dir).ok());
  auto again = LoadCausalLM(dir);
  ASSERT_TRUE(again.ok()) << again.status();
  const torch::Tensor ids = Ids({1, 403, 407, 261, 378, 432, 383});
  auto a = ComputeLogits(lm_, ids);
  auto b = ComputeLogits(*again, ids);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(torch::equal(*a, *b));
  // The saved tensors are the shipped ones, bit for bit.
  auto orig = SafetensorsFile::Read(kModelDir + "/model.safetensors");
  auto saved = SafetensorsFile::Read(dir + "/model.safetensors");
  ASSERT_TRUE(orig.ok() && saved.ok());
  ASSERT_EQ(orig->entries().size(), saved->entries().size());
  for (const SafetensorsEntry& e : orig->entries()) {
    const SafetensorsEntry* s = saved->Find(e.name);
    ASSERT_NE(s, nullptr) << e.name;
    auto x = orig->Bytes(e), y = saved->Bytes(*s);
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin(), y.end())) << e.name;
  }
}

TEST_F(Stories260KTest, ShardedSaveReloadGivesBitwiseIdenticalLogits) {
  const std::string dir = FreshDir("save_sharded");
  SaveOptions options;
  options.max_shard_bytes = 300000;  // the 1 MB of weights in 4 shards
  ASSERT_TRUE(SaveCausalLM(lm_, dir, options).ok());
  EXPECT_TRUE(std::filesystem::exists(dir + "/model-00004-of-00004.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/model.safetensors"));
  auto again = LoadCausalLM(dir);
  ASSERT_TRUE(again.ok()) << again.status();
  const torch::Tensor ids = Ids({1, 403, 407, 261, 378});
  auto a = ComputeLogits(lm_, ids);
  auto b = ComputeLogits(*again, ids);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(torch::equal(*a, *b));
}

// F16 and BF16 files load, each weight converted exactly to fp32.
TEST_F(Stories260KTest, HalfPrecisionFilesLoad) {
  for (const auto& [st_type, torch_type] :
       {std::pair{SafetensorsDType::kF16, torch::kHalf}, std::pair{SafetensorsDType::kBF16, torch::kBFloat16}}) {
    const std::string dir = FreshDir(std::string("half_") + SafetensorsDTypeName(st_type));
    std::vector<torch::Tensor> keep;
    std::vector<SafetensorsTensorToWrite> tensors;
    for (const auto& item : lm_->named_parameters()) {
      keep.push_back(item.value().to(torch_type).contiguous());
      tensors.push_back({item.key(), st_type, item.value().sizes().vec(),
                         absl::Span<const uint8_t>(static_cast<const uint8_t*>(keep.back().data_ptr()),
                                                   keep.back().nbytes())});
    }
    ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", tensors).ok());
    WriteAll(dir + "/config.json", ReadAll(kModelDir + "/config.json"));
    auto half = LoadCausalLM(dir);
    ASSERT_TRUE(half.ok()) << half.status();
    const torch::Tensor w = lm_->model->layers[2]->as<DecoderLayerImpl>()->mlp->up_proj->weight;
    const torch::Tensor got = (*half)->model->layers[2]->as<DecoderLayerImpl>()->mlp->up_proj->weight;
    EXPECT_EQ(got.scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::equal(got, w.to(torch_type).to(torch::kFloat)));
    EXPECT_FALSE(torch::equal(got, w));  // rounding happened: the test sees the dtype
    const torch::Tensor ids = Ids({1, 403, 407, 261});
    auto a = ComputeLogits(lm_, ids);
    auto b = ComputeLogits(*half, ids);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(torch::equal(a->argmax(-1), b->argmax(-1)));
  }
}

TEST_F(Stories260KTest, BadIdsAreAStatusNotAnException) {
  EXPECT_EQ(ComputeLogits(lm_, Ids({1, 512})).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeLogits(lm_, Ids({-1})).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeLogits(lm_, torch::zeros({3}, torch::kLong)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Writes a copy of stories260K to a fresh dir with `edit` applied to its tensors.
std::string EditedCopy(const std::string& name,
                       void (*edit)(std::vector<SafetensorsTensorToWrite>*)) {
  const std::string dir = FreshDir(name);
  auto file = SafetensorsFile::Read(kModelDir + "/model.safetensors");
  EXPECT_TRUE(file.ok());
  std::vector<SafetensorsTensorToWrite> tensors;
  for (const SafetensorsEntry& e : file->entries()) {
    tensors.push_back({e.name, e.dtype, e.shape, file->Bytes(e)});
  }
  edit(&tensors);
  EXPECT_TRUE(WriteSafetensors(dir + "/model.safetensors", tensors).ok());
  WriteAll(dir + "/config.json", ReadAll(kModelDir + "/config.json"));
  return dir;
}

TEST(ModelLoadTest, MissingTensorIsNamed) {
  const std::string dir = EditedCopy("missing", [](std::vector<SafetensorsTensorToWrite>* t) {
    t->erase(std::remove_if(t->begin(), t->end(),
                            [](const auto& x) { return x.name == "model.layers.3.mlp.up_proj.weight"; }),
             t->end());
  });
  auto lm = LoadCausalLM(dir);
  ASSERT_FALSE(lm.ok());
  EXPECT_THAT(std::string(lm.status().message()), HasSubstr("missing 1 tensor(s): 'model.layers.3.mlp.up_proj.weight'"));
  EXPECT_THAT(std::string(lm.status().message()), HasSubstr(dir + "/model.safetensors"));
}

TEST(ModelLoadTest, WrongShapeIsNamed) {
  const std::string dir = EditedCopy("shape", [](std::vector<SafetensorsTensorToWrite>* t) {
    for (auto& x : *t) {
      if (x.name == "model.norm.weight") {
        x.shape = {32};
        x.bytes = x.bytes.subspan(0, 128);
      }
    }
  });
  auto lm = LoadCausalLM(dir);
  ASSERT_FALSE(lm.ok());
  EXPECT_THAT(std::string(lm.status().message()),
              HasSubstr("tensor 'model.norm.weight' has shape [32], the model expects [64]"));
  EXPECT_THAT(std::string(lm.status().message()), HasSubstr(dir));
}

TEST(ModelLoadTest, UnexpectedTensorIsReportedUnlessIgnored) {
  const std::string dir = EditedCopy("unexpected", [](std::vector<SafetensorsTensorToWrite>* t) {
    t->push_back({"model.rotary_emb.inv_freq", SafetensorsDType::kF32, {4}, (*t)[0].bytes.subspan(0, 16)});
  });
  auto lm = LoadCausalLM(dir);
  ASSERT_FALSE(lm.ok());
  EXPECT_THAT(std::string(lm.status().message()), HasSubstr("unexpected tensor(s)"));
  EXPECT_THAT(std::string(lm.status().message()), HasSubstr("'model.rotary_emb.inv_freq'"));
  LoadOptions options;
  options.ignore_unexpected_tensors = true;
  EXPECT_TRUE(LoadCausalLM(dir, options).ok());
}

TEST(ModelLoadTest, UnknownArchitectureNamesConfigFile) {
  const std::string dir = EditedCopy("arch", [](std::vector<SafetensorsTensorToWrite>*) {});
  std::string config = ReadAll(dir + "/config.json");
  config.replace(config.find("LlamaForCausalLM"), 16, "MambaForCausalLM");
  config.replace(config.find("\"llama\""), 7, "\"mamba\"");
  WriteAll(dir + "/config.json", config);
  auto lm = LoadCausalLM(dir);
  ASSERT_FALSE(lm.ok());
  EXPECT_EQ(lm.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(lm.status().message()), HasSubstr(dir + "/config.json"));
  EXPECT_THAT(std::string(lm.status().message()), HasSubstr("MambaForCausalLM"));
}

TEST(ModelLoadTest, RandomQwen2LikeModelRoundTrips) {
  ModelConfig c;
  c.model_type = "qwen2";
  c.architecture = "Qwen2ForCausalLM";
  c.vocab_size = 97;
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rope_theta = 1e6;
  c.qkv_bias = true;
  c.tie_word_embeddings = false;
  auto lm = MakeCausalLM(c, /*seed=*/7);
  ASSERT_TRUE(lm.ok()) << lm.status();
  const auto params = (*lm)->named_parameters();
  EXPECT_NE(params.find("model.layers.1.self_attn.q_proj.bias"), nullptr);
  EXPECT_EQ(params.find("model.layers.1.self_attn.o_proj.bias"), nullptr);
  ASSERT_NE(params.find("lm_head.weight"), nullptr);
  EXPECT_EQ(params.find("lm_head.weight")->sizes(), (std::vector<int64_t>{97, 48}));

  const std::string dir = FreshDir("qwen2_random");
  ASSERT_TRUE(SaveCausalLM(*lm, dir).ok());
  auto again = LoadCausalLM(dir);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->config().model_type, "qwen2");
  EXPECT_TRUE((*again)->config().qkv_bias);
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = torch::randint(0, 97, {3, 11}, torch::kLong);
  auto a = ComputeLogits(*lm, ids);
  auto b = ComputeLogits(*again, ids);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->sizes(), (std::vector<int64_t>{3, 11, 97}));
  EXPECT_TRUE(torch::equal(*a, *b));
  // Causal: the logits at position t do not depend on later tokens.
  torch::Tensor changed = ids.clone();
  changed.select(1, 10).copy_((ids.select(1, 10) + 1) % 97);
  auto c2 = ComputeLogits(*lm, changed);
  ASSERT_TRUE(c2.ok());
  EXPECT_TRUE(torch::allclose(a->narrow(1, 0, 10), c2->narrow(1, 0, 10)));
  EXPECT_FALSE(torch::allclose(a->narrow(1, 10, 1), c2->narrow(1, 10, 1)));
}

}  // namespace
}  // namespace grpo::policy
