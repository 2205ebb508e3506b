#include "reward/reward_result.h"

namespace grpo::reward {

std::string_view RewardStatusName(RewardStatus status) {
  switch (status) {
    case RewardStatus::kOk: return "ok";
    case RewardStatus::kNoAnswer: return "no_answer";
    case RewardStatus::kUnparseableGold: return "unparseable_gold";
    case RewardStatus::kTimeout: return "timeout";
    case RewardStatus::kError: return "error";
  }
  return "error";
}

}  // namespace grpo::reward
