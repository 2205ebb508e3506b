// sandbox_bench: the per-execution overhead of the code sandbox (issue 4,
// acceptance item 4, first half). A trivial program, `python3 -c pass`, run
// through Sandbox::RunOne against the same command started bare with
// posix_spawn + waitpid, interleaved in one run so both see the same machine.
// Prints per-run milliseconds (median, mean, p90) for both and the ratio of
// the medians; the goal is <= 1.5x. Also `/bin/true` through the sandbox
// (the fixed cost of the namespaces alone), `python3 -I -S -B pass.py`
// through the Python zygote (a fork of a warm interpreter in fresh nested
// namespaces) against the same bare `python3 -I -S -B -c pass`, and a
// parallel round with --workers threads on each side.
//
//   build/bench/sandbox_bench [--iterations=N] [--python=/usr/bin/python3] [--workers=N]
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "reward/sandbox.h"

namespace {

using Clock = std::chrono::steady_clock;
using grpo::reward::Sandbox;
using grpo::reward::SandboxOptions;
using grpo::reward::SandboxOutcome;
using grpo::reward::SandboxStep;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Stats {
  double median, mean, p90;
};

Stats Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  return {v[v.size() / 2], sum / static_cast<double>(v.size()),
          v[std::min(v.size() - 1, v.size() * 9 / 10)]};
}

// The baseline: spawn and wait, nothing else, with the environment the
// sandbox gives (so neither side reads the caller's PYTHON* variables).
bool BareSpawn(const std::vector<std::string>& args) {
  static const char* const kEnv[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp",
                                     "LANG=C.UTF-8", "TMPDIR=/tmp", "PYTHONDONTWRITEBYTECODE=1",
                                     "PYTHONHASHSEED=0", nullptr};
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), const_cast<char**>(kEnv)) != 0)
    return false;
  int status;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool Sandboxed(const Sandbox& sandbox, const std::vector<std::string>& args,
               std::vector<grpo::reward::SandboxFile> files = {}) {
  SandboxStep step;
  step.argv = args;
  auto outcome = sandbox.RunOne(step, std::move(files));
  return outcome.ok() && outcome->kind == SandboxOutcome::Kind::kExited && outcome->exit_code == 0;
}

void Print(const char* name, const Stats& s) {
  std::printf("  %-34s median %7.2f ms  mean %7.2f ms  p90 %7.2f ms\n", name, s.median, s.mean, s.p90);
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 100;
  int workers = 2;
  std::string python = "/usr/bin/python3";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--iterations=", 0) == 0) {
      iterations = std::max(5, std::atoi(arg.c_str() + 13));
    } else if (arg.rfind("--python=", 0) == 0) {
      python = arg.substr(9);
    } else if (arg.rfind("--workers=", 0) == 0) {
      workers = std::max(1, std::atoi(arg.c_str() + 10));
    } else {
      std::fprintf(stderr, "usage: %s [--iterations=N] [--python=PATH] [--workers=N]\n", argv[0]);
      return 2;
    }
  }
  SandboxOptions options;
  options.python = python;
  options.workers = workers;
  auto created = Sandbox::Create(options);
  if (!created.ok()) {
    std::fprintf(stderr, "sandbox unavailable: %s\n", created.status().ToString().c_str());
    return 1;
  }
  const Sandbox& sandbox = **created;
  const std::vector<std::string> trivial = {python, "-c", "pass"};
  // Without site: no .pth hooks of this host that read host-only files, so
  // both sides do exactly the same work.
  const std::vector<std::string> no_site = {python, "-S", "-c", "pass"};
  const std::vector<std::string> true_cmd = {"/bin/true"};

  // Warm-up: page cache, the interpreter's .pyc files.
  for (int i = 0; i < 5; ++i) {
    BareSpawn(trivial);
    Sandboxed(sandbox, trivial);
  }
  std::vector<double> bare, boxed, boxed_true, bare_true, bare_s, boxed_s;
  for (int i = 0; i < iterations; ++i) {
    const auto s0 = Clock::now();
    if (!BareSpawn(no_site)) return std::fprintf(stderr, "bare -S spawn failed\n"), 1;
    const auto s1 = Clock::now();
    if (!Sandboxed(sandbox, no_site)) return std::fprintf(stderr, "sandboxed -S run failed\n"), 1;
    bare_s.push_back(Ms(s1 - s0));
    boxed_s.push_back(Ms(Clock::now() - s1));
    auto t0 = Clock::now();
    if (!BareSpawn(trivial)) return std::fprintf(stderr, "bare spawn failed\n"), 1;
    auto t1 = Clock::now();
    if (!Sandboxed(sandbox, trivial)) return std::fprintf(stderr, "sandboxed run failed\n"), 1;
    auto t2 = Clock::now();
    if (!Sandboxed(sandbox, true_cmd)) return std::fprintf(stderr, "sandboxed true failed\n"), 1;
    auto t3 = Clock::now();
    BareSpawn(true_cmd);
    auto t4 = Clock::now();
    bare.push_back(Ms(t1 - t0));
    boxed.push_back(Ms(t2 - t1));
    boxed_true.push_back(Ms(t3 - t2));
    bare_true.push_back(Ms(t4 - t3));
  }
  // The zygote's form against the same interpreter flags started bare.
  const std::vector<std::string> zygote_form = {python, "-I", "-S", "-B", "pass.py"};
  const std::vector<std::string> bare_isolated = {python, "-I", "-S", "-B", "-c", "pass"};
  const grpo::reward::SandboxFile pass_py{"pass.py", "pass\n", false};
  std::vector<double> bare_z, boxed_z;
  for (int i = 0; i < iterations && sandbox.uses_python_zygote(); ++i) {
    const auto z0 = Clock::now();
    if (!BareSpawn(bare_isolated)) return std::fprintf(stderr, "bare -I -S -B spawn failed\n"), 1;
    const auto z1 = Clock::now();
    if (!Sandboxed(sandbox, zygote_form, {pass_py})) return std::fprintf(stderr, "zygote run failed\n"), 1;
    bare_z.push_back(Ms(z1 - z0));
    boxed_z.push_back(Ms(Clock::now() - z1));
  }
  const Stats sb = Summarize(bare), ss = Summarize(boxed);
  const Stats st = Summarize(boxed_true), bt = Summarize(bare_true);
  std::printf("sandbox_bench: %d iterations each, interleaved, one thread\n", iterations);
  Print(("bare   " + python + " -c pass").c_str(), sb);
  Print(("sandbox " + python + " -c pass").c_str(), ss);
  Print("bare    /bin/true", bt);
  Print("sandbox /bin/true", st);
  const Stats sbs = Summarize(bare_s), sss = Summarize(boxed_s);
  Print(("bare   " + python + " -S -c pass").c_str(), sbs);
  Print(("sandbox " + python + " -S -c pass").c_str(), sss);
  std::printf("  sandbox overhead per run: %.2f ms (median); ratio sandbox/bare = %.3fx "
              "(median), %.3fx (mean); goal <= 1.5x: %s\n",
              ss.median - sb.median, ss.median / sb.median, ss.mean / sb.mean,
              ss.median / sb.median <= 1.5 ? "met" : "NOT met");
  std::printf("  with -S (identical work on both sides): overhead %.2f ms, ratio %.3fx (median), "
              "%.3fx (mean); goal <= 1.5x: %s\n",
              sss.median - sbs.median, sss.median / sbs.median, sss.mean / sbs.mean,
              sss.median / sbs.median <= 1.5 ? "met" : "NOT met");

  if (bare_z.empty()) {
    std::printf("  python zygote: %s\n", sandbox.python_zygote_status().c_str());
  } else {
    const Stats szb = Summarize(bare_z), szs = Summarize(boxed_z);
    Print(("bare   " + python + " -I -S -B -c pass").c_str(), szb);
    Print(("zygote " + python + " -I -S -B pass.py").c_str(), szs);
    std::printf("  zygote run vs bare start: %+.2f ms (median); ratio zygote/bare = %.3fx (median), "
                "%.3fx (mean)\n",
                szs.median - szb.median, szs.median / szb.median, szs.mean / szb.mean);
  }

  // Parallel: the same number of runs on `workers` threads each side.
  auto parallel = [&](bool use_sandbox) {
    std::atomic<int> next{0};
    std::atomic<bool> ok{true};
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&] {
        while (next.fetch_add(1) < iterations) {
          if (!(use_sandbox ? Sandboxed(sandbox, trivial) : BareSpawn(trivial))) ok = false;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    return ok ? static_cast<double>(iterations) / std::chrono::duration<double>(Clock::now() - t0).count()
              : -1.0;
  };
  const double bare_rate = parallel(false), boxed_rate = parallel(true);
  std::printf("parallel, %d threads: bare %.1f runs/s, sandbox %.1f runs/s, ratio bare/sandbox "
              "= %.3fx\n",
              workers, bare_rate, boxed_rate, bare_rate / boxed_rate);
  return 0;
}
