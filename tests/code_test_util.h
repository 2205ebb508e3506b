// Shared by the code checker's dataset and mutant tests: the shipped
// HumanEval and MBPP files as CodeTasks, and a parallel runner.
#ifndef GRPO_TESTS_CODE_TEST_UTIL_H_
#define GRPO_TESTS_CODE_TEST_UTIL_H_

#include <atomic>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "reward/code_checker.h"

namespace grpo::reward::testing {

struct DatasetTask {
  std::string id;        // "HumanEval/0", "mbpp/1"
  std::string solution;  // canonical_solution (HumanEval) or code (MBPP)
  CodeTask task;
};

// Calls fn(record) for every line of a JSONL file; nothing when it is missing.
inline void ForEachJsonLine(const std::string& path, const std::function<void(const nlohmann::json&)>& fn) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) fn(nlohmann::json::parse(line));
}

// data/humaneval.jsonl; empty when the file is missing.
inline std::vector<DatasetTask> LoadHumanEval(const std::string& path) {
  std::vector<DatasetTask> out;
  ForEachJsonLine(path, [&](const nlohmann::json& j) {
    DatasetTask t;
    t.id = j.at("task_id").get<std::string>();
    t.solution = j.at("canonical_solution").get<std::string>();
    t.task.prompt = j.at("prompt").get<std::string>();
    t.task.test = j.at("test").get<std::string>();
    t.task.entry_point = j.at("entry_point").get<std::string>();
    out.push_back(std::move(t));
  });
  return out;
}

// data/mbpp.jsonl (test_list only, as the reference pass rate is reported).
inline std::vector<DatasetTask> LoadMbpp(const std::string& path) {
  std::vector<DatasetTask> out;
  ForEachJsonLine(path, [&](const nlohmann::json& j) {
    DatasetTask t;
    t.id = "mbpp/" + std::to_string(j.at("task_id").get<int>());
    t.solution = j.at("code").get<std::string>();
    t.task.setup = j.at("test_setup_code").get<std::string>();
    t.task.asserts = j.at("test_list").get<std::vector<std::string>>();
    out.push_back(std::move(t));
  });
  return out;
}

// Calls fn(i) for i in [0, n) on `threads` threads.
inline void ParallelFor(size_t n, int threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i = next++; i < n; i = next++) fn(i);
    });
  }
  for (std::thread& t : pool) t.join();
}

}  // namespace grpo::reward::testing

#endif  // GRPO_TESTS_CODE_TEST_UTIL_H_
