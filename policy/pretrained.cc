#include "policy/pretrained.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "policy/gguf_model.h"
#include "policy/sp_bpe_tokenizer.h"
#include "proto/status_macros.h"

namespace grpo::policy {
namespace {

namespace fs = std::filesystem;

// The end-of-turn tokens of common chat formats, stopped on when present.
constexpr const char* kEndOfTurnTokens[] = {"<|im_end|>", "<|eot_id|>", "<|endoftext|>",
                                            "<|end_of_text|>"};

void AddStop(int64_t id, std::vector<int64_t>* stops) {
  if (id >= 0 && std::find(stops->begin(), stops->end(), id) == stops->end()) stops->push_back(id);
}

void AddKnownStops(const Tokenizer& tokenizer, std::vector<int64_t>* stops) {
  for (const char* token : kEndOfTurnTokens) {
    if (std::optional<int32_t> id = tokenizer.TokenId(token); id && tokenizer.IsSpecial(*id)) {
      AddStop(*id, stops);
    }
  }
}

bool HasChatFormat(const Tokenizer& tokenizer) {
  return tokenizer.TokenId("<|im_start|>").has_value() && tokenizer.TokenId("<|im_end|>").has_value();
}

// The token text of a tokenizer_config.json entry: a string, or an object
// with "content" (the AddedToken form).
std::string TokenText(const nlohmann::json& entry) {
  if (entry.is_string()) return entry.get<std::string>();
  if (entry.is_object() && entry.contains("content") && entry["content"].is_string()) {
    return entry["content"].get<std::string>();
  }
  return "";
}

// add_bos_token and eos_token from DIR/tokenizer_config.json, if it exists.
absl::Status ApplyTokenizerConfig(const fs::path& file, Pretrained* p) {
  std::ifstream in(file);
  if (!in) return absl::OkStatus();  // optional file
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file.string(), ": not a JSON object"));
  }
  if (j.contains("add_bos_token") && j["add_bos_token"].is_boolean()) {
    p->add_bos = j["add_bos_token"].get<bool>() && p->bos_id >= 0;
  }
  if (j.contains("eos_token")) {
    if (std::optional<int32_t> id = p->tokenizer->TokenId(TokenText(j["eos_token"]))) {
      AddStop(*id, &p->stop_ids);
    }
  }
  return absl::OkStatus();
}

// A llama2.c tokenizer file in `dir`: tokenizer.bin, or tokN.bin (tok512.bin).
std::optional<fs::path> Llama2cTokenizerPath(const fs::path& dir) {
  if (fs::exists(dir / "tokenizer.bin")) return dir / "tokenizer.bin";
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "tok") && absl::EndsWith(name, ".bin")) return entry.path();
  }
  return std::nullopt;
}

absl::StatusOr<Pretrained> LoadGguf(const std::string& path) {
  ASSIGN_OR_RETURN(GgufModel g, LoadGgufModel(path));
  Pretrained p;
  p.model = g.model;
  p.tokenizer = std::move(g.tokenizer);
  p.bos_id = g.bos_id;
  p.add_bos = g.add_bos && g.bos_id >= 0;
  AddStop(g.eos_id, &p.stop_ids);
  AddKnownStops(*p.tokenizer, &p.stop_ids);
  p.has_chat_format = HasChatFormat(*p.tokenizer);
  return p;
}

absl::StatusOr<Pretrained> LoadDirectory(const fs::path& dir) {
  Pretrained p;
  ASSIGN_OR_RETURN(p.model, LoadCausalLM(dir.string()));
  const ModelConfig& config = p.model->config();
  if (fs::exists(dir / "tokenizer.json")) {
    ASSIGN_OR_RETURN(p.tokenizer, LoadHfTokenizer((dir / "tokenizer.json").string()));
  } else if (std::optional<fs::path> bin = Llama2cTokenizerPath(dir)) {
    ASSIGN_OR_RETURN(p.tokenizer,
                     LoadLlama2cTokenizer(bin->string(), static_cast<int32_t>(config.vocab_size)));
    p.add_bos = true;  // llama2.c always starts from BOS
  } else {
    return absl::NotFoundError(absl::StrCat(
        dir.string(), ": no tokenizer (expected tokenizer.json, tok512.bin or tokenizer.bin)"));
  }
  if (p.tokenizer->vocab_size() > config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir.string(), ": the tokenizer has ", p.tokenizer->vocab_size(),
        " tokens but the model's vocab_size is ", config.vocab_size));
  }
  p.bos_id = config.bos_token_id;
  AddStop(config.eos_token_id, &p.stop_ids);
  AddKnownStops(*p.tokenizer, &p.stop_ids);
  p.has_chat_format = HasChatFormat(*p.tokenizer);
  RETURN_IF_ERROR(ApplyTokenizerConfig(dir / "tokenizer_config.json", &p));
  return p;
}

}  // namespace

std::vector<int64_t> Pretrained::PromptIds(std::string_view text) const {
  std::vector<int64_t> ids;
  if (add_bos && bos_id >= 0) ids.push_back(bos_id);
  for (int32_t id : tokenizer->Encode(text)) ids.push_back(id);
  return ids;
}

int RecommendedCpuThreads(CausalLM& model, int cores) {
  constexpr int64_t kSmallModelParams = 20'000'000;
  int64_t params = 0;
  for (const torch::Tensor& p : model->parameters()) params += p.numel();
  return params < kSmallModelParams ? 1 : std::max(1, cores);
}

absl::StatusOr<Pretrained> LoadPretrained(const std::string& path) {
  std::error_code error;
  if (!fs::exists(path, error)) return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  if (fs::is_directory(path, error)) return LoadDirectory(path);
  if (absl::EndsWith(path, ".gguf")) return LoadGguf(path);
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": expected a model directory (config.json + model.safetensors) or a .gguf file"));
}

}  // namespace grpo::policy
