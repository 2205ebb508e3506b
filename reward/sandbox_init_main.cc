// grpo_sandbox_init: pid 1 of a sandbox. The host clone()s with the new
// namespaces and CLONE_VM|CLONE_VFORK and execs this small static program
// at once (from a memfd holding the copy embedded in the library), so the
// host's address space, however large, is never copied. Usage (by the host
// only): grpo-sandbox-init PLAN_FD.
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "reward/sandbox_child.h"
#include "reward/sandbox_plan.h"

int main(int argc, char** argv) {
  using namespace grpo::reward::sandbox_internal;
  if (argc != 2) return 125;
  const int fd = atoi(argv[1]);
  std::string bytes;
  char buf[65536];
  for (off_t offset = 0;;) {
    const ssize_t n = pread(fd, buf, sizeof(buf), offset);
    if (n <= 0) break;
    bytes.append(buf, static_cast<size_t>(n));
    offset += n;
  }
  close(fd);
  OwnedPlan plan;
  if (!DecodePlan(bytes, &plan)) return 126;
  bytes.clear();
  bytes.shrink_to_fit();
  const PlanView view(plan);
  return ChildMain(const_cast<ChildPlan*>(&view.plan()));
}
