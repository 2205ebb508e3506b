// A ready-to-sample checkpoint: the model, its tokenizer, and the ids that
// start and end a generation, from a Hugging Face directory or a GGUF file.
//
//   ASSIGN_OR_RETURN(Pretrained p, LoadPretrained("data/models/stories260K"));
//   std::vector<int64_t> prompt = p.PromptIds("Once upon a time");  // BOS + text
//
// A directory holds config.json + model.safetensors (or shards) and one
// tokenizer: tokenizer.json (HF byte-level BPE) or tok512.bin / tokenizer.bin
// (llama2.c). DIR/tokenizer_config.json, when present, says whether prompts
// start with BOS (add_bos_token) and names extra end-of-turn tokens. A path
// ending in .gguf loads the model and tokenizer stored in the file.
#ifndef GRPO_POLICY_PRETRAINED_H_
#define GRPO_POLICY_PRETRAINED_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/model.h"
#include "policy/tokenizer.h"

namespace grpo::policy {

struct Pretrained {
  CausalLM model{nullptr};
  std::unique_ptr<Tokenizer> tokenizer;
  int64_t bos_id = -1;     // -1: none
  bool add_bos = false;    // prompts start with bos_id
  std::vector<int64_t> stop_ids;  // eos and end-of-turn tokens (<|im_end|>, <|eot_id|>)
  bool has_chat_format = false;   // the vocabulary has ChatML's <|im_start|> / <|im_end|>

  // BOS (when add_bos) followed by the ids of `text`.
  std::vector<int64_t> PromptIds(std::string_view text) const;
};

// LibTorch intra-op threads for running `model` on CPU with `cores` cores:
// below ~20M parameters each op is too small to split, and extra threads only
// spin (on a busy machine decoding gets many times slower), so 1; else cores.
int RecommendedCpuThreads(CausalLM& model, int cores);

// NotFound when the path or a needed file is missing; InvalidArgument, naming
// the file, for a malformed config, checkpoint or tokenizer (see LoadCausalLM,
// LoadHfTokenizer and the GGUF loader for the checks).
absl::StatusOr<Pretrained> LoadPretrained(const std::string& path);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_PRETRAINED_H_
