#include "policy/gguf_model.h"

#include <torch/types.h>
#include <torch/utils.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/bpe_tokenizer.h"
#include "policy/sp_bpe_tokenizer.h"
#include "policy/torch_status.h"
#include "proto/status_macros.h"

namespace grpo::policy {
namespace {

using Json = nlohmann::json;

// Pre-tokenizer regexes of tokenizer.json files (llama.cpp names them in
// tokenizer.ggml.pre).
constexpr char kQwen2Regex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kLlama3Regex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

Json SplitStage(const std::string& regex) {
  return Json{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
}
Json ByteLevelStage(bool use_regex) {
  return Json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", use_regex}};
}

// tokenizer.ggml.pre -> (pre_tokenizer, normalizer) of an equivalent tokenizer.json.
absl::StatusOr<std::pair<Json, Json>> PreTokenizerFor(const std::string& pre, const std::string& path) {
  Json stages = Json::array();
  Json normalizer;  // null
  if (pre.empty() || pre == "default" || pre == "gpt2") {
    stages.push_back(ByteLevelStage(true));
  } else if (pre == "smollm") {
    // SmolLM2's tokenizer.json: Digits(individual_digits) then ByteLevel(use_regex).
    stages.push_back(SplitStage(R"(\p{N})"));
    stages.push_back(ByteLevelStage(true));
  } else if (pre == "qwen2") {
    stages.push_back(SplitStage(kQwen2Regex));
    stages.push_back(ByteLevelStage(false));
    normalizer = Json{{"type", "NFC"}};
  } else if (pre == "llama3" || pre == "llama-bpe") {
    stages.push_back(SplitStage(kLlama3Regex));
    stages.push_back(ByteLevelStage(false));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(path, ": tokenizer.ggml.pre '", pre,
                                                   "' is not supported (gpt2, default, smollm, qwen2, llama3)"));
  }
  return std::make_pair(Json{{"type", "Sequence"}, {"pretokenizers", stages}}, normalizer);
}

const std::vector<std::string>* StringArray(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.Find(key);
  if (v == nullptr || v->type != GgufValueType::kArray || v->elem_type != GgufValueType::kString) return nullptr;
  return &v->strings;
}
const std::vector<double>* NumberArray(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.Find(key);
  if (v == nullptr || v->type != GgufValueType::kArray || v->numbers.size() != v->array_size) return nullptr;
  return &v->numbers;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Gpt2Tokenizer(const GgufFile& f,
                                                        const std::vector<std::string>& tokens,
                                                        const std::vector<double>* types) {
  const std::string& path = f.path();
  const std::vector<std::string>* merges = StringArray(f, "tokenizer.ggml.merges");
  if (merges == nullptr) {
    return absl::InvalidArgumentError(path + ": tokenizer.ggml.merges (string array) is missing");
  }
  std::string pre;
  if (f.Find("tokenizer.ggml.pre") != nullptr) {
    ASSIGN_OR_RETURN(pre, f.GetString("tokenizer.ggml.pre"));
  }
  ASSIGN_OR_RETURN(auto stages, PreTokenizerFor(pre, path));
  // An equivalent tokenizer.json, so the one byte-level engine serves both.
  Json vocab = Json::object();
  Json added = Json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    vocab[tokens[i]] = i;
    const int type = types != nullptr ? static_cast<int>((*types)[i]) : 1;
    if (type == static_cast<int>(SpTokenType::kControl) || type == static_cast<int>(SpTokenType::kUserDefined)) {
      const bool special = type == static_cast<int>(SpTokenType::kControl);
      added.push_back(Json{{"id", i}, {"content", tokens[i]}, {"special", special}, {"normalized", !special}});
    }
  }
  Json j = {{"model", {{"type", "BPE"}, {"vocab", std::move(vocab)}, {"merges", *merges}}},
            {"pre_tokenizer", stages.first},
            {"normalizer", stages.second},
            {"decoder", {{"type", "ByteLevel"}}},
            {"added_tokens", std::move(added)}};
  ASSIGN_OR_RETURN(std::unique_ptr<BpeTokenizer> tok, BpeTokenizer::FromJson(j.dump(), path + " (GGUF gpt2 vocabulary)"));
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

// llama.cpp's convert permutes q/k rows of llama models from HF's rotate_half
// order to interleaved pairs: row (h, i, j) of [heads, 2, head_dim/2] went to
// (h, j, i) of [heads, head_dim/2, 2]. This reads them back.
torch::Tensor UnpermuteRows(const torch::Tensor& w, int64_t heads) {
  const int64_t rows = w.size(0);
  std::vector<int64_t> shape = {heads, rows / heads / 2, 2};
  for (int64_t d = 1; d < w.dim(); ++d) shape.push_back(w.size(d));
  return w.reshape(shape).transpose(1, 2).reshape(w.sizes());
}

}  // namespace

absl::StatusOr<ModelConfig> GgufModelConfig(const GgufFile& f) {
  const std::string& path = f.path();
  ASSIGN_OR_RETURN(std::string arch, f.GetString("general.architecture"));
  ModelConfig c;
  if (arch == "llama") {
    c.model_type = "llama", c.architecture = "LlamaForCausalLM";
  } else if (arch == "qwen2") {
    c.model_type = "qwen2", c.architecture = "Qwen2ForCausalLM";
    c.qkv_bias = true;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": general.architecture '", arch, "' is not supported (llama, qwen2)"));
  }
  const std::string a = arch + ".";
  auto get_int = [&](const std::string& key, int64_t& out) -> absl::Status {
    ASSIGN_OR_RETURN(uint64_t v, f.GetUint(a + key));
    out = static_cast<int64_t>(v);
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(get_int("embedding_length", c.hidden_size));
  RETURN_IF_ERROR(get_int("block_count", c.num_hidden_layers));
  RETURN_IF_ERROR(get_int("feed_forward_length", c.intermediate_size));
  RETURN_IF_ERROR(get_int("attention.head_count", c.num_attention_heads));
  c.num_key_value_heads = c.num_attention_heads;
  if (f.Find(a + "attention.head_count_kv") != nullptr) {
    RETURN_IF_ERROR(get_int("attention.head_count_kv", c.num_key_value_heads));
  }
  if (f.Find(a + "context_length") != nullptr) RETURN_IF_ERROR(get_int("context_length", c.max_position_embeddings));
  ASSIGN_OR_RETURN(c.rms_norm_eps, f.GetFloat(a + "attention.layer_norm_rms_epsilon"));
  // Stored as float32: round to the nearest short decimal (9.99999975e-06 -> 1e-05).
  c.rms_norm_eps = std::stod(absl::StrCat(static_cast<float>(c.rms_norm_eps)));
  if (f.Find(a + "rope.freq_base") != nullptr) {
    ASSIGN_OR_RETURN(c.rope_theta, f.GetFloat(a + "rope.freq_base"));
  }
  if (c.num_attention_heads <= 0 || c.hidden_size % c.num_attention_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", c.num_attention_heads,
                                                   " heads do not divide embedding_length ", c.hidden_size));
  }
  c.head_dim = c.hidden_size / c.num_attention_heads;
  if (f.Find(a + "attention.key_length") != nullptr) RETURN_IF_ERROR(get_int("attention.key_length", c.head_dim));
  if (f.Find(a + "rope.dimension_count") != nullptr) {
    ASSIGN_OR_RETURN(uint64_t rot, f.GetUint(a + "rope.dimension_count"));
    if (static_cast<int64_t>(rot) != c.head_dim) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": partial rotary embedding (rope.dimension_count ", rot,
                                                     ", head dim ", c.head_dim, ") is not supported"));
    }
  }
  if (f.Find(a + "rope.scaling.type") != nullptr) {
    ASSIGN_OR_RETURN(std::string scaling, f.GetString(a + "rope.scaling.type"));
    if (scaling != "none") {
      return absl::InvalidArgumentError(absl::StrCat(path, ": rope scaling '", scaling, "' is not supported"));
    }
  }
  const GgufTensorInfo* embd = f.FindTensor("token_embd.weight");
  if (embd == nullptr) return absl::InvalidArgumentError(path + ": tensor 'token_embd.weight' is missing");
  if (embd->ne.size() != 2 || static_cast<int64_t>(embd->ne[0]) != c.hidden_size) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": tensor 'token_embd.weight' must be [vocab, ",
                                                   c.hidden_size, "]"));
  }
  c.vocab_size = static_cast<int64_t>(embd->ne[1]);
  c.tie_word_embeddings = f.FindTensor("output.weight") == nullptr;
  if (arch == "llama") {
    c.qkv_bias = f.FindTensor("blk.0.attn_q.bias") != nullptr;
    c.o_proj_bias = f.FindTensor("blk.0.attn_output.bias") != nullptr;
  }
  if (f.Find("tokenizer.ggml.bos_token_id") != nullptr) {
    ASSIGN_OR_RETURN(uint64_t v, f.GetUint("tokenizer.ggml.bos_token_id"));
    c.bos_token_id = static_cast<int64_t>(v);
  }
  if (f.Find("tokenizer.ggml.eos_token_id") != nullptr) {
    ASSIGN_OR_RETURN(uint64_t v, f.GetUint("tokenizer.ggml.eos_token_id"));
    c.eos_token_id = static_cast<int64_t>(v);
  }
  RETURN_IF_ERROR(ValidateModelConfig(c, path));
  return c;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> GgufTokenizer(const GgufFile& f) {
  const std::string& path = f.path();
  ASSIGN_OR_RETURN(std::string model, f.GetString("tokenizer.ggml.model"));
  const std::vector<std::string>* tokens = StringArray(f, "tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->empty()) {
    return absl::InvalidArgumentError(path + ": tokenizer.ggml.tokens (string array) is missing or empty");
  }
  const std::vector<double>* types = NumberArray(f, "tokenizer.ggml.token_type");
  if (types != nullptr && types->size() != tokens->size()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": tokenizer.ggml.token_type has ", types->size(),
                                                   " entries for ", tokens->size(), " tokens"));
  }
  if (model == "gpt2") return Gpt2Tokenizer(f, *tokens, types);
  if (model != "llama") {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": tokenizer.ggml.model '", model, "' is not supported (llama, gpt2)"));
  }
  const std::vector<double>* scores = NumberArray(f, "tokenizer.ggml.scores");
  if (scores == nullptr || scores->size() != tokens->size()) {
    return absl::InvalidArgumentError(path + ": tokenizer.ggml.scores is missing or not one per token");
  }
  SpBpeVocab v;
  v.pieces = *tokens;
  v.scores.assign(scores->begin(), scores->end());
  for (size_t i = 0; i < tokens->size(); ++i) {
    v.types.push_back(types != nullptr ? static_cast<SpTokenType>(static_cast<int32_t>((*types)[i]))
                                       : SpTokenType::kNormal);
  }
  v.escape_spaces = true;
  v.match_special_in_text = true;
  if (f.Find("tokenizer.ggml.add_space_prefix") != nullptr) {
    ASSIGN_OR_RETURN(v.add_space_prefix, f.GetBool("tokenizer.ggml.add_space_prefix"));
  }
  if (f.Find("tokenizer.ggml.unknown_token_id") != nullptr) {
    ASSIGN_OR_RETURN(uint64_t unk, f.GetUint("tokenizer.ggml.unknown_token_id"));
    v.unk_id = static_cast<int32_t>(unk);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SpBpeTokenizer> tok, SpBpeTokenizer::Create(std::move(v), path));
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

absl::StatusOr<GgufModel> LoadGgufModel(const std::string& path) {
  ASSIGN_OR_RETURN(GgufFile f, GgufFile::Open(path));
  GgufModel out;
  ASSIGN_OR_RETURN(out.config, GgufModelConfig(f));
  ASSIGN_OR_RETURN(out.tokenizer, GgufTokenizer(f));
  out.bos_id = out.config.bos_token_id;
  out.eos_id = out.config.eos_token_id;
  out.add_bos = f.GetString("tokenizer.ggml.model").value_or("") == "llama";
  if (f.Find("tokenizer.ggml.add_bos_token") != nullptr) {
    ASSIGN_OR_RETURN(out.add_bos, f.GetBool("tokenizer.ggml.add_bos_token"));
  }
  if (f.Find("tokenizer.chat_template") != nullptr) {
    ASSIGN_OR_RETURN(out.chat_template, f.GetString("tokenizer.chat_template"));
  }
  if (out.tokenizer->vocab_size() > out.config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the tokenizer has ", out.tokenizer->vocab_size(),
                                                   " tokens, token_embd.weight only ", out.config.vocab_size));
  }
  ASSIGN_OR_RETURN(out.model, MakeCausalLM(out.config, /*seed=*/0));
  const bool permuted = out.config.model_type == "llama";
  try {
    torch::NoGradGuard no_grad;
    std::set<std::string> used;
    for (auto& item : out.model->named_parameters(/*recurse=*/true)) {
      const std::string& hf = item.key();
      torch::Tensor& param = item.value();
      // HF name -> GGUF name; heads for the q/k un-permutation (0: none).
      std::string name;
      int64_t heads = 0;
      const std::string kLayers = "model.layers.";
      if (hf == "model.embed_tokens.weight") {
        name = "token_embd.weight";
      } else if (hf == "model.norm.weight") {
        name = "output_norm.weight";
      } else if (hf == "lm_head.weight") {
        name = "output.weight";
      } else if (hf.compare(0, kLayers.size(), kLayers) == 0) {
        const size_t dot = hf.find('.', kLayers.size());
        const std::string n = hf.substr(kLayers.size(), dot - kLayers.size());
        const std::string rest = hf.substr(dot + 1);
        static const std::pair<const char*, const char*> kMap[] = {
            {"input_layernorm.", "attn_norm."},   {"self_attn.q_proj.", "attn_q."},
            {"self_attn.k_proj.", "attn_k."},     {"self_attn.v_proj.", "attn_v."},
            {"self_attn.o_proj.", "attn_output."}, {"post_attention_layernorm.", "ffn_norm."},
            {"mlp.gate_proj.", "ffn_gate."},      {"mlp.up_proj.", "ffn_up."},
            {"mlp.down_proj.", "ffn_down."}};
        for (const auto& [from, to] : kMap) {
          const std::string p = from;
          if (rest.compare(0, p.size(), p) == 0) name = "blk." + n + "." + to + rest.substr(p.size());
        }
        if (permuted && rest.compare(0, 17, "self_attn.q_proj.") == 0) heads = out.config.num_attention_heads;
        if (permuted && rest.compare(0, 17, "self_attn.k_proj.") == 0) heads = out.config.num_key_value_heads;
      }
      const GgufTensorInfo* t = name.empty() ? nullptr : f.FindTensor(name);
      if (t == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name.empty() ? hf : name,
                                                       "' is missing (for parameter ", hf, ")"));
      }
      used.insert(name);
      const std::vector<int64_t> shape = t->torch_shape();
      if (!std::equal(shape.begin(), shape.end(), param.sizes().begin(), param.sizes().end())) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "' has shape [",
                                                       absl::StrJoin(shape, ", "), "], the model expects [",
                                                       absl::StrJoin(param.sizes(), ", "), "]"));
      }
      if (param.scalar_type() != torch::kFloat || !param.is_contiguous()) {
        return absl::InternalError(path + ": parameter " + hf + " is not contiguous fp32");
      }
      if (heads == 0) {
        RETURN_IF_ERROR(f.Dequantize(*t, param.data_ptr<float>()));
      } else {
        torch::Tensor staged = torch::empty_like(param);
        RETURN_IF_ERROR(f.Dequantize(*t, staged.data_ptr<float>()));
        param.copy_(UnpermuteRows(staged, heads));
      }
    }
    std::vector<std::string> unexpected;
    for (const GgufTensorInfo& t : f.tensors()) {
      if (used.count(t.name) == 0) unexpected.push_back(t.name);
    }
    if (!unexpected.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor(s) the model has no parameter for: '",
                                                     absl::StrJoin(unexpected, "', '"), "'"));
    }
  } catch (...) {
    return StatusFromCurrentException(path + ": loading GGUF weights");
  }
  return out;
}

}  // namespace grpo::policy
