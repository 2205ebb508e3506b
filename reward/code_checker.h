// The code reward: extract the program from a completion, run it against the
// task's tests in the sandbox (reward/sandbox.h), and score it.
//
//   auto checker = CodeChecker::Create(options);             // once
//   CodeResult r = (*checker)->Check(completion, task);      // per sample
//
// Test styles (options.test_style): HUMANEVAL (prompt + completion, then the
// test's check(entry_point)), MBPP (code, setup, then each assert line) and
// STDIO (each case's input on stdin, stdout compared token by token), in
// Python; C++ for STDIO, compiled with g++ inside the sandbox. A program
// passes a test only when the harness saw the test run to completion: the
// report of each passed test carries its own per-run secret key, which the
// program cannot know (docs/code_checker.md has the rules and the threat model).
#ifndef GRPO_REWARD_CODE_CHECKER_H_
#define GRPO_REWARD_CODE_CHECKER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/config.pb.h"
#include "reward/code_task.h"
#include "reward/reward_result.h"

namespace grpo::reward {

class Sandbox;

enum class CodeVerdict {
  kPass,
  kFail,          // a test's assertion failed, or wrong output
  kTimeout,       // CPU or wall limit
  kMemoryLimit,   // MemoryError / the address-space limit
  kRuntimeError,  // an exception, a crash, or an exit before the tests completed
  kCompileError,  // g++ failed, or the Python solution is not valid Python
  kOutputLimit,   // stdout or stderr over the cap
  kSandboxError,  // the sandbox failed; never the program's fault
};

// "pass", "fail", "timeout", "memory_limit", "runtime_error",
// "compile_error", "output_limit", "sandbox_error".
std::string_view CodeVerdictName(CodeVerdict verdict);

struct CaseResult {
  CodeVerdict verdict = CodeVerdict::kSandboxError;
  std::string detail;  // why it did not pass; empty on a pass
};

struct CodeResult {
  CodeVerdict verdict = CodeVerdict::kSandboxError;
  // One entry per case that ran (HUMANEVAL has one case: the whole check()).
  // Cases that never ran (after a timeout, an early exit) are not listed.
  std::vector<CaseResult> cases;
  int cases_total = 0;
  int cases_passed = 0;
  int first_failing_case = -1;  // 0-based; -1 when all passed or none ran
  std::string detail;           // the first failure, in one line
  std::string code_source;      // which part of the completion ran ("block 2 of 2 (python)")
  double wall_seconds = 0;      // sandbox time, all steps
  double cpu_seconds = 0;
  // The reward view: value per options.reward_mode; status kOk for every
  // program verdict, kNoAnswer when no code was found, kUnparseableGold for a
  // task that cannot be run (no tests, no entry point), kError for
  // sandbox_error; `extracted` is the verdict name, `reason` the detail.
  RewardResult reward;
};

class CodeChecker {
 public:
  // InvalidArgument for out-of-range options (limits <= 0, threshold outside
  // [0, 1], C++ with a style other than STDIO); FailedPrecondition when the
  // sandbox cannot be built on this machine (its message says why).
  static absl::StatusOr<std::unique_ptr<CodeChecker>> Create(
      const config::CodeRewardOptions& options);
  ~CodeChecker();

  // Thread-safe, never throws. Extracts the program from the completion
  // (options: block choice, language tag, whole text without fences), then
  // runs it; concurrency is bounded by the sandbox's worker slots.
  CodeResult Check(std::string_view completion, const CodeTask& task) const;

  // Runs `code` as the program, without extraction.
  CodeResult Run(std::string_view code, const CodeTask& task) const;

  const config::CodeRewardOptions& options() const { return options_; }
  int workers() const;
  // Whether Python tests run forked from the sandbox's warm interpreter
  // ("on"), or why not (Sandbox::python_zygote_status).
  const std::string& python_zygote_status() const;

 private:
  CodeChecker(const config::CodeRewardOptions& options, std::unique_ptr<Sandbox> sandbox);
  CodeResult RunPythonTests(std::string_view code, const CodeTask& task) const;
  CodeResult RunStdio(std::string_view code, const CodeTask& task) const;
  void Score(CodeResult* result) const;

  config::CodeRewardOptions options_;
  std::unique_ptr<Sandbox> sandbox_;
};

}  // namespace grpo::reward

#endif  // GRPO_REWARD_CODE_CHECKER_H_
