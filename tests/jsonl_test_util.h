// Reading a run's JSONL outputs (metrics.jsonl, samples.jsonl) in tests.
#ifndef GRPO_TESTS_JSONL_TEST_UTIL_H_
#define GRPO_TESTS_JSONL_TEST_UTIL_H_

#include <fstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace grpo::testing {

// Every line of `path`, parsed (throws on a bad line: the test then fails).
inline std::vector<nlohmann::json> JsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace grpo::testing

#endif  // GRPO_TESTS_JSONL_TEST_UTIL_H_
