// R1-style format rewards: does the completion reason inside <think>...</think>
// and then answer?
#ifndef GRPO_REWARD_FORMAT_REWARD_H_
#define GRPO_REWARD_FORMAT_REWARD_H_

#include <string_view>

#include "proto/config.pb.h"
#include "reward/reward_result.h"

namespace grpo::reward {

// 1 when the completion is exactly one reasoning block followed by a non-empty
// answer (inside <answer>...</answer> when options.require_answer_tag()),
// else 0. `reason` names the first rule broken. Status is always kOk.
RewardResult FormatReward(std::string_view completion, const config::FormatRewardOptions& options);

// Partial credit for the tags alone, 0.25 per tag that appears exactly once
// (think open/close, answer open/close; the think open is taken as present
// when it sits in the prompt), so a policy is rewarded on its way to the
// full format. In [0, 1].
RewardResult TagCountReward(std::string_view completion,
                            const config::FormatRewardOptions& options);

}  // namespace grpo::reward

#endif  // GRPO_REWARD_FORMAT_REWARD_H_
