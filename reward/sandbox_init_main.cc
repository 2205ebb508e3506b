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
  OwnedPlan plan;
  if (!ReadPlanArgument(argc, argv, &plan)) return 126;
  const PlanView view(plan);
  return ChildMain(const_cast<ChildPlan*>(&view.plan()));
}
