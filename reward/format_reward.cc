#include "reward/format_reward.h"
#include "reward/text_util.h"

#include <string>

namespace grpo::reward {
namespace {

// The answer part shown in `extracted`; the whole thing can be megabytes.
constexpr size_t kMaxExtractedBytes = 200;

size_t Count(std::string_view text, std::string_view tag) {
  if (tag.empty()) return 0;  // a blank tag in the config never "appears"
  size_t count = 0;
  for (size_t p = text.find(tag); p != std::string_view::npos; p = text.find(tag, p + tag.size())) {
    ++count;
  }
  return count;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Cut on a UTF-8 character boundary so the result stays printable.
std::string Truncate(std::string_view s) {
  if (s.size() <= kMaxExtractedBytes) return std::string(s);
  size_t cut = kMaxExtractedBytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "...";
}

// "missing </think>" or "3 </think> tags" for a count other than one.
std::string CountProblem(size_t count, std::string_view tag) {
  if (count == 0) return "missing " + std::string(tag);
  return std::to_string(count) + " " + std::string(tag) + " tags";
}

RewardResult Verdict(bool ok, std::string reason, std::string_view answer) {
  RewardResult result;
  result.value = ok ? 1.0 : 0.0;
  result.status = RewardStatus::kOk;
  result.extracted = Truncate(answer);
  result.reason = std::move(reason);
  return result;
}

RewardResult Fail(std::string reason, std::string_view answer = {}) {
  return Verdict(false, std::move(reason), answer);
}

}  // namespace

RewardResult FormatReward(std::string_view completion, const config::FormatRewardOptions& options) {
  const std::string& think_open = options.think_open();
  const std::string& think_close = options.think_close();
  const size_t opens = Count(completion, think_open);
  const size_t closes = Count(completion, think_close);

  size_t reasoning_begin = 0;
  if (options.think_open_in_prompt()) {
    if (opens > 0) return Fail(think_open + " in the completion, but the prompt already opens it");
  } else {
    if (opens != 1) return Fail(CountProblem(opens, think_open));
    size_t lead = 0;  // leading whitespace (a newline after the chat template) is fine
    while (lead < completion.size() && IsAsciiSpace(completion[lead])) ++lead;
    if (!StartsWith(completion.substr(lead), think_open)) {
      return Fail("text before " + think_open);
    }
    reasoning_begin = lead + think_open.size();
  }
  if (closes != 1) return Fail(CountProblem(closes, think_close));
  const size_t close_pos = completion.find(think_close);
  if (close_pos < reasoning_begin) return Fail(think_close + " before " + think_open);

  const std::string_view after = completion.substr(close_pos + think_close.size());
  const std::string_view answer = TrimSpace(after);
  if (answer.empty()) return Fail("empty answer after " + think_close);
  if (!options.require_answer_tag()) return Verdict(true, "ok", answer);

  // R1-Zero: after the reasoning comes exactly <answer>...</answer>.
  const std::string& answer_open = options.answer_open();
  const std::string& answer_close = options.answer_close();
  const size_t answer_opens = Count(answer, answer_open);
  const size_t answer_closes = Count(answer, answer_close);
  if (answer_opens != 1) return Fail(CountProblem(answer_opens, answer_open), answer);
  if (answer_closes != 1) return Fail(CountProblem(answer_closes, answer_close), answer);
  if (!StartsWith(answer, answer_open)) {
    return Fail("text between " + think_close + " and " + answer_open, answer);
  }
  if (!EndsWith(answer, answer_close) || answer.size() < answer_open.size() + answer_close.size()) {
    return Fail("text after " + answer_close, answer);
  }
  const std::string_view inside = TrimSpace(
      answer.substr(answer_open.size(), answer.size() - answer_open.size() - answer_close.size()));
  if (inside.empty()) return Fail("empty " + answer_open, inside);
  return Verdict(true, "ok", inside);
}

RewardResult TagCountReward(std::string_view completion,
                            const config::FormatRewardOptions& options) {
  // The prompt's think_open counts as one more occurrence, so a completion
  // that opens the block again has two.
  const size_t prompt_open = options.think_open_in_prompt() ? 1 : 0;
  const std::string* tags[] = {&options.think_open(), &options.think_close(),
                               &options.answer_open(), &options.answer_close()};
  double value = 0.0;
  std::string reason;
  for (int k = 0; k < 4; ++k) {
    const size_t in_completion = Count(completion, *tags[k]);
    const size_t count = in_completion + (k == 0 ? prompt_open : 0);
    if (count == 1) value += 0.25;
    if (!reason.empty()) reason += ' ';
    reason += *tags[k] + "=" + std::to_string(in_completion);
    if (k == 0 && prompt_open == 1) reason += "+1 in prompt";
  }
  RewardResult result;
  result.value = value;
  result.status = RewardStatus::kOk;
  result.reason = std::move(reason);
  return result;
}

}  // namespace grpo::reward
