// The LibTorch boundary: c10::Error to Status. For policy/ and grpo/ only.
#ifndef GRPO_POLICY_TORCH_STATUS_H_
#define GRPO_POLICY_TORCH_STATUS_H_

#include <string>

#include "absl/status/status.h"

namespace grpo::policy {

// Call inside a catch (...) block: the exception in flight (c10::Error or a
// std::exception) as an Internal status, "what_doing: message", without
// LibTorch's backtrace.
absl::Status StatusFromCurrentException(const std::string& what_doing);

}  // namespace grpo::policy

#endif  // GRPO_POLICY_TORCH_STATUS_H_
