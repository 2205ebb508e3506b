// The bytes of the sandbox's own programs, the static init and the Python zygote (private to reward/sandbox*.cc).
#ifndef GRPO_REWARD_SANDBOX_INIT_BLOB_H_
#define GRPO_REWARD_SANDBOX_INIT_BLOB_H_

#include <string_view>

namespace grpo::reward::sandbox_internal {

// The ELF image of grpo_sandbox_init, embedded at build time.
std::string_view SandboxInitProgram();
// The ELF image of grpo_sandbox_zygote (dynamic: it links libpython).
std::string_view SandboxZygoteProgram();

}  // namespace grpo::reward::sandbox_internal

#endif  // GRPO_REWARD_SANDBOX_INIT_BLOB_H_
