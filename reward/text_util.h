// Small text helpers shared by the reward checkers. Private to reward/.
#ifndef GRPO_REWARD_TEXT_UTIL_H_
#define GRPO_REWARD_TEXT_UTIL_H_

#include <string_view>

namespace grpo::reward {

inline bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// `s` without leading and trailing ASCII whitespace; a view into `s`.
inline std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace grpo::reward

#endif  // GRPO_REWARD_TEXT_UTIL_H_
