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
#include "policy/batch_invariant.h"
#include "policy/rope.h"
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
                                     const torch::Tensor& sin, const torch::Tensor& allowed,
                                     torch::Tensor* past_k, torch::Tensor* past_v) {
  const int64_t b = x.size(0), t = x.size(1);
  const auto proj = [&](torch::nn::Linear& l) {
    return batch_invariant_ ? BlockedLinear(x, l->weight, l->bias) : l(x);
  };
  torch::Tensor q = proj(q_proj).view({b, t, heads_, head_dim_}).transpose(1, 2);
  torch::Tensor k = proj(k_proj).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
  torch::Tensor v = proj(v_proj).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
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
  // Keys a query does not see; undefined when it sees them all.
  torch::Tensor hidden;
  if (allowed.defined()) {
    hidden = allowed.logical_not();
  } else if (t > 1) {
    // Query i sits at column past + i and sees keys 0 .. past + i.
    hidden = torch::ones({t, past + t}, torch::dtype(torch::kBool).device(x.device())).triu(past + 1);
  }
  if (batch_invariant_) {
    const torch::Tensor out = WideAttention(q, k, v, hidden, 1.0 / std::sqrt(static_cast<double>(head_dim_)))
                                  .transpose(1, 2)
                                  .reshape({b, t, heads_ * head_dim_});
    return BlockedLinear(out, o_proj->weight, o_proj->bias);
  }
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim_));
  if (hidden.defined()) scores = scores.masked_fill(hidden, -std::numeric_limits<float>::infinity());
  // fp32 or wider: fp64 models (the tests' exact reference) keep fp64 here.
  const auto softmax_type = c10::promoteTypes(q.scalar_type(), torch::kFloat);
  const torch::Tensor probs = torch::softmax(scores, -1, softmax_type).to(q.scalar_type());
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
  if (!batch_invariant_) return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
  // The whole MLP per row block: silu's vectorized and scalar exp differ in
  // the last bit, and which elements take which depends on the tensor's size.
  const torch::Tensor wg = gate_proj->weight.t(), wu = up_proj->weight.t(), wd = down_proj->weight.t();
  return MapRowBlocks(x, [&](const torch::Tensor& block) {
    return torch::mm(torch::silu(torch::mm(block, wg)) * torch::mm(block, wu), wd);
  });
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c) {
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  self_attn = register_module("self_attn", Attention(c));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  mlp = register_module("mlp", Mlp(c));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                        const torch::Tensor& sin, const torch::Tensor& allowed,
                                        torch::Tensor* past_k, torch::Tensor* past_v) {
  const torch::Tensor h = x + self_attn(input_layernorm(x), cos, sin, allowed, past_k, past_v);
  return h + mlp(post_attention_layernorm(h));
}

DecoderImpl::DecoderImpl(const ModelConfig& c) : config_(c) {
  embed_tokens = register_module(
      "embed_tokens", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab_size, c.hidden_size)));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(DecoderLayer(c));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

std::pair<torch::Tensor, torch::Tensor> DecoderImpl::RopeTablesFor(int64_t n,
                                                                   const torch::Tensor& like) {
  const RopeParams params = RopeParamsFromConfig(config_);
  if (params.scaling.rope_type == "dynamic") {
    auto [cos, sin] = RopeTables(params, 0, n);
    return {cos.to(like.device(), like.scalar_type()), sin.to(like.device(), like.scalar_type())};
  }
  std::lock_guard<std::mutex> lock(rope_cache_->mutex);
  torch::Tensor& cos = rope_cache_->cos;
  torch::Tensor& sin = rope_cache_->sin;
  if (!cos.defined() || cos.size(0) < n || cos.device() != like.device() ||
      cos.scalar_type() != like.scalar_type()) {
    const int64_t capacity = std::max<int64_t>(n, cos.defined() ? 2 * cos.size(0) : 256);
    auto [c, s] = RopeTables(params, 0, capacity);
    cos = c.to(like.device(), like.scalar_type());
    sin = s.to(like.device(), like.scalar_type());
  }
  return {cos.narrow(0, 0, n), sin.narrow(0, 0, n)};
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& input_ids, KvCache* cache,
                                   const torch::Tensor& attention_mask) {
  torch::Tensor h = embed_tokens(input_ids);
  const int64_t past = cache != nullptr ? cache->length() : 0;
  const int64_t b = input_ids.size(0), t = input_ids.size(1);
  // The mask of every column, cached and new; undefined when nothing is padded.
  torch::Tensor key_mask = attention_mask;
  if (!key_mask.defined() && cache != nullptr && cache->mask.defined() && past > 0) {
    key_mask = torch::cat({cache->mask, torch::ones({b, t}, cache->mask.options())}, 1);
  }
  // Tables for the whole length, so dynamic NTK sees past + t (policy/rope.h).
  auto [cos, sin] = RopeTablesFor(past + t, h);
  torch::Tensor allowed;
  if (!key_mask.defined()) {
    cos = cos.narrow(0, past, t);
    sin = sin.narrow(0, past, t);
  } else {
    key_mask = key_mask.to(h.device(), torch::kLong);
    // A row's position counts its real tokens; pads get 0 (never seen by a real query).
    const torch::Tensor pos = (key_mask.cumsum(1) - 1).clamp_min(0).narrow(1, past, t).reshape(-1);
    cos = cos.index_select(0, pos).view({b, 1, t, -1});
    sin = sin.index_select(0, pos).view({b, 1, t, -1});
    const auto opts = torch::dtype(torch::kLong).device(h.device());
    const torch::Tensor cols = torch::arange(past + t, opts).unsqueeze(0);
    const torch::Tensor rows = torch::arange(past, past + t, opts).unsqueeze(1);
    // Causal and real, or the query itself (so a pad query's softmax is finite).
    allowed = ((cols <= rows).unsqueeze(0) & key_mask.to(torch::kBool).unsqueeze(1)) |
              (cols == rows).unsqueeze(0);
    allowed = allowed.unsqueeze(1);  // [B,1,T,past+T], broadcast over heads
  }
  if (cache != nullptr) {
    cache->keys.resize(layers->size());
    cache->values.resize(layers->size());
    if (key_mask.defined()) cache->mask = key_mask;
  }
  for (size_t i = 0; i < layers->size(); ++i) {
    h = layers[i]->as<DecoderLayerImpl>()->forward(h, cos, sin, allowed,
                                                   cache ? &cache->keys[i] : nullptr,
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

torch::Tensor CausalLMImpl::forward(const torch::Tensor& input_ids, KvCache* cache,
                                    const torch::Tensor& attention_mask) {
  const torch::Tensor h = model(input_ids, cache, attention_mask);
  if (batch_invariant_) {
    return BlockedLinear(h, lm_head ? lm_head->weight : model->embed_tokens->weight).to(torch::kFloat);
  }
  const torch::Tensor logits =
      lm_head ? lm_head(h) : torch::matmul(h, model->embed_tokens->weight.t());
  return logits.to(torch::kFloat);
}

void CausalLMImpl::set_batch_invariant(bool on) {
  batch_invariant_ = on;
  for (size_t i = 0; i < model->layers->size(); ++i) {
    auto* layer = model->layers[i]->as<DecoderLayerImpl>();
    layer->self_attn->set_batch_invariant(on);
    layer->mlp->set_batch_invariant(on);
  }
}

// --- boundary ---

absl::StatusOr<torch::Dtype> DtypeFromName(const std::string& torch_dtype) {
  if (torch_dtype == "float32") return torch::kFloat;
  if (torch_dtype == "bfloat16") return torch::kBFloat16;
  if (torch_dtype == "float16") return torch::kHalf;
  if (torch_dtype == "float64") return torch::kDouble;
  return absl::InvalidArgumentError(absl::StrCat("torch_dtype \"", torch_dtype,
                                                 "\" is not float32, bfloat16, float16 or float64"));
}

absl::StatusOr<std::string> DtypeName(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat: return std::string("float32");
    case torch::kBFloat16: return std::string("bfloat16");
    case torch::kHalf: return std::string("float16");
    case torch::kDouble: return std::string("float64");
    default:
      return absl::InvalidArgumentError(absl::StrCat("model dtype ", c10::toString(dtype),
                                                     " is not float32, bfloat16, float16 or float64"));
  }
}

absl::StatusOr<CausalLM> MakeCausalLM(const ModelConfig& config, uint64_t seed, torch::Dtype dtype) {
  RETURN_IF_ERROR(ValidateModelConfig(config, "model config"));
  ASSIGN_OR_RETURN(std::string dtype_name, DtypeName(dtype));
  try {
    torch::manual_seed(seed);
    ModelConfig c = config;
    c.torch_dtype = dtype_name;
    // LibTorch initializes in fp32; to() then converts one parameter at a time.
    CausalLM model(c);
    if (dtype != torch::kFloat) model->to(dtype);
    return model;
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
  ASSIGN_OR_RETURN(CausalLM model, MakeCausalLM(config, /*seed=*/0, options.dtype));
  RETURN_IF_ERROR(LoadWeights(model, files, options));
  return model;
}

absl::Status SaveCausalLM(CausalLM& model, const std::string& dir, const SaveOptions& options) {
  try {
    // The file holds the dtype of the embedding (every parameter is converted to it).
    const torch::Dtype dtype = model->model->embed_tokens->weight.scalar_type();
    ASSIGN_OR_RETURN(const std::string dtype_name, DtypeName(dtype));
    const SafetensorsDType file_dtype = dtype == torch::kBFloat16 ? SafetensorsDType::kBF16
                                        : dtype == torch::kHalf   ? SafetensorsDType::kF16
                                        : dtype == torch::kDouble ? SafetensorsDType::kF64
                                                                  : SafetensorsDType::kF32;
    std::vector<torch::Tensor> keep;  // contiguous CPU copies, alive until written
    std::vector<SafetensorsTensorToWrite> tensors;
    for (const auto& item : model->named_parameters(/*recurse=*/true)) {
      keep.push_back(item.value().detach().to(torch::kCPU, dtype).contiguous());
      const torch::Tensor& t = keep.back();
      SafetensorsTensorToWrite w;
      w.name = item.key();
      w.dtype = file_dtype;
      w.shape.assign(t.sizes().begin(), t.sizes().end());
      w.bytes = absl::Span<const uint8_t>(static_cast<const uint8_t*>(t.data_ptr()), t.nbytes());
      tensors.push_back(std::move(w));
    }
    RETURN_IF_ERROR(WriteSafetensorsDir(dir, tensors, {{"format", "pt"}}, options.max_shard_bytes));
    ModelConfig config = model->config();
    config.torch_dtype = dtype_name;  // what the file now holds
    return WriteFileAtomically(dir + "/config.json", ModelConfigToJson(config));
  } catch (...) {
    return StatusFromCurrentException(absl::StrCat(dir, ": saving the model"));
  }
}

absl::StatusOr<torch::Tensor> ComputeLogits(CausalLM& model, const torch::Tensor& input_ids,
                                            KvCache* cache, const torch::Tensor& attention_mask) {
  try {
    if (input_ids.dim() != 2 || input_ids.size(1) == 0 ||
        !at::isIntegralType(input_ids.scalar_type(), /*includeBool=*/false)) {
      return absl::InvalidArgumentError(absl::StrCat("input_ids must be a [B,T] integer tensor with T > 0, got ",
                                                     ShapeString(input_ids.sizes())));
    }
    torch::Tensor ids = input_ids.to(torch::kLong);
    const int64_t past = cache != nullptr ? cache->length() : 0;
    if (cache != nullptr && past > 0) {
      const auto layers = static_cast<size_t>(model->config().num_hidden_layers);
      if (cache->keys.size() != layers || cache->values.size() != layers ||
          cache->keys[0].size(0) != ids.size(0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "KV cache does not fit: ", cache->keys.size(), " layers of batch ",
            cache->keys[0].size(0), ", the model has ", layers, " and the input batch is ", ids.size(0)));
      }
    }
    if (attention_mask.defined()) {
      const std::vector<int64_t> want = {ids.size(0), past + ids.size(1)};
      if (attention_mask.sizes() != at::IntArrayRef(want) ||
          !at::isIntegralType(attention_mask.scalar_type(), /*includeBool=*/true)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "attention_mask must be a 0/1 tensor of shape [batch, cached + new columns] = ",
            ShapeString(want), ", got ", ShapeString(attention_mask.sizes()), " of ",
            c10::toString(attention_mask.scalar_type())));
      }
      const torch::Tensor m = attention_mask.to(torch::kLong);
      if (m.numel() > 0 && (m.min().item<int64_t>() < 0 || m.max().item<int64_t>() > 1)) {
        return absl::InvalidArgumentError("attention_mask: values must be 0 or 1");
      }
      ids = ids.masked_fill(m.narrow(1, past, ids.size(1)).to(ids.device()) == 0, 0);
    }
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= model->config().vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id out of range [0, ",
                                                     model->config().vocab_size, "): ", lo < 0 ? lo : hi));
    }
    // Work on a copy so a failed call leaves the caller's cache as it was.
    KvCache next = cache != nullptr ? *cache : KvCache();
    torch::Tensor logits = model->forward(ids, cache != nullptr ? &next : nullptr, attention_mask);
    if (cache != nullptr) *cache = std::move(next);
    return logits;
  } catch (...) {
    return StatusFromCurrentException("forward pass");
  }
}

absl::Status SelectCacheRows(KvCache& cache, const torch::Tensor& rows) {
  try {
    if (rows.dim() != 1 || !at::isIntegralType(rows.scalar_type(), /*includeBool=*/false)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cache rows must be a 1-D integer tensor, got ", ShapeString(rows.sizes())));
    }
    const int64_t batch = cache.batch();
    if (rows.numel() > 0 &&
        (rows.min().item<int64_t>() < 0 || rows.max().item<int64_t>() >= batch)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cache rows out of range [0, ", batch, ")"));
    }
    if (cache.length() == 0) return absl::OkStatus();
    const torch::Tensor r = rows.to(cache.keys[0].device(), torch::kLong);
    KvCache next = cache;
    for (auto* list : {&next.keys, &next.values}) {
      for (torch::Tensor& t : *list) t = t.index_select(0, r);
    }
    if (next.mask.defined()) next.mask = next.mask.index_select(0, r.to(next.mask.device()));
    cache = std::move(next);
    return absl::OkStatus();
  } catch (...) {
    return StatusFromCurrentException("selecting KV cache rows");
  }
}

}  // namespace grpo::policy
