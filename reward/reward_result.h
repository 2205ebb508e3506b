// The result every reward checker returns for one sample.
#ifndef GRPO_REWARD_REWARD_RESULT_H_
#define GRPO_REWARD_REWARD_RESULT_H_

#include <string>
#include <string_view>

namespace grpo::reward {

enum class RewardStatus {
  kOk,               // the checker reached a verdict; `value` holds it
  kNoAnswer,         // the completion holds no answer the extractor recognises
  kUnparseableGold,  // the reference answer could not be read
  kTimeout,          // the check ran past its time bound
  kError,            // anything else (hostile input, internal failure); see `reason`
};

// "ok", "no_answer", "unparseable_gold", "timeout", "error".
std::string_view RewardStatusName(RewardStatus status);

struct RewardResult {
  double value = 0.0;  // 0 unless status is kOk; in [0, 1] for checks, <= 0 for penalties (length)
  RewardStatus status = RewardStatus::kError;
  std::string extracted;  // the prediction as extracted (math) or the verdict (code)
  std::string reason;     // short, human-readable why
};

}  // namespace grpo::reward

#endif  // GRPO_REWARD_REWARD_RESULT_H_
