// The Python zygote of the sandbox (docs/sandbox.md): steps of the form
// `python -I -S -B SCRIPT` fork from a warm interpreter, each in fresh
// nested namespaces, with the same limits, filter and view as the exec path.
// The attacks through the zygote are in tests/sandbox_hostile_test.cc.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "reward/sandbox.h"
#include "tests/sandbox_fixture.h"

namespace grpo::reward {
namespace {

using Kind = SandboxOutcome::Kind;

constexpr char kWarmSource[] = "import sys\nprint('warm', sys.argv[1:])\n";

SandboxOptions TwoWorkers() {
  SandboxOptions options;
  options.workers = 2;
  options.python_zygote_scripts = {{"warm.py", kWarmSource, false}};
  return options;
}

class SandboxZygoteTest : public testing::SharedSandboxTest<TwoWorkers> {
 protected:
  void SetUp() override {
    SharedSandboxTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_TRUE(sandbox_->uses_python_zygote()) << sandbox_->python_zygote_status();
  }
  // `python3 -I -S -B main.py ARGS...` with `code` as main.py: the zygote's form.
  static SandboxOutcome Run(const std::string& code, const std::string& stdin_data = "",
                            std::optional<SandboxLimits> limits = std::nullopt,
                            std::vector<std::string> args = {}) {
    SandboxStep step;
    step.argv = {"/usr/bin/python3", "-B", "-I", "-S", "main.py"};
    step.argv.insert(step.argv.end(), args.begin(), args.end());
    step.stdin_data = stdin_data;
    step.limits = limits;
    auto o = sandbox_->RunOne(step, {{"main.py", code, false}});
    EXPECT_TRUE(o.ok()) << o.status();
    return o.ok() ? *o : SandboxOutcome{};
  }
  static SandboxLimits Short() {
    SandboxLimits l;
    l.cpu_seconds = 1;
    l.wall_seconds = 2;
    l.max_output_bytes = 1 << 16;
    return l;
  }
};

TEST_F(SandboxZygoteTest, ArgvStdinExitCodesAndTracebacks) {
  SandboxOutcome o = Run("import sys\nprint(sys.argv, sys.stdin.read())\nsys.exit(3)\n", "in put",
                         std::nullopt, {"a", "b c"});
  EXPECT_EQ(o.kind, Kind::kExited) << o.detail;
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.stdout_data, "['main.py', 'a', 'b c'] in put\n");
  o = Run("def f():\n    raise KeyError('k')\nprint('before', flush=True)\nf()\n");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(o.stdout_data, "before\n");
  EXPECT_NE(o.stderr_data.find("File \"main.py\", line 2, in f"), std::string::npos) << o.stderr_data;
  EXPECT_NE(o.stderr_data.find("KeyError: 'k'"), std::string::npos);
  // Buffered output is flushed at a normal exit, and atexit hooks run, as in
  // a fresh interpreter; os._exit skips both, as there.
  o = Run("import atexit, sys\natexit.register(lambda: print('atexit'))\nsys.stdout.write('x')\n");
  EXPECT_EQ(o.stdout_data, "xatexit\n");
  o = Run("import os\nprint('lost')\nos._exit(4)\n");
  EXPECT_EQ(o.exit_code, 4);
  EXPECT_EQ(o.stdout_data, "");
  // A missing script: the interpreter's message and exit code 2.
  SandboxStep step;
  step.argv = {"/usr/bin/python3", "-I", "-S", "-B", "missing.py"};
  auto missing = sandbox_->RunOne(step);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->exit_code, 2);
  EXPECT_NE(missing->stderr_data.find("can't open file 'missing.py'"), std::string::npos);
}

TEST_F(SandboxZygoteTest, FreshNamespacesAndDirectoriesEveryRun) {
  const std::string code =
      "import os\n"
      "ns = [os.readlink('/proc/self/ns/' + n) for n in ('user', 'pid', 'net', 'mnt', 'ipc', 'uts', 'cgroup')]\n"
      "print(' '.join(ns))\n"
      "print(os.getpid(), os.getppid(), os.getuid(), os.getgid(), sorted(p for p in os.listdir('/proc') if p.isdigit()))\n"
      "print(sorted(os.listdir('/tmp')), sorted(os.listdir('/work')), os.getcwd(), sorted(os.listdir('/proc/self/fd')))\n"
      "open('/tmp/left', 'w').write('x'); open('/work/left', 'w').write('x')\n"
      "import time; time.sleep(0.3)\n";
  // At the same time, so that no namespace number can be reused between them.
  SandboxOutcome a, b;
  std::thread other([&] { b = Run(code); });
  a = Run(code);
  other.join();
  const SandboxOutcome c = Run(code);  // after both: their files are gone
  EXPECT_EQ(c.stdout_data.substr(c.stdout_data.find('\n') + 1), a.stdout_data.substr(a.stdout_data.find('\n') + 1));
  ASSERT_EQ(a.kind, Kind::kExited) << a.stderr_data;
  ASSERT_EQ(b.kind, Kind::kExited) << b.stderr_data;
  const std::vector<std::string> la = absl::StrSplit(a.stdout_data, '\n');
  const std::vector<std::string> lb = absl::StrSplit(b.stdout_data, '\n');
  ASSERT_GE(la.size(), 3u);
  ASSERT_GE(lb.size(), 3u);
  const std::vector<std::string> nsa = absl::StrSplit(la[0], ' ');
  const std::vector<std::string> nsb = absl::StrSplit(lb[0], ' ');
  ASSERT_EQ(nsa.size(), 7u);
  for (size_t i = 0; i < nsa.size(); ++i) EXPECT_NE(nsa[i], nsb[i]) << "namespace shared between runs";
  // pid 2 under its own pid 1, the inside ids; no file of the previous run;
  // descriptors 0-2 only (3 is listdir's own).
  EXPECT_EQ(la[1], "2 1 1000 1000 ['1', '2']");
  EXPECT_EQ(lb[1], la[1]);
  EXPECT_EQ(la[2], "[] ['main.py'] /work ['0', '1', '2', '3']");
  EXPECT_EQ(lb[2], la[2]);
}

TEST_F(SandboxZygoteTest, NoStateCarriesOverFromAPreviousRun) {
  const SandboxOutcome first = Run(
      "import builtins, os, sys, typing, math\n"
      "os.environ['LEAK'] = '1'; os.putenv('LEAK2', '1')\n"
      "typing.List = None; math.pi = 3; builtins.len = lambda x: 0\n"
      "sys.modules['planted'] = sys; sys.path.insert(0, '/tmp'); sys.setrecursionlimit(50)\n"
      "os.umask(0)\n"
      "print('mutated')\n");
  ASSERT_EQ(first.stdout_data, "mutated\n") << first.stderr_data;
  const SandboxOutcome second = Run(
      "import builtins, os, sys, typing, math\n"
      "print('LEAK' in os.environ, os.getenv('LEAK2'), typing.List is None, math.pi == 3,\n"
      "      len('ab'), 'planted' in sys.modules, '/tmp' in sys.path, sys.getrecursionlimit(),\n"
      "      oct(os.umask(0o22)))\n");
  EXPECT_EQ(second.stdout_data, "False None False False 2 False False 1000 0o22\n") << second.stderr_data;
}

TEST_F(SandboxZygoteTest, LimitsSeccompAndMeasurementsHold) {
  SandboxOutcome o = Run("while True: pass\n", "", Short());
  EXPECT_EQ(o.kind, Kind::kCpuTimeout) << o.detail;
  EXPECT_GE(o.cpu_seconds, 0.9);
  o = Run("import time\ntime.sleep(30)\n", "", Short());
  EXPECT_EQ(o.kind, Kind::kWallTimeout) << o.detail;
  o = Run("import sys\nwhile True: sys.stdout.write('y' * 65536)\n", "", Short());
  EXPECT_EQ(o.kind, Kind::kOutputLimit) << o.detail;
  EXPECT_TRUE(o.stdout_truncated);
  SandboxLimits small = Short();
  small.address_space_bytes = int64_t{512} << 20;
  o = Run("x = bytearray(1 << 30)\n", "", small);
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_TRUE(o.memory_error_likely) << o.stderr_data;
  small.max_file_bytes = 1 << 20;
  o = Run(
      "import errno, socket\n"
      "try: open('/tmp/big', 'wb').write(b'x' * (2 << 20))\n"
      "except OSError as e: print(errno.errorcode[e.errno])\n"
      "try: socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
      "except OSError as e: print(errno.errorcode[e.errno])\n"
      "st = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n"
      "print(st['CapEff'], st['CapBnd'], st['NoNewPrivs'], st['Seccomp'])\n"
      "x = bytearray(64 << 20)\n",
      "", small);
  EXPECT_EQ(o.stdout_data, "EFBIG\nEAFNOSUPPORT\n0000000000000000 0000000000000000 1 2\n") << o.stderr_data;
  EXPECT_GT(o.peak_rss_bytes, int64_t{64} << 20);
}

TEST_F(SandboxZygoteTest, MultiStepJobsShareTheirWorkDirOnly) {
  SandboxJob job;
  job.files = {{"main.py", "import sys, os\nprint(sys.argv[1], sorted(os.listdir('.')))\nopen(sys.argv[1], 'w')\n", false}};
  for (const char* name : {"one", "two"}) {
    job.steps.push_back({{"/usr/bin/python3", "-I", "-S", "-B", "main.py", name}, "", std::nullopt});
  }
  auto outcomes = sandbox_->Run(job);
  ASSERT_TRUE(outcomes.ok());
  ASSERT_EQ(outcomes->size(), 2u);
  EXPECT_EQ((*outcomes)[0].stdout_data, "one ['main.py']\n");
  EXPECT_EQ((*outcomes)[1].stdout_data, "two ['main.py', 'one']\n");
}

TEST_F(SandboxZygoteTest, WarmScriptsRunTheSameAsOthers) {
  SandboxStep step;
  step.argv = {"/usr/bin/python3", "-I", "-S", "-B", "warm.py", "x"};
  auto warm = sandbox_->RunOne(step, {{"warm.py", kWarmSource, false}});
  auto changed = sandbox_->RunOne(step, {{"warm.py", std::string(kWarmSource) + "print(2)\n", false}});
  ASSERT_TRUE(warm.ok() && changed.ok());
  EXPECT_EQ(warm->stdout_data, "warm ['x']\n") << warm->stderr_data;
  EXPECT_EQ(changed->stdout_data, "warm ['x']\n2\n") << changed->stderr_data;
}

TEST_F(SandboxZygoteTest, ParallelRunsAreIndependent) {
  std::vector<std::thread> threads;
  std::vector<std::string> out(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([i, &out] {
      out[i] = Run(absl::StrCat("import os, time\nopen('/tmp/f', 'w').write('", i,
                                "')\ntime.sleep(0.2)\nprint(open('/tmp/f').read(), os.listdir('/tmp'))\n"))
                   .stdout_data;
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], absl::StrCat(i, " ['f']\n"));
}

// True once `pid` (a child of this process) has died: a zombie or gone.
bool WaitUntilDead(int pid) {
  for (int i = 0; i < 500; ++i) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
    std::string stat;
    std::getline(in, stat);
    const size_t paren = stat.rfind(')');
    if (!in || paren == std::string::npos || stat.substr(paren + 2, 1) == "Z") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(SandboxZygoteTest, ADeadZygoteIsReplaced) {
  const int first = sandbox_->python_zygote_pid_for_testing();
  ASSERT_GT(first, 0);  // never kill(-1)
  ASSERT_EQ(kill(first, SIGKILL), 0);
  ASSERT_TRUE(WaitUntilDead(first));
  SandboxOutcome o = Run("print('served')\n");
  EXPECT_EQ(o.stdout_data, "served\n") << o.detail;
  const int second = sandbox_->python_zygote_pid_for_testing();
  ASSERT_GT(second, 0);
  EXPECT_NE(second, first);

  // Killed in the middle of a run: that run is a sandbox error, never a
  // pass or a program verdict; the next one is served by a new zygote.
  std::thread killer([second] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    kill(second, SIGKILL);
  });
  o = Run("import time\ntime.sleep(5)\nprint('done')\n");
  killer.join();
  EXPECT_EQ(o.kind, Kind::kSandboxError) << o.detail;
  EXPECT_EQ(o.stdout_data, "");
  o = Run("print('served')\n");
  EXPECT_EQ(o.stdout_data, "served\n") << o.detail;
  EXPECT_NE(sandbox_->python_zygote_pid_for_testing(), second);
}

TEST_F(SandboxZygoteTest, AHungZygoteIsASandboxErrorThenReplaced) {
  const int pid = sandbox_->python_zygote_pid_for_testing();
  ASSERT_GT(pid, 0);  // never kill(-1)
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  SandboxLimits l = Short();
  l.wall_seconds = 0.5;
  const auto start = std::chrono::steady_clock::now();
  SandboxOutcome o = Run("print('never')\n", "", l);
  EXPECT_EQ(o.kind, Kind::kSandboxError) << o.detail;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 15);
  o = Run("print('served')\n");
  EXPECT_EQ(o.stdout_data, "served\n") << o.detail;
  EXPECT_NE(sandbox_->python_zygote_pid_for_testing(), pid);
}

TEST(SandboxZygoteOptions, OffMeansTheExecPathWithTheSameResults) {
  SandboxOptions options;
  options.python_zygote = false;
  auto created = Sandbox::Create(options);
  if (!created.ok()) GTEST_SKIP() << created.status();
  Sandbox& sandbox = **created;
  EXPECT_FALSE(sandbox.uses_python_zygote());
  EXPECT_EQ(sandbox.python_zygote_pid_for_testing(), -1);
  EXPECT_NE(sandbox.python_zygote_status().find("off"), std::string::npos);
  SandboxStep step;
  step.argv = {"/usr/bin/python3", "-I", "-S", "-B", "main.py"};
  auto o = sandbox.RunOne(step, {{"main.py", "import os, sys\nprint(os.getpid(), sys.flags.isolated, sys.flags.no_site)\n", false}});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->stdout_data, "2 1 1\n") << o->stderr_data;

  options.python_zygote_preload = {"no such module"};
  EXPECT_EQ(Sandbox::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SandboxZygoteOptions, AZygoteThatCannotStartLeavesTheExecPath) {
  SandboxOptions options;
  options.python_zygote_preload = {"grpo_no_such_module"};
  auto created = Sandbox::Create(options);
  if (!created.ok()) GTEST_SKIP() << created.status();
  EXPECT_FALSE((*created)->uses_python_zygote());
  EXPECT_NE((*created)->python_zygote_status().find("import grpo_no_such_module failed"), std::string::npos)
      << (*created)->python_zygote_status();
  SandboxStep step;
  step.argv = {"/usr/bin/python3", "-I", "-S", "-B", "main.py"};
  auto o = (*created)->RunOne(step, {{"main.py", "print('exec path')\n", false}});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->stdout_data, "exec path\n");
}

}  // namespace
}  // namespace grpo::reward
