// The unbiased pass@k estimator (Chen et al., 2021, "Evaluating Large Language
// Models Trained on Code"): from n samples of a problem of which c pass, the
// probability that at least one of k samples drawn without replacement passes,
// 1 - C(n-c, k) / C(n, k), computed as a product so it never overflows.
#ifndef GRPO_GRPO_PASS_AT_K_H_
#define GRPO_GRPO_PASS_AT_K_H_

namespace grpo::train {

// Needs 0 <= c <= n and 1 <= k <= n; returns a value in [0, 1].
inline double PassAtK(int n, int c, int k) {
  if (n - c < k) return 1.0;  // every k-subset holds a passing sample
  double all_fail = 1.0;      // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
  for (int i = n - c + 1; i <= n; ++i) all_fail *= 1.0 - static_cast<double>(k) / i;
  return 1.0 - all_fail;
}

}  // namespace grpo::train

#endif  // GRPO_GRPO_PASS_AT_K_H_
