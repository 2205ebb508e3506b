#include "reward/sandbox_plan.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>

namespace grpo::reward::sandbox_internal {
namespace {

constexpr uint64_t kMagic = 0x67727030706c616eULL;  // "grp0plan"

class Writer {
 public:
  void Int(int64_t v) { out_.append(reinterpret_cast<const char*>(&v), sizeof(v)); }
  void Str(const std::string& s) {
    Int(static_cast<int64_t>(s.size()));
    out_.append(s);
  }
  void Strs(const std::vector<std::string>& v) {
    Int(static_cast<int64_t>(v.size()));
    for (const std::string& s : v) Str(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  bool Int(int64_t* v) {
    if (in_.size() - pos_ < sizeof(*v)) return false;
    std::memcpy(v, in_.data() + pos_, sizeof(*v));
    pos_ += sizeof(*v);
    return true;
  }
  bool Int32(int32_t* v) {
    int64_t x;
    if (!Int(&x)) return false;
    *v = static_cast<int32_t>(x);
    return true;
  }
  bool Count(size_t* n) {
    int64_t x;
    if (!Int(&x) || x < 0 || static_cast<uint64_t>(x) > in_.size() - pos_) return false;
    *n = static_cast<size_t>(x);
    return true;
  }
  bool Str(std::string* s) {
    size_t n;
    if (!Count(&n)) return false;
    s->assign(in_, pos_, n);
    pos_ += n;
    return true;
  }
  bool Strs(std::vector<std::string>* v) {
    size_t n;
    if (!Count(&n)) return false;
    v->resize(n);
    for (std::string& s : *v) {
      if (!Str(&s)) return false;
    }
    return true;
  }
  bool AtEnd() const { return pos_ == in_.size(); }

 private:
  const std::string& in_;
  size_t pos_ = 0;
};

}  // namespace

std::string ReadAllFrom(int fd) {
  std::string bytes;
  char buf[65536];
  for (off_t offset = 0;;) {
    const ssize_t n = pread(fd, buf, sizeof(buf), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.append(buf, static_cast<size_t>(n));
    offset += n;
  }
  return bytes;
}

bool ReadPlanArgument(int argc, char** argv, OwnedPlan* plan) {
  if (argc != 2) return false;
  const int fd = atoi(argv[1]);
  const std::string bytes = ReadAllFrom(fd);
  close(fd);
  return DecodePlan(bytes, plan);
}

bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string EncodePlan(const OwnedPlan& p) {
  Writer w;
  w.Int(static_cast<int64_t>(kMagic));
  w.Int(p.control_fd);
  w.Int(p.stdout_fd);
  w.Int(p.stderr_fd);
  w.Int(p.drop_groups);
  w.Int(static_cast<int64_t>(p.mounts.size()));
  for (const OwnedMount& m : p.mounts) {
    w.Int(m.kind);
    w.Int(m.device);
    w.Str(m.source);
    w.Str(m.target);
  }
  w.Str(p.tmpfs_options);
  w.Str(p.work_options);
  w.Str(p.passwd);
  w.Str(p.group);
  w.Int(static_cast<int64_t>(p.files.size()));
  for (const OwnedFile& f : p.files) {
    w.Str(f.path);
    w.Str(f.data);
    w.Int(f.executable);
  }
  w.Int(static_cast<int64_t>(p.steps.size()));
  for (const OwnedStep& s : p.steps) {
    w.Str(s.exec_path);
    w.Strs(s.argv);
    w.Str(s.stdin_data);
    for (int64_t v : {s.wall_ns, s.cpu_soft, s.cpu_hard, s.address_space, s.max_processes,
                      s.max_file, s.max_open_files}) {
      w.Int(v);
    }
  }
  w.Strs(p.env);
  w.Str(std::string(reinterpret_cast<const char*>(p.seccomp.data()),
                    p.seccomp.size() * sizeof(sock_filter)));
  w.Str(p.zygote_python);
  w.Strs(p.zygote_preload);
  w.Strs(p.zygote_scripts);
  return w.Take();
}

bool DecodePlan(const std::string& bytes, OwnedPlan* p) {
  Reader r(bytes);
  int64_t magic, flag;
  size_t n;
  if (!r.Int(&magic) || static_cast<uint64_t>(magic) != kMagic) return false;
  if (!r.Int32(&p->control_fd) || !r.Int32(&p->stdout_fd) || !r.Int32(&p->stderr_fd) ||
      !r.Int(&flag)) {
    return false;
  }
  p->drop_groups = flag != 0;
  if (!r.Count(&n)) return false;
  p->mounts.resize(n);
  for (OwnedMount& m : p->mounts) {
    if (!r.Int32(&m.kind) || !r.Int(&flag) || !r.Str(&m.source) || !r.Str(&m.target)) return false;
    if (m.kind < MountEntry::kDir || m.kind > MountEntry::kMkdir) return false;
    m.device = flag != 0;
  }
  if (!r.Str(&p->tmpfs_options) || !r.Str(&p->work_options) || !r.Str(&p->passwd) ||
      !r.Str(&p->group) || !r.Count(&n)) {
    return false;
  }
  p->files.resize(n);
  for (OwnedFile& f : p->files) {
    if (!r.Str(&f.path) || !r.Str(&f.data) || !r.Int(&flag)) return false;
    f.executable = flag != 0;
  }
  if (!r.Count(&n)) return false;
  p->steps.resize(n);
  for (OwnedStep& s : p->steps) {
    if (!r.Str(&s.exec_path) || !r.Strs(&s.argv) || !r.Str(&s.stdin_data)) return false;
    for (int64_t* v : {&s.wall_ns, &s.cpu_soft, &s.cpu_hard, &s.address_space, &s.max_processes,
                       &s.max_file, &s.max_open_files}) {
      if (!r.Int(v)) return false;
    }
  }
  std::string filter;
  if (!r.Strs(&p->env) || !r.Str(&filter) || filter.size() % sizeof(sock_filter) != 0 ||
      !r.Str(&p->zygote_python) || !r.Strs(&p->zygote_preload) ||
      !r.Strs(&p->zygote_scripts) || p->zygote_scripts.size() % 2 != 0 || !r.AtEnd()) {
    return false;
  }
  p->seccomp.resize(filter.size() / sizeof(sock_filter));
  std::memcpy(p->seccomp.data(), filter.data(), filter.size());
  return true;
}

PlanView::PlanView(const OwnedPlan& p) {
  for (const OwnedMount& m : p.mounts) {
    mounts_.push_back({static_cast<MountEntry::Kind>(m.kind), m.source.c_str(), m.target.c_str(),
                       m.device});
  }
  for (const OwnedFile& f : p.files) {
    files_.push_back({f.path.c_str(), f.data.data(), f.data.size(), f.executable});
  }
  for (const OwnedStep& s : p.steps) {
    std::vector<char*> argv;
    for (const std::string& a : s.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    argvs_.push_back(std::move(argv));
  }
  for (size_t i = 0; i < p.steps.size(); ++i) {
    const OwnedStep& s = p.steps[i];
    StepPlan step{};
    step.exec_path = s.exec_path.c_str();
    step.stdin_fd = s.stdin_fd;
    step.argv = argvs_[i].data();
    step.stdin_data = s.stdin_data.data();
    step.stdin_size = s.stdin_data.size();
    step.wall_ns = s.wall_ns;
    step.cpu_soft = s.cpu_soft;
    step.cpu_hard = s.cpu_hard;
    step.address_space = s.address_space;
    step.max_processes = s.max_processes;
    step.max_file = s.max_file;
    step.max_open_files = s.max_open_files;
    steps_.push_back(step);
  }
  for (const std::string& e : p.env) envp_.push_back(const_cast<char*>(e.c_str()));
  envp_.push_back(nullptr);
  fprog_.len = static_cast<unsigned short>(p.seccomp.size());
  fprog_.filter = const_cast<sock_filter*>(p.seccomp.data());

  view_.control_fd = p.control_fd;
  view_.stdout_fd = p.stdout_fd;
  view_.stderr_fd = p.stderr_fd;
  view_.drop_groups = p.drop_groups;
  view_.mounts = mounts_.data();
  view_.mount_count = mounts_.size();
  view_.tmpfs_options = p.tmpfs_options.c_str();
  view_.work_options = p.work_options.c_str();
  view_.passwd = p.passwd.c_str();
  view_.group = p.group.c_str();
  view_.files = files_.data();
  view_.file_count = files_.size();
  view_.steps = steps_.data();
  view_.step_count = steps_.size();
  view_.envp = envp_.data();
  view_.seccomp = &fprog_;
}

}  // namespace grpo::reward::sandbox_internal
