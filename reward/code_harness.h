// How a code task becomes sandbox input and how the sandbox's output becomes
// per-case results (private to reward/code_checker.cc; public for tests).
//
// Python HUMANEVAL and MBPP programs run under a trusted harness script
// (HarnessSource) that reads per-run secret keys and the program's parts from
// stdin, runs them in order and reports each test on stdout in lines tagged
// with the keys. STDIO programs run bare, one sandbox step per case.
#ifndef GRPO_REWARD_CODE_HARNESS_H_
#define GRPO_REWARD_CODE_HARNESS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "reward/code_checker.h"

namespace grpo::reward::code_internal {

// The parts the harness runs, in this order: the solution (in the program's
// namespace), then, in the tests' namespace (a copy of the program's with
// pristine builtins), the prompt again with entry_point re-bound to the
// solution's (HUMANEVAL: a solution cannot redefine a helper the test calls),
// the setup, and each case.
struct PythonProgram {
  std::string solution;
  std::string prompt;       // empty: none
  std::string entry_point;  // empty: none
  std::string setup;        // empty: none
  std::vector<std::string> cases;
};

// True when `code` has a top-level `def NAME(` or `async def NAME(`.
bool DefinesTopLevelFunction(std::string_view code, std::string_view name);

// HUMANEVAL: prompt + code, or prompt + "\n" + code when the code defines
// entry_point itself (it repeats the signature or the whole prompt: the
// prompt's own stub is valid Python and the code's definition replaces it).
// One case: test + "\ncheck(" + entry_point + ")".
PythonProgram HumanEvalProgram(std::string_view code, const CodeTask& task);

// MBPP: the code, then the setup, then each assert line as a case.
PythonProgram MbppProgram(std::string_view code, const CodeTask& task);

// 32 hex digits from the kernel's CSPRNG (getrandom). Internal when the
// kernel has no randomness to give.
absl::StatusOr<std::string> NewSecret();

// The trusted harness script.
const std::string& HarnessSource();

// The per-run keys (each from NewSecret). A report line counts only under
// the key of its claim, and the harness writes each claim-bearing key once,
// when the claim holds: `pass[i]` after case i passed, `done` after the last
// case ran, `invalid` when the tests do not compile. `diag` tags lines that
// claim nothing the reward depends on (failures, solution errors).
struct HarnessKeys {
  std::string diag, done, invalid;
  std::vector<std::string> pass;
};

// Fresh keys for `cases` cases. Internal when getrandom fails.
absl::StatusOr<HarnessKeys> NewKeys(size_t cases);

// What the harness reads on stdin: the keys on one line (diag, done,
// invalid, pass...), then sections "KIND LENGTH\n" + LENGTH bytes (KIND: S
// solution, P prompt, E entry point, T setup, C case).
std::string EncodePayload(const HarnessKeys& keys, const PythonProgram& program);

// What the authenticated lines of one harness run said.
struct HarnessReport {
  enum class Stage { kNotReported, kOk, kSyntaxError, kError, kMemoryError };
  Stage solution = Stage::kNotReported;
  std::string solution_detail;
  // The prompt or setup failed in the tests' namespace ("P ..."/"T ..."), or
  // the tests themselves do not compile ("X ...").
  std::string stage_error;
  bool tests_invalid = false;  // "X": the task's own tests are not Python
  struct Case {
    bool reported = false;
    std::string status;  // "pass", "fail", "err", "memory"
    int line = 0;        // the case's line that raised; 0 unknown
    std::string detail;  // "ExceptionName: message"
  };
  std::vector<Case> cases;
  bool done = false;  // the harness finished every case
};

// Reads the lines of `out` tagged with the keys; every other byte is the
// program's own output and is ignored. A case is passed only by a line under
// its own pass key; "done" and "tests invalid" only under theirs.
HarnessReport ParseHarnessOutput(std::string_view out, const HarnessKeys& keys);

// STDIO comparison: the outputs split on ASCII whitespace must have the same
// tokens; with tolerance > 0, two tokens that both read as finite numbers are
// also equal when |a - b| <= tolerance * max(1, |b|).
bool OutputsMatch(std::string_view actual, std::string_view expected, double tolerance);

// `text` on one line, at most `limit` bytes (cut on a UTF-8 boundary).
std::string OneLine(std::string_view text, size_t limit = 300);

}  // namespace grpo::reward::code_internal

#endif  // GRPO_REWARD_CODE_HARNESS_H_
