#include "cli/code_task.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cli/jsonl.h"

namespace grpo::cli {
namespace {

using Json = nlohmann::json;

std::string Missing(const std::string& field, const char* expected) {
  return absl::StrCat("missing field \"", field, "\"; expected ", expected);
}

std::string WrongType(const std::string& field, const Json& value, const char* expected) {
  return absl::StrCat("field \"", field, "\" is a ", value.type_name(), "; expected ", expected);
}

// A required (or, with `optional`, possibly absent) string field.
std::string ReadString(Json* doc, const std::string& field, bool optional, std::string* out) {
  Json* value = FindField(doc, field);
  if (value == nullptr || (optional && value->is_null())) {
    return optional ? "" : Missing(field, "a string");
  }
  if (!value->is_string()) return WrongType(field, *value, "a string");
  *out = value->get<std::string>();
  return "";
}

// An array of strings; appended to `out`.
std::string ReadStrings(Json* doc, const std::string& field, bool optional,
                        std::vector<std::string>* out) {
  Json* value = FindField(doc, field);
  if (value == nullptr || (optional && value->is_null())) {
    return optional ? "" : Missing(field, "an array of strings");
  }
  if (!value->is_array()) return WrongType(field, *value, "an array of strings");
  for (size_t i = 0; i < value->size(); ++i) {
    if (!(*value)[i].is_string()) {
      return absl::StrCat("field \"", field, ".", i, "\" is a ", (*value)[i].type_name(),
                          "; expected a string");
    }
    out->push_back((*value)[i].get<std::string>());
  }
  return "";
}

}  // namespace

CodeTaskReader::CodeTaskReader(const config::Config& config)
    : style(config.reward().code().test_style()),
      include_challenge_tests(config.reward().code().include_challenge_tests()) {
  const config::CodeTaskFields& f = config.eval_rewards().code_fields();
  prompt = f.prompt();
  test = f.test();
  entry_point = f.entry_point();
  test_list = f.test_list();
  test_setup_code = f.test_setup_code();
  challenge_test_list = f.challenge_test_list();
  inputs = f.inputs();
  outputs = f.outputs();
}

std::string CodeTaskReader::Read(Json* doc, reward::CodeTask* task) const {
  std::string problem;
  switch (style) {
    case config::HUMANEVAL:
      if (!(problem = ReadString(doc, prompt, false, &task->prompt)).empty()) return problem;
      if (!(problem = ReadString(doc, test, false, &task->test)).empty()) return problem;
      return ReadString(doc, entry_point, false, &task->entry_point);
    case config::MBPP:
      if (!(problem = ReadStrings(doc, test_list, false, &task->asserts)).empty()) return problem;
      if (include_challenge_tests &&
          !(problem = ReadStrings(doc, challenge_test_list, true, &task->asserts)).empty()) {
        return problem;
      }
      return ReadString(doc, test_setup_code, true, &task->setup);
    case config::STDIO: {
      std::vector<std::string> in, out;
      if (!(problem = ReadStrings(doc, inputs, false, &in)).empty()) return problem;
      if (!(problem = ReadStrings(doc, outputs, false, &out)).empty()) return problem;
      if (in.size() != out.size()) {
        return absl::StrCat("fields \"", inputs, "\" and \"", outputs, "\" have ", in.size(),
                            " and ", out.size(), " entries; expected one output per input");
      }
      for (size_t i = 0; i < in.size(); ++i) {
        task->cases.push_back(reward::StdioCase{std::move(in[i]), std::move(out[i])});
      }
      return "";
    }
  }
  return "unknown reward.code.test_style";
}

void AddCodeFields(const reward::CodeResult& result, nlohmann::ordered_json* line) {
  nlohmann::ordered_json& json = *line;
  // No program ran without code, or without a runnable task.
  const bool ran = result.reward.status == reward::RewardStatus::kOk ||
                   result.reward.status == reward::RewardStatus::kError;
  json["verdict"] =
      ran ? nlohmann::ordered_json(std::string(reward::CodeVerdictName(result.verdict)))
          : nlohmann::ordered_json();
  json["cases_passed"] = result.cases_passed;
  json["cases_total"] = result.cases_total;
  json["first_failing_case"] = result.first_failing_case < 0
                                   ? nlohmann::ordered_json()
                                   : nlohmann::ordered_json(result.first_failing_case);
  json["wall_ms"] = std::round(result.wall_seconds * 1e4) / 10;
  json["cpu_ms"] = std::round(result.cpu_seconds * 1e4) / 10;
  json["code_source"] = result.code_source;
}

}  // namespace grpo::cli
