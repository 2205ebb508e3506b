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
// computed in float64, HF's rope_scaling types: policy/rope.h), causal grouped-query attention, SwiGLU MLP, optional
// q/k/v and o_proj biases, tied or separate lm_head. Weights are kept in fp32
// unless a dtype is chosen (bf16/fp16 for GPU use; in any dtype the RMSNorm
// statistics and the softmax are fp32 or wider, and logits are returned fp32).
// Padding: an optional attention_mask [B, T_past + T] (1 = real token, 0 =
// pad) covers the cached and the new columns, with Hugging Face's meaning:
// a row's positions count its real tokens (cumsum(mask) - 1, so a left-padded
// prompt starts at position 0), and a query sees the real keys at or before
// it. A pad query sees only itself, so its output is finite (and meaningless).
// Left-pad prompts; right-pad teacher-forced completions. Without a mask every
// row is one unpadded sequence starting at position 0 or where the cache ends.
//
// A decode step with the cache gives the logits of a full pass within fp32
// rounding, not bitwise: OpenBLAS sgemm rounds a row differently with the
// number of rows in the call (the same row of one stories260K-sized linear
// layer moves by up to ~2e-5 between 8 and 200 rows), so cached and full
// passes differ by ~1e-6 on a random model and ~2-3e-5 on stories260K, whose
// fp32 logits are themselves ~1e-5 from float64. For equality use the
// batch-invariant mode (CausalLMImpl::set_batch_invariant).
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
#include <memory>
#include <mutex>
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
// forward() given the cache appends its columns, and the next call continues
// after them. For incremental decoding: prefill the prompt, then feed one
// token at a time. `mask` [B, T_past] int64 is the attention mask of the cached
// columns once any forward() was given one (undefined while nothing is
// padded); a later call without a mask treats its new tokens as real.
struct KvCache {
  std::vector<torch::Tensor> keys, values;
  torch::Tensor mask;
  int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
  int64_t batch() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(0); }
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
  // x [B,T,C]; cos/sin [T,head_dim] or [B,1,T,head_dim] for x's positions.
  // `allowed` [B,1,T,T_past+T] bool says which keys each query sees; undefined
  // means plain causal. With past_k/past_v (both or neither), x follows the
  // cached columns, and they are extended.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& allowed, torch::Tensor* past_k = nullptr,
                        torch::Tensor* past_v = nullptr);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  // See CausalLMImpl::set_batch_invariant.
  void set_batch_invariant(bool on) { batch_invariant_ = on; }

 private:
  int64_t heads_, kv_heads_, head_dim_;
  bool batch_invariant_ = false;
};
TORCH_MODULE(Attention);

// down(silu(gate(x)) * up(x)).
class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  // See CausalLMImpl::set_batch_invariant.
  void set_batch_invariant(bool on) { batch_invariant_ = on; }

 private:
  bool batch_invariant_ = false;
};
TORCH_MODULE(Mlp);

// Pre-norm block: h = x + attn(norm(x)); h + mlp(norm(h)).
class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& allowed, torch::Tensor* past_k = nullptr,
                        torch::Tensor* past_v = nullptr);
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

// Embedding, layers, final norm: HF's "model." prefix.
class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const ModelConfig& config);
  // input_ids [B,T] int64 -> hidden states [B,T,C] after the final norm;
  // attention_mask as in the file comment (undefined: no padding).
  torch::Tensor forward(const torch::Tensor& input_ids, KvCache* cache = nullptr,
                        const torch::Tensor& attention_mask = {});
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};

 private:
  // cos and sin [n, head_dim] for positions 0..n-1 on `like`'s device and
  // dtype. Kept between calls (grown by doubling) unless the RoPE type is
  // "dynamic", whose tables depend on n; recomputing them every decode step
  // was a large share of a small model's per-token time.
  std::pair<torch::Tensor, torch::Tensor> RopeTablesFor(int64_t n, const torch::Tensor& like);

  struct RopeCache {
    std::mutex mutex;
    torch::Tensor cos, sin;
  };
  ModelConfig config_;
  std::shared_ptr<RopeCache> rope_cache_ = std::make_shared<RopeCache>();
};
TORCH_MODULE(Decoder);

// The causal LM: decoder + lm_head (absent when tied to the embedding).
class CausalLMImpl : public torch::nn::Module {
 public:
  explicit CausalLMImpl(const ModelConfig& config);
  // input_ids [B,T] int64 -> logits [B,T,vocab] fp32; see KvCache.
  torch::Tensor forward(const torch::Tensor& input_ids, KvCache* cache = nullptr,
                        const torch::Tensor& attention_mask = {});
  const ModelConfig& config() const { return config_; }

  // Batch-invariant numerics, off by default. When on, a row's logits do not
  // depend on the other rows of the batch, on padding, or on whether its
  // prefix came from the KV cache: a cached decode step gives the logits of
  // a full recomputation bitwise in practice (measured 0 on stories260K in
  // fp32; the float64 attention can in principle flip a last bit). Results
  // stay within fp32 rounding of the default mode. How: every linear layer
  // (q/k/v/o, the MLP, lm_head or the tied embedding) runs as matmuls over
  // fixed blocks of 8 rows (policy/batch_invariant.h), the MLP's silu per
  // block, and attention (scores, softmax, probs x values) in float64.
  // ScoreTokens (policy/logprobs.h) honours it for its lm_head chunks, so
  // sampled and re-scored log-probs agree too. Cost: many small matmuls and
  // wider attention; slower on large batches and on GPUs, where it is meant
  // for checks rather than throughput. Applies to this module's layers; not
  // thread-safe against a concurrent forward().
  void set_batch_invariant(bool on);
  bool batch_invariant() const { return batch_invariant_; }

  Decoder model{nullptr};
  torch::nn::Linear lm_head{nullptr};

 private:
  ModelConfig config_;
  bool batch_invariant_ = false;
};
TORCH_MODULE(CausalLM);

// --- the boundary: no exception leaves these ---

struct LoadOptions {
  // Tensors in the file that the model has no parameter for (e.g. an old
  // rotary inv_freq buffer) are an error unless this is set.
  bool ignore_unexpected_tensors = false;
  // The dtype the weights are kept in, whatever the files hold: kFloat,
  // kBFloat16, kHalf or kDouble. LibTorch 1.13 has no fp16 matmul on CPU, so
  // kHalf is for models moved to a GPU; bf16 runs on CPU too.
  torch::Dtype dtype = torch::kFloat;
};

// A model with fresh random weights (LibTorch's default init, drawn in fp32
// and then rounded to `dtype`) from `seed`. Reseeds LibTorch's global CPU
// generator. The model's config().torch_dtype names `dtype`. InvalidArgument
// for a bad config or a dtype that is not kFloat/kBFloat16/kHalf/kDouble.
absl::StatusOr<CausalLM> MakeCausalLM(const ModelConfig& config, uint64_t seed,
                                      torch::Dtype dtype = torch::kFloat);

// config.json's torch_dtype name ("float32", "bfloat16", "float16",
// "float64") as a LibTorch dtype, and back; InvalidArgument for other names.
absl::StatusOr<torch::Dtype> DtypeFromName(const std::string& torch_dtype);
absl::StatusOr<std::string> DtypeName(torch::Dtype dtype);

// Loads DIR/config.json and DIR/model.safetensors (or the shards of
// DIR/model.safetensors.index.json). Every parameter must be in the files with
// its exact shape (F32, F16, BF16 or F64; converted to options.dtype); errors
// name the tensor and the file.
absl::StatusOr<CausalLM> LoadCausalLM(const std::string& dir, const LoadOptions& options = {});
// Copies the tensors of `files` (one file or the shards) into `model`'s
// parameters, with the same checks.
absl::Status LoadWeights(CausalLM& model, absl::Span<const SafetensorsFile> files,
                         const LoadOptions& options = {});

struct SaveOptions {
  // 0: one model.safetensors; else shards of at most this many bytes + index.
  uint64_t max_shard_bytes = 0;
};

// Writes DIR/config.json and the weights (HF names) in the dtype of the model's
// parameters (F32, BF16, F16 or F64; torch_dtype in config.json says which),
// creating DIR. Each file is replaced atomically; a sharded save writes its
// index last.
absl::Status SaveCausalLM(CausalLM& model, const std::string& dir, const SaveOptions& options = {});

// forward() with checks: input_ids must be [B,T] integers in [0, vocab) (pad
// positions may hold any id; they are read as 0), a non-empty cache must come
// from this model with the same B, and attention_mask, when given, must be
// [B, cache length + T] of 0/1 (bool or integer). Any of these failing is
// InvalidArgument. On error the cache is unchanged. Grad mode is left as the
// caller set it.
absl::StatusOr<torch::Tensor> ComputeLogits(CausalLM& model, const torch::Tensor& input_ids,
                                            KvCache* cache = nullptr,
                                            const torch::Tensor& attention_mask = {});

// Keeps the cache rows `rows` ([R] integer indices into the batch, in that
// order, repeats allowed): drops finished sequences, or with
// repeat_interleave(n) shares one prefill among n samples. InvalidArgument
// when an index is out of range; the cache is then unchanged.
absl::Status SelectCacheRows(KvCache& cache, const torch::Tensor& rows);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_MODEL_H_
