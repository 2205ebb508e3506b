#include "reward/code_checker.h"

#include <string.h>  // sigabbrev_np

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "reward/code_extract.h"
#include "reward/code_harness.h"
#include "reward/sandbox.h"

namespace grpo::reward {
namespace {

using code_internal::HarnessReport;
using code_internal::OneLine;
using Kind = SandboxOutcome::Kind;

constexpr char kHarnessFile[] = "grpo_harness.py";

// This Abseil's string_view is its own type, not std::string_view.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

SandboxLimits RunLimits(const config::CodeRewardOptions& o) {
  SandboxLimits limits;
  limits.cpu_seconds = o.cpu_seconds();
  limits.wall_seconds = o.wall_seconds();
  limits.address_space_bytes = o.memory_bytes();
  limits.max_output_bytes = o.output_bytes();
  return limits;
}

SandboxLimits CompileLimits(const config::CodeRewardOptions& o) {
  SandboxLimits limits = RunLimits(o);
  limits.cpu_seconds = o.compile_cpu_seconds();
  limits.wall_seconds = o.compile_wall_seconds();
  limits.address_space_bytes = o.compile_memory_bytes();
  return limits;
}

// The verdict of a step that did not exit normally, or nullopt when it did.
std::optional<CodeVerdict> LimitVerdict(const SandboxOutcome& outcome) {
  switch (outcome.kind) {
    case Kind::kSandboxError:
      return CodeVerdict::kSandboxError;
    case Kind::kWallTimeout:
    case Kind::kCpuTimeout:
      return CodeVerdict::kTimeout;
    case Kind::kOutputLimit:
      return CodeVerdict::kOutputLimit;
    case Kind::kSignaled:
      return outcome.memory_error_likely ? CodeVerdict::kMemoryLimit : CodeVerdict::kRuntimeError;
    case Kind::kExited:
      return std::nullopt;
  }
  return CodeVerdict::kSandboxError;
}

std::string LastLine(std::string_view text) {
  text = text.substr(0, text.find_last_not_of(" \t\r\n") + 1);
  const size_t newline = text.rfind('\n');
  return OneLine(newline == std::string_view::npos ? text : text.substr(newline + 1), 200);
}

// g++'s first "error:" line, else its last line.
std::string CompilerError(std::string_view text) {
  for (absl::string_view line : absl::StrSplit(A(text), '\n')) {
    if (line.find("error") != absl::string_view::npos) return OneLine(std::string(line), 300);
  }
  return LastLine(text);
}

std::string ExitText(const SandboxOutcome& outcome) {
  switch (outcome.kind) {
    case Kind::kExited:
      return absl::StrCat("exit code ", outcome.exit_code);
    case Kind::kSignaled:
      return absl::StrCat("killed by signal ", outcome.signal, " (", sigabbrev_np(outcome.signal),
                          ")");
    default:
      return absl::StrCat(SandboxKindName(outcome.kind),
                          outcome.detail.empty() ? "" : ": " + outcome.detail);
  }
}

std::string LineOf(std::string_view text, int line) {
  if (line <= 0) return "";
  int at = 1;
  for (absl::string_view l : absl::StrSplit(A(text), '\n')) {
    if (at++ == line) return OneLine(std::string(l), 200);
  }
  return "";
}

}  // namespace

std::string_view CodeVerdictName(CodeVerdict verdict) {
  switch (verdict) {
    case CodeVerdict::kPass:
      return "pass";
    case CodeVerdict::kFail:
      return "fail";
    case CodeVerdict::kTimeout:
      return "timeout";
    case CodeVerdict::kMemoryLimit:
      return "memory_limit";
    case CodeVerdict::kRuntimeError:
      return "runtime_error";
    case CodeVerdict::kCompileError:
      return "compile_error";
    case CodeVerdict::kOutputLimit:
      return "output_limit";
    case CodeVerdict::kSandboxError:
      return "sandbox_error";
  }
  return "sandbox_error";
}

absl::StatusOr<std::unique_ptr<CodeChecker>> CodeChecker::Create(
    const config::CodeRewardOptions& options) {
  const config::CodeRewardOptions& o = options;
  if (!(o.cpu_seconds() > 0) || !(o.wall_seconds() > 0) || o.memory_bytes() <= 0 ||
      o.output_bytes() <= 0 || !(o.compile_cpu_seconds() > 0) || !(o.compile_wall_seconds() > 0) ||
      o.compile_memory_bytes() <= 0) {
    return absl::InvalidArgumentError("reward.code limits (seconds, bytes) must be > 0");
  }
  if (!(o.binary_threshold() >= 0 && o.binary_threshold() <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("reward.code.binary_threshold must be in [0, 1], got ", o.binary_threshold()));
  }
  if (!(o.stdio_float_tolerance() >= 0)) {
    return absl::InvalidArgumentError("reward.code.stdio_float_tolerance must be >= 0");
  }
  if (o.workers() < 0 || o.max_completion_bytes() <= 0) {
    return absl::InvalidArgumentError(
        "reward.code.workers must be >= 0 and max_completion_bytes > 0");
  }
  if (o.language() == config::CPP && o.test_style() != config::STDIO) {
    return absl::InvalidArgumentError(
        "reward.code.language CPP runs STDIO tests only (test_style: STDIO)");
  }
  if (o.python().empty() || o.python()[0] != '/' || o.cxx().empty() || o.cxx()[0] != '/') {
    return absl::InvalidArgumentError(
        "reward.code.python and reward.code.cxx must be absolute paths visible in the sandbox");
  }
  SandboxOptions sandbox_options;
  sandbox_options.python = o.python();
  sandbox_options.limits = RunLimits(o);
  sandbox_options.workers = o.workers();
  // The harness runs forked from the sandbox's warm interpreter, compiled once.
  sandbox_options.python_zygote_scripts = {
      SandboxFile{kHarnessFile, code_internal::HarnessSource(), false}};
  absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = Sandbox::Create(sandbox_options);
  if (!sandbox.ok()) return sandbox.status();
  // Read every string field once here: protobuf builds defaults lazily, and
  // Check() runs on many threads.
  config::CodeRewardOptions copy = options;
  (void)copy.python();
  (void)copy.cxx();
  (void)copy.cxx_flags();
  (void)copy.block_language();
  return std::unique_ptr<CodeChecker>(new CodeChecker(copy, std::move(*sandbox)));
}

CodeChecker::CodeChecker(const config::CodeRewardOptions& options, std::unique_ptr<Sandbox> sandbox)
    : options_(options), sandbox_(std::move(sandbox)) {}

CodeChecker::~CodeChecker() = default;

int CodeChecker::workers() const { return sandbox_->workers(); }
const std::string& CodeChecker::python_zygote_status() const {
  return sandbox_->python_zygote_status();
}

CodeResult CodeChecker::Check(std::string_view completion, const CodeTask& task) const {
  CodeResult result;
  if (completion.size() > static_cast<size_t>(options_.max_completion_bytes())) {
    result.verdict = CodeVerdict::kFail;
    result.detail = absl::StrCat("completion of ", completion.size(), " bytes is over ",
                                 options_.max_completion_bytes(), "; not run");
    result.reward.status = RewardStatus::kNoAnswer;
    result.reward.reason = result.detail;
    return result;
  }
  CodeExtractOptions extract;
  extract.choice = options_.block() == config::FIRST_BLOCK     ? BlockChoice::kFirst
                   : options_.block() == config::LONGEST_BLOCK ? BlockChoice::kLongest
                                                               : BlockChoice::kLast;
  extract.language = !options_.block_language().empty()   ? options_.block_language()
                     : options_.language() == config::CPP ? "cpp"
                                                          : "python";
  extract.whole_text_without_fence = options_.whole_text_without_fence();
  std::optional<ExtractedCode> code;
  try {
    code = ExtractCode(completion, extract);
  } catch (const std::exception& e) {  // std::bad_alloc: no exception leaves Check
    result.verdict = CodeVerdict::kSandboxError;
    result.detail = absl::StrCat("internal error: ", e.what());
    Score(&result);
    return result;
  }
  if (!code.has_value()) {
    result.verdict = CodeVerdict::kFail;
    result.detail = "no code in the completion";
    result.reward.status = RewardStatus::kNoAnswer;
    result.reward.reason = result.detail;
    return result;
  }
  result = Run(code->code, task);
  result.code_source = code->how;
  return result;
}

CodeResult CodeChecker::Run(std::string_view code, const CodeTask& task) const {
  CodeResult result;
  try {
    result =
        options_.test_style() == config::STDIO ? RunStdio(code, task) : RunPythonTests(code, task);
  } catch (const std::exception& e) {
    result = CodeResult();
    result.verdict = CodeVerdict::kSandboxError;
    result.detail = absl::StrCat("internal error: ", e.what());
  }
  Score(&result);
  return result;
}

void CodeChecker::Score(CodeResult* r) const {
  RewardResult& reward = r->reward;
  if (reward.status == RewardStatus::kUnparseableGold || reward.status == RewardStatus::kNoAnswer) {
    reward.value = 0;
    return;
  }
  reward.extracted = std::string(CodeVerdictName(r->verdict));
  reward.reason =
      r->detail.empty() ? absl::StrCat("passed ", r->cases_passed, "/", r->cases_total) : r->detail;
  if (r->verdict == CodeVerdict::kSandboxError) {
    reward.status = RewardStatus::kError;
    reward.value = 0;
    return;
  }
  reward.status = RewardStatus::kOk;
  const double fraction =
      r->cases_total > 0 ? static_cast<double>(r->cases_passed) / r->cases_total : 0.0;
  reward.value = options_.reward_mode() == config::BINARY
                     ? (fraction >= options_.binary_threshold() - 1e-12 ? 1.0 : 0.0)
                     : fraction;
}

CodeResult CodeChecker::RunPythonTests(std::string_view code, const CodeTask& task) const {
  CodeResult result;
  const bool humaneval = options_.test_style() == config::HUMANEVAL;
  if (humaneval ? (task.entry_point.empty() || task.test.empty()) : task.asserts.empty()) {
    result.verdict = CodeVerdict::kSandboxError;
    result.detail =
        humaneval ? "the task has no test or no entry_point" : "the task has no asserts";
    result.reward.status = RewardStatus::kUnparseableGold;
    result.reward.reason = result.detail;
    return result;
  }
  const code_internal::PythonProgram program = humaneval
                                                   ? code_internal::HumanEvalProgram(code, task)
                                                   : code_internal::MbppProgram(code, task);
  const size_t n = program.cases.size();
  result.cases_total = static_cast<int>(n);
  absl::StatusOr<code_internal::HarnessKeys> keys = code_internal::NewKeys(n);
  if (!keys.ok()) {
    result.verdict = CodeVerdict::kSandboxError;
    result.detail = std::string(keys.status().message());
    return result;
  }
  SandboxStep step;
  // -S: no site module (5 ms a start); the harness and the tests need only the
  // standard library, and exit()/quit() would fail a test anyway.
  step.argv = {options_.python(), "-I", "-S", "-B", kHarnessFile};
  step.stdin_data = code_internal::EncodePayload(*keys, program);
  step.limits = RunLimits(options_);
  absl::StatusOr<SandboxOutcome> run =
      sandbox_->RunOne(step, {SandboxFile{kHarnessFile, code_internal::HarnessSource(), false}});
  if (!run.ok()) {
    result.verdict = CodeVerdict::kSandboxError;
    result.detail = std::string(run.status().message());
    return result;
  }
  const SandboxOutcome& outcome = *run;
  result.wall_seconds = outcome.wall_seconds;
  result.cpu_seconds = outcome.cpu_seconds;
  const HarnessReport report = code_internal::ParseHarnessOutput(outcome.stdout_data, *keys);

  // The case results the harness vouched for, up to the first it did not.
  auto case_detail = [&](size_t i, const HarnessReport::Case& c) {
    std::string where =
        humaneval ? LineOf(program.cases[i], c.line) : OneLine(program.cases[i], 200);
    std::string text =
        absl::StrCat("case ", i, humaneval && c.line > 0 ? absl::StrCat(" line ", c.line) : "");
    if (!where.empty()) absl::StrAppend(&text, ": ", where);
    if (!c.detail.empty() && c.detail != "AssertionError") absl::StrAppend(&text, " -> ", c.detail);
    return text;
  };
  for (size_t i = 0; i < n && report.cases[i].reported; ++i) {
    const HarnessReport::Case& c = report.cases[i];
    CaseResult cr;
    if (c.status == "pass") {
      cr.verdict = CodeVerdict::kPass;
      ++result.cases_passed;
    } else {
      cr.verdict = c.status == "fail"     ? CodeVerdict::kFail
                   : c.status == "memory" ? CodeVerdict::kMemoryLimit
                                          : CodeVerdict::kRuntimeError;
      cr.detail = case_detail(i, c);
      if (result.first_failing_case < 0) result.first_failing_case = static_cast<int>(i);
    }
    result.cases.push_back(std::move(cr));
  }
  const bool all_passed = report.done && result.cases_passed == static_cast<int>(n);
  if (result.first_failing_case < 0 && !all_passed && result.cases.size() < n) {
    result.first_failing_case = static_cast<int>(result.cases.size());
  }

  if (report.tests_invalid) {
    result.verdict = CodeVerdict::kSandboxError;
    result.detail = report.stage_error;
    result.reward.status = RewardStatus::kUnparseableGold;
    result.reward.reason = result.detail;
    return result;
  }
  const std::optional<CodeVerdict> limit = LimitVerdict(outcome);
  if (limit.has_value() && *limit != CodeVerdict::kRuntimeError &&
      !(all_passed && *limit == CodeVerdict::kMemoryLimit)) {
    result.verdict = *limit;
    result.detail =
        absl::StrCat(ExitText(outcome), report.solution == HarnessReport::Stage::kOk
                                            ? absl::StrCat(" in case ", result.first_failing_case)
                                            : " before the solution finished");
    if (*limit == CodeVerdict::kSandboxError) result.detail = ExitText(outcome);
    return result;
  }
  switch (report.solution) {
    case HarnessReport::Stage::kSyntaxError:
      result.verdict = CodeVerdict::kCompileError;
      result.detail = report.solution_detail;
      return result;
    case HarnessReport::Stage::kMemoryError:
      result.verdict = CodeVerdict::kMemoryLimit;
      result.detail = absl::StrCat("the solution raised ", report.solution_detail);
      return result;
    case HarnessReport::Stage::kError:
      result.verdict = CodeVerdict::kRuntimeError;
      result.detail = absl::StrCat("the solution raised ", report.solution_detail);
      return result;
    case HarnessReport::Stage::kNotReported:
      result.verdict =
          outcome.memory_error_likely ? CodeVerdict::kMemoryLimit : CodeVerdict::kRuntimeError;
      result.detail = absl::StrCat("the program ended (", ExitText(outcome),
                                   ") before its code finished: no test ran");
      return result;
    case HarnessReport::Stage::kOk:
      break;
  }
  if (!report.stage_error.empty()) {
    result.verdict = CodeVerdict::kRuntimeError;
    result.detail = report.stage_error;
    return result;
  }
  if (all_passed) {
    result.verdict = CodeVerdict::kPass;
    return result;
  }
  if (result.first_failing_case < static_cast<int>(result.cases.size())) {
    const CaseResult& first = result.cases[result.first_failing_case];
    result.verdict = first.verdict;
    result.detail = first.detail;
    return result;
  }
  // The program ended in the middle of the tests without the harness's word.
  result.verdict =
      outcome.memory_error_likely ? CodeVerdict::kMemoryLimit : CodeVerdict::kRuntimeError;
  result.detail = absl::StrCat("the program ended (", ExitText(outcome), ") during case ",
                               result.first_failing_case, ": the tests did not complete");
  return result;
}

CodeResult CodeChecker::RunStdio(std::string_view code, const CodeTask& task) const {
  CodeResult result;
  const size_t n = task.cases.size();
  result.cases_total = static_cast<int>(n);
  if (n == 0) {
    result.verdict = CodeVerdict::kSandboxError;
    result.detail = "the task has no stdin/stdout cases";
    result.reward.status = RewardStatus::kUnparseableGold;
    result.reward.reason = result.detail;
    return result;
  }
  const bool cpp = options_.language() == config::CPP;
  SandboxJob job;
  if (cpp) {
    job.files.push_back(SandboxFile{"main.cpp", std::string(code), false});
    SandboxStep compile;
    compile.argv.push_back(options_.cxx());
    for (absl::string_view flag : absl::StrSplit(options_.cxx_flags(), ' ', absl::SkipEmpty())) {
      compile.argv.emplace_back(flag);
    }
    compile.argv.insert(compile.argv.end(), {"main.cpp", "-o", "main"});
    compile.limits = CompileLimits(options_);
    job.steps.push_back(std::move(compile));
  } else {
    job.files.push_back(SandboxFile{"main.py", std::string(code), false});
  }
  const size_t first_case = job.steps.size();
  for (const StdioCase& c : task.cases) {
    SandboxStep step;
    step.argv = cpp ? std::vector<std::string>{"./main"}
                    : std::vector<std::string>{options_.python(), "-I", "-B", "main.py"};
    step.stdin_data = c.input;
    step.limits = RunLimits(options_);
    job.steps.push_back(std::move(step));
  }
  auto case_passed = [&](size_t i, const SandboxOutcome& o) {
    return o.kind == Kind::kExited && o.exit_code == 0 &&
           code_internal::OutputsMatch(o.stdout_data, task.cases[i].output,
                                       options_.stdio_float_tolerance());
  };
  const bool stop_early = options_.reward_mode() == config::BINARY && options_.stop_early();
  int passed_so_far = 0;
  job.continue_after = [&](size_t step, const SandboxOutcome& o) {
    if (step < first_case) return o.kind == Kind::kExited && o.exit_code == 0;
    const size_t i = step - first_case;
    if (case_passed(i, o)) ++passed_so_far;
    if (!stop_early) return true;
    const double best = static_cast<double>(passed_so_far + static_cast<int>(n - i - 1)) / n;
    return best >= options_.binary_threshold() - 1e-12;
  };
  absl::StatusOr<std::vector<SandboxOutcome>> run = sandbox_->Run(job);
  if (!run.ok()) {
    result.verdict = CodeVerdict::kSandboxError;
    result.detail = std::string(run.status().message());
    return result;
  }
  for (const SandboxOutcome& o : *run) {
    result.wall_seconds += o.wall_seconds;
    result.cpu_seconds += o.cpu_seconds;
  }
  if (cpp && !run->empty()) {
    const SandboxOutcome& c = run->front();
    if (c.kind == Kind::kSandboxError) {
      result.verdict = CodeVerdict::kSandboxError;
      result.detail = ExitText(c);
      return result;
    }
    if (c.kind != Kind::kExited || c.exit_code != 0) {
      result.verdict = CodeVerdict::kCompileError;
      result.detail = c.kind == Kind::kExited ? absl::StrCat("g++: ", CompilerError(c.stderr_data))
                                              : absl::StrCat("g++ did not finish: ", ExitText(c));
      return result;
    }
  }
  for (size_t s = first_case; s < run->size(); ++s) {
    const size_t i = s - first_case;
    const SandboxOutcome& o = (*run)[s];
    CaseResult cr;
    if (case_passed(i, o)) {
      cr.verdict = CodeVerdict::kPass;
      ++result.cases_passed;
    } else if (std::optional<CodeVerdict> limit = LimitVerdict(o); limit.has_value()) {
      cr.verdict = *limit;
      cr.detail = absl::StrCat("case ", i, ": ", ExitText(o));
      if (*limit == CodeVerdict::kRuntimeError && !o.stderr_data.empty()) {
        absl::StrAppend(&cr.detail, ": ", LastLine(o.stderr_data));
      }
    } else if (o.exit_code != 0) {
      cr.verdict = o.memory_error_likely ? CodeVerdict::kMemoryLimit : CodeVerdict::kRuntimeError;
      cr.detail = absl::StrCat("case ", i, ": ", ExitText(o));
      if (!o.stderr_data.empty()) absl::StrAppend(&cr.detail, ": ", LastLine(o.stderr_data));
    } else {
      cr.verdict = CodeVerdict::kFail;
      cr.detail = absl::StrCat("case ", i, ": expected \"", OneLine(task.cases[i].output, 80),
                               "\", got \"", OneLine(o.stdout_data, 80), "\"");
    }
    if (cr.verdict == CodeVerdict::kSandboxError) {
      result.verdict = CodeVerdict::kSandboxError;
      result.detail = cr.detail;
      return result;
    }
    if (cr.verdict != CodeVerdict::kPass && result.first_failing_case < 0) {
      result.first_failing_case = static_cast<int>(i);
    }
    result.cases.push_back(std::move(cr));
  }
  if (result.cases_passed == static_cast<int>(n)) {
    result.verdict = CodeVerdict::kPass;
  } else if (result.first_failing_case >= 0) {
    result.verdict = result.cases[result.first_failing_case].verdict;
    result.detail = result.cases[result.first_failing_case].detail;
  } else {
    result.verdict = CodeVerdict::kSandboxError;
    result.detail = "the sandbox ran fewer cases than asked";
  }
  return result;
}

}  // namespace grpo::reward
