// The unbiased pass@k estimator (grpo/pass_at_k.h): hand-computed values and
// agreement with brute-force enumeration of every k-subset.
#include "grpo/pass_at_k.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace grpo::train {
namespace {

TEST(PassAtKTest, HandComputedValues) {
  EXPECT_DOUBLE_EQ(PassAtK(5, 1, 1), 0.2);
  EXPECT_NEAR(PassAtK(5, 2, 2), 1.0 - 3.0 / 10.0, 1e-15);  // 1 - C(3,2)/C(5,2)
  EXPECT_EQ(PassAtK(10, 0, 5), 0.0);
  EXPECT_EQ(PassAtK(4, 3, 2), 1.0);  // only one failing sample: every pair passes
  EXPECT_EQ(PassAtK(8, 8, 8), 1.0);
}

TEST(PassAtKTest, EqualsTheShareOfPassingSubsets) {
  for (int n = 1; n <= 10; ++n) {
    for (int c = 0; c <= n; ++c) {
      for (int k = 1; k <= n; ++k) {
        // Samples 0..c-1 pass; count the k-subsets holding at least one of them.
        int64_t subsets = 0, passing = 0;
        for (uint32_t mask = 0; mask < (1u << n); ++mask) {
          if (__builtin_popcount(mask) != k) continue;
          ++subsets;
          passing += (mask & ((1u << c) - 1)) != 0;
        }
        EXPECT_NEAR(PassAtK(n, c, k), static_cast<double>(passing) / subsets, 1e-12)
            << "n=" << n << " c=" << c << " k=" << k;
      }
    }
  }
}

}  // namespace
}  // namespace grpo::train
