// The bytes of the static sandbox init program (private to reward/sandbox*.cc).
#ifndef GRPO_REWARD_SANDBOX_INIT_BLOB_H_
#define GRPO_REWARD_SANDBOX_INIT_BLOB_H_

#include <string_view>

namespace grpo::reward::sandbox_internal {

// The ELF image of grpo_sandbox_init, embedded at build time.
std::string_view SandboxInitProgram();

}  // namespace grpo::reward::sandbox_internal

#endif  // GRPO_REWARD_SANDBOX_INIT_BLOB_H_
