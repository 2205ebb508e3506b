#include "reward/code_checker.h"

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "reward/code_harness.h"

namespace grpo::reward {
namespace {

using code_internal::HarnessReport;

// ---------------------------------------------------------- harness parts --

TEST(CodeHarnessTest, DefinesTopLevelFunction) {
  EXPECT_TRUE(code_internal::DefinesTopLevelFunction("def add(a, b):\n  pass\n", "add"));
  EXPECT_TRUE(code_internal::DefinesTopLevelFunction("x=1\nasync def add (a):\n", "add"));
  EXPECT_FALSE(code_internal::DefinesTopLevelFunction("    def add(a):\n", "add"));
  EXPECT_FALSE(code_internal::DefinesTopLevelFunction("def adder(a):\n", "add"));
  EXPECT_FALSE(code_internal::DefinesTopLevelFunction("# def add(a):\n", "add"));
}

CodeTask HumanEvalTask() {
  CodeTask task;
  task.prompt =
      "import math\n\ndef helper(x):\n    return x * 2\n\n"
      "def add(a: int, b: int) -> int:\n    \"\"\" Add two numbers.\n"
      "    >>> add(2, 3)\n    5\n    \"\"\"\n";
  task.test =
      "def check(candidate):\n    assert candidate(2, 3) == 5\n"
      "    assert helper(candidate(1, 1)) == 4\n    assert abs(candidate(-1, 1)) == 0\n";
  task.entry_point = "add";
  return task;
}

TEST(CodeHarnessTest, HumanEvalAssembly) {
  const CodeTask task = HumanEvalTask();
  code_internal::PythonProgram body = code_internal::HumanEvalProgram("    return a + b\n", task);
  EXPECT_EQ(body.solution, task.prompt + "    return a + b\n");
  ASSERT_EQ(body.cases.size(), 1u);
  EXPECT_EQ(body.cases[0], task.test + "\ncheck(add)\n");
  // A completion that repeats the signature follows the prompt's stub.
  code_internal::PythonProgram full =
      code_internal::HumanEvalProgram("def add(a, b):\n    return a + b\n", task);
  EXPECT_EQ(full.solution, task.prompt + "\ndef add(a, b):\n    return a + b\n");
}

TEST(CodeHarnessTest, PayloadAndReportParsing) {
  code_internal::PythonProgram program;
  program.solution = "x = 1\n";
  program.setup = "y = 2";
  program.cases = {"assert x == 1", "assert y == 3"};
  const code_internal::HarnessKeys keys{"dg", "dn", "iv", {"p0", "p1"}};
  const std::string payload = code_internal::EncodePayload(keys, program);
  EXPECT_EQ(payload,
            "dg dn iv p0 p1\nS 6\nx = 1\nT 5\ny = 2C 13\nassert x == 1C 13\nassert y == 3");

  const std::string out =
      "noise\ndg S ok\nforged C 1 pass\n"
      "p0 C 0 pass\n\ndg C 1 fail 1 AssertionError \nprint\n\ndn D 2\n";
  HarnessReport report = code_internal::ParseHarnessOutput(out, keys);
  EXPECT_EQ(report.solution, HarnessReport::Stage::kOk);
  ASSERT_EQ(report.cases.size(), 2u);
  EXPECT_TRUE(report.cases[0].reported);
  EXPECT_EQ(report.cases[0].status, "pass");
  EXPECT_EQ(report.cases[1].status, "fail");
  EXPECT_EQ(report.cases[1].line, 1);
  EXPECT_TRUE(report.done);
  EXPECT_FALSE(report.tests_invalid);

  // A claim counts only under its own key: a known diagnostics key, or case
  // 0's key, cannot pass case 1 or finish the run; a cut-off line is no line.
  report = code_internal::ParseHarnessOutput(
      "\ndg C 1 pass\n\np0 C 1 pass\n\ndg D 2\n\np0 D 2\n\ndg X err E: e\n\ndn D 2", keys);
  EXPECT_FALSE(report.cases[1].reported);
  EXPECT_FALSE(report.done);
  EXPECT_FALSE(report.tests_invalid);
  report = code_internal::ParseHarnessOutput("\niv X err SyntaxError: bad\n", keys);
  EXPECT_TRUE(report.tests_invalid);
}

TEST(CodeHarnessTest, SecretsAreFreshHex) {
  absl::StatusOr<std::string> a = code_internal::NewSecret();
  absl::StatusOr<std::string> b = code_internal::NewSecret();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(*a, *b);
}

TEST(CodeHarnessTest, OutputsMatch) {
  EXPECT_TRUE(code_internal::OutputsMatch("1 2\n3\n", "1  2 3", 0));
  EXPECT_TRUE(code_internal::OutputsMatch("  yes \r\n\n", "yes", 0));
  EXPECT_FALSE(code_internal::OutputsMatch("1 2", "1 2 3", 0));
  EXPECT_FALSE(code_internal::OutputsMatch("YES", "yes", 0));
  EXPECT_FALSE(code_internal::OutputsMatch("0.3333", "0.333333", 0));
  EXPECT_TRUE(code_internal::OutputsMatch("0.333334", "0.333333", 1e-5));
  EXPECT_TRUE(code_internal::OutputsMatch("1000000.5", "1000000", 1e-6));
  EXPECT_FALSE(code_internal::OutputsMatch("0.34", "0.333333", 1e-5));
  EXPECT_FALSE(code_internal::OutputsMatch("nan", "nan1", 1e-5));
  EXPECT_TRUE(code_internal::OutputsMatch("", "\n", 0));
}

// ------------------------------------------------------- through the sandbox --

class CodeCheckerTest : public ::testing::Test {
 protected:
  static std::unique_ptr<CodeChecker> Make(config::CodeRewardOptions options) {
    options.set_cpu_seconds(2);
    options.set_wall_seconds(4);
    absl::StatusOr<std::unique_ptr<CodeChecker>> checker = CodeChecker::Create(options);
    if (!checker.ok()) {
      if (checker.status().code() == absl::StatusCode::kFailedPrecondition) return nullptr;
      ADD_FAILURE() << checker.status();
      return nullptr;
    }
    return std::move(*checker);
  }

  void SetUp() override {
    config::CodeRewardOptions options;
    absl::StatusOr<std::unique_ptr<CodeChecker>> probe = CodeChecker::Create(options);
    if (!probe.ok() && probe.status().code() == absl::StatusCode::kFailedPrecondition) {
      GTEST_SKIP() << "no sandbox on this machine: " << probe.status().message();
    }
    ASSERT_TRUE(probe.ok()) << probe.status();
  }

  static config::CodeRewardOptions Style(config::CodeTestStyle style) {
    config::CodeRewardOptions options;
    options.set_test_style(style);
    return options;
  }
};

// Passes, and then every shortcut a program might take: none may pass.
TEST_F(CodeCheckerTest, HumanEvalPassesAndShortcutsFail) {
  auto checker = Make(Style(config::HUMANEVAL));
  ASSERT_NE(checker, nullptr);
  const CodeTask task = HumanEvalTask();
  struct Case {
    const char* name;
    std::string completion;
    std::optional<CodeVerdict> verdict;  // nullopt: any verdict but pass
  };
  const std::vector<Case> cases = {
      {"body", "    return a + b\n", CodeVerdict::kPass},
      {"fenced full function", "Sure:\n```python\ndef add(a, b):\n    return b + a\n```\n",
       CodeVerdict::kPass},
      {"whole prompt repeated", "```python\n" + task.prompt + "    return a + b\n```",
       CodeVerdict::kPass},
      // A demo under the main guard does not run (it would read stdin).
      {"main guard demo",
       "```python\ndef add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n"
       "    print(add(*map(int, input().split())))\n```",
       CodeVerdict::kPass},
      {"body pass", "    pass\n", CodeVerdict::kFail},
      {"wrong constant", "    return a + b + 1\n", CodeVerdict::kFail},
      {"exit(0)", "    return a\nexit(0)\n", CodeVerdict::kRuntimeError},
      {"sys.exit(0)", "    return a\nimport sys; sys.exit(0)\n", CodeVerdict::kRuntimeError},
      {"os._exit(0)", "    return a\nimport os; os._exit(0)\n", CodeVerdict::kRuntimeError},
      {"raise SystemExit", "    raise SystemExit\n", CodeVerdict::kRuntimeError},
      // The parent is the sandbox's init (the kill is ignored: the tests then
      // fail) or none (the process group dies).
      {"kill parent", "    return a\nimport os, signal; os.kill(os.getppid(), signal.SIGKILL)\n",
       std::nullopt},
      {"kill self", "    import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n",
       CodeVerdict::kRuntimeError},
      {"AssertionError rebound",
       "    return 0\nimport builtins\nclass _E(Exception): pass\n"
       "builtins.AssertionError = _E\nAssertionError = _E\n",
       CodeVerdict::kFail},
      // Would pass if the test's abs() were the patched one.
      {"builtins patched for the test",
       "    return 7 if a == -1 else a + b\nimport builtins\nbuiltins.abs = lambda x: 0\n",
       CodeVerdict::kFail},
      // Would pass if the test's helper() were the solution's.
      {"helper redefined", "    return 5 if a == 1 else a + b\ndef helper(x):\n    return 4\n",
       CodeVerdict::kFail},
      {"frame walk for the secret",
       "    import sys\n    f = sys._getframe()\n    while f.f_back: f = f.f_back\n"
       "    sys.stdout.write(repr(f.f_locals))\n    return a + b\n",
       CodeVerdict::kRuntimeError},
      {"gc for the secret", "    import gc; gc.get_objects()\n    return a + b\n",
       CodeVerdict::kRuntimeError},
      {"own memory", "    open('/proc/self/mem', 'rb')\n    return a + b\n",
       CodeVerdict::kRuntimeError},
      {"own memory, relative", "    import os; os.chdir('/proc')\n    return a + b\n",
       CodeVerdict::kRuntimeError},
      {"traceback frames",
       "    try:\n        raise ValueError\n    except ValueError as e:\n"
       "        e.__traceback__.tb_frame\n    return a + b\n",
       CodeVerdict::kRuntimeError},
      // A signal handler would be handed the interrupted frame.
      {"signal handler frame", "    import signal\n    return a + b\n", CodeVerdict::kRuntimeError},
      {"signal handler frame via sys.modules",
       "    import sys\n    sys.modules['_signal'].signal(14, lambda s, f: None)\n"
       "    return a + b\n",
       CodeVerdict::kRuntimeError},
      {"another interpreter", "    import os; os.execv('/usr/bin/python3', ['python3'])\n",
       CodeVerdict::kRuntimeError},
      // Redirects its stdout into a pipe to read a report line back, then
      // replays that line's key on the real stdout.
      {"stdout hijack",
       "    data = os.read(_r, 65536).decode()\n    key = data.split()[0]\n"
       "    os.dup2(_saved, 1)\n"
       "    os.write(1, ('\\n%s C 0 pass\\n\\n%s D 1\\n' % (key, key)).encode())\n"
       "    os._exit(0)\n"
       "import os\n_r, _w = os.pipe()\n_saved = os.dup(1)\nos.dup2(_w, 1)\n",
       CodeVerdict::kRuntimeError},
      {"syntax error", "    return a +\n", CodeVerdict::kCompileError},
      {"infinite loop", "    while True: pass\n", CodeVerdict::kTimeout},
      {"memory", "    x = bytearray(8 << 30)\n    return a + b\n", CodeVerdict::kMemoryLimit},
      {"output flood", "    import sys\n    while True: sys.stdout.write('x' * 65536)\n",
       CodeVerdict::kOutputLimit},
  };
  for (const Case& c : cases) {
    const CodeResult r = checker->Check(c.completion, task);
    const bool pass = c.verdict == CodeVerdict::kPass;
    if (c.verdict.has_value()) {
      EXPECT_EQ(CodeVerdictName(r.verdict), CodeVerdictName(*c.verdict))
          << c.name << ": " << r.detail;
    } else {
      EXPECT_NE(r.verdict, CodeVerdict::kPass) << c.name;
    }
    EXPECT_EQ(r.reward.value, pass ? 1.0 : 0.0) << c.name;
    if (std::string(c.name) == "stdout hijack") {
      // The attack ran to its end: it forged its lines and left.
      EXPECT_NE(r.detail.find("exit code 0"), std::string::npos) << r.detail;
    }
    EXPECT_EQ(r.reward.status, RewardStatus::kOk) << c.name;
    EXPECT_EQ(r.reward.extracted, CodeVerdictName(r.verdict)) << c.name;
    EXPECT_EQ(r.cases_total, 1) << c.name;
    if (!pass) {
      EXPECT_EQ(r.first_failing_case, 0) << c.name << ": " << r.detail;
      EXPECT_FALSE(r.detail.empty()) << c.name;
    }
  }
}

TEST_F(CodeCheckerTest, HumanEvalFailureNamesTheAssert) {
  auto checker = Make(Style(config::HUMANEVAL));
  ASSERT_NE(checker, nullptr);
  const CodeResult r = checker->Check("    return a * b if a == 1 else a + b\n", HumanEvalTask());
  EXPECT_EQ(r.verdict, CodeVerdict::kFail);
  EXPECT_NE(r.detail.find("line 3: assert helper(candidate(1, 1)) == 4"), std::string::npos)
      << r.detail;
}

TEST_F(CodeCheckerTest, NoCodeAndBadTasks) {
  config::CodeRewardOptions options = Style(config::HUMANEVAL);
  options.set_whole_text_without_fence(false);
  auto checker = Make(options);
  ASSERT_NE(checker, nullptr);
  CodeResult r = checker->Check("I cannot solve this.", HumanEvalTask());
  EXPECT_EQ(r.reward.status, RewardStatus::kNoAnswer);
  EXPECT_EQ(r.reward.value, 0.0);
  CodeTask broken = HumanEvalTask();
  broken.entry_point.clear();
  r = checker->Check("```python\nx = 1\n```", broken);
  EXPECT_EQ(r.reward.status, RewardStatus::kUnparseableGold);
  broken = HumanEvalTask();
  broken.test = "def check(candidate):\n  assert (\n";
  r = checker->Check("```python\ndef add(a, b): return a + b\n```", broken);
  EXPECT_EQ(r.reward.status, RewardStatus::kUnparseableGold) << r.detail;
}

CodeTask MbppTask() {
  CodeTask task;
  task.setup = "base = Box(10)";
  task.asserts = {"assert grow(base, 1) == 11", "assert grow(base, 5) == 15",
                  "assert grow(Box(0), 0) == 0"};
  return task;
}

TEST_F(CodeCheckerTest, MbppPassFractionAndSetupAfterCode) {
  auto checker = Make(Style(config::MBPP));
  ASSERT_NE(checker, nullptr);
  // The setup uses a class the code defines: code first, then setup.
  const std::string good =
      "class Box:\n  def __init__(self, v): self.v = v\n"
      "def grow(b, n): return b.v + n\n";
  CodeResult r = checker->Check(good, MbppTask());
  EXPECT_EQ(r.verdict, CodeVerdict::kPass) << r.detail;
  EXPECT_EQ(r.cases_passed, 3);
  const std::string partial =
      "class Box:\n  def __init__(self, v): self.v = v\n"
      "def grow(b, n):\n  if n == 5: raise KeyError(n)\n"
      "  return b.v + n if n else 1\n";
  r = checker->Check(partial, MbppTask());
  EXPECT_EQ(r.verdict, CodeVerdict::kRuntimeError) << r.detail;
  EXPECT_EQ(r.cases_passed, 1);
  EXPECT_EQ(r.first_failing_case, 1);
  ASSERT_EQ(r.cases.size(), 3u);
  EXPECT_EQ(r.cases[2].verdict, CodeVerdict::kFail);
  EXPECT_NE(r.detail.find("KeyError"), std::string::npos) << r.detail;
  EXPECT_DOUBLE_EQ(r.reward.value, 1.0 / 3);

  config::CodeRewardOptions binary = Style(config::MBPP);
  binary.set_reward_mode(config::BINARY);
  binary.set_binary_threshold(0.3);
  auto lenient = Make(binary);
  ASSERT_NE(lenient, nullptr);
  EXPECT_EQ(lenient->Check(partial, MbppTask()).reward.value, 1.0);
}

TEST_F(CodeCheckerTest, MbppTimeoutKeepsTheCasesThatPassed) {
  auto checker = Make(Style(config::MBPP));
  ASSERT_NE(checker, nullptr);
  const CodeResult r = checker->Check(
      "class Box:\n  def __init__(self, v): self.v = v\n"
      "def grow(b, n):\n  while n == 5: pass\n  return b.v + n\n",
      MbppTask());
  EXPECT_EQ(r.verdict, CodeVerdict::kTimeout) << r.detail;
  EXPECT_EQ(r.cases_passed, 1);
  EXPECT_EQ(r.first_failing_case, 1);
}

CodeTask StdioTask() {
  CodeTask task;
  task.cases = {{"1 2\n", "3\n"}, {"10 20\n", "30"}, {"-5 5\n", "0\n"}};
  return task;
}

TEST_F(CodeCheckerTest, PythonStdio) {
  auto checker = Make(Style(config::STDIO));
  ASSERT_NE(checker, nullptr);
  CodeResult r =
      checker->Check("a, b = map(int, input().split())\nprint(a + b, ' ')\n", StdioTask());
  EXPECT_EQ(r.verdict, CodeVerdict::kPass) << r.detail;
  EXPECT_EQ(r.cases_passed, 3);
  r = checker->Check("a, b = map(int, input().split())\nprint(a + b if a > 0 else 1)\n",
                     StdioTask());
  EXPECT_EQ(r.verdict, CodeVerdict::kFail);
  EXPECT_EQ(r.first_failing_case, 2);
  EXPECT_NE(r.detail.find("expected \"0\", got \"1\""), std::string::npos) << r.detail;
  EXPECT_DOUBLE_EQ(r.reward.value, 2.0 / 3);
  r = checker->Check("import sys\nprint(3)\nsys.exit(1)\n", StdioTask());
  EXPECT_EQ(r.verdict, CodeVerdict::kRuntimeError) << r.detail;
}

TEST_F(CodeCheckerTest, CppCompileRunAndStopEarly) {
  config::CodeRewardOptions options = Style(config::STDIO);
  options.set_language(config::CPP);
  options.set_reward_mode(config::BINARY);
  auto checker = Make(options);
  ASSERT_NE(checker, nullptr);
  const std::string good =
      "```cpp\n#include <iostream>\nint main() { long a, b; std::cin >> a >> b;"
      " std::cout << a + b << \"\\n\"; }\n```";
  CodeResult r = checker->Check(good, StdioTask());
  EXPECT_EQ(r.verdict, CodeVerdict::kPass) << r.detail;
  EXPECT_EQ(r.reward.value, 1.0);
  r = checker->Check("```cpp\nint main() { return x; }\n```", StdioTask());
  EXPECT_EQ(r.verdict, CodeVerdict::kCompileError);
  EXPECT_NE(r.detail.find("error"), std::string::npos) << r.detail;
  // BINARY with threshold 1 stops at the first failing case.
  r = checker->Check("```cpp\n#include <cstdio>\nint main() { puts(\"3\"); }\n```", StdioTask());
  EXPECT_EQ(r.verdict, CodeVerdict::kFail);
  EXPECT_EQ(r.cases.size(), 2u);
  EXPECT_EQ(r.first_failing_case, 1);
  r = checker->Check("```cpp\nint main() { volatile int* p = nullptr; return *p; }\n```",
                     StdioTask());
  EXPECT_EQ(r.verdict, CodeVerdict::kRuntimeError) << r.detail;
}

TEST_F(CodeCheckerTest, ConcurrentChecksAgree) {
  auto checker = Make(Style(config::HUMANEVAL));
  ASSERT_NE(checker, nullptr);
  const CodeTask task = HumanEvalTask();
  std::vector<int> verdicts(12, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < 12; ++i) {
    threads.emplace_back([&, i] {
      const CodeResult r =
          checker->Check(i % 2 == 0 ? "    return a + b\n" : "    return a - b\n", task);
      verdicts[i] = static_cast<int>(r.verdict);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(verdicts[i], static_cast<int>(i % 2 == 0 ? CodeVerdict::kPass : CodeVerdict::kFail))
        << i;
  }
}

TEST(CodeCheckerOptionsTest, BadOptionsAreInvalidArgument) {
  config::CodeRewardOptions options;
  options.set_binary_threshold(1.5);
  EXPECT_EQ(CodeChecker::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = config::CodeRewardOptions();
  options.set_language(config::CPP);
  EXPECT_EQ(CodeChecker::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = config::CodeRewardOptions();
  options.set_cpu_seconds(0);
  EXPECT_EQ(CodeChecker::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = config::CodeRewardOptions();
  options.set_python("python3");
  EXPECT_EQ(CodeChecker::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace grpo::reward
