#include "reward/repetition_reward.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "reward/declared_params.h"
#include "reward/unicode_text.h"

namespace grpo::reward {

RewardResult RepetitionPenalty(std::string_view completion, const RepetitionOptions& options) {
  RewardResult r;
  r.status = RewardStatus::kOk;
  std::string lower(completion);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  const std::vector<std::string_view> words = SplitOnSpace(lower);
  const size_t n = static_cast<size_t>(options.ngram_size);
  if (words.size() < n || n == 0) {
    r.reason = absl::StrCat(words.size(), " words, fewer than ngram_size ", n);
    return r;
  }
  std::set<std::vector<std::string_view>> distinct;
  const size_t total = words.size() - n + 1;
  for (size_t i = 0; i < total; ++i) {
    distinct.emplace(words.begin() + static_cast<std::ptrdiff_t>(i),
                     words.begin() + static_cast<std::ptrdiff_t>(i + n));
  }
  const double scaling = 1.0 - static_cast<double>(distinct.size()) / static_cast<double>(total);
  r.value = scaling * options.max_penalty;
  r.extracted = absl::StrCat(distinct.size(), "/", total);
  r.reason = absl::StrCat(distinct.size(), " distinct of ", total, " ", n, "-grams");
  return r;
}

std::unique_ptr<RewardComponent> MakeRepetitionComponent() {
  ComponentInfo info{"repetition", "1",
                     "n-gram repetition penalty (open-r1): (1 - distinct/total word n-grams) * "
                     "max_penalty",
                     "none",
                     {{"ngram_size", "int32", "3"}, {"max_penalty", "double", "-1"}}};
  auto check = [](const ParamValues& p) -> absl::Status {
    if (p.Int("ngram_size") < 1) return absl::InvalidArgumentError("ngram_size must be >= 1");
    if (p.Double("max_penalty") > 0) return absl::InvalidArgumentError("max_penalty must be <= 0");
    return absl::OkStatus();
  };
  auto score = [](const ComponentInput& input, const ParamValues& p) {
    return RepetitionPenalty(input.completion,
                             {static_cast<int>(p.Int("ngram_size")), p.Double("max_penalty")});
  };
  return std::make_unique<DeclaredComponent>(std::move(info), check, score);
}

}  // namespace grpo::reward
