// Small Status helpers: Abseil 20220623 ships no status macros.
#ifndef GRPO_PROTO_STATUS_MACROS_H_
#define GRPO_PROTO_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define GRPO_CONCAT_INNER_(a, b) a##b
#define GRPO_CONCAT_(a, b) GRPO_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::absl::Status grpo_status_ = (expr);        \
    if (!grpo_status_.ok()) return grpo_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` unwraps a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  GRPO_ASSIGN_OR_RETURN_IMPL_(GRPO_CONCAT_(grpo_statusor_, __LINE__), lhs, expr)
#define GRPO_ASSIGN_OR_RETURN_IMPL_(var, lhs, expr) \
  auto var = (expr);                                \
  if (!var.ok()) return var.status();               \
  lhs = std::move(var).value()

#endif  // GRPO_PROTO_STATUS_MACROS_H_
