#include "policy/torch_status.h"

#include <exception>

#include <c10/util/Exception.h>

#include "absl/strings/str_cat.h"

namespace grpo::policy {

absl::Status StatusFromCurrentException(const std::string& what_doing) {
  try {
    throw;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(what_doing, ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what_doing, ": ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat(what_doing, ": unknown exception"));
  }
}

}  // namespace grpo::policy
