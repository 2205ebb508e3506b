#include "reward/length_reward.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "reward/declared_params.h"
#include "reward/unicode_text.h"

namespace grpo::reward {

RewardResult LengthPenalty(int64_t length, const LengthOptions& options) {
  const int64_t free_length = options.max_length - options.cache_length;
  RewardResult r;
  r.status = RewardStatus::kOk;
  if (length <= free_length) {
    r.value = 0;
  } else if (length <= options.max_length) {
    r.value = static_cast<double>(free_length - length) / static_cast<double>(options.cache_length);
  } else {
    r.value = -1;
  }
  r.extracted = std::to_string(length);
  r.reason = absl::StrCat("length ", length, " (penalty from ", free_length, ", -1 past ",
                          options.max_length, ")");
  return r;
}

std::unique_ptr<RewardComponent> MakeLengthComponent() {
  ComponentInfo info{"length", "1",
                     "DAPO soft overlong penalty: 0 up to max_length - cache_length, linear to -1 "
                     "at max_length, -1 beyond",
                     "none",
                     {{"max_length", "int64", "4096"},
                      {"cache_length", "int64", "1024"},
                      {"unit", "enum chars|words|tokens", "chars"},
                      {"num_tokens", "int64", "-1"}}};
  auto check = [](const ParamValues& p) -> absl::Status {
    if (p.Int("cache_length") <= 0 || p.Int("cache_length") > p.Int("max_length")) {
      return absl::InvalidArgumentError(
          absl::StrCat("needs 0 < cache_length <= max_length, got cache_length=",
                       p.Int("cache_length"), " max_length=", p.Int("max_length")));
    }
    if (p.String("unit") == "tokens" && p.Int("num_tokens") < 0) {
      return absl::InvalidArgumentError("unit=tokens needs the sample's num_tokens param");
    }
    return absl::OkStatus();
  };
  auto score = [](const ComponentInput& input, const ParamValues& p) {
    const std::string unit = p.String("unit");
    const int64_t length = unit == "tokens"  ? p.Int("num_tokens")
                           : unit == "words" ? static_cast<int64_t>(SplitOnSpace(input.completion).size())
                                             : static_cast<int64_t>(CountCodePoints(input.completion));
    return LengthPenalty(length, {p.Int("max_length"), p.Int("cache_length")});
  };
  return std::make_unique<DeclaredComponent>(std::move(info), check, score);
}

}  // namespace grpo::reward
