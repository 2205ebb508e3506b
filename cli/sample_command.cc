// `grpo sample`: generate completions from a checkpoint and stream them to
// the terminal.
#include <torch/utils.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "policy/chat_template.h"
#include "policy/pretrained.h"
#include "policy/sampler.h"
#include "proto/status_macros.h"

namespace grpo::cli {
namespace {

constexpr char kSampleUsage[] = R"(Usage: grpo sample --model=DIR_OR_GGUF [--prompt=TEXT] [flags]

Generates --n completions of one prompt with the KV-cache sampler and streams
them to stdout (with --n > 1 each completion is printed as it finishes, under
a "--- completion I ---" header). The model is a Hugging Face directory
(config.json, model.safetensors, tokenizer.json or llama2.c tok512.bin) or a
.gguf file. An empty prompt starts from BOS. Generation stops at the model's
end-of-sequence / end-of-turn tokens, a --stop string or --max-new-tokens.
--temperature=0 is greedy decoding.

Flags:
)";

constexpr char kSampleExamples[] = R"(
Examples:
  grpo sample --model=data/models/stories260K --temperature=0 --max-new-tokens=200
  grpo sample --model=models/SmolLM2-135M-Instruct.Q4_1.gguf --chat \
      --prompt="What is the capital of France?" --temperature=0.7 --top-p=0.9
  grpo sample --model=DIR --chat --r1 --prompt="What is 17 * 23?" --n=4
)";

std::vector<FlagDef> SampleFlags() {
  return {
      {"model", "DIR|FILE.gguf", "the checkpoint (required)"},
      {"prompt", "TEXT", "the prompt (default empty: start from BOS)"},
      {"chat", "", "wrap the prompt as a ChatML user turn (needs <|im_start|> in the vocab)"},
      {"system", "TEXT", "with --chat: a system message"},
      {"r1", "", "with --chat: the R1 instruction (<think> then <answer>) as system message"},
      {"n", "N", "completions of the prompt (default 1)"},
      {"temperature", "T", "sampling temperature; 0 = greedy (default 1)"},
      {"top-k", "K", "keep the K most likely tokens; 0 = off (default 0)"},
      {"top-p", "P", "nucleus sampling mass; 1 = off (default 1)"},
      {"min-p", "P", "drop tokens below P * max prob; 0 = off (default 0)"},
      {"max-new-tokens", "N", "tokens to generate at most (default 256)"},
      {"seed", "N", "random seed (default 0)"},
      {"stop", "TEXT", "also stop when the completion contains TEXT", /*repeatable=*/true},
      {"threads", "N", "CPU threads for LibTorch; 0 = 1 for models under 20M parameters, else one per core (default 0)"},
      {"help", "", "show this help"},
  };
}

absl::Status ParseNumber(const ParsedFlags& flags, const std::string& name, double min,
                         double* out) {
  if (!flags.Has(name)) return absl::OkStatus();
  if (!absl::SimpleAtod(flags.Get(name), out) || !(*out >= min)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " wants a number >= ", min, ", got \"", flags.Get(name), "\""));
  }
  return absl::OkStatus();
}

absl::Status ParseCount(const ParsedFlags& flags, const std::string& name, int64_t min,
                        int64_t* out) {
  if (!flags.Has(name)) return absl::OkStatus();
  if (!absl::SimpleAtoi(flags.Get(name), out) || *out < min) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " wants a whole number >= ", min,
                                                   ", got \"", flags.Get(name), "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<policy::SamplerOptions> SamplerOptionsFromFlags(const ParsedFlags& flags) {
  double temperature = 1.0, top_p = 1.0, min_p = 0.0;
  int64_t top_k = 0, max_new = 256, n = 1, seed = 0;
  RETURN_IF_ERROR(ParseNumber(flags, "temperature", 0.0, &temperature));
  RETURN_IF_ERROR(ParseNumber(flags, "top-p", 0.0, &top_p));
  RETURN_IF_ERROR(ParseNumber(flags, "min-p", 0.0, &min_p));
  RETURN_IF_ERROR(ParseCount(flags, "top-k", 0, &top_k));
  RETURN_IF_ERROR(ParseCount(flags, "max-new-tokens", 1, &max_new));
  RETURN_IF_ERROR(ParseCount(flags, "n", 1, &n));
  RETURN_IF_ERROR(ParseCount(flags, "seed", 0, &seed));
  if (top_p > 1.0 || min_p > 1.0) {
    return absl::InvalidArgumentError("--top-p and --min-p must be in [0, 1]");
  }
  return policy::SamplerOptions()
      .temperature(temperature)
      .top_k(top_k)
      .top_p(top_p)
      .min_p(min_p)
      .max_new_tokens(max_new)
      .n(n)
      .seed(static_cast<uint64_t>(seed))
      .stop_strings(flags.GetAll("stop"));
}

absl::StatusOr<std::string> PromptText(const ParsedFlags& flags, const policy::Pretrained& p) {
  const std::string prompt = flags.Get("prompt");
  if (!flags.GetBool("chat")) {
    if (flags.Has("system") || flags.GetBool("r1")) {
      return absl::InvalidArgumentError("--system and --r1 need --chat");
    }
    return prompt;
  }
  if (!p.has_chat_format) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--chat: the tokenizer of ", flags.Get("model"), " has no <|im_start|>/<|im_end|> tokens"));
  }
  std::vector<policy::ChatMessage> messages;
  if (flags.GetBool("r1")) {
    messages.push_back({"system", policy::kR1SystemPrompt});
  } else if (flags.Has("system")) {
    messages.push_back({"system", flags.Get("system")});
  }
  messages.push_back({"user", prompt});
  return policy::FormatChatMl(messages, /*add_generation_prompt=*/true);
}

// The length of `text` without a trailing, still incomplete UTF-8 character.
size_t CompleteUtf8Length(const std::string& text) {
  size_t i = text.size();
  size_t continuation = 0;
  while (i > 0 && continuation < 3 && (static_cast<unsigned char>(text[i - 1]) & 0xC0) == 0x80) {
    --i;
    ++continuation;
  }
  if (i == 0) return text.size();
  const unsigned char lead = static_cast<unsigned char>(text[i - 1]);
  const size_t needed = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return continuation + 1 < needed ? i - 1 : text.size();
}

// Prints a growing completion: each token re-decodes the whole completion
// (decoding is not always concatenative, e.g. SentencePiece's leading space)
// and writes what is new. Stop tokens are not printed.
class CompletionPrinter {
 public:
  CompletionPrinter(const policy::Pretrained& p, std::ostream& out) : p_(p), out_(out) {}

  void Add(int64_t token) {
    if (std::find(p_.stop_ids.begin(), p_.stop_ids.end(), token) != p_.stop_ids.end()) return;
    ids_.push_back(static_cast<int32_t>(token));
    Print(/*flush_partial=*/false);
  }

  // Prints what was held back, and ends the line.
  void Finish() {
    Print(/*flush_partial=*/true);
    out_ << "\n" << std::flush;
  }

 private:
  void Print(bool flush_partial) {
    const std::string text = p_.tokenizer->Decode(ids_);
    const size_t end = flush_partial ? text.size() : CompleteUtf8Length(text);
    if (end <= printed_.size() || text.compare(0, printed_.size(), printed_) != 0) return;
    out_ << text.substr(printed_.size(), end - printed_.size()) << std::flush;
    printed_ = text.substr(0, end);
  }

  const policy::Pretrained& p_;
  std::ostream& out_;
  std::vector<int32_t> ids_;
  std::string printed_;
};

absl::Status RunSample(const ParsedFlags& flags) {
  if (!flags.Has("model")) return absl::InvalidArgumentError("--model=DIR_OR_GGUF is required");
  int64_t threads = 0;
  RETURN_IF_ERROR(ParseCount(flags, "threads", 0, &threads));
  ASSIGN_OR_RETURN(policy::SamplerOptions options, SamplerOptionsFromFlags(flags));
  ASSIGN_OR_RETURN(policy::Pretrained p, policy::LoadPretrained(flags.Get("model")));
  torch::set_num_threads(threads > 0 ? static_cast<int>(threads)
                                     : policy::RecommendedCpuThreads(
                                           p.model, static_cast<int>(std::thread::hardware_concurrency())));
  ASSIGN_OR_RETURN(std::string prompt, PromptText(flags, p));
  std::vector<int64_t> ids = p.PromptIds(prompt);
  if (ids.empty()) {
    if (p.bos_id < 0) {
      return absl::InvalidArgumentError(
          "the prompt is empty and the model has no BOS token to start from; give --prompt");
    }
    ids.push_back(p.bos_id);
  }
  options.stop_token_ids(p.stop_ids);

  const int64_t n = options.n();
  std::vector<CompletionPrinter> printers;
  std::vector<std::vector<int64_t>> pending(n);  // n > 1: printed when finished
  for (int64_t i = 0; i < n; ++i) printers.emplace_back(p, std::cout);
  int64_t finished = 0;
  options.on_token([&](int64_t completion, int64_t token, bool last) {
    if (n == 1) {
      printers[0].Add(token);
      if (last) printers[0].Finish();
      return;
    }
    pending[completion].push_back(token);
    if (!last) return;
    std::cout << "--- completion " << completion << " (" << ++finished << "/" << n << ") ---\n";
    for (int64_t t : pending[completion]) printers[completion].Add(t);
    printers[completion].Finish();
  });
  ASSIGN_OR_RETURN(policy::SampleResult result,
                   policy::Sample(p.model, {ids}, options, p.tokenizer.get()));
  (void)result;
  return absl::OkStatus();
}

}  // namespace

int SampleCommand(const std::vector<std::string>& args) {
  const std::vector<FlagDef> defs = SampleFlags();
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, defs);
  if (!flags.ok()) {
    std::cerr << "grpo sample: " << flags.status().message()
              << "\nRun 'grpo sample --help' for usage.\n";
    return kExitUsage;
  }
  if (flags->GetBool("help")) {
    std::cout << kSampleUsage << FlagHelp(defs) << kSampleExamples;
    return kExitOk;
  }
  if (absl::Status status = RunSample(*flags); !status.ok()) {
    std::cerr << "grpo sample: " << status.message() << "\n";
    return status.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  return kExitOk;
}

}  // namespace grpo::cli
