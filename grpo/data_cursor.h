// The order a run visits its training problems: a deterministic shuffle. Each
// epoch is a fresh permutation of 0..N-1 drawn from (seed, epoch) by
// Fisher-Yates on SplitMix64, so it is the same on every platform and every
// data-parallel rank, every problem comes once per epoch, and the cursor's
// whole state is (epoch, position): what a checkpoint keeps.
#ifndef GRPO_GRPO_DATA_CURSOR_H_
#define GRPO_GRPO_DATA_CURSOR_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace grpo::train {

class DataCursor {
 public:
  // `size` problems (>= 1).
  DataCursor(size_t size, uint64_t seed);

  // The next problem's index; past the last one of an epoch, the first of the
  // next epoch's permutation.
  size_t Next();

  int64_t epoch() const { return epoch_; }
  int64_t position() const { return position_; }  // indices already taken this epoch

  // Continues from a saved (epoch, position). InvalidArgument when either is
  // out of range (negative, or position > size).
  absl::Status Seek(int64_t epoch, int64_t position);

 private:
  void Shuffle();  // order_ for epoch_

  size_t size_;
  uint64_t seed_;
  int64_t epoch_ = 0;
  int64_t position_ = 0;
  std::vector<size_t> order_;
};

}  // namespace grpo::train

#endif  // GRPO_GRPO_DATA_CURSOR_H_
