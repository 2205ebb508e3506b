// The hostile-program suite (issue 4, acceptance 3): one test per attack,
// each with small limits, and after each the host is checked: no process of
// the attack is left (every program carries a per-test marker in its argv,
// and /proc is scanned for it), host processes are alive, nothing was
// written on the host, and the sandbox still serves.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "reward/sandbox.h"
#include "tests/sandbox_fixture.h"

namespace grpo::reward {
namespace {

using Kind = SandboxOutcome::Kind;

// Attacks run both ways, on the exec path and through the zygote.
constexpr char kSetsidDaemon[] =
    "import os, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        os.chdir('/'); os.close(0); os.close(1); os.close(2)\n"
    "        time.sleep(30)\n"
    "    os._exit(0)\n"
    "os.wait()\n"
    "print('daemonized')\n";
// chroot, pivot_root, setns, unshare(NEWNS), clone(NEWUSER), io_uring_setup,
// userfaultfd, process_vm_readv on pid 1, ptrace(ATTACH, 1), setuid(0).
constexpr char kKernelEscapes[] =
    "import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "def call(nr, *a):\n"
    "    r = libc.syscall(nr, *a); return 'ok' if r >= 0 else str(ctypes.get_errno())\n"
    "print(call(161, b'/tmp'), call(155, b'/tmp', b'/tmp'), call(308, 0, 0), call(272, 0x20000),\n"
    "      call(56, 0x10000000 | 17, 0, 0, 0, 0), call(425, 1, 0), call(323, 0),\n"
    "      call(310, 1, 0, 0, 0, 0, 0), call(101, 16, 1, 0, 0), call(105, 0))\n";

// Pids of host processes whose command line contains `marker`.
std::vector<int> ProcessesWithMarker(const std::string& marker) {
  std::vector<int> found;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return found;
  while (dirent* e = readdir(dir)) {
    const int pid = atoi(e->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::ifstream in(absl::StrCat("/proc/", pid, "/cmdline"), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().find(marker) != std::string::npos) found.push_back(pid);
  }
  closedir(dir);
  return found;
}

bool HostPathExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

SandboxOptions SmallTmpfs() {
  SandboxOptions options;
  options.tmpfs_bytes = 8 << 20;
  return options;
}

class SandboxHostileTest : public testing::SharedSandboxTest<SmallTmpfs> {
 protected:
  void SetUp() override {
    SharedSandboxTest::SetUp();
    if (IsSkipped()) return;
    marker_ = absl::StrCat("grpo-hostile-", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                           "-", getpid());
    start_ = std::chrono::steady_clock::now();
  }
  // The host after every attack.
  void TearDown() override {
    if (sandbox_ == nullptr) return;
    EXPECT_EQ(ProcessesWithMarker(marker_), std::vector<int>{}) << "processes of the attack survived";
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(), 30)
        << "the attack was not bounded in time";
    SandboxStep step;
    step.argv = {"/usr/bin/python3", "-c", "print('still serving')"};
    auto o = sandbox_->RunOne(step);
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->stdout_data, "still serving\n") << o->detail << o->stderr_data;
  }

  // Runs `python3 -c code MARKER`.
  SandboxOutcome Py(const std::string& code, SandboxLimits limits = Small()) {
    SandboxStep step;
    step.argv = {"/usr/bin/python3", "-c", code, marker_};
    step.limits = limits;
    auto o = sandbox_->RunOne(step);
    EXPECT_TRUE(o.ok()) << o.status();
    return o.ok() ? *o : SandboxOutcome{};
  }

  static SandboxLimits Small() {
    SandboxLimits l;
    l.cpu_seconds = 2;
    l.wall_seconds = 3;
    l.max_processes = 32;
    l.max_output_bytes = 1 << 20;
    return l;
  }

  std::string marker_;
  std::chrono::steady_clock::time_point start_;
};


TEST_F(SandboxHostileTest, PythonForkBomb) {
  const SandboxOutcome o = Py(
      "import os\n"
      "while True:\n"
      "    try: os.fork()\n"
      "    except OSError: pass\n");
  EXPECT_TRUE(o.kind == Kind::kWallTimeout || o.kind == Kind::kCpuTimeout) << SandboxKindName(o.kind);
  EXPECT_LT(o.wall_seconds, 6);
}

TEST_F(SandboxHostileTest, CForkBombCompiledWithGxx) {
  SandboxJob job;
  job.files = {{"bomb.c", "#include <unistd.h>\nint main(void) { for (;;) fork(); }\n"}};
  SandboxStep compile;
  compile.argv = {"/usr/bin/gcc", "-O1", "-o", "bomb", "bomb.c"};
  SandboxLimits big = Small();
  big.address_space_bytes = int64_t{4} << 30;
  big.cpu_seconds = 30;
  big.wall_seconds = 30;
  compile.limits = big;
  SandboxStep run;
  run.argv = {"./bomb", marker_};
  run.limits = Small();
  job.steps = {compile, run};
  auto outcomes = sandbox_->Run(job);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), 2u) << (*outcomes)[0].stderr_data;
  EXPECT_EQ((*outcomes)[1].kind, Kind::kWallTimeout) << (*outcomes)[1].detail;
}

TEST_F(SandboxHostileTest, InfiniteLoop) {
  SandboxLimits l = Small();
  l.cpu_seconds = 1;
  l.wall_seconds = 10;  // CPU time, not wall time, must end it, even on a busy machine
  const SandboxOutcome o = Py("while True: pass", l);
  EXPECT_EQ(o.kind, Kind::kCpuTimeout) << o.detail;
  // Ignoring SIGXCPU only buys the hard limit, one second more.
  const SandboxOutcome p =
      Py("import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass", l);
  EXPECT_EQ(p.kind, Kind::kCpuTimeout) << p.detail;
  EXPECT_EQ(p.signal, SIGKILL);
}

TEST_F(SandboxHostileTest, TenGigabyteAllocation) {
  const SandboxOutcome o = Py("x = bytearray(10 * 2**30)\nprint('allocated')");
  EXPECT_EQ(o.kind, Kind::kExited);
  EXPECT_NE(o.exit_code, 0);
  EXPECT_TRUE(o.memory_error_likely) << o.stderr_data;
  EXPECT_EQ(o.stdout_data, "");
  EXPECT_LT(o.peak_rss_bytes, int64_t{1} << 30);
}

TEST_F(SandboxHostileTest, GigabyteToStdout) {
  const SandboxOutcome o = Py(
      "import sys\n"
      "chunk = 'x' * 2**20\n"
      "for _ in range(1024): sys.stdout.write(chunk)\n");
  EXPECT_EQ(o.kind, Kind::kOutputLimit) << o.detail;
  EXPECT_TRUE(o.stdout_truncated);
  EXPECT_EQ(o.stdout_data.size(), size_t{1} << 20);
  EXPECT_LT(o.stdout_bytes, int64_t{64} << 20);  // killed long before 1 GB
  EXPECT_LT(o.wall_seconds, 3);
}

TEST_F(SandboxHostileTest, ConnectToAHostPort) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 8), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);

  const SandboxOutcome o = Py(absl::StrCat(
      "import socket\n"
      "r = []\n"
      "for host in ('127.0.0.1', 'localhost', '::1'):\n"
      "    try: socket.create_connection((host, ", port, "), timeout=1); r.append('CONNECTED')\n"
      "    except Exception as e: r.append(type(e).__name__)\n"
      "# The namespace's own table does not list the host's listener.\n"
      "tcp = open('/proc/net/tcp').read()\n"
      "r.append('listed' if ':%04X' % ", port, " in tcp else 'unlisted')\n"
      "print(r)\n"));
  EXPECT_EQ(o.kind, Kind::kExited) << o.stderr_data;
  EXPECT_EQ(o.stdout_data.find("CONNECTED"), std::string::npos) << o.stdout_data;
  EXPECT_NE(o.stdout_data.find("unlisted"), std::string::npos) << o.stdout_data;
  EXPECT_LT(accept(listener, nullptr, nullptr), 0) << "the sandbox reached the host port";
  close(listener);
}

TEST_F(SandboxHostileTest, ReadHostSecrets) {
  const std::string home = getenv("HOME") != nullptr ? getenv("HOME") : "/root";
  const SandboxOutcome o = Py(absl::StrCat(
      "import os, errno\n"
      "def rd(p):\n"
      "    try:\n"
      "        if os.path.isdir(p): os.listdir(p); return 'READ'\n"
      "        open(p, 'rb').read(1); return 'READ'\n"
      "    except OSError as e: return errno.errorcode[e.errno]\n"
      "paths = ['/etc/shadow', '/etc/gshadow', '", GRPO_SOURCE_DIR, "/README.md', '", GRPO_SOURCE_DIR,
      "', '/root', '/root/.bashrc', '", home, "', '/home', '/proc/1/environ', '/proc/1/mem',\n"
      "         '/proc/1/root/etc/shadow', '/sys/kernel', '/var/log', '/boot']\n"
      "print(' '.join(rd(p) for p in paths))\n"));
  EXPECT_EQ(o.kind, Kind::kExited) << o.stderr_data;
  EXPECT_EQ(o.stdout_data.find("READ"), std::string::npos) << o.stdout_data;
  EXPECT_EQ(o.stdout_data,
            "ENOENT ENOENT ENOENT ENOENT ENOENT ENOENT ENOENT ENOENT EACCES EACCES EACCES ENOENT "
            "ENOENT ENOENT\n");
}

TEST_F(SandboxHostileTest, WriteOutsideTheTempDir) {
  const std::string host_marker = absl::StrCat("/tmp/", marker_);
  const SandboxOutcome o = Py(absl::StrCat(
      "import os, errno\n"
      "def w(p):\n"
      "    try: open(p, 'w').write('pwned'); return 'wrote'\n"
      "    except OSError as e: return errno.errorcode[e.errno]\n"
      "print(w('/usr/x'), w('/x'), w('/etc/passwd'), w('/proc/sys/kernel/hostname'), w('/dev/x'),\n"
      "      w('", GRPO_SOURCE_DIR, "/x'), w('", host_marker, "'))\n"));
  EXPECT_EQ(o.kind, Kind::kExited) << o.stderr_data;
  // Only the private /tmp takes the write.
  EXPECT_EQ(o.stdout_data, "EROFS EROFS EROFS EACCES EROFS ENOENT wrote\n") << o.stderr_data;
  EXPECT_FALSE(HostPathExists("/usr/x"));
  EXPECT_FALSE(HostPathExists("/x"));
  EXPECT_FALSE(HostPathExists(host_marker));
  EXPECT_FALSE(HostPathExists(absl::StrCat(GRPO_SOURCE_DIR, "/x")));
}

TEST_F(SandboxHostileTest, KillMinusOne) {
  // A host process of this test's own user (the sandbox's host uid when the
  // test is not root) must survive, and so must this test process.
  pid_t sleeper;
  char* argv[] = {const_cast<char*>("/bin/sleep"), const_cast<char*>("30"), nullptr};
  ASSERT_EQ(posix_spawn(&sleeper, "/bin/sleep", nullptr, nullptr, argv, environ), 0);
  const SandboxOutcome o = Py(
      "import os, signal, time\n"
      "if os.fork() == 0: time.sleep(30)\n"
      "time.sleep(0.1)\n"
      "os.kill(-1, signal.SIGKILL)\n"
      "try: os.kill(1, signal.SIGKILL)\n"
      "except OSError as e: print('init:', e.errno)\n"
      "print('survived', os.wait()[1] & 0x7f)\n");
  EXPECT_EQ(o.kind, Kind::kExited) << o.stderr_data;
  // Its own child died; itself and pid 1 did not (signals to init without a
  // handler are dropped).
  EXPECT_EQ(o.stdout_data, "survived 9\n") << o.stderr_data;
  int status;
  EXPECT_EQ(waitpid(sleeper, &status, WNOHANG), 0) << "a host process was killed";
  EXPECT_EQ(kill(sleeper, 0), 0);
  kill(sleeper, SIGKILL);
  waitpid(sleeper, &status, 0);
}

TEST_F(SandboxHostileTest, ChildrenOutliveTheParent) {
  const SandboxOutcome o = Py(
      "import os, time\n"
      "for _ in range(4):\n"
      "    if os.fork() == 0:\n"
      "        time.sleep(30); os._exit(0)\n"
      "print('parent done')\n",
      Small());
  EXPECT_EQ(o.kind, Kind::kExited);
  EXPECT_EQ(o.stdout_data, "parent done\n");
  EXPECT_LT(o.wall_seconds, 2) << "the run waited for the orphans";
}

TEST_F(SandboxHostileTest, SetsidDaemon) {
  const SandboxOutcome o = Py(kSetsidDaemon);
  EXPECT_EQ(o.kind, Kind::kExited);
  EXPECT_EQ(o.stdout_data, "daemonized\n");
  EXPECT_LT(o.wall_seconds, 2);
}

TEST_F(SandboxHostileTest, FillTmp) {
  const SandboxOutcome o = Py(
      "import errno\n"
      "def fill(path):\n"
      "    n = 0\n"
      "    try:\n"
      "        with open(path, 'wb') as f:\n"
      "            for _ in range(64): f.write(b'x' * 2**20); f.flush(); n += 2**20\n"
      "    except OSError as e: return '%s %d' % (errno.errorcode[e.errno], n)\n"
      "    return 'no limit %d' % n\n"
      "print(fill('/tmp/fill'), fill('/work/fill'), fill('/dev/shm/fill2'))\n");
  EXPECT_EQ(o.kind, Kind::kExited) << o.stderr_data;
  // 8 MiB tmpfs each: ENOSPC at most 8 MiB in (the /dev/shm link is /tmp,
  // already full).
  EXPECT_EQ(o.stdout_data, "ENOSPC 8388608 ENOSPC 8388608 ENOSPC 0\n") << o.stderr_data;
}

TEST_F(SandboxHostileTest, NoEnvironmentOrDescriptorLeaks) {
  setenv("GRPO_HOSTILE_SECRET", "s3cr3t", 1);
  const int leaked = open("/etc/hostname", O_RDONLY);  // deliberately inheritable
  ASSERT_GE(leaked, 0);
  const SandboxOutcome o = Py(
      "import os\n"
      "print(sorted(os.environ))\n"
      "print(sorted(int(f) for f in os.listdir('/proc/self/fd')))\n");
  close(leaked);
  unsetenv("GRPO_HOSTILE_SECRET");
  EXPECT_EQ(o.kind, Kind::kExited) << o.stderr_data;
  EXPECT_EQ(o.stdout_data.find("GRPO_HOSTILE_SECRET"), std::string::npos);
  // 0-2, and the descriptor listdir itself holds open.
  EXPECT_EQ(o.stdout_data,
            "['HOME', 'LANG', 'PATH', 'PYTHONDONTWRITEBYTECODE', 'PYTHONHASHSEED', 'TMPDIR']\n"
            "[0, 1, 2, 3]\n");
}

TEST_F(SandboxHostileTest, EscapeAttemptsThroughTheKernelInterfaces) {
  const SandboxOutcome o = Py(kKernelEscapes);
  EXPECT_EQ(o.kind, Kind::kExited) << o.stderr_data;
  // EPERM (1) from seccomp; setuid(0): EINVAL (22), uid 0 has no mapping.
  EXPECT_EQ(o.stdout_data, "1 1 1 1 1 1 1 1 1 22\n") << o.stderr_data;
}

// The same attacks through the Python zygote (docs/sandbox.md): the program
// runs forked from a warm interpreter, in nested namespaces of its own. Its
// processes carry the zygote's command line, so the host check is instead
// that no live process is left under the zygote once a run is over.

// Live (not zombie) descendants of `root` on the host.
std::vector<int> LiveDescendants(int root) {
  std::vector<std::pair<int, int>> parent_of;  // pid, ppid of live processes
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return {};
  while (dirent* e = readdir(dir)) {
    const int pid = atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
    std::string stat;
    std::getline(in, stat);
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 4 >= stat.size()) continue;
    std::istringstream rest(stat.substr(paren + 2));
    char state;
    int ppid;
    rest >> state >> ppid;
    if (state != 'Z') parent_of.push_back({pid, ppid});
  }
  closedir(dir);
  std::vector<int> found, frontier = {root};
  while (!frontier.empty()) {
    const int p = frontier.back();
    frontier.pop_back();
    for (const auto& [pid, ppid] : parent_of) {
      if (ppid == p) {
        found.push_back(pid);
        frontier.push_back(pid);
      }
    }
  }
  return found;
}

class SandboxHostileZygoteTest : public SandboxHostileTest {
 protected:
  void SetUp() override {
    SandboxHostileTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_TRUE(sandbox_->uses_python_zygote()) << sandbox_->python_zygote_status();
    zygote_ = sandbox_->python_zygote_pid_for_testing();
    ASSERT_GT(zygote_, 0);
  }
  void TearDown() override {
    if (sandbox_ == nullptr) return;
    // The run's pid 1 exits right after its report: allow it a moment.
    std::vector<int> left;
    for (int i = 0; i < 200; ++i) {
      left = LiveDescendants(zygote_);
      if (left.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(left, std::vector<int>{}) << "processes of the attack survived under the zygote";
    EXPECT_EQ(sandbox_->python_zygote_pid_for_testing(), zygote_) << "the attack reached the zygote";
    const SandboxOutcome o = Attack("print('still serving')\n");
    EXPECT_EQ(o.stdout_data, "still serving\n") << o.detail << o.stderr_data;
    SandboxHostileTest::TearDown();
  }
  // `python3 -I -S -B attack.py MARKER`: the zygote's form.
  SandboxOutcome Attack(const std::string& code, SandboxLimits limits = Small()) {
    SandboxStep step;
    step.argv = {"/usr/bin/python3", "-I", "-S", "-B", "attack.py", marker_};
    step.limits = limits;
    auto o = sandbox_->RunOne(step, {{"attack.py", code, false}});
    EXPECT_TRUE(o.ok()) << o.status();
    return o.ok() ? *o : SandboxOutcome{};
  }
  int zygote_ = -1;
};

TEST_F(SandboxHostileZygoteTest, ForkBomb) {
  const SandboxOutcome o = Attack(
      "import os\n"
      "while True:\n"
      "    try: os.fork()\n"
      "    except OSError: pass\n");
  EXPECT_EQ(o.kind, Kind::kWallTimeout) << o.detail;
}

TEST_F(SandboxHostileZygoteTest, KillMinusOneAndThePids) {
  const SandboxOutcome o = Attack(
      "import os, signal, time\n"
      "if os.fork() == 0: time.sleep(30)\n"
      "time.sleep(0.1)\n"
      "os.kill(-1, signal.SIGKILL)\n"
      "for pid in (1, 0):\n"
      "    try: os.kill(pid, signal.SIGKILL)\n"
      "    except OSError as e: print('err', e.errno)\n"
      "print('survived', os.wait()[1] & 0x7f, os.getpid(), sorted(p for p in os.listdir('/proc') if p.isdigit()))\n");
  // Its own child died; pid 1 (the run's, not the zygote) ignored the kill;
  // kill(0) took its own process group, itself included.
  EXPECT_EQ(o.kind, Kind::kSignaled) << o.stdout_data << o.stderr_data;
  EXPECT_EQ(o.signal, SIGKILL);
}

TEST_F(SandboxHostileZygoteTest, SetsidDaemon) {
  const SandboxOutcome o = Attack(kSetsidDaemon);
  EXPECT_EQ(o.stdout_data, "daemonized\n") << o.stderr_data;
  EXPECT_LT(o.wall_seconds, 2);
}

TEST_F(SandboxHostileZygoteTest, APreviousRunsFilesAndStateAreGone) {
  SandboxOutcome o = Attack(
      "import builtins, os, sys, typing\n"
      "for d in ('/tmp', '/work', '/dev/shm'): open(d + '/secret-left', 'w').write('key')\n"
      "os.environ['PLANTED'] = '1'; typing.List = 'planted'; builtins.sorted = lambda x: ['planted']\n"
      "os.register_at_fork(after_in_child=lambda: print('planted hook'))\n"
      "sys.modules['os'].listdir = lambda p='.': ['planted']\n"
      "print('planted')\n");
  ASSERT_EQ(o.stdout_data, "planted\n") << o.stderr_data;
  o = Attack(
      "import os, typing\n"
      "if os.fork() == 0: os._exit(0)\n"
      "os.wait()\n"
      "print(sorted(os.listdir('/tmp')), sorted(os.listdir('/work')), 'PLANTED' in os.environ,\n"
      "      typing.List is list or str(typing.List))\n");
  EXPECT_EQ(o.stdout_data, "[] ['attack.py'] False typing.List\n") << o.stderr_data;
}

TEST_F(SandboxHostileZygoteTest, ReadsPid1AndTheZygote) {
  const SandboxOutcome o = Attack(
      "import errno, os\n"
      "out = []\n"
      "for path in ('/proc/1/mem', '/proc/1/environ', '/proc/1/maps', '/proc/1/fd/0'):\n"
      "    try: open(path, 'rb').read(16); out.append('read')\n"
      "    except OSError as e: out.append(errno.errorcode[e.errno])\n"
      "print(*out, sorted(p for p in os.listdir('/proc') if p.isdigit()), os.getppid())\n");
  // pid 1 of the run is not dumpable; the zygote is not in its pid namespace.
  EXPECT_EQ(o.stdout_data, "EACCES EACCES EACCES EACCES ['1', '2'] 1\n") << o.stderr_data;
}

TEST_F(SandboxHostileZygoteTest, EscapeAttemptsThroughTheKernelInterfaces) {
  const SandboxOutcome o = Attack(absl::StrCat(kKernelEscapes,
      "import socket\n"
      "try: socket.create_connection(('127.0.0.1', 22), timeout=1)\n"
      "except OSError as e: print(e.errno)\n"));
  EXPECT_EQ(o.kind, Kind::kExited) << o.stderr_data;
  EXPECT_EQ(o.stdout_data, "1 1 1 1 1 1 1 1 1 22\n97\n") << o.stderr_data;
}

}  // namespace
}  // namespace grpo::reward
