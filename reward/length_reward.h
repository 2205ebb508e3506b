// The `length` reward: DAPO's soft overlong punishment (Yu et al. 2025,
// eq. 13). With L the completion's length, L_max = max_length and
// L_cache = cache_length:
//   0                                   L <= L_max - L_cache
//   ((L_max - L_cache) - L) / L_cache   L_max - L_cache < L <= L_max
//   -1                                  L > L_max
// so the value is in [-1, 0]; add it with a weight beside an accuracy reward.
#ifndef GRPO_REWARD_LENGTH_REWARD_H_
#define GRPO_REWARD_LENGTH_REWARD_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "reward/reward_registry.h"

namespace grpo::reward {

struct LengthOptions {
  int64_t max_length = 4096;   // L_max
  int64_t cache_length = 1024; // L_cache; 0 < cache_length <= max_length
};

// The penalty for a completion of `length` units; status kOk.
RewardResult LengthPenalty(int64_t length, const LengthOptions& options);

// The `length` component. Params: max_length, cache_length, unit
// (chars: Unicode code points of the completion, the default; words: runs
// of non-space as Python's str.split(); tokens: the trainer's own count, sent
// per sample as num_tokens, which unit=tokens requires).
std::unique_ptr<RewardComponent> MakeLengthComponent();

}  // namespace grpo::reward

#endif  // GRPO_REWARD_LENGTH_REWARD_H_
