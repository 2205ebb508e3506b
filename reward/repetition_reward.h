// The `repetition` reward: open-r1's n-gram repetition penalty
// (get_repetition_penalty_reward). The completion is lower-cased and split
// on whitespace into words; with T its word n-grams (overlapping) and U the
// distinct ones, the value is (1 - U / T) * max_penalty, in [max_penalty, 0].
// A completion with fewer than ngram_size words (or none) scores 0.
// Lower-casing is ASCII only (Python's lower() also folds other scripts).
#ifndef GRPO_REWARD_REPETITION_REWARD_H_
#define GRPO_REWARD_REPETITION_REWARD_H_

#include <memory>
#include <string_view>

#include "reward/reward_registry.h"

namespace grpo::reward {

struct RepetitionOptions {
  int ngram_size = 3;
  double max_penalty = -1.0;  // <= 0
};

// Status kOk; extracted is "U/T" (distinct / total n-grams).
RewardResult RepetitionPenalty(std::string_view completion, const RepetitionOptions& options);

// The `repetition` component; params ngram_size (>= 1), max_penalty (<= 0).
std::unique_ptr<RewardComponent> MakeRepetitionComponent();

}  // namespace grpo::reward

#endif  // GRPO_REWARD_REPETITION_REWARD_H_
