#include "grpo/prompt_dataset.h"

#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace grpo::train {

absl::StatusOr<std::vector<Problem>> LoadPromptDataset(const std::string& path, const std::string& question_field,
                                                       const std::string& answer_field, int64_t limit) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open the prompt set ", path));
  std::vector<Problem> out;
  std::string line;
  for (int64_t number = 1; std::getline(in, line) && (limit == 0 || static_cast<int64_t>(out.size()) < limit);
       ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    const std::string where = absl::StrCat(path, ":", number, ": ");
    if (!j.is_object()) return absl::InvalidArgumentError(where + "expected a JSON object");
    if (!j.contains(question_field) || !j[question_field].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "expected a string field \"", question_field, "\""));
    }
    Problem p;
    p.prompt = j[question_field].get<std::string>();
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
