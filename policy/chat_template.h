// Chat prompts as text, for the Qwen-style ChatML format and the R1 recipe.
// A fixed format rather than a Jinja engine: enough for instruct checkpoints
// that use ChatML (Qwen2/2.5/3, SmolLM2) and for R1-style training prompts.
//
//   std::string text = FormatChatMl({{"system", kR1SystemPrompt}, {"user", q}},
//                                   /*add_generation_prompt=*/true);
//   std::vector<int32_t> ids = tokenizer.Encode(text);  // <|im_start|> etc. are special ids
//
// ChatML, per message:  <|im_start|>ROLE\nCONTENT<|im_end|>\n
// With add_generation_prompt the text ends in "<|im_start|>assistant\n" (plus
// the assistant prefix, e.g. "<think>\n", when one is given), so generation
// continues as the assistant; it stops at <|im_end|>.
#ifndef GRPO_POLICY_CHAT_TEMPLATE_H_
#define GRPO_POLICY_CHAT_TEMPLATE_H_

#include <string>
#include <string_view>
#include <vector>

namespace grpo::policy {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

// The ChatML text of `messages`, in order. Nothing is inserted that the
// caller did not ask for (no default system prompt).
std::string FormatChatMl(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                         std::string_view assistant_prefix = "");

// The end-of-turn token text that a ChatML assistant turn ends with.
inline constexpr char kChatMlEndOfTurn[] = "<|im_end|>";

// The R1 recipe's instruction: reason inside <think>...</think>, then give
// the answer inside <answer>...</answer>. The format reward
// (reward/format_reward.h) checks exactly this shape.
inline constexpr char kR1SystemPrompt[] =
    "The user asks a question and you, the assistant, solve it. First think "
    "the problem through step by step inside <think> </think> tags, then write "
    "the final answer inside <answer> </answer> tags, e.g. "
    "<think> reasoning here </think> <answer> answer here </answer>. For a "
    "math problem, put the final result in \\boxed{} inside the answer.";

// The R1-Zero prompt for base models without a chat format: the instruction,
// then "User: QUESTION\nAssistant: <think>" so the completion starts inside the
// reasoning block.
std::string FormatR1ZeroPrompt(std::string_view question);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_CHAT_TEMPLATE_H_
