// A GGUF checkpoint (llama.cpp's format) as our CausalLM and Tokenizer.
//
//   ASSIGN_OR_RETURN(GgufModel m, LoadGgufModel("SmolLM2-135M-Instruct.Q4_1.gguf"));
//   std::vector<int32_t> ids = m.tokenizer->Encode("<|im_start|>user\nhi<|im_end|>\n");
//
// Architectures: general.architecture "llama" and "qwen2". The shape comes
// from {arch}.embedding_length, .block_count, .feed_forward_length,
// .attention.head_count(_kv), .attention.layer_norm_rms_epsilon,
// .rope.freq_base (default 10000), .context_length, .attention.key_length
// (head dim, default embedding / heads); the vocabulary size from
// token_embd.weight. Rope scaling and partial rotary dims are refused.
//
// Tensors (dequantized to fp32, see policy/gguf.h for the types):
// token_embd, output_norm, output (absent: lm_head tied to the embedding),
// blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate,
// ffn_up, ffn_down}.weight and the q/k/v (and output) .bias when present
// (always for qwen2). llama.cpp's converter permutes the rows of a llama
// model's attn_q / attn_k (weights and biases) for its interleaved-pair RoPE;
// they are permuted back to Hugging Face's rotate_half order here. qwen2 is
// stored unpermuted (llama.cpp runs it with NeoX RoPE) and is copied as is.
//
// Tokenizer (tokenizer.ggml.*): model "llama" gives the SentencePiece-style
// SpBpeTokenizer (tokens, scores, token_type, add_space_prefix; spaces are
// "▁"); model "gpt2" gives the byte-level BpeTokenizer (tokens, merges
// "a b", token_type 3 = control -> special added tokens, 4 = user-defined ->
// added tokens) with the pre-tokenizer named by tokenizer.ggml.pre: "gpt2"
// and "default" (GPT-2 regex), "smollm" (single digits, then the GPT-2
// regex, as SmolLM2's tokenizer.json), "qwen2" (Qwen's regex + NFC),
// "llama3"/"llama-bpe" (Llama-3's regex). Others are InvalidArgument.
#ifndef GRPO_POLICY_GGUF_MODEL_H_
#define GRPO_POLICY_GGUF_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "policy/gguf.h"
#include "policy/model.h"
#include "policy/model_config.h"
#include "policy/tokenizer.h"

namespace grpo::policy {

struct GgufModel {
  CausalLM model{nullptr};
  std::unique_ptr<Tokenizer> tokenizer;
  ModelConfig config;
  int64_t bos_id = -1;  // -1: not in the file
  int64_t eos_id = -1;
  bool add_bos = false;       // tokenizer.ggml.add_bos_token (default: true for "llama" vocabularies)
  std::string chat_template;  // tokenizer.chat_template, may be empty
};

// Reads the model shape. InvalidArgument naming the file for an unknown
// architecture, a missing key or an unsupported option.
absl::StatusOr<ModelConfig> GgufModelConfig(const GgufFile& file);

// Builds the tokenizer stored in the file. InvalidArgument naming the file
// and key when the metadata is missing, inconsistent or unsupported.
absl::StatusOr<std::unique_ptr<Tokenizer>> GgufTokenizer(const GgufFile& file);

// Opens the file and builds model and tokenizer. Errors name the file and
// the tensor: a missing tensor, a wrong shape, a type that cannot be
// dequantized, or a tensor the model has no place for.
absl::StatusOr<GgufModel> LoadGgufModel(const std::string& path);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_GGUF_MODEL_H_
