// Tokenizers: golden ids for the Qwen and GPT-2 tokenizer.json files (53
// strings, cross-checked against llama.cpp and transformers.js), round trips
// on a multilingual corpus, special tokens, load errors, the char tokenizer.
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "policy/bpe_tokenizer.h"
#include "policy/pretokenize.h"
#include "policy/tokenizer.h"

namespace grpo::policy {
namespace {

const std::string kQwen = std::string(GRPO_DATA_DIR) + "/tokenizers/qwen3/tokenizer.json";
const std::string kGpt2 = std::string(GRPO_DATA_DIR) + "/tokenizers/gpt2/tokenizer.json";

// Loaded once per process: the Qwen file is 11 MB.
const Tokenizer& Get(const std::string& path) {
  static std::unique_ptr<Tokenizer> qwen, gpt2;
  std::unique_ptr<Tokenizer>& slot = path == kQwen ? qwen : gpt2;
  if (!slot) {
    auto loaded = LoadHfTokenizer(path);
    if (!loaded.ok()) {
      ADD_FAILURE() << loaded.status();
      std::abort();
    }
    slot = std::move(*loaded);
  }
  return *slot;
}

std::string Show(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

// What decode(encode(text)) gives: the text itself, in NFC for Qwen (its
// normalizer), as Hugging Face's decode gives it.
std::string Expected(const std::string& path, const std::string& text) {
  return path == kQwen ? Normalize(text, NormalForm::kNFC) : text;
}

void CheckGolden(const std::string& path, const std::string& key) {
  std::ifstream in(std::string(GRPO_TEST_DATA_DIR) + "/tokenizer_golden.json");
  ASSERT_TRUE(in) << "tests/data/tokenizer_golden.json missing";
  nlohmann::json golden = nlohmann::json::parse(in);
  const Tokenizer& tok = Get(path);
  int matched = 0, total = 0;
  for (const auto& c : golden["cases"]) {
    const std::string text = c["text"];
    const std::vector<int32_t> want = c[key].get<std::vector<int32_t>>();
    const std::vector<int32_t> got = tok.Encode(text);
    ++total;
    if (got == want) {
      ++matched;
    } else {
      size_t first = 0;
      while (first < got.size() && first < want.size() && got[first] == want[first]) ++first;
      ADD_FAILURE() << key << " case " << total - 1 << " text " << nlohmann::json(text).dump()
                    << ": first difference at index " << first << "\n  got  " << Show(got)
                    << "\n  want " << Show(want);
    }
    EXPECT_EQ(tok.Decode(got), Expected(path, text)) << key << " case " << total - 1;
  }
  std::printf("%s: %d/%d golden cases match\n", key.c_str(), matched, total);
  EXPECT_EQ(total, 53);
  EXPECT_EQ(matched, total);
}

TEST(TokenizerGolden, Qwen) { CheckGolden(kQwen, "qwen"); }
TEST(TokenizerGolden, Gpt2) { CheckGolden(kGpt2, "gpt2"); }

// Written here: scripts, emoji (ZWJ, flags, skin tones), combining marks
// (NFD and NFC spellings), code, whitespace runs, numbers.
const std::vector<std::string>& Corpus() {
  static const std::vector<std::string> corpus = {
      "The quick brown fox jumps over the lazy dog; it's 3:45pm, isn't it?",
      "GRPO samples a group of G=8 answers per prompt and normalizes rewards: (r - mean) / std.",
      "强化学习让模型学会推理。我们在数学题上训练，奖励由规则给出。",
      "日本語の文章です。カタカナとひらがな、漢字が混ざっています。",
      "한국어 문장입니다. 띄어쓰기와 받침이 있습니다.",
      "مرحبا بالعالم! هذا نص عربي مع أرقام ١٢٣ و 456.",
      "नमस्ते दुनिया, यह हिन्दी का वाक्य है। क्षत्रिय",
      "Съешь же ещё этих мягких французских булок, да выпей чаю.",
      "Emoji: 👩‍👩‍👧‍👦 family, 👍🏽 thumbs, 🏳️‍🌈 flag, 🇯🇵 🇺🇸, ❤️‍🔥, "
      "🧑🏿‍💻!",
      "Combining: e\xcc\x81 (NFD) vs \xc3\xa9 (NFC), a\xcc\x8a\xcc\x81, Z\xcd\x91\xcd\x97\xcc\xb7",
      "def f(x):\n\treturn {'a': [1, 2, 3], \"b\": x ** 2}  # comment\n",
      "int main() { std::vector<int> v{1,2,3}; return v[0] >= 1 && v[1] != 2; }",
      "   leading spaces, trailing spaces   \n\n\n\t\t tabs \r\n CRLF \u00a0nbsp\u3000ideo  ",
      "Numbers: 0 1 12 123 1234 12345 123456789012345 3.14159 -2.5e-10 1,000,000 ½ ⅔ ٣",
      "\\frac{1}{2} + \\sqrt{x^2+1} = \\boxed{42}",
      "",
      " ",
      "\n",
      "a",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "Mixed: hello世界мир🌍مرحبا123abc",
      "<|im_start|>user\nhi<|im_end|> <think>ok</think><|endoftext|>",
      "<|im_start <|im_end| |> <| <<|im_end|>>",
  };
  return corpus;
}

void CheckRoundTrip(const std::string& path) {
  const Tokenizer& tok = Get(path);
  std::string all;
  for (const std::string& text : Corpus()) {
    EXPECT_EQ(tok.Decode(tok.Encode(text)), Expected(path, text)) << path << ": " << text;
    all += text;
  }
  EXPECT_EQ(tok.Decode(tok.Encode(all)), Expected(path, all)) << path << ": whole corpus";
  // Token by token, too (what a streaming detokenizer sees).
  std::string pieces;
  for (int32_t id : tok.Encode(all)) pieces += tok.Decode({id});
  EXPECT_EQ(pieces, Expected(path, all));
  // Every line but the NFD one is NFC already, so for it Qwen is exact too.
  int already_nfc = 0;
  for (const std::string& text : Corpus()) already_nfc += Normalize(text, NormalForm::kNFC) == text;
  EXPECT_EQ(already_nfc, static_cast<int>(Corpus().size()) - 1);
}

TEST(TokenizerRoundTrip, Qwen) { CheckRoundTrip(kQwen); }
TEST(TokenizerRoundTrip, Gpt2) { CheckRoundTrip(kGpt2); }

// NFC changes the ids but Qwen decodes to the NFC text, as HF does.
TEST(TokenizerRoundTrip, QwenNormalizesToNfc) {
  const Tokenizer& tok = Get(kQwen);
  EXPECT_EQ(tok.Decode(tok.Encode("cafe\xcc\x81")), "caf\xc3\xa9");
  EXPECT_EQ(tok.Encode("cafe\xcc\x81"), tok.Encode("caf\xc3\xa9"));
}

TEST(TokenizerRoundTrip, InvalidUtf8DoesNotCrashAndRoundTrips) {
  const std::vector<std::string> bad = {std::string("\xff\xfe"),
                                        std::string("ab\x80"
                                                    "cd"),
                                        std::string("\xe4\xb8"),  // truncated
                                        std::string("x\xc0\xaf y"),
                                        std::string("\xed\xa0\x80 surrogate"),
                                        std::string("ok \xf0\x9f\x98 emoji cut"),
                                        std::string("nul\0byte", 8)};
  for (const std::string& path : {kQwen, kGpt2}) {
    const Tokenizer& tok = Get(path);
    for (const std::string& text : bad) {
      std::vector<int32_t> ids = tok.Encode(text);
      EXPECT_EQ(tok.Decode(ids), text) << path;
    }
  }
}

// Random byte strings (mostly valid UTF-8 from several scripts, some raw
// bytes): never a crash, and decode gives the bytes back (NFC for Qwen).
TEST(TokenizerRoundTrip, RandomBytes) {
  std::mt19937 rng(20261123);
  const std::vector<std::string> atoms = {"a",
                                          "Z",
                                          " ",
                                          "  ",
                                          "\n",
                                          "\r\n",
                                          "\t",
                                          "7",
                                          "'s",
                                          "'LL",
                                          ".",
                                          "!?",
                                          "\xc3\xa9",
                                          "e\xcc\x81",
                                          "\xe4\xb8\xad",
                                          "\xed\x95\x9c",
                                          "\xf0\x9f\x98\x80",
                                          "\xe2\x80\x8d",
                                          "\xd9\x85",
                                          "\xe0\xa4\xa8",
                                          "\xc2\xa0",
                                          "\xe3\x80\x80",
                                          "<|im_end|>",
                                          "<|endoftext|>",
                                          "\xff",
                                          "\x80",
                                          "\xe4\xb8",
                                          "\xf0\x9f",
                                          std::string("\0", 1)};
  for (const std::string& path : {kQwen, kGpt2}) {
    const Tokenizer& tok = Get(path);
    for (int n = 0; n < 300; ++n) {
      std::string text;
      for (int k = static_cast<int>(rng() % 40); k > 0; --k) text += atoms[rng() % atoms.size()];
      std::vector<int32_t> ids = tok.Encode(text);
      ASSERT_EQ(tok.Decode(ids), Expected(path, text)) << path << " case " << n;
    }
  }
}

// Encode is const and shared across threads (the piece cache is locked).
TEST(TokenizerRoundTrip, ConcurrentEncodeGivesTheSameIds) {
  const Tokenizer& tok = Get(kQwen);
  std::vector<std::vector<int32_t>> want;
  for (const std::string& text : Corpus()) want.push_back(tok.Encode(text));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < Corpus().size(); ++i) {
          size_t k = (i + static_cast<size_t>(t)) % Corpus().size();
          mismatches[t] += tok.Encode(Corpus()[k]) != want[k];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// Latin-1 text below U+0300 skips utf8proc (already NFC); U+0301 does not.
TEST(PreTokenize, NfcFastPathIsExact) {
  EXPECT_EQ(Normalize("caf\xc3\xa9 \xc2\xbd", NormalForm::kNFC), "caf\xc3\xa9 \xc2\xbd");
  EXPECT_EQ(Normalize("\xc2\xbd", NormalForm::kNFKC),
            "1\xe2\x81\x84"
            "2");
  EXPECT_EQ(Normalize("\xc3\xa9\xcc\x81", NormalForm::kNFC), "\xc3\xa9\xcc\x81");
  EXPECT_EQ(Normalize("A\xcc\x8a", NormalForm::kNFC), "\xc3\x85");
}

TEST(TokenizerSpecial, QwenChatMarkup) {
  const Tokenizer& tok = Get(kQwen);
  const int32_t start = *tok.TokenId("<|im_start|>"), end = *tok.TokenId("<|im_end|>");
  EXPECT_EQ(start, 151644);
  EXPECT_EQ(end, 151645);
  std::vector<int32_t> ids = tok.Encode("<|im_start|>user\nhi<|im_end|>");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), start);
  EXPECT_EQ(ids.back(), end);
  EXPECT_EQ(std::vector<int32_t>(ids.begin() + 1, ids.end() - 1), tok.Encode("user\nhi"));
  EXPECT_TRUE(tok.IsSpecial(start));
  EXPECT_FALSE(tok.IsSpecial(*tok.TokenId("<think>")));  // added, not special
  EXPECT_EQ(tok.Encode("<think>"), std::vector<int32_t>{151667});
  EXPECT_FALSE(tok.IsSpecial(tok.Encode("hi")[0]));
  EXPECT_EQ(tok.vocab_size(), 151669);
  EXPECT_EQ(tok.TokenId("<|no_such_token|>"), std::nullopt);
  EXPECT_EQ(tok.Decode({-1, 1 << 30}), "");
}

TEST(TokenizerSpecial, Gpt2EndOfText) {
  const Tokenizer& tok = Get(kGpt2);
  EXPECT_EQ(tok.TokenId("<|endoftext|>"), 50256);
  EXPECT_EQ(tok.Encode("a<|endoftext|>b"), (std::vector<int32_t>{64, 50256, 65}));
  EXPECT_TRUE(tok.IsSpecial(50256));
  EXPECT_EQ(tok.vocab_size(), 50257);
}

// --- load errors ---

std::string WriteTemp(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << content;
  return path;
}

std::string GptJsonWith(const std::function<void(nlohmann::json&)>& edit) {
  std::ifstream in(kGpt2);
  nlohmann::json j = nlohmann::json::parse(in);
  edit(j);
  return j.dump();
}

TEST(TokenizerLoad, MissingFile) {
  auto t = LoadHfTokenizer("/no/such/dir/tokenizer.json");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("/no/such/dir/tokenizer.json"), std::string::npos);
}

TEST(TokenizerLoad, MalformedJson) {
  for (const std::string& text : {std::string("{\"model\": {"), std::string("[1, 2]"),
                                  std::string("{\"model\": {\"type\": \"BPE\", \"vocab\": 3}}"),
                                  std::string("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": "
                                              "\"x\"}, \"merges\": []}}")}) {
    std::string path = WriteTemp("bad_tokenizer.json", text);
    auto t = LoadHfTokenizer(path);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(t.status().message().find(path), std::string::npos) << t.status();
  }
}

TEST(TokenizerLoad, UnsupportedComponentsAreNamed) {
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {[](nlohmann::json& j) { j["model"]["type"] = "WordPiece"; }, "model type 'WordPiece'"},
      {[](nlohmann::json& j) {
         j["normalizer"] = {{"type", "Lowercase"}};
       },
       "normalizer 'Lowercase'"},
      {[](nlohmann::json& j) {
         j["pre_tokenizer"] = {{"type", "Whitespace"}};
       },
       "pre-tokenizer"},
      {[](nlohmann::json& j) {
         j["decoder"] = {{"type", "WordPiece"}};
       },
       "decoder 'WordPiece'"},
      {[](nlohmann::json& j) { j["model"]["byte_fallback"] = true; }, "byte_fallback"},
      {[](nlohmann::json& j) { j["model"]["merges"].push_back("Ġ nosuchtoken"); }, "missing"},
      {[](nlohmann::json& j) { j["model"]["vocab"]["huge"] = 2000000000; }, "too large"},
      {[](nlohmann::json& j) { j["pre_tokenizer"]["add_prefix_space"] = "yes"; }, "malformed"},
  };
  for (const Case& c : cases) {
    std::string path = WriteTemp("unsupported_tokenizer.json", GptJsonWith(c.edit));
    auto t = LoadHfTokenizer(path);
    ASSERT_FALSE(t.ok()) << c.expect;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(c.expect), std::string::npos) << t.status();
    EXPECT_NE(t.status().message().find(path), std::string::npos) << t.status();
  }
}

// add_prefix_space and a pre-tokenizer Sequence with a String Split: still loads and round-trips.
TEST(TokenizerLoad, PrefixSpaceVariant) {
  std::string path = WriteTemp("prefix_tokenizer.json", GptJsonWith([](nlohmann::json& j) {
                                 j["pre_tokenizer"]["add_prefix_space"] = true;
                               }));
  auto t = LoadHfTokenizer(path);
  ASSERT_TRUE(t.ok()) << t.status();
  const Tokenizer& gpt2 = Get(kGpt2);
  EXPECT_EQ((*t)->Encode("Hello"), gpt2.Encode(" Hello"));
}

// --- the char tokenizer ---

TEST(CharTokenizer, RoundTripAndSpecials) {
  auto tok = MakeCharTokenizer();
  EXPECT_EQ(tok->vocab_size(), 4 + 95 + 1);
  const std::string text = "12+34=46\n(7*8)-9 = 47 <s> ok </s>";
  std::vector<int32_t> ids = tok->Encode(text);
  EXPECT_EQ(tok->Decode(ids), text);
  EXPECT_EQ(tok->Encode("<s>"), std::vector<int32_t>{1});
  EXPECT_TRUE(tok->IsSpecial(1));
  EXPECT_FALSE(tok->IsSpecial(*tok->TokenId("7")));
  EXPECT_EQ(tok->Encode("é"), std::vector<int32_t>{*tok->TokenId("<unk>")});
  EXPECT_EQ(tok->Encode("\xff").size(), 1u);
}

TEST(CharTokenizer, DigitsOnlyWithUtf8Alphabet) {
  CharTokenizerOptions options;
  options.special_tokens = {"<eos>"};
  options.alphabet = "0123456789+=语";
  options.unknown_token = "";
  auto tok = MakeCharTokenizer(options);
  EXPECT_EQ(tok->vocab_size(), 1 + 13);
  EXPECT_EQ(tok->Encode("1+1=2语<eos>"), (std::vector<int32_t>{2, 11, 2, 12, 3, 13, 0}));
  EXPECT_EQ(tok->Encode("1 x 2"), (std::vector<int32_t>{2, 3}));  // unknown dropped
  EXPECT_EQ(tok->Decode(tok->Encode("9=9")), "9=9");
}

// --- the stages ---

TEST(PreTokenize, Gpt2Regex) {
  auto re = Regex::Compile(kGpt2Pattern);
  ASSERT_TRUE(re.ok()) << re.status();
  std::vector<std::string_view> pieces;
  (*re)->SplitIsolated("Hello world's  123!!\n", pieces);
  EXPECT_EQ(pieces,
            (std::vector<std::string_view>{"Hello", " world", "'s", " ", " 123", "!!", "\n"}));
  EXPECT_FALSE(Regex::Compile("(unclosed").ok());
}

TEST(PreTokenize, NormalizeNfc) {
  EXPECT_EQ(Normalize("e\xcc\x81", NormalForm::kNFC), "\xc3\xa9");
  EXPECT_EQ(Normalize("\xc3\xa9", NormalForm::kNFD), "e\xcc\x81");
  EXPECT_EQ(Normalize("a\xff"
                      "e\xcc\x81",
                      NormalForm::kNFC),
            "a\xff\xc3\xa9");
}

}  // namespace
}  // namespace grpo::policy
