#include "policy/model_config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "proto/status_macros.h"

namespace grpo::policy {
namespace {

using nlohmann::json;

absl::Status Bad(const std::string& source, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
}

// Reads an integer field; absent keeps `*out`. Errors name the key.
absl::Status GetInt(const json& j, const char* key, bool required, const std::string& source,
                    int64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return required ? Bad(source, absl::StrCat("missing '", key, "'")) : absl::OkStatus();
  }
  // Some configs list several eos ids; the first is the one generation stops on.
  const json& v = it->is_array() && !it->empty() ? (*it)[0] : *it;
  if (!v.is_number_integer()) return Bad(source, absl::StrCat("'", key, "' is not an integer"));
  *out = v.get<int64_t>();
  return absl::OkStatus();
}

absl::Status GetDouble(const json& j, const char* key, const std::string& source, double* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number()) return Bad(source, absl::StrCat("'", key, "' is not a number"));
  *out = it->get<double>();
  return absl::OkStatus();
}

absl::Status GetBool(const json& j, const char* key, const std::string& source, bool* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean()) return Bad(source, absl::StrCat("'", key, "' is not a boolean"));
  *out = it->get<bool>();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& source) {
  const json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Bad(source, "not a JSON object");
  ModelConfig c;
  std::string arch;
  if (auto a = j.find("architectures"); a != j.end() && a->is_array() && !a->empty()) {
    if (!(*a)[0].is_string()) return Bad(source, "'architectures' holds a non-string");
    arch = (*a)[0].get<std::string>();
  }
  std::string type;
  if (auto t = j.find("model_type"); t != j.end() && t->is_string()) type = t->get<std::string>();
  if (type.empty() && arch.empty()) return Bad(source, "neither 'model_type' nor 'architectures' given");
  if ((type == "llama" || type.empty()) && (arch == "LlamaForCausalLM" || arch.empty())) {
    c.model_type = "llama";
    c.architecture = "LlamaForCausalLM";
  } else if ((type == "qwen2" || type.empty()) && (arch == "Qwen2ForCausalLM" || arch.empty())) {
    c.model_type = "qwen2";
    c.architecture = "Qwen2ForCausalLM";
  } else {
    return Bad(source, absl::StrCat("unsupported architecture (model_type '", type,
                                    "', architectures[0] '", arch,
                                    "'); supported: llama/LlamaForCausalLM, qwen2/Qwen2ForCausalLM"));
  }
  RETURN_IF_ERROR(GetInt(j, "vocab_size", true, source, &c.vocab_size));
  RETURN_IF_ERROR(GetInt(j, "hidden_size", true, source, &c.hidden_size));
  RETURN_IF_ERROR(GetInt(j, "intermediate_size", true, source, &c.intermediate_size));
  RETURN_IF_ERROR(GetInt(j, "num_hidden_layers", true, source, &c.num_hidden_layers));
  RETURN_IF_ERROR(GetInt(j, "num_attention_heads", true, source, &c.num_attention_heads));
  c.num_key_value_heads = c.num_attention_heads;
  RETURN_IF_ERROR(GetInt(j, "num_key_value_heads", false, source, &c.num_key_value_heads));
  c.head_dim = c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0;
  RETURN_IF_ERROR(GetInt(j, "head_dim", false, source, &c.head_dim));
  RETURN_IF_ERROR(GetInt(j, "max_position_embeddings", false, source, &c.max_position_embeddings));
  RETURN_IF_ERROR(GetDouble(j, "rms_norm_eps", source, &c.rms_norm_eps));
  RETURN_IF_ERROR(GetDouble(j, "rope_theta", source, &c.rope_theta));
  RETURN_IF_ERROR(GetBool(j, "tie_word_embeddings", source, &c.tie_word_embeddings));
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;  // Qwen2Attention hard-codes bias on q/k/v only
    c.o_proj_bias = false;
  } else {
    bool bias = false;
    RETURN_IF_ERROR(GetBool(j, "attention_bias", source, &bias));
    c.qkv_bias = c.o_proj_bias = bias;
    bool mlp_bias = false;
    RETURN_IF_ERROR(GetBool(j, "mlp_bias", source, &mlp_bias));
    if (mlp_bias) return Bad(source, "'mlp_bias': true is not supported");
  }
  if (auto r = j.find("rope_scaling"); r != j.end() && !r->is_null()) {
    return Bad(source, "'rope_scaling' is not supported");
  }
  if (auto h = j.find("hidden_act"); h != j.end() && !(h->is_string() && *h == "silu")) {
    return Bad(source, "'hidden_act' must be \"silu\"");
  }
  if (auto d = j.find("torch_dtype"); d != j.end() && d->is_string()) c.torch_dtype = d->get<std::string>();
  RETURN_IF_ERROR(GetInt(j, "bos_token_id", false, source, &c.bos_token_id));
  RETURN_IF_ERROR(GetInt(j, "eos_token_id", false, source, &c.eos_token_id));
  RETURN_IF_ERROR(ValidateModelConfig(c, source));
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open config"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ParseModelConfig(ss.str(), path);
}

absl::Status ValidateModelConfig(const ModelConfig& c, const std::string& source) {
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.intermediate_size <= 0 ||
      c.num_hidden_layers <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 ||
      c.head_dim <= 0 || c.max_position_embeddings <= 0) {
    return Bad(source, "sizes, layer and head counts must be positive");
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return Bad(source, absl::StrCat("num_attention_heads ", c.num_attention_heads,
                                    " is not a multiple of num_key_value_heads ",
                                    c.num_key_value_heads));
  }
  if (c.head_dim % 2 != 0) return Bad(source, absl::StrCat("head_dim ", c.head_dim, " is odd; RoPE needs pairs"));
  if (!(c.rms_norm_eps > 0) || !(c.rope_theta > 0)) {
    return Bad(source, "rms_norm_eps and rope_theta must be positive");
  }
  return absl::OkStatus();
}

std::string ModelConfigToJson(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {c.architecture};
  j["model_type"] = c.model_type;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  if (c.model_type != "qwen2") j["attention_bias"] = c.qkv_bias;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_id >= 0) j["eos_token_id"] = c.eos_token_id;
  j["torch_dtype"] = c.torch_dtype;
  return j.dump(2) + "\n";
}

}  // namespace grpo::policy
