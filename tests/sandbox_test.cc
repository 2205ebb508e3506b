// The code sandbox: what a program sees and gets (tests/sandbox_hostile_test.cc
// has the attacks). Every run goes through the real namespaces; on a machine
// without user namespaces the suite skips with Create()'s explanation.
#include "reward/sandbox.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "reward/sandbox_plan.h"
#include "tests/sandbox_fixture.h"

namespace grpo::reward {
namespace {

using Kind = SandboxOutcome::Kind;

SandboxOptions FourWorkers() {
  SandboxOptions options;
  options.workers = 4;
  return options;
}

class SandboxTest : public testing::SharedSandboxTest<FourWorkers> {
 protected:
  static SandboxOutcome Py(const std::string& code, const std::string& stdin_data = "",
                           std::optional<SandboxLimits> limits = std::nullopt) {
    SandboxStep step;
    step.argv = {"/usr/bin/python3", "-c", code};
    step.stdin_data = stdin_data;
    step.limits = limits;
    auto outcome = sandbox_->RunOne(step);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    return outcome.ok() ? *outcome : SandboxOutcome{};
  }
};

TEST_F(SandboxTest, ExitCodeStdoutAndStderr) {
  const SandboxOutcome o = Py("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)");
  EXPECT_EQ(o.kind, Kind::kExited) << o.detail;
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.stdout_data, "out\n");
  EXPECT_EQ(o.stderr_data, "err\n");
  EXPECT_EQ(o.stdout_bytes, 4);
  EXPECT_FALSE(o.stdout_truncated);
  EXPECT_GT(o.wall_seconds, 0);
  EXPECT_GT(o.cpu_seconds, 0);
  EXPECT_GT(o.peak_rss_bytes, 0);
}

TEST_F(SandboxTest, StdinIsDelivered) {
  std::string big(1 << 20, 'a');  // larger than a pipe buffer
  big += "END";
  const SandboxOutcome o = Py("import sys; d = sys.stdin.read(); print(len(d), d[-3:])", big);
  EXPECT_EQ(o.kind, Kind::kExited);
  EXPECT_EQ(o.stdout_data, absl::StrCat(big.size(), " END\n"));
  // No stdin: an empty file, not the host's terminal.
  EXPECT_EQ(Py("import sys; print(repr(sys.stdin.read()))").stdout_data, "''\n");
}

TEST_F(SandboxTest, FilesAndStepsShareTheWorkDir) {
  SandboxJob job;
  job.files = {{"main.py", "open('made.txt', 'w').write('from step 1')\nprint('ran')\n"},
               {"data.txt", "payload"}};
  SandboxStep first;
  first.argv = {"/usr/bin/python3", "main.py"};
  SandboxStep second;
  second.argv = {"/usr/bin/python3", "-c",
                 "import os; print(open('made.txt').read(), open('data.txt').read(), "
                 "sorted(os.listdir('.')), os.getcwd())"};
  job.steps = {first, second};
  auto outcomes = sandbox_->Run(job);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), 2u);
  EXPECT_EQ((*outcomes)[0].stdout_data, "ran\n");
  EXPECT_EQ((*outcomes)[1].stdout_data,
            "from step 1 payload ['data.txt', 'made.txt', 'main.py'] /work\n");
  // The next job starts from an empty work dir and /tmp.
  EXPECT_EQ(Py("import os; print(os.listdir('.'), os.listdir('/tmp'))").stdout_data, "[] []\n");
}

TEST_F(SandboxTest, StepsStopOnFailureByDefaultOrAsTheCallbackSays) {
  SandboxStep fail;
  fail.argv = {"/usr/bin/python3", "-c", "raise SystemExit(1)"};
  SandboxStep ok;
  ok.argv = {"/usr/bin/python3", "-c", "print('ok')"};
  SandboxJob job;
  job.steps = {fail, ok};
  auto outcomes = sandbox_->Run(job);
  ASSERT_TRUE(outcomes.ok());
  ASSERT_EQ(outcomes->size(), 1u);
  EXPECT_EQ((*outcomes)[0].exit_code, 1);

  std::vector<size_t> seen;
  job.steps = {ok, fail, ok, ok};
  job.continue_after = [&](size_t i, const SandboxOutcome&) {
    seen.push_back(i);
    return i < 1;  // run step 0 and 1, then stop
  };
  outcomes = sandbox_->Run(job);
  ASSERT_TRUE(outcomes.ok());
  EXPECT_EQ(outcomes->size(), 2u);
  EXPECT_EQ(seen, (std::vector<size_t>{0, 1}));
}

TEST_F(SandboxTest, EnvironmentIsCleanAndFixed) {
  const SandboxOutcome o = Py("import os; print(sorted(os.environ.items())); print(hash('abc'))");
  const std::vector<std::string> lines = absl::StrSplit(o.stdout_data, '\n');
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "[('HOME', '/work'), ('LANG', 'C.UTF-8'), ('PATH', '/usr/local/bin:/usr/bin:/bin'), "
            "('PYTHONDONTWRITEBYTECODE', '1'), ('PYTHONHASHSEED', '0'), ('TMPDIR', '/tmp')]");
  // PYTHONHASHSEED=0: the same hash in every run.
  EXPECT_EQ(Py("print(hash('abc'))").stdout_data, lines[1] + "\n");
}

TEST_F(SandboxTest, UnprivilegedIdentityInOwnNamespaces) {
  const SandboxOutcome o = Py(
      "import os, socket\n"
      "st = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n"
      "print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), os.getpid(), socket.gethostname())\n"
      "print(st['CapEff'], st['CapPrm'], st['CapBnd'], st['CapAmb'], st['NoNewPrivs'], st['Seccomp'])\n"
      "print(sorted(p for p in os.listdir('/proc') if p.isdigit()))\n");
  EXPECT_EQ(o.kind, Kind::kExited) << o.stderr_data;
  EXPECT_EQ(o.stdout_data,
            "1000 1000 1000 [] 2 sandbox\n"
            "0000000000000000 0000000000000000 0000000000000000 0000000000000000 1 2\n"
            "['1', '2']\n");
}

TEST_F(SandboxTest, FileSystemIsReadOnlyExceptTmpAndWork) {
  const SandboxOutcome o = Py(
      "import os, errno\n"
      "def w(p):\n"
      "    try:\n"
      "        open(p, 'w').write('x'); return 'ok'\n"
      "    except OSError as e: return errno.errorcode[e.errno]\n"
      "print(w('/x'), w('/usr/x'), w('/etc/x'), w('/usr/lib/x'), w('/tmp/x'), w('/work/x'))\n"
      "print(sorted(os.listdir('/')), sorted(os.listdir('/dev')))\n"
      "print(open('/etc/passwd').read().split(':')[0], os.path.exists('/etc/shadow'))\n");
  EXPECT_EQ(o.kind, Kind::kExited) << o.stderr_data;
  const std::vector<std::string> lines = absl::StrSplit(o.stdout_data, '\n');
  ASSERT_GE(lines.size(), 3u) << o.stdout_data;
  EXPECT_EQ(lines[0], "EROFS EROFS EROFS EROFS ok ok");
  EXPECT_NE(lines[1].find("'tmp', 'usr', 'work'"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("['fd', 'null', 'random', 'shm', 'stderr', 'stdin', 'stdout', "
                          "'urandom', 'zero']"),
            std::string::npos)
      << lines[1];
  EXPECT_EQ(lines[2], "sandbox False");
  // The devices work.
  EXPECT_EQ(Py("open('/dev/null','w').write('x'); print(len(open('/dev/urandom','rb').read(8)), "
               "open('/dev/zero','rb').read(2))")
                .stdout_data,
            "8 b'\\x00\\x00'\n");
}

TEST_F(SandboxTest, NoNetworkButUnixSocketsWork) {
  const SandboxOutcome o = Py(
      "import socket, errno\n"
      "r = []\n"
      "for fam in (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, socket.AF_PACKET):\n"
      "    try: socket.socket(fam, socket.SOCK_RAW if fam == socket.AF_PACKET else socket.SOCK_DGRAM); r.append('ok')\n"
      "    except OSError as e: r.append(errno.errorcode[e.errno])\n"
      "a, b = socket.socketpair(); a.send(b'u'); r.append(b.recv(1).decode())\n"
      "print(r)\n"
      "print([l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]])\n");
  EXPECT_EQ(o.kind, Kind::kExited) << o.stderr_data;
  EXPECT_EQ(o.stdout_data,
            "['EAFNOSUPPORT', 'EAFNOSUPPORT', 'EAFNOSUPPORT', 'EAFNOSUPPORT', 'u']\n['lo']\n");
}

TEST_F(SandboxTest, SeccompRefusesKernelInterfacesButNotThreadsOrFork) {
  const SandboxOutcome o = Py(
      "import ctypes, os, threading, subprocess\n"
      "libc = ctypes.CDLL(None, use_errno=True)\n"
      "def call(nr, *a):\n"
      "    r = libc.syscall(nr, *a); return 'ok' if r >= 0 else os.strerror(ctypes.get_errno())\n"
      "# x86_64 numbers: unshare(CLONE_NEWUSER), ptrace(TRACEME), mount, bpf, perf_event_open, keyctl\n"
      "print(call(272, 0x10000000), call(101, 0, 0, 0, 0), call(165, 0, 0, 0, 0, 0), call(321, 0, 0, 0),\n"
      "      call(298, 0, 0, -1, -1, 0), call(250, 0, 0))\n"
      "out = []\n"
      "ts = [threading.Thread(target=lambda i=i: out.append(i)) for i in range(8)]\n"
      "[t.start() for t in ts]; [t.join() for t in ts]\n"
      "pid = os.fork()\n"
      "if pid == 0: os._exit(7)\n"
      "print(sorted(out), os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]),\n"
      "      subprocess.run(['/bin/echo', 'sub'], capture_output=True, text=True).stdout.strip())\n");
  EXPECT_EQ(o.kind, Kind::kExited) << o.stderr_data;
  EXPECT_EQ(o.stdout_data,
            "Operation not permitted Operation not permitted Operation not permitted "
            "Operation not permitted Operation not permitted Operation not permitted\n"
            "[0, 1, 2, 3, 4, 5, 6, 7] 7 sub\n");
}

TEST_F(SandboxTest, WallTimeoutKillsTheTree) {
  SandboxLimits limits;
  limits.wall_seconds = 0.5;
  const SandboxOutcome o = Py("import os, time\nos.fork()\ntime.sleep(30)", "", limits);
  EXPECT_EQ(o.kind, Kind::kWallTimeout) << o.detail;
  EXPECT_GE(o.wall_seconds, 0.5);
  EXPECT_LT(o.wall_seconds, 3);
}

TEST_F(SandboxTest, CpuLimit) {
  SandboxLimits limits;
  limits.cpu_seconds = 1;
  limits.wall_seconds = 10;
  const SandboxOutcome o = Py("while True: pass", "", limits);
  EXPECT_EQ(o.kind, Kind::kCpuTimeout) << o.detail;
  EXPECT_GE(o.cpu_seconds, 0.8);  // rusage and the rlimit clock differ by a few percent
  EXPECT_LT(o.wall_seconds, 9.5);
}

TEST_F(SandboxTest, OutputLimitOnStdoutAndStderr) {
  SandboxLimits limits;
  limits.max_output_bytes = 1000;
  SandboxOutcome o = Py("print('x' * 5000)", "", limits);
  EXPECT_EQ(o.kind, Kind::kOutputLimit);
  EXPECT_TRUE(o.stdout_truncated);
  EXPECT_EQ(o.stdout_data, std::string(1000, 'x'));
  o = Py("import sys\nwhile True: sys.stderr.write('e' * 100)", "", limits);
  EXPECT_EQ(o.kind, Kind::kOutputLimit);
  EXPECT_TRUE(o.stderr_truncated);
  EXPECT_EQ(o.stderr_data.size(), 1000u);
  // Exactly at the cap is not over it.
  o = Py("print('y' * 999)", "", limits);
  EXPECT_EQ(o.kind, Kind::kExited);
  EXPECT_FALSE(o.stdout_truncated);
}

TEST_F(SandboxTest, AddressSpaceLimitGivesMemoryError) {
  SandboxLimits limits;
  limits.address_space_bytes = int64_t{256} << 20;
  const SandboxOutcome o = Py("x = bytearray(512 * 2**20)", "", limits);
  EXPECT_EQ(o.kind, Kind::kExited);
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_TRUE(o.memory_error_likely) << o.stderr_data;
  EXPECT_FALSE(Py("x = bytearray(64 * 2**20)", "", limits).memory_error_likely);
}

TEST_F(SandboxTest, FileSizeAndProcessLimits) {
  SandboxLimits limits;
  limits.max_file_bytes = 1 << 20;
  limits.max_processes = 8;
  const SandboxOutcome o = Py(
      "import os, signal, errno\n"
      "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
      "try: open('big', 'wb').write(b'x' * (2 << 20)); print('wrote')\n"
      "except OSError as e: print(errno.errorcode[e.errno], os.path.getsize('big'))\n"
      "n = 0\n"
      "try:\n"
      "    for _ in range(20):\n"
      "        if os.fork() == 0: signal.pause()\n"
      "        n += 1\n"
      "except OSError as e: print(errno.errorcode[e.errno], n < 8)\n",
      "", limits);
  EXPECT_EQ(o.stdout_data, absl::StrCat("EFBIG ", 1 << 20, "\nEAGAIN True\n")) << o.stderr_data;
}

TEST_F(SandboxTest, SignalsAndExecFailures) {
  SandboxOutcome o = Py("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)");
  EXPECT_EQ(o.kind, Kind::kSignaled);
  EXPECT_EQ(o.signal, 11);
  SandboxStep missing;
  missing.argv = {"/no/such/program"};
  auto r = sandbox_->RunOne(missing);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Kind::kSandboxError);
  EXPECT_NE(r->detail.find("execve /no/such/program failed: ENOENT"), std::string::npos) << r->detail;
}

TEST_F(SandboxTest, CompilesAndRunsCppInsideTheSandbox) {
  SandboxJob job;
  job.files = {{"sol.cpp",
                "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}\n"}};
  SandboxStep compile;
  compile.argv = {"/usr/bin/g++", "-O2", "-o", "sol", "sol.cpp"};
  SandboxLimits big;
  big.address_space_bytes = int64_t{4} << 30;
  big.cpu_seconds = 60;
  big.wall_seconds = 60;
  compile.limits = big;
  job.steps.push_back(compile);
  for (const char* input : {"1 2", "40 2", "-5 5"}) {
    SandboxStep run;
    run.argv = {"./sol"};
    run.stdin_data = input;
    job.steps.push_back(run);
  }
  auto outcomes = sandbox_->Run(job);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), 4u) << (*outcomes)[0].stderr_data;
  EXPECT_EQ((*outcomes)[0].exit_code, 0) << (*outcomes)[0].stderr_data;
  EXPECT_EQ((*outcomes)[1].stdout_data, "3\n");
  EXPECT_EQ((*outcomes)[2].stdout_data, "42\n");
  EXPECT_EQ((*outcomes)[3].stdout_data, "0\n");
}

TEST_F(SandboxTest, ParallelRunsAreIndependent) {
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &wrong] {
      for (int i = 0; i < 3; ++i) {
        const std::string token = absl::StrCat("t", t, "i", i);
        SandboxStep step;
        step.argv = {"/usr/bin/python3", "-c",
                     "import os, sys; open('f', 'w').write(sys.stdin.read()); "
                     "print(open('f').read(), os.listdir('.'))"};
        step.stdin_data = token;
        auto o = sandbox_->RunOne(step);
        if (!o.ok() || o->stdout_data != token + " ['f']\n") {
          ++wrong;
          ADD_FAILURE() << token << ": " << (o.ok() ? absl::StrCat(SandboxKindName(o->kind), " ", o->detail, " out=", o->stdout_data, " err=", o->stderr_data) : o.status().ToString());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(SandboxTest, MalformedJobsAreInvalidArguments) {
  SandboxJob job;
  EXPECT_EQ(sandbox_->Run(job).status().code(), absl::StatusCode::kInvalidArgument);
  job.steps.push_back({});
  EXPECT_EQ(sandbox_->Run(job).status().code(), absl::StatusCode::kInvalidArgument);
  job.steps[0].argv = {"/bin/true"};
  for (const char* name : {"../x", "a/b", "", "..", "sp ace"}) {
    job.files = {{name, "x"}};
    EXPECT_EQ(sandbox_->Run(job).status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
  job.files.clear();
  SandboxLimits bad;
  bad.wall_seconds = 0;
  job.steps[0].limits = bad;
  EXPECT_EQ(sandbox_->Run(job).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SandboxCreate, RejectsBadOptions) {
  SandboxOptions options;
  options.read_only_paths = {"/tmp/python"};
  EXPECT_EQ(Sandbox::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.read_only_paths = {"/usr/../etc"};
  EXPECT_EQ(Sandbox::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.read_only_paths = {"/usr", "/usr/local"};
  EXPECT_EQ(Sandbox::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = SandboxOptions();
  options.python = "/no/such/python3";
  EXPECT_EQ(Sandbox::Create(options).status().code(), absl::StatusCode::kFailedPrecondition);
  options = SandboxOptions();
  options.python_hash_seed = "abc";
  EXPECT_EQ(Sandbox::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = SandboxOptions();
  options.limits.max_processes = 0;
  EXPECT_EQ(Sandbox::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SandboxCreate, InterpreterOutsideTheViewFailsTheProbe) {
  // /usr/bin/python3 exists on the host, but the sandbox shows only /lib.
  SandboxOptions options;
  options.read_only_paths = {"/lib"};
  auto created = Sandbox::Create(options);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(created.status().message().find("probe"), std::string::npos) << created.status();
}

// The plan pid 1 decodes: every field survives, and any cut or stray byte
// is refused rather than half-read.
TEST(SandboxPlan, RoundTripsAndRejectsDamage) {
  sandbox_internal::OwnedPlan plan;
  plan.control_fd = 7;
  plan.stdout_fd = 8;
  plan.stderr_fd = 9;
  plan.drop_groups = true;
  plan.mounts = {{sandbox_internal::MountEntry::kSymlink, false, "usr/lib", "/tmp/lib"},
                 {sandbox_internal::MountEntry::kFile, true, "/dev/null", "/tmp/dev/null"}};
  plan.tmpfs_options = "size=1";
  plan.work_options = "size=2";
  plan.passwd = "p";
  plan.group = "g";
  plan.files = {{"/work/a.py", std::string("x\0y", 3), true}};
  sandbox_internal::OwnedStep step;
  step.exec_path = "/usr/bin/python3";
  step.argv = {"python3", "-c", ""};
  step.stdin_data = "in";
  step.wall_ns = 5;
  step.max_open_files = 6;
  plan.steps = {step, step};
  plan.env = {"A=1"};
  plan.seccomp = {{1, 2, 3, 4}, {5, 6, 7, 8}};
  const std::string bytes = sandbox_internal::EncodePlan(plan);
  sandbox_internal::OwnedPlan back;
  ASSERT_TRUE(sandbox_internal::DecodePlan(bytes, &back));
  EXPECT_EQ(sandbox_internal::EncodePlan(back), bytes);
  EXPECT_EQ(back.files[0].data, std::string("x\0y", 3));
  EXPECT_EQ(back.steps[1].argv, step.argv);
  EXPECT_EQ(back.seccomp[1].k, 8u);
  EXPECT_TRUE(back.mounts[1].device);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    sandbox_internal::OwnedPlan partial;
    EXPECT_FALSE(sandbox_internal::DecodePlan(bytes.substr(0, cut), &partial)) << cut;
  }
  sandbox_internal::OwnedPlan extra;
  EXPECT_FALSE(sandbox_internal::DecodePlan(bytes + "x", &extra));
}

// Inside a sandbox, user namespaces are refused (seccomp), which is the
// situation of a CI machine without the privilege: Create() must fail with
// FailedPrecondition and say what is missing, and run nothing. The test
// binary runs itself nested to check that.
bool InsideTheSandbox() {
  char host[64] = {};
  return gethostname(host, sizeof(host) - 1) == 0 && std::string(host) == "sandbox" &&
         getuid() == 1000;
}

TEST(SandboxCreate, MissingPrivilegeIsExplainedNeverBypassed) {
  if (InsideTheSandbox()) {
    auto created = Sandbox::Create(SandboxOptions());
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.status().code(), absl::StatusCode::kFailedPrecondition);
    std::cout << "NESTED: " << created.status() << "\n";
    return;
  }
  SandboxOptions options;
  auto created = Sandbox::Create(options);
  if (!created.ok()) GTEST_SKIP() << created.status();
  std::ifstream in("/proc/self/exe", std::ios::binary);
  const std::string binary((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(binary.size(), 0u);
  SandboxStep step;
  step.argv = {"./nested", "--gtest_filter=SandboxCreate.MissingPrivilegeIsExplainedNeverBypassed"};
  auto o = (*created)->RunOne(step, {{"nested", binary, true}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->kind, SandboxOutcome::Kind::kExited) << o->detail << o->stderr_data;
  EXPECT_EQ(o->exit_code, 0) << o->stdout_data << o->stderr_data;
  EXPECT_NE(o->stdout_data.find("NESTED: FAILED_PRECONDITION"), std::string::npos) << o->stdout_data;
  EXPECT_NE(o->stdout_data.find("EPERM"), std::string::npos) << o->stdout_data;
  EXPECT_NE(o->stdout_data.find("needs user namespaces"), std::string::npos) << o->stdout_data;
  EXPECT_NE(o->stdout_data.find("never runs a program without them"), std::string::npos);
}

}  // namespace
}  // namespace grpo::reward
