#include "grpo/prompt_dataset.h"

#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "reward/task_json.h"

namespace grpo::train {
namespace {

// The fence the code checker extracts the program from (reward.code.block).
constexpr char kCodeInstruction[] = "Give the complete program in one ```python code block.";

// The question a code task shows the policy: MBPP's description with its
// assert lines (the MBPP paper's prompt), a HumanEval stub, or a statement.
std::string CodePrompt(const std::string& question, const reward::CodeTask& task, config::CodeTestStyle style) {
  if (style == config::MBPP) {
    return absl::StrCat(question, "\n\nYour code should pass these tests:\n\n", absl::StrJoin(task.asserts, "\n"),
                        "\n\n", kCodeInstruction);
  }
  return absl::StrCat(question, "\n\n", kCodeInstruction);
}

}  // namespace

absl::StatusOr<std::vector<Problem>> LoadPromptDataset(const std::string& path, const config::PromptDataset& format,
                                                       int64_t skip, int64_t limit) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open the prompt set ", path));
  const bool code = format.task() == config::CODE_TASK;
  const reward::CodeTaskReader code_reader(format.code_style(), format.include_challenge_tests(),
                                           format.code_fields());
  std::string style = config::CodeTestStyle_Name(format.code_style());
  absl::AsciiStrToLower(&style);
  const std::string& question_field = format.question_field();
  const std::string& answer_field = format.answer_field();
  std::vector<Problem> out;
  std::string line;
  for (int64_t number = 1; std::getline(in, line) && (limit == 0 || static_cast<int64_t>(out.size()) < limit);
       ++number) {
    if (number <= skip || line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    const std::string where = absl::StrCat(path, ":", number, ": ");
    if (!j.is_object()) return absl::InvalidArgumentError(where + "expected a JSON object");
    if (!j.contains(question_field) || !j[question_field].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "expected a string field \"", question_field, "\""));
    }
    Problem p;
    p.prompt = j[question_field].get<std::string>();
    if (code) {
      reward::CodeTask task;
      if (std::string problem = code_reader.Read(&j, &task); !problem.empty()) {
        return absl::InvalidArgumentError(where + problem);
      }
      p.prompt = CodePrompt(p.prompt, task, format.code_style());
      p.code_tests = reward::CodeTestsProto(task, style, "");
      out.push_back(std::move(p));
      continue;
    }
    const nlohmann::json& a = j.contains(answer_field) ? j[answer_field] : nlohmann::json();
    if (a.is_string()) {
      p.answer = a.get<std::string>();
    } else if (a.is_number()) {
      p.answer = a.dump();
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected a string or number field \"", answer_field, "\""));
    }
    out.push_back(std::move(p));
  }
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat("the prompt set ", path, " has no problems"));
  return out;
}

}  // namespace grpo::train
