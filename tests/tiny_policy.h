// A random two-layer Llama (hidden 32, 4 query and 2 key/value heads) for tests
// that need a real policy to score or sample, not a trained one.
#ifndef GRPO_TESTS_TINY_POLICY_H_
#define GRPO_TESTS_TINY_POLICY_H_

#include <cstdint>

#include "gtest/gtest.h"
#include "policy/model.h"
#include "policy/model_config.h"

namespace grpo::testing {

inline policy::CausalLM TinyPolicy(int64_t vocab_size, uint64_t seed) {
  policy::ModelConfig c;
  c.vocab_size = vocab_size;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  absl::StatusOr<policy::CausalLM> lm = policy::MakeCausalLM(c, seed);
  EXPECT_TRUE(lm.ok()) << lm.status();
  return lm.ok() ? *std::move(lm) : policy::CausalLM(nullptr);
}

}  // namespace grpo::testing

#endif  // GRPO_TESTS_TINY_POLICY_H_
