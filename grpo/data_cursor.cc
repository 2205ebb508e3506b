#include "grpo/data_cursor.h"

#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"

namespace grpo::train {

DataCursor::DataCursor(size_t size, uint64_t seed) : size_(size > 0 ? size : 1), seed_(seed) { Shuffle(); }

void DataCursor::Shuffle() {
  order_.resize(size_);
  std::iota(order_.begin(), order_.end(), size_t{0});
  // SplitMix64 from (seed, epoch): a portable stream (std::shuffle's use of
  // its generator differs between standard libraries).
  uint64_t state = seed_ ^ (static_cast<uint64_t>(epoch_) * 0xD1B54A32D192ED03ULL);
  auto next = [&state] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  };
  for (size_t i = size_ - 1; i > 0; --i) std::swap(order_[i], order_[next() % (i + 1)]);
}

size_t DataCursor::Next() {
  if (position_ == static_cast<int64_t>(size_)) {
    ++epoch_;
    position_ = 0;
    Shuffle();
  }
  return order_[static_cast<size_t>(position_++)];
}

absl::Status DataCursor::Seek(int64_t epoch, int64_t position) {
  if (epoch < 0 || position < 0 || position > static_cast<int64_t>(size_)) {
    return absl::InvalidArgumentError(absl::StrCat("data cursor: epoch ", epoch, ", position ", position,
                                                   " is outside ", size_, " problems"));
  }
  epoch_ = epoch;
  position_ = position;
  Shuffle();
  return absl::OkStatus();
}

}  // namespace grpo::train
