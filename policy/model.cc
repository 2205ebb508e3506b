#include "policy/model.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/safetensors.h"
#include "policy/torch_status.h"
#include "proto/status_macros.h"

namespace grpo::policy {
namespace {

torch::Tensor RotateHalf(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

std::string ShapeString(at::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape.begin(), shape.end(), ", "), "]");
}

absl::StatusOr<at::ScalarType> TorchType(SafetensorsDType dtype) {
  switch (dtype) {
    case SafetensorsDType::kF32: return at::kFloat;
    case SafetensorsDType::kF16: return at::kHalf;
    case SafetensorsDType::kBF16: return at::kBFloat16;
    case SafetensorsDType::kF64: return at::kDouble;
    default: return absl::InvalidArgumentError("not a floating-point dtype");
  }
}

}  // namespace

// --- modules ---

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  const torch::Tensor xf = x.to(torch::kFloat);
  const torch::Tensor normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return weight * normed.to(x.scalar_type());
}

AttentionImpl::AttentionImpl(const ModelConfig& c)
    : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
  using torch::nn::LinearOptions;
  q_proj = register_module("q_proj", torch::nn::Linear(LinearOptions(c.hidden_size, heads_ * head_dim_).bias(c.qkv_bias)));
  k_proj = register_module("k_proj", torch::nn::Linear(LinearOptions(c.hidden_size, kv_heads_ * head_dim_).bias(c.qkv_bias)));
  v_proj = register_module("v_proj", torch::nn::Linear(LinearOptions(c.hidden_size, kv_heads_ * head_dim_).bias(c.qkv_bias)));
  o_proj = register_module("o_proj", torch::nn::Linear(LinearOptions(heads_ * head_dim_, c.hidden_size).bias(c.o_proj_bias)));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin, torch::Tensor* past_k,
                                     torch::Tensor* past_v) {
  const int64_t b = x.size(0), t = x.size(1);
  torch::Tensor q = q_proj(x).view({b, t, heads_, head_dim_}).transpose(1, 2);
  torch::Tensor k = k_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
  torch::Tensor v = v_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
  q = q * cos + RotateHalf(q) * sin;
  k = k * cos + RotateHalf(k) * sin;
  if (past_k != nullptr && past_v != nullptr) {
    if (past_k->defined()) {
      k = torch::cat({*past_k, k}, 2);
      v = torch::cat({*past_v, v}, 2);
    }
    *past_k = k;
    *past_v = v;
  }
  const int64_t past = k.size(2) - t;
  if (kv_heads_ != heads_) {
    // Query head h reads kv head h / group, as HF's repeat_kv.
    k = k.repeat_interleave(heads_ / kv_heads_, 1);
    v = v.repeat_interleave(heads_ / kv_heads_, 1);
  }
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim_));
  // Query i sits at position past + i and sees keys 0 .. past + i.
  const torch::Tensor future =
      torch::ones({t, past + t}, torch::dtype(torch::kBool).device(x.device())).triu(past + 1);
  scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
  const torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat).to(q.scalar_type());
  const torch::Tensor out = torch::matmul(probs, v).transpose(1, 2).reshape({b, t, heads_ * head_dim_});
  return o_proj(out);
}

MlpImpl::MlpImpl(const ModelConfig& c) {
  using torch::nn::LinearOptions;
  gate_proj = register_module("gate_proj", torch::nn::Linear(LinearOptions(c.hidden_size, c.intermediate_size).bias(false)));
  up_proj = register_module("up_proj", torch::nn::Linear(LinearOptions(c.hidden_size, c.intermediate_size).bias(false)));
  down_proj = register_module("down_proj", torch::nn::Linear(LinearOptions(c.intermediate_size, c.hidden_size).bias(false)));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c) {
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  self_attn = register_module("self_attn", Attention(c));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  mlp = register_module("mlp", Mlp(c));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                        const torch::Tensor& sin, torch::Tensor* past_k,
                                        torch::Tensor* past_v) {
  const torch::Tensor h = x + self_attn(input_layernorm(x), cos, sin, past_k, past_v);
  return h + mlp(post_attention_layernorm(h));
}

DecoderImpl::DecoderImpl(const ModelConfig& c) : config_(c) {
  embed_tokens = register_module(
      "embed_tokens", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab_size, c.hidden_size)));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(DecoderLayer(c));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& input_ids, KvCache* cache) {
  torch::Tensor h = embed_tokens(input_ids);
  const int64_t past = cache != nullptr ? cache->length() : 0;
  const int64_t t = input_ids.size(1);
  auto [cos, sin] = RopeTables(past + t, config_.head_dim, config_.rope_theta);
  cos = cos.narrow(0, past, t).to(h.device(), h.scalar_type());
  sin = sin.narrow(0, past, t).to(h.device(), h.scalar_type());
  if (cache != nullptr) {
    cache->keys.resize(layers->size());
    cache->values.resize(layers->size());
  }
  for (size_t i = 0; i < layers->size(); ++i) {
    h = layers[i]->as<DecoderLayerImpl>()->forward(h, cos, sin, cache ? &cache->keys[i] : nullptr,
                                                   cache ? &cache->values[i] : nullptr);
  }
  return norm(h);
}

CausalLMImpl::CausalLMImpl(const ModelConfig& c) : config_(c) {
  model = register_module("model", Decoder(c));
  if (!c.tie_word_embeddings) {
    lm_head = register_module(
        "lm_head", torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, c.vocab_size).bias(false)));
  }
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& input_ids, KvCache* cache) {
  const torch::Tensor h = model(input_ids, cache);
  const torch::Tensor logits =
      lm_head ? lm_head(h) : torch::matmul(h, model->embed_tokens->weight.t());
  return logits.to(torch::kFloat);
}

std::pair<torch::Tensor, torch::Tensor> RopeTables(int64_t seq_len, int64_t head_dim, double theta) {
  const auto f64 = torch::dtype(torch::kDouble);
  const torch::Tensor inv_freq =
      torch::pow(theta, -torch::arange(0, head_dim, 2, f64) / static_cast<double>(head_dim));
  const torch::Tensor freqs = torch::outer(torch::arange(seq_len, f64), inv_freq);
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos().to(torch::kFloat), emb.sin().to(torch::kFloat)};
}

// --- boundary ---

absl::StatusOr<CausalLM> MakeCausalLM(const ModelConfig& config, uint64_t seed) {
  RETURN_IF_ERROR(ValidateModelConfig(config, "model config"));
  try {
    torch::manual_seed(seed);
    return CausalLM(config);
  } catch (...) {
    return StatusFromCurrentException("building the model");
  }
}

absl::Status LoadWeights(CausalLM& model, absl::Span<const SafetensorsFile> files,
                         const LoadOptions& options) {
  std::vector<std::string> sources;
  for (const SafetensorsFile& f : files) sources.push_back(f.source());
  const std::string all = absl::StrJoin(sources, ", ");
  try {
    torch::NoGradGuard no_grad;
    std::set<std::string> expected;
    std::vector<std::string> missing;
    for (auto& item : model->named_parameters(/*recurse=*/true)) {
      const std::string& name = item.key();
      torch::Tensor& param = item.value();
      expected.insert(name);
      const SafetensorsFile* file = nullptr;
      const SafetensorsEntry* e = nullptr;
      for (const SafetensorsFile& f : files) {
        if ((e = f.Find(name)) != nullptr) {
          file = &f;
          break;
        }
      }
      if (e == nullptr) {
        missing.push_back(name);
        continue;
      }
      const std::string& src = file->source();
      if (!std::equal(e->shape.begin(), e->shape.end(), param.sizes().begin(), param.sizes().end())) {
        return absl::InvalidArgumentError(
            absl::StrCat(src, ": tensor '", name, "' has shape ", ShapeString(e->shape),
                         ", the model expects ", ShapeString(param.sizes())));
      }
      auto type = TorchType(e->dtype);
      if (!type.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(src, ": tensor '", name, "': dtype ",
                                                       SafetensorsDTypeName(e->dtype),
                                                       " is not a floating-point dtype"));
      }
      // Copy out of the file buffer: its data need not be aligned for the dtype.
      torch::Tensor staged = torch::empty(param.sizes(), torch::dtype(*type));
      const absl::Span<const uint8_t> bytes = file->Bytes(*e);
      std::memcpy(staged.data_ptr(), bytes.data(), bytes.size());
      param.copy_(staged);
    }
    if (!missing.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(all, ": missing ", missing.size(), " tensor(s): '",
                                                     absl::StrJoin(missing, "', '"), "'"));
    }
    std::vector<std::string> unexpected;
    for (const SafetensorsFile& f : files) {
      for (const SafetensorsEntry& e : f.entries()) {
        if (expected.count(e.name) == 0) unexpected.push_back(e.name);
      }
    }
    if (!unexpected.empty() && !options.ignore_unexpected_tensors) {
      return absl::InvalidArgumentError(absl::StrCat(all, ": unexpected tensor(s) the model has no parameter for: '",
                                                     absl::StrJoin(unexpected, "', '"), "'"));
    }
    return absl::OkStatus();
  } catch (...) {
    return StatusFromCurrentException(absl::StrCat(all, ": loading weights"));
  }
}

absl::StatusOr<CausalLM> LoadCausalLM(const std::string& dir, const LoadOptions& options) {
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir + "/config.json"));
  ASSIGN_OR_RETURN(std::vector<SafetensorsFile> files, ReadSafetensorsDir(dir));
  ASSIGN_OR_RETURN(CausalLM model, MakeCausalLM(config, /*seed=*/0));
  RETURN_IF_ERROR(LoadWeights(model, files, options));
  return model;
}

absl::Status SaveCausalLM(CausalLM& model, const std::string& dir, const SaveOptions& options) {
  try {
    std::vector<torch::Tensor> keep;  // contiguous fp32 CPU copies, alive until written
    std::vector<SafetensorsTensorToWrite> tensors;
    for (const auto& item : model->named_parameters(/*recurse=*/true)) {
      keep.push_back(item.value().detach().to(torch::kCPU, torch::kFloat).contiguous());
      const torch::Tensor& t = keep.back();
      SafetensorsTensorToWrite w;
      w.name = item.key();
      w.dtype = SafetensorsDType::kF32;
      w.shape.assign(t.sizes().begin(), t.sizes().end());
      w.bytes = absl::Span<const uint8_t>(static_cast<const uint8_t*>(t.data_ptr()), t.nbytes());
      tensors.push_back(std::move(w));
    }
    RETURN_IF_ERROR(WriteSafetensorsDir(dir, tensors, {{"format", "pt"}}, options.max_shard_bytes));
    ModelConfig config = model->config();
    config.torch_dtype = "float32";  // what the file now holds
    return WriteFileAtomically(dir + "/config.json", ModelConfigToJson(config));
  } catch (...) {
    return StatusFromCurrentException(absl::StrCat(dir, ": saving the model"));
  }
}

absl::StatusOr<torch::Tensor> ComputeLogits(CausalLM& model, const torch::Tensor& input_ids,
                                            KvCache* cache) {
  try {
    if (input_ids.dim() != 2 || input_ids.size(1) == 0 ||
        !at::isIntegralType(input_ids.scalar_type(), /*includeBool=*/false)) {
      return absl::InvalidArgumentError(absl::StrCat("input_ids must be a [B,T] integer tensor with T > 0, got ",
                                                     ShapeString(input_ids.sizes())));
    }
    const torch::Tensor ids = input_ids.to(torch::kLong);
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= model->config().vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id out of range [0, ",
                                                     model->config().vocab_size, "): ", lo < 0 ? lo : hi));
    }
    if (cache != nullptr && cache->length() > 0) {
      const auto layers = static_cast<size_t>(model->config().num_hidden_layers);
      if (cache->keys.size() != layers || cache->values.size() != layers ||
          cache->keys[0].size(0) != ids.size(0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "KV cache does not fit: ", cache->keys.size(), " layers of batch ",
            cache->keys[0].size(0), ", the model has ", layers, " and the input batch is ", ids.size(0)));
      }
    }
    // Work on a copy so a failed call leaves the caller's cache as it was.
    KvCache next = cache != nullptr ? *cache : KvCache();
    torch::Tensor logits = model->forward(ids, cache != nullptr ? &next : nullptr);
    if (cache != nullptr) *cache = std::move(next);
    return logits;
  } catch (...) {
    return StatusFromCurrentException("forward pass");
  }
}

}  // namespace grpo::policy
