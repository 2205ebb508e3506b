// `grpo eval-rewards --server=ADDR`: the math or format checker, run by a
// reward server instead of in process. The job's checker options travel as
// the component's params, so the server scores exactly as the local checker
// would, and results map back onto the same RewardResult.
#ifndef GRPO_CLI_REMOTE_CHECKER_H_
#define GRPO_CLI_REMOTE_CHECKER_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/config.pb.h"
#include "reward/reward_result.h"

namespace grpo::reward {
class RewardClient;
}  // namespace grpo::reward

namespace grpo::cli {

class RemoteChecker {
 public:
  // checker: "math" or "format" (InvalidArgument otherwise). Unavailable
  // when no server at `target` answers a health check within 10 s.
  static absl::StatusOr<std::unique_ptr<RemoteChecker>> Create(const std::string& target,
                                                               const std::string& checker,
                                                               const config::RewardConfig& reward);
  ~RemoteChecker();

  // Thread-safe; blocks until the server answers (or the per-sample timeout
  // makes the result "timeout"). A sample the server refused is "error" with
  // the server's reason.
  reward::RewardResult Check(std::string_view completion, std::string_view gold) const;

 private:
  RemoteChecker() = default;
  std::unique_ptr<reward::RewardClient> client_;
  std::string component_;
  std::map<std::string, std::string> params_;
  bool math_ = false;
};

}  // namespace grpo::cli

#endif  // GRPO_CLI_REMOTE_CHECKER_H_
