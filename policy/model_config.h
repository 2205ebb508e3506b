// The shape of a decoder-only model, read from a Hugging Face config.json.
//
//   ASSIGN_OR_RETURN(ModelConfig c, LoadModelConfig("data/models/stories260K/config.json"));
//
// Supported: the Llama family (model_type "llama", LlamaForCausalLM) and Qwen2
// (model_type "qwen2", Qwen2ForCausalLM: q/k/v biases, no o_proj bias). Anything
// else, and options this code does not implement (mlp_bias, an activation other
// than silu, partial_rotary_factor != 1, an unknown rope_scaling type or
// torch_dtype), is InvalidArgument naming the file. No LibTorch.
#ifndef GRPO_POLICY_MODEL_CONFIG_H_
#define GRPO_POLICY_MODEL_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace grpo::policy {

// config.json "rope_scaling", with Hugging Face's meaning (policy/rope.h says
// how each type changes the rotary frequencies). "type" is read as an alias of
// "rope_type"; a field absent from the file keeps the default below, which is
// HF's default for that field.
struct RopeScaling {
  std::string rope_type = "default";  // default, linear, dynamic, llama3, yarn
  double factor = 1.0;                // linear, dynamic, llama3, yarn
  double low_freq_factor = 1.0;       // llama3
  double high_freq_factor = 4.0;      // llama3
  // llama3 (required) and yarn (0: max_position_embeddings).
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32.0;  // yarn
  double beta_slow = 1.0;   // yarn
  double mscale = 0.0;           // yarn, with mscale_all_dim (0: not given)
  double mscale_all_dim = 0.0;   // yarn
  double attention_factor = 0.0;  // yarn; 0: derived (0.1 ln(factor) + 1)
  bool truncate = true;           // yarn: round the ramp's ends outward
};

struct ModelConfig {
  std::string model_type = "llama";           // "llama" or "qwen2"
  std::string architecture = "LlamaForCausalLM";
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // GQA; == num_attention_heads for plain MHA
  int64_t head_dim = 0;             // hidden_size / num_attention_heads unless given
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;  // rope_type "default": none in the file
  bool tie_word_embeddings = false;
  bool qkv_bias = false;   // Llama attention_bias; always on for Qwen2
  bool o_proj_bias = false;  // Llama attention_bias; off for Qwen2
  std::string torch_dtype = "float32";  // float32, bfloat16, float16 or float64
  int64_t bos_token_id = -1;  // -1: not given
  int64_t eos_token_id = -1;
};

// Parses config.json text; `source` (the file name) prefixes every error.
absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& source);
// Reads and parses a file; NotFound when it cannot be read.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);
// Checks sizes are positive and heads divide evenly; InvalidArgument naming `source`.
absl::Status ValidateModelConfig(const ModelConfig& config, const std::string& source);
// The HF config.json text for `config` (parses back to an equal config).
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_MODEL_CONFIG_H_
