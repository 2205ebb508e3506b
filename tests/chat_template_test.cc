// ChatML formatting, and that the Qwen tokenizer turns it into the ids
// Hugging Face `tokenizers` gives for the same text.
#include "policy/chat_template.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/tokenizer.h"

namespace grpo::policy {
namespace {

TEST(ChatTemplate, ChatMlText) {
  EXPECT_EQ(FormatChatMl({{"system", "Be brief."}, {"user", "What is 2+2?"}},
                         /*add_generation_prompt=*/true),
            "<|im_start|>system\nBe brief.<|im_end|>\n"
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(FormatChatMl({{"user", "hi"}, {"assistant", "hello"}}, /*add_generation_prompt=*/false),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n");
  EXPECT_EQ(FormatChatMl({{"user", "q"}}, true, "<think>\n"),
            "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n");
}

TEST(ChatTemplate, QwenTokenizerGivesHuggingFaceIds) {
  auto tokenizer = LoadHfTokenizer(GRPO_DATA_DIR "/tokenizers/qwen3/tokenizer.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const std::string text =
      FormatChatMl({{"system", "Be brief."}, {"user", "What is 2+2?"}}, true);
  // tokenizers 0.x: Tokenizer.from_file(qwen3/tokenizer.json).encode(text).ids
  const std::vector<int32_t> expected = {151644, 8948, 198, 3430, 9814, 13,  151645, 198,
                                         151644, 872,  198, 3838, 374,  220, 17,     10,
                                         17,     30,   151645, 198, 151644, 77091, 198};
  EXPECT_EQ((*tokenizer)->Encode(text), expected);
  EXPECT_EQ((*tokenizer)->Decode(expected), text);
}

TEST(ChatTemplate, R1ZeroPromptOpensTheReasoningBlock) {
  const std::string prompt = FormatR1ZeroPrompt("What is 17 * 23?");
  EXPECT_EQ(prompt.rfind(kR1SystemPrompt, 0), 0u);
  EXPECT_NE(prompt.find("\nUser: What is 17 * 23?\nAssistant: <think>"), std::string::npos);
  EXPECT_EQ(prompt.substr(prompt.size() - 7), "<think>");
}

}  // namespace
}  // namespace grpo::policy
