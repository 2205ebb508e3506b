#include "policy/model_config.h"

#include <fstream>
#include <map>
#include <set>
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

// The keys HF reads for each rope type ("type" is the old name of "rope_type").
const std::map<std::string, std::set<std::string>>& RopeKeys() {
  static const auto* keys = new std::map<std::string, std::set<std::string>>{
      {"default", {}},
      {"linear", {"factor"}},
      {"dynamic", {"factor"}},
      {"llama3", {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}},
      {"yarn", {"factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "mscale",
                "mscale_all_dim", "attention_factor", "truncate"}},
  };
  return *keys;
}

// config.json "rope_scaling" (null or absent: none) and "partial_rotary_factor",
// or transformers 5's "rope_parameters", the same object holding rope_theta too.
absl::Status ParseRopeScaling(const json& j, const std::string& source, ModelConfig* c) {
  auto r = j.find("rope_scaling");
  if (r == j.end() || r->is_null()) r = j.find("rope_parameters");
  double partial = 1.0;
  RETURN_IF_ERROR(GetDouble(j, "partial_rotary_factor", source, &partial));
  if (r != j.end() && r->is_object()) {
    RETURN_IF_ERROR(GetDouble(*r, "partial_rotary_factor", source + ": rope_scaling", &partial));
    RETURN_IF_ERROR(GetDouble(*r, "rope_theta", source + ": rope_scaling", &c->rope_theta));
  }
  if (partial != 1.0) {
    // HF's Llama/Qwen2 attention rotates the whole head; a partial table would not fit it.
    return Bad(source, absl::StrCat("'partial_rotary_factor' ", partial,
                                    " is not supported (Llama/Qwen2 rotate the whole head: 1.0)"));
  }
  if (r == j.end() || r->is_null()) return absl::OkStatus();
  if (!r->is_object()) return Bad(source, absl::StrCat("'", r.key(), "' is not an object"));
  RopeScaling& s = c->rope_scaling;
  std::string type;
  for (const char* key : {"rope_type", "type"}) {
    auto t = r->find(key);
    if (t == r->end() || t->is_null()) continue;
    if (!t->is_string()) return Bad(source, absl::StrCat("'rope_scaling.", key, "' is not a string"));
    if (!type.empty() && type != t->get<std::string>()) {
      return Bad(source, "'rope_scaling' gives different 'rope_type' and 'type'");
    }
    type = t->get<std::string>();
  }
  if (type.empty() && r.key() == "rope_parameters") type = "default";
  if (type.empty()) return Bad(source, "'rope_scaling' has no 'rope_type' (or 'type')");
  auto allowed = RopeKeys().find(type);
  if (allowed == RopeKeys().end()) {
    return Bad(source, absl::StrCat("unsupported 'rope_scaling' type '", type,
                                    "'; supported: default, linear, dynamic, llama3, yarn"));
  }
  for (auto it = r->begin(); it != r->end(); ++it) {
    if (it.key() != "rope_type" && it.key() != "type" && it.key() != "rope_theta" &&
        it.key() != "partial_rotary_factor" && allowed->second.count(it.key()) == 0) {
      return Bad(source, absl::StrCat("'rope_scaling' key '", it.key(), "' is not used by rope type '",
                                      type, "'"));
    }
  }
  s.rope_type = type;
  const json& rs = *r;
  const std::string where = source + ": rope_scaling";
  RETURN_IF_ERROR(GetDouble(rs, "factor", where, &s.factor));
  RETURN_IF_ERROR(GetDouble(rs, "low_freq_factor", where, &s.low_freq_factor));
  RETURN_IF_ERROR(GetDouble(rs, "high_freq_factor", where, &s.high_freq_factor));
  RETURN_IF_ERROR(GetInt(rs, "original_max_position_embeddings", false, where,
                         &s.original_max_position_embeddings));
  RETURN_IF_ERROR(GetDouble(rs, "beta_fast", where, &s.beta_fast));
  RETURN_IF_ERROR(GetDouble(rs, "beta_slow", where, &s.beta_slow));
  RETURN_IF_ERROR(GetDouble(rs, "mscale", where, &s.mscale));
  RETURN_IF_ERROR(GetDouble(rs, "mscale_all_dim", where, &s.mscale_all_dim));
  RETURN_IF_ERROR(GetDouble(rs, "attention_factor", where, &s.attention_factor));
  RETURN_IF_ERROR(GetBool(rs, "truncate", where, &s.truncate));
  if (type != "default" && rs.find("factor") == rs.end()) {
    // HF's yarn without a factor stretches max_position_embeddings over the original.
    if (type == "yarn" && s.original_max_position_embeddings > 0) {
      s.factor = static_cast<double>(c->max_position_embeddings) /
                 static_cast<double>(s.original_max_position_embeddings);
    } else {
      return Bad(source, absl::StrCat("'rope_scaling' of type '", type, "' needs 'factor'"));
    }
  }
  if (type == "llama3") {
    for (const char* key : {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
      if (rs.find(key) == rs.end()) {
        return Bad(source, absl::StrCat("'rope_scaling' of type 'llama3' needs '", key, "'"));
      }
    }
  }
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
  RETURN_IF_ERROR(ParseRopeScaling(j, source, &c));
  if (auto h = j.find("hidden_act"); h != j.end() && !(h->is_string() && *h == "silu")) {
    return Bad(source, "'hidden_act' must be \"silu\"");
  }
  if (auto d = j.find("torch_dtype"); d != j.end() && !d->is_null()) {
    if (!d->is_string()) return Bad(source, "'torch_dtype' is not a string");
    c.torch_dtype = d->get<std::string>();
  }
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
  static const std::set<std::string> dtypes = {"float32", "bfloat16", "float16", "float64"};
  if (dtypes.count(c.torch_dtype) == 0) {
    return Bad(source, absl::StrCat("'torch_dtype' \"", c.torch_dtype,
                                    "\" is not one of float32, bfloat16, float16, float64"));
  }
  const RopeScaling& s = c.rope_scaling;
  if (RopeKeys().count(s.rope_type) == 0) {
    return Bad(source, absl::StrCat("unsupported 'rope_scaling' type '", s.rope_type, "'"));
  }
  if (s.rope_type != "default" && !(s.factor >= 1.0)) {
    return Bad(source, absl::StrCat("'rope_scaling.factor' must be >= 1, got ", s.factor));
  }
  if (s.rope_type == "llama3") {
    if (s.original_max_position_embeddings <= 0 || !(s.low_freq_factor > 0) ||
        !(s.high_freq_factor > s.low_freq_factor)) {
      return Bad(source, "llama3 'rope_scaling' needs original_max_position_embeddings > 0 and "
                         "0 < low_freq_factor < high_freq_factor");
    }
  }
  if (s.rope_type == "yarn" &&
      (s.original_max_position_embeddings < 0 || !(s.beta_fast > 0) || !(s.beta_slow > 0) ||
       s.attention_factor < 0)) {
    return Bad(source, "yarn 'rope_scaling' needs beta_fast, beta_slow > 0, "
                       "original_max_position_embeddings and attention_factor >= 0");
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
  if (const RopeScaling& s = c.rope_scaling; s.rope_type != "default") {
    const RopeScaling d;  // write only what differs from HF's defaults, plus what is required
    nlohmann::ordered_json r;
    r["rope_type"] = s.rope_type;
    r["factor"] = s.factor;
    if (s.rope_type == "llama3") {
      r["low_freq_factor"] = s.low_freq_factor;
      r["high_freq_factor"] = s.high_freq_factor;
      r["original_max_position_embeddings"] = s.original_max_position_embeddings;
    }
    if (s.rope_type == "yarn") {
      if (s.original_max_position_embeddings > 0) {
        r["original_max_position_embeddings"] = s.original_max_position_embeddings;
      }
      r["beta_fast"] = s.beta_fast;
      r["beta_slow"] = s.beta_slow;
      if (s.mscale != d.mscale) r["mscale"] = s.mscale;
      if (s.mscale_all_dim != d.mscale_all_dim) r["mscale_all_dim"] = s.mscale_all_dim;
      if (s.attention_factor != d.attention_factor) r["attention_factor"] = s.attention_factor;
      if (s.truncate != d.truncate) r["truncate"] = s.truncate;
    }
    j["rope_scaling"] = r;
  }
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  if (c.model_type != "qwen2") j["attention_bias"] = c.qkv_bias;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_id >= 0) j["eos_token_id"] = c.eos_token_id;
  j["torch_dtype"] = c.torch_dtype;
  return j.dump(2) + "\n";
}

}  // namespace grpo::policy
