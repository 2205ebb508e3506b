// A decoder-only transformer (Llama / Qwen2 family) as LibTorch modules, and its
// loading and saving in the Hugging Face directory layout.
//
//   ASSIGN_OR_RETURN(CausalLM lm, LoadCausalLM("data/models/stories260K"));
//   ASSIGN_OR_RETURN(torch::Tensor logits, ComputeLogits(lm, ids));  // [B,T] -> [B,T,V] fp32
//   RETURN_IF_ERROR(SaveCausalLM(lm, "runs/ckpt"));  // config.json + model.safetensors
//
// The module tree mirrors HF's parameter names, so `named_parameters()` gives
// exactly the safetensors keys ("model.layers.0.self_attn.q_proj.weight", ...).
// Blocks: RMSNorm (fp32 statistics), RoPE (HF rotate_half convention, tables
// computed in float64), causal grouped-query attention, SwiGLU MLP, optional
// q/k/v and o_proj biases, tied or separate lm_head. Weights are kept in fp32.
// There is no padding mask yet: every row of a batch is one unpadded sequence,
// starting at position 0 or, with a KvCache, where the cache ends.
//
// The module forward() throws c10::Error like any LibTorch module; the free
// functions below are the policy/ boundary and never throw.
#ifndef GRPO_POLICY_MODEL_H_
#define GRPO_POLICY_MODEL_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "policy/model_config.h"
#include "policy/safetensors.h"

namespace grpo::policy {

// Keys and values (after RoPE, before the GQA repeat) of the positions already
// run, one [B, kv_heads, T_past, head_dim] tensor per layer. Start empty; a
// forward() given the cache appends its positions, and the next call continues
// at position length(). For incremental decoding: prefill the prompt, then
// feed one token at a time.
struct KvCache {
  std::vector<torch::Tensor> keys, values;
  int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
};

// y = x / sqrt(mean(x^2) + eps) * weight, the statistics in fp32.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// Causal self-attention with num_key_value_heads <= num_attention_heads (GQA).
class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& config);
  // x [B,T,C]; cos/sin [T,head_dim] for x's positions. With past_k/past_v
  // (both or neither), x follows the cached positions, and they are extended.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        torch::Tensor* past_k = nullptr, torch::Tensor* past_v = nullptr);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(Attention);

// down(silu(gate(x)) * up(x)).
class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

// Pre-norm block: h = x + attn(norm(x)); h + mlp(norm(h)).
class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        torch::Tensor* past_k = nullptr, torch::Tensor* past_v = nullptr);
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

// Embedding, layers, final norm: HF's "model." prefix.
class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const ModelConfig& config);
  // input_ids [B,T] int64 -> hidden states [B,T,C] after the final norm.
  torch::Tensor forward(const torch::Tensor& input_ids, KvCache* cache = nullptr);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};

 private:
  ModelConfig config_;
};
TORCH_MODULE(Decoder);

// The causal LM: decoder + lm_head (absent when tied to the embedding).
class CausalLMImpl : public torch::nn::Module {
 public:
  explicit CausalLMImpl(const ModelConfig& config);
  // input_ids [B,T] int64 -> logits [B,T,vocab] fp32; see KvCache.
  torch::Tensor forward(const torch::Tensor& input_ids, KvCache* cache = nullptr);
  const ModelConfig& config() const { return config_; }
  Decoder model{nullptr};
  torch::nn::Linear lm_head{nullptr};

 private:
  ModelConfig config_;
};
TORCH_MODULE(CausalLM);

// cos and sin [T,head_dim] for positions 0..T-1 (HF layout: the half-size
// frequency table repeated twice), computed in float64, returned as fp32.
std::pair<torch::Tensor, torch::Tensor> RopeTables(int64_t seq_len, int64_t head_dim, double theta);

// --- the boundary: no exception leaves these ---

struct LoadOptions {
  // Tensors in the file that the model has no parameter for (e.g. an old
  // rotary inv_freq buffer) are an error unless this is set.
  bool ignore_unexpected_tensors = false;
};

// A model with fresh random weights (LibTorch's default init) from `seed`.
// Reseeds LibTorch's global CPU generator.
absl::StatusOr<CausalLM> MakeCausalLM(const ModelConfig& config, uint64_t seed);

// Loads DIR/config.json and DIR/model.safetensors (or the shards of
// DIR/model.safetensors.index.json). Every parameter must be in the files with
// its exact shape (F32, F16, BF16 or F64; converted to fp32); errors name the
// tensor and the file.
absl::StatusOr<CausalLM> LoadCausalLM(const std::string& dir, const LoadOptions& options = {});
// Copies the tensors of `files` (one file or the shards) into `model`'s
// parameters, with the same checks.
absl::Status LoadWeights(CausalLM& model, absl::Span<const SafetensorsFile> files,
                         const LoadOptions& options = {});

struct SaveOptions {
  // 0: one model.safetensors; else shards of at most this many bytes + index.
  uint64_t max_shard_bytes = 0;
};

// Writes DIR/config.json and the weights (F32, HF names), creating DIR. Each
// file is replaced atomically; a sharded save writes its index last.
absl::Status SaveCausalLM(CausalLM& model, const std::string& dir, const SaveOptions& options = {});

// forward() with checks: input_ids must be [B,T] integers in [0, vocab), and a
// non-empty cache must come from this model with the same B. On error the
// cache is unchanged. Grad mode is left as the caller set it.
absl::StatusOr<torch::Tensor> ComputeLogits(CausalLM& model, const torch::Tensor& input_ids,
                                            KvCache* cache = nullptr);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_MODEL_H_
