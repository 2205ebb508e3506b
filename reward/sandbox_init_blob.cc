// The sandbox's programs (grpo_sandbox_init, built static, and the Python
// zygote grpo_sandbox_zygote), embedded in the library so that no installed path is needed and nobody can swap it on disk.
#include "reward/sandbox_init_blob.h"

__asm__(".section .rodata\n"
        ".balign 16\n"
        ".global grpo_sandbox_init_begin\n"
        ".hidden grpo_sandbox_init_begin\n"
        "grpo_sandbox_init_begin:\n"
        ".incbin \"" GRPO_SANDBOX_INIT_PATH "\"\n"
        ".global grpo_sandbox_init_end\n"
        ".hidden grpo_sandbox_init_end\n"
        "grpo_sandbox_init_end:\n"
        ".balign 16\n"
        ".global grpo_sandbox_zygote_begin\n"
        ".hidden grpo_sandbox_zygote_begin\n"
        "grpo_sandbox_zygote_begin:\n"
        ".incbin \"" GRPO_SANDBOX_ZYGOTE_PATH "\"\n"
        ".global grpo_sandbox_zygote_end\n"
        ".hidden grpo_sandbox_zygote_end\n"
        "grpo_sandbox_zygote_end:\n"
        ".previous\n");

extern "C" const char grpo_sandbox_init_begin[];
extern "C" const char grpo_sandbox_init_end[];
extern "C" const char grpo_sandbox_zygote_begin[];
extern "C" const char grpo_sandbox_zygote_end[];

namespace grpo::reward::sandbox_internal {

std::string_view SandboxInitProgram() {
  return std::string_view(grpo_sandbox_init_begin,
                          static_cast<size_t>(grpo_sandbox_init_end - grpo_sandbox_init_begin));
}

std::string_view SandboxZygoteProgram() {
  return std::string_view(grpo_sandbox_zygote_begin,
                          static_cast<size_t>(grpo_sandbox_zygote_end - grpo_sandbox_zygote_begin));
}

}  // namespace grpo::reward::sandbox_internal
