// Mutants of every HumanEval and MBPP reference solution must fail: a wrong
// body, a wrong constant, and every way of leaving before the tests ran or of
// tampering with assert. CI runs every 8th task; the full run is
//   GRPO_MUTANTS_STRIDE=1 build/tests/code_mutants_test
// (docs/code_checker.md has the figures).
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "reward/code_checker.h"
#include "tests/code_test_util.h"

namespace grpo::reward {
namespace {

using testing::DatasetTask;

// --------------------------------------------------------------- mutators --

bool IsIdent(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Index past the string literal starting at `i` (a quote).
size_t SkipString(const std::string& s, size_t i) {
  const char q = s[i];
  const bool triple = s.compare(i, 3, std::string(3, q)) == 0;
  i += triple ? 3 : 1;
  while (i < s.size()) {
    if (s[i] == '\\') {
      i += 2;
    } else if (triple ? s.compare(i, 3, std::string(3, q)) == 0 : s[i] == q) {
      return i + (triple ? 3 : 1);
    } else if (!triple && s[i] == '\n') {
      return i;
    } else {
      ++i;
    }
  }
  return s.size();
}

// The end of the logical line starting at `i`: the first newline outside
// brackets and strings.
size_t LogicalLineEnd(const std::string& s, size_t i) {
  int depth = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"' || c == '\'') {
      i = SkipString(s, i) - 1;
    } else if (c == '#') {
      while (i + 1 < s.size() && s[i + 1] != '\n') ++i;
    } else if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if (c == ')' || c == ']' || c == '}') {
      --depth;
    } else if (c == '\n' && depth <= 0) {
      return i;
    }
  }
  return s.size();
}

// The first decimal integer literal in [begin, end) outside strings and
// comments; npos when none.
size_t FirstIntegerLiteral(const std::string& code, size_t begin, size_t end, size_t* length) {
  for (size_t i = begin; i < end;) {
    const char c = code[i];
    if (c == '#') {
      while (i < end && code[i] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      i = SkipString(code, i);
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (i < end && IsIdent(code[i])) ++i;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      const size_t start = i;
      while (i < end && (IsIdent(code[i]) || code[i] == '.')) ++i;
      const std::string literal = code.substr(start, i - start);
      if ((start == 0 || code[start - 1] != '.') && literal.size() <= 18 &&
          literal.find_first_not_of("0123456789") == std::string::npos) {
        *length = i - start;
        return start;
      }
    } else {
      ++i;
    }
  }
  return std::string::npos;
}

// A wrong constant in what the solution returns: the first `return EXPR`
// gets its first integer literal plus one; a return without one returns None
// instead (a return-value change). The first literal of the whole program
// would often be a size or a start value that the tests cannot tell apart
// (MBPP task 1's `R = 3`), an equivalent mutant. nullopt: no `return EXPR`.
std::optional<std::string> WrongConstant(const std::string& code) {
  for (size_t i = 0; i < code.size();) {
    const char c = code[i];
    if (c == '#') {
      while (i < code.size() && code[i] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      i = SkipString(code, i);
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      const size_t start = i;
      while (i < code.size() && IsIdent(code[i])) ++i;
      if (code.compare(start, i - start, "return") != 0) continue;
      size_t j = i;
      while (j < code.size() && (code[j] == ' ' || code[j] == '\t')) ++j;
      if (j >= code.size() || code[j] == '\n' || code[j] == '\r' || code[j] == '#' ||
          code[j] == ';') {
        continue;  // a bare return
      }
      const size_t end = LogicalLineEnd(code, i);
      size_t length = 0;
      const size_t literal = FirstIntegerLiteral(code, i, end, &length);
      if (literal != std::string::npos) {
        return code.substr(0, literal) +
               std::to_string(std::stoll(code.substr(literal, length)) + 1) +
               code.substr(literal + length);
      }
      return code.substr(0, i) + " None if True else" + code.substr(i);
    } else {
      ++i;
    }
  }
  return std::nullopt;
}

// The first top-level function's body replaced by `pass`.
std::optional<std::string> PassBody(const std::string& code) {
  size_t def = code.compare(0, 4, "def ") == 0 ? 0 : code.find("\ndef ");
  if (def == std::string::npos) return std::nullopt;
  if (code[def] == '\n') ++def;
  // The signature ends at the first ':' outside brackets.
  int depth = 0;
  size_t colon = std::string::npos;
  for (size_t i = def; i < code.size(); ++i) {
    const char c = code[i];
    if (c == '"' || c == '\'') {
      i = SkipString(code, i) - 1;
    } else if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if (c == ')' || c == ']' || c == '}') {
      --depth;
    } else if (c == ':' && depth == 0) {
      colon = i;
      break;
    }
  }
  if (colon == std::string::npos) return std::nullopt;
  size_t eol = code.find('\n', colon);
  if (eol == std::string::npos) eol = code.size();
  // The body: every following line that is blank or indented.
  size_t end = eol;
  while (end < code.size()) {
    const size_t next = code.find('\n', end + 1);
    const size_t line_end = next == std::string::npos ? code.size() : next;
    const std::string line = code.substr(end + 1, line_end - end - 1);
    const bool blank = line.find_first_not_of(" \t\r") == std::string::npos;
    if (!blank && line[0] != ' ' && line[0] != '\t') break;
    end = line_end;
  }
  return code.substr(0, colon + 1) + "\n    pass\n" + (end < code.size() ? code.substr(end) : "");
}

const char kRebindAssert[] =
    "\nimport builtins\nclass _Never(Exception):\n    pass\n"
    "builtins.AssertionError = _Never\nAssertionError = _Never\n";
const char kKillParent[] = "\nimport os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n";

struct Mutant {
  std::string kind;
  std::string code;
};

// Exit-style mutants keep the right solution: passing would need the tests
// skipped. The kill and rebinding mutants carry a wrong body, so a pass could
// only come from the attack itself (a parent that is the sandbox's init
// ignores the kill, and then the right solution would rightly pass).
std::vector<Mutant> Mutants(const std::string& solution, bool humaneval) {
  std::vector<Mutant> out;
  const std::optional<std::string> wrong_body =
      humaneval ? std::optional<std::string>("    pass\n") : PassBody(solution);
  if (wrong_body.has_value()) out.push_back({"pass_body", *wrong_body});
  if (std::optional<std::string> constant = WrongConstant(solution)) {
    out.push_back({"wrong_constant", *constant});
  }
  const std::string base = solution + "\n";
  out.push_back({"exit", base + "exit(0)\n"});
  out.push_back({"sys_exit", base + "import sys; sys.exit(0)\n"});
  out.push_back({"os_exit", base + "import os; os._exit(0)\n"});
  out.push_back({"raise_system_exit", base + "raise SystemExit\n"});
  if (wrong_body.has_value()) {
    out.push_back({"kill_parent", *wrong_body + kKillParent});
    out.push_back({"rebind_assertion_error", *wrong_body + kRebindAssert});
  }
  return out;
}

TEST(MutatorTest, WrongConstantInTheFirstReturn) {
  EXPECT_EQ(*WrongConstant("x1 = 2\n# return 4\ns = 'return 5'\nreturn x1 + 1.5 + 'a 3' + 7\n"),
            "x1 = 2\n# return 4\ns = 'return 5'\nreturn x1 + 1.5 + 'a 3' + 8\n");
  EXPECT_EQ(*WrongConstant("return (a +\n        0x10 + 2)\nreturn 9"),
            "return (a +\n        0x10 + 3)\nreturn 9");
  EXPECT_EQ(*WrongConstant("def f(a):\n    return a\n    return 1\n"),
            "def f(a):\n    return None if True else a\n    return 1\n");
  EXPECT_EQ(*WrongConstant("def f(a):\n    return\n    return 2\n"),
            "def f(a):\n    return\n    return 3\n");
  EXPECT_FALSE(WrongConstant("def f(a):\n    return\n").has_value());
}

TEST(MutatorTest, PassBody) {
  EXPECT_EQ(*PassBody("import re\ndef f(a: int = (1)) -> int:\n  x = a\n\n  return x\nY = 2\n"),
            "import re\ndef f(a: int = (1)) -> int:\n    pass\n\nY = 2\n");
  EXPECT_EQ(*PassBody("def f(a): return a\r\n"), "def f(a):\n    pass\n");
  EXPECT_FALSE(PassBody("x = 1\n").has_value());
}

// ------------------------------------------------------------ the mutants --

int Stride() {
  const char* env = std::getenv("GRPO_MUTANTS_STRIDE");
  const int stride = env == nullptr ? 8 : std::atoi(env);
  return stride > 0 ? stride : 8;
}

struct Outcome {
  std::string task;
  std::string kind;
  CodeResult result;
};

TEST(CodeMutantsTest, MutantsFail) {
  const std::vector<DatasetTask> humaneval =
      testing::LoadHumanEval(GRPO_DATA_DIR "/humaneval.jsonl");
  const std::vector<DatasetTask> mbpp = testing::LoadMbpp(GRPO_DATA_DIR "/mbpp.jsonl");
  ASSERT_EQ(humaneval.size(), 164u);
  ASSERT_EQ(mbpp.size(), 974u);
  std::unique_ptr<CodeChecker> checkers[2];
  for (int h = 0; h < 2; ++h) {
    config::CodeRewardOptions options;
    options.set_test_style(h == 0 ? config::HUMANEVAL : config::MBPP);
    absl::StatusOr<std::unique_ptr<CodeChecker>> checker = CodeChecker::Create(options);
    if (!checker.ok() && checker.status().code() == absl::StatusCode::kFailedPrecondition) {
      GTEST_SKIP() << "no sandbox: " << checker.status().message();
    }
    ASSERT_TRUE(checker.ok()) << checker.status();
    checkers[h] = std::move(*checker);
  }
  struct Job {
    const DatasetTask* task;
    bool humaneval;
    Mutant mutant;
  };
  std::vector<Job> jobs;
  const int stride = Stride();
  for (int h = 0; h < 2; ++h) {
    const std::vector<DatasetTask>& tasks = h == 0 ? humaneval : mbpp;
    for (size_t i = 0; i < tasks.size(); i += stride) {
      for (Mutant& m : Mutants(tasks[i].solution, h == 0)) {
        jobs.push_back({&tasks[i], h == 0, std::move(m)});
      }
    }
  }
  std::vector<Outcome> outcomes(jobs.size());
  testing::ParallelFor(jobs.size(), checkers[0]->workers(), [&](size_t i) {
    const Job& job = jobs[i];
    outcomes[i] = {job.task->id, job.mutant.kind,
                   checkers[job.humaneval ? 0 : 1]->Run(job.mutant.code, job.task->task)};
  });

  std::map<std::string, std::pair<int, int>> by_kind;  // kind -> (failed, total)
  std::map<std::string, int> verdicts;
  int failed = 0;
  std::vector<std::string> survivors;
  for (const Outcome& o : outcomes) {
    const bool pass = o.result.verdict == CodeVerdict::kPass;
    ++by_kind[o.kind].second;
    ++verdicts[std::string(CodeVerdictName(o.result.verdict))];
    if (pass) {
      survivors.push_back(o.task + " " + o.kind);
    } else {
      ++failed;
      ++by_kind[o.kind].first;
    }
    EXPECT_NE(o.result.verdict, CodeVerdict::kSandboxError)
        << o.task << " " << o.kind << ": " << o.result.detail;
  }
  const double share = outcomes.empty() ? 0 : static_cast<double>(failed) / outcomes.size();
  std::printf("mutants (every %d%s task): %d of %zu fail (%.2f%%)\n", stride,
              stride == 1 ? "st" : "th", failed, outcomes.size(), 100 * share);
  for (const auto& [kind, counts] : by_kind) {
    std::printf("  %-24s %d/%d fail\n", kind.c_str(), counts.first, counts.second);
  }
  std::printf("  verdicts:");
  for (const auto& [verdict, count] : verdicts) std::printf(" %s %d", verdict.c_str(), count);
  std::printf("\n");
  for (const std::string& s : survivors) std::printf("  survivor: %s\n", s.c_str());

  EXPECT_GE(share, 0.99);
  for (const char* kind : {"exit", "sys_exit", "os_exit", "raise_system_exit", "kill_parent",
                           "rebind_assertion_error"}) {
    EXPECT_EQ(by_kind[kind].first, by_kind[kind].second) << kind << " mutants must all fail";
  }
}

}  // namespace
}  // namespace grpo::reward
