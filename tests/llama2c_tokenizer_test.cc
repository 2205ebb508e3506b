// The llama2.c tokenizer (stories260K's tok512.bin) through SpBpeTokenizer:
// golden ids from a Python port of llama2.c's encode, the golden story
// decoding to Karpathy's published text, round trips, the heap encoder
// against the plain rescanning one, and load errors naming file and token.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "policy/sp_bpe_tokenizer.h"
#include "policy/tokenizer.h"

namespace grpo::policy {
namespace {

const std::string kTok = std::string(GRPO_DATA_DIR) + "/models/stories260K/tok512.bin";

const SpBpeTokenizer& Tok() {
  static std::unique_ptr<Tokenizer> tok = [] {
    auto loaded = LoadLlama2cTokenizer(kTok);
    if (!loaded.ok()) {
      ADD_FAILURE() << loaded.status();
      std::abort();
    }
    return std::move(*loaded);
  }();
  return static_cast<const SpBpeTokenizer&>(*tok);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

TEST(Llama2cTokenizer, Vocabulary) {
  const SpBpeTokenizer& tok = Tok();
  EXPECT_EQ(tok.vocab_size(), 512);
  EXPECT_EQ(tok.TokenId("<s>"), 1);
  EXPECT_EQ(tok.TokenId("</s>"), 2);
  EXPECT_EQ(tok.TokenId("<0x0A>"), 3 + 0x0A);
  EXPECT_EQ(tok.TokenId(" the"), 265);
  EXPECT_TRUE(tok.IsSpecial(1));
  EXPECT_TRUE(tok.IsSpecial(2));
  EXPECT_FALSE(tok.IsSpecial(265));
  EXPECT_FALSE(tok.IsSpecial(-1));
  EXPECT_FALSE(tok.IsSpecial(512));
}

TEST(Llama2cTokenizer, GoldenIdsFromPythonPortOfRunC) {
  nlohmann::json golden =
      nlohmann::json::parse(ReadAll(std::string(GRPO_TEST_DATA_DIR) + "/llama2c_tokenizer_golden.json"));
  const SpBpeTokenizer& tok = Tok();
  int cases = 0;
  for (const auto& c : golden["cases"]) {
    const std::string text = c.contains("text") ? c["text"].get<std::string>() : FromHex(c["hex"]);
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.Encode(text), want) << "text: " << text;
    EXPECT_EQ(tok.EncodeReference(text), want) << "text: " << text;
    EXPECT_EQ(tok.Decode(want), text) << "decode of the golden ids";
    ++cases;
  }
  EXPECT_GE(cases, 20);
}

TEST(Llama2cTokenizer, GoldenStoryDecodesToKarpathysText) {
  nlohmann::json golden =
      nlohmann::json::parse(ReadAll(std::string(GRPO_DATA_DIR) + "/models/stories260K/golden.json"));
  const std::vector<int32_t> ids = golden["generation"]["ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(ids.size(), 201u);
  ASSERT_EQ(ids[0], 1);  // BOS
  const std::string text = Tok().Decode(ids);
  const std::string published =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
  EXPECT_EQ(text.substr(0, published.size()), published);
  EXPECT_EQ(text, golden["generation"]["text"].get<std::string>());
  // Without BOS the first piece's space is also the dummy prefix.
  EXPECT_EQ(Tok().Decode(absl::MakeConstSpan(ids).subspan(1)), text);
  // Re-encoding gives ids that decode back to the same text.
  const std::vector<int32_t> again = Tok().Encode(text);
  EXPECT_EQ(Tok().Decode(again), text);
  EXPECT_EQ(again, Tok().EncodeReference(text));
}

TEST(Llama2cTokenizer, FastEncoderAgreesWithReferenceOnRandomText) {
  const SpBpeTokenizer& tok = Tok();
  std::mt19937 rng(7);
  const std::vector<std::string> atoms = {"a", "e", "th", " ", "  ", "the", "Lily", ".", ",", "\n", "\xC3\xA9",
                                          "\xE4\xBD\xA0", "\xF0\x9F\x98\x80", "\x80", "\xFF", "and", "ed", "!"};
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    const int len = static_cast<int>(rng() % 40);
    for (int k = 0; k < len; ++k) text += atoms[rng() % atoms.size()];
    const std::vector<int32_t> ids = tok.Encode(text);
    ASSERT_EQ(ids, tok.EncodeReference(text)) << "text: " << text;
    ASSERT_EQ(tok.Decode(ids), text);
  }
}

TEST(Llama2cTokenizer, ByteFallbackForUnknownCharacters) {
  const SpBpeTokenizer& tok = Tok();
  // U+1F600 has no token: its 4 UTF-8 bytes become byte tokens (byte + 3).
  const std::vector<int32_t> ids = tok.Encode("\xF0\x9F\x98\x80");
  ASSERT_EQ(ids.size(), 5u);
  EXPECT_EQ(ids[0], *tok.TokenId(" "));
  EXPECT_EQ(ids[1], 0xF0 + 3);
  EXPECT_EQ(ids[4], 0x80 + 3);
  EXPECT_TRUE(tok.Encode("").empty());
}

class Llama2cTokenizerErrors : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string path = ::testing::TempDir() + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
};

TEST_F(Llama2cTokenizerErrors, MissingFile) {
  auto r = LoadLlama2cTokenizer("/nonexistent/tok.bin");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/tok.bin"), std::string::npos);
}

TEST_F(Llama2cTokenizerErrors, TruncatedFileNamesFileAndToken) {
  const std::string full = ReadAll(kTok);
  const std::string path = Write("tok_truncated.bin", full.substr(0, full.size() / 2));
  auto r = LoadLlama2cTokenizer(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("token "), std::string::npos) << r.status();
}

TEST_F(Llama2cTokenizerErrors, GarbledLengthAndWrongVocabSize) {
  std::string bytes = ReadAll(kTok);
  const int32_t bad = 1 << 20;
  std::memcpy(&bytes[4 + 4], &bad, 4);  // token 0's length
  const std::string path = Write("tok_garbled.bin", bytes);
  auto r = LoadLlama2cTokenizer(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("token 0 has length"), std::string::npos) << r.status();
  auto small = LoadLlama2cTokenizer(kTok, 500);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("bytes left"), std::string::npos) << small.status();
  auto big = LoadLlama2cTokenizer(kTok, 600);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("truncated at token 512"), std::string::npos) << big.status();
}

}  // namespace
}  // namespace grpo::policy
