#include "policy/chat_template.h"

#include "absl/strings/str_cat.h"

namespace grpo::policy {

std::string FormatChatMl(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                         std::string_view assistant_prefix) {
  std::string text;
  for (const ChatMessage& message : messages) {
    absl::StrAppend(&text, "<|im_start|>", message.role, "\n", message.content, kChatMlEndOfTurn,
                    "\n");
  }
  if (add_generation_prompt) {
    absl::StrAppend(&text, "<|im_start|>assistant\n", std::string(assistant_prefix));
  }
  return text;
}

std::string FormatR1ZeroPrompt(std::string_view question) {
  return absl::StrCat(kR1SystemPrompt, "\nUser: ", std::string(question), "\nAssistant: <think>");
}

}  // namespace grpo::policy
