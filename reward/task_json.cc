#include "reward/task_json.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace grpo::reward {
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

nlohmann::json* FindField(nlohmann::json* root, std::string_view path) {
  if (path.empty() || root == nullptr) return nullptr;
  if (root->is_object()) {
    auto whole = root->find(std::string(path));
    if (whole != root->end()) return &*whole;
  }
  const size_t dot = path.find('.');
  const std::string_view segment = path.substr(0, dot);
  nlohmann::json* child = nullptr;
  if (root->is_object()) {
    auto it = root->find(std::string(segment));
    if (it != root->end()) child = &*it;
  } else if (root->is_array() && !segment.empty() && segment.size() <= 9) {
    size_t index = 0;
    for (char c : segment) {
      if (c < '0' || c > '9') return nullptr;
      index = index * 10 + static_cast<size_t>(c - '0');
    }
    if (index < root->size()) child = &(*root)[index];
  }
  if (child == nullptr || dot == std::string_view::npos) return child;
  return FindField(child, path.substr(dot + 1));
}

CodeTaskReader::CodeTaskReader(config::CodeTestStyle style, bool include_challenge_tests,
                               const config::CodeTaskFields& f)
    : style(style), include_challenge_tests(include_challenge_tests) {
  prompt = f.prompt();
  test = f.test();
  entry_point = f.entry_point();
  test_list = f.test_list();
  test_setup_code = f.test_setup_code();
  challenge_test_list = f.challenge_test_list();
  inputs = f.inputs();
  outputs = f.outputs();
}

std::string CodeTaskReader::Read(Json* doc, CodeTask* task) const {
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
        task->cases.push_back(StdioCase{std::move(in[i]), std::move(out[i])});
      }
      return "";
    }
  }
  return "unknown reward.code.test_style";
}

v1::CodeTests CodeTestsProto(const CodeTask& task, std::string style, std::string language) {
  v1::CodeTests tests;
  tests.set_style(std::move(style));
  tests.set_language(std::move(language));
  tests.set_prompt(task.prompt);
  tests.set_test(task.test);
  tests.set_entry_point(task.entry_point);
  tests.set_setup(task.setup);
  for (const std::string& a : task.asserts) tests.add_asserts(a);
  for (const StdioCase& c : task.cases) {
    v1::StdioCase* wire = tests.add_cases();
    wire->set_input(c.input);
    wire->set_output(c.output);
  }
  return tests;
}

CodeTask CodeTaskFromProto(const v1::CodeTests& tests) {
  CodeTask task;
  task.prompt = tests.prompt();
  task.test = tests.test();
  task.entry_point = tests.entry_point();
  task.setup = tests.setup();
  task.asserts.assign(tests.asserts().begin(), tests.asserts().end());
  for (const v1::StdioCase& c : tests.cases()) task.cases.push_back({c.input(), c.output()});
  return task;
}

}  // namespace grpo::reward
