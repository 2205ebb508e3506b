#include "grpo/optimizer.h"

#include <fcntl.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "policy/torch_status.h"

namespace grpo::train {
namespace {

constexpr double kPi = 3.14159265358979323846;

absl::Status CheckOptions(const OptimizerOptions& o) {
  if (!(o.learning_rate() >= 0) || !(o.eps() > 0) || !(o.weight_decay() >= 0)) {
    return absl::InvalidArgumentError("optimizer: learning_rate and weight_decay must be >= 0 and eps > 0");
  }
  if (!(o.beta1() >= 0 && o.beta1() < 1) || !(o.beta2() >= 0 && o.beta2() < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer: betas must be in [0, 1), got ", o.beta1(), " and ", o.beta2()));
  }
  if (o.warmup_steps() < 0 || o.total_steps() < 0 ||
      (o.total_steps() > 0 && o.warmup_steps() > o.total_steps())) {
    return absl::InvalidArgumentError(absl::StrCat("optimizer: need 0 <= warmup_steps (", o.warmup_steps(),
                                                   ") <= total_steps (", o.total_steps(), ") or total_steps 0"));
  }
  if (!(o.min_lr_ratio() >= 0 && o.min_lr_ratio() <= 1) || !(o.max_grad_norm() >= 0)) {
    return absl::InvalidArgumentError("optimizer: min_lr_ratio must be in [0, 1] and max_grad_norm >= 0");
  }
  return absl::OkStatus();
}

// fsync a written file, so a rename after it cannot expose a short file after a crash.
absl::Status SyncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    return absl::DataLossError(absl::StrCat("cannot fsync ", path));
  }
  ::close(fd);
  return absl::OkStatus();
}

}  // namespace

double ScheduledLearningRate(const OptimizerOptions& o, int64_t step) {
  const double lr = o.learning_rate();
  if (step < o.warmup_steps()) {
    return lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps());
  }
  if (o.total_steps() == 0) return lr;
  const int64_t decay_steps = o.total_steps() - o.warmup_steps();
  const double progress =
      decay_steps > 0 ? std::min(1.0, static_cast<double>(step - o.warmup_steps()) / decay_steps) : 1.0;
  const double r = o.min_lr_ratio();
  return lr * (r + (1 - r) * 0.5 * (1 + std::cos(kPi * progress)));
}

Optimizer::Optimizer(std::vector<torch::Tensor> parameters, const OptimizerOptions& options)
    : parameters_(std::move(parameters)), options_(options) {
  torch::optim::AdamWOptions adamw(options.learning_rate());
  adamw.betas({options.beta1(), options.beta2()}).eps(options.eps()).weight_decay(options.weight_decay());
  adamw_ = std::make_unique<torch::optim::AdamW>(parameters_, adamw);
}

absl::StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(std::vector<torch::Tensor> parameters,
                                                             const OptimizerOptions& options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  if (parameters.empty()) return absl::InvalidArgumentError("optimizer: no parameters to train");
  try {
    return std::unique_ptr<Optimizer>(new Optimizer(std::move(parameters), options));
  } catch (...) {
    return policy::StatusFromCurrentException("creating the optimizer");
  }
}

absl::StatusOr<StepStats> Optimizer::Step() {
  try {
    StepStats stats;
    stats.learning_rate = ScheduledLearningRate(options_, steps_done_);
    // One device sync for the whole norm, not one per parameter.
    std::vector<torch::Tensor> squares;
    for (const torch::Tensor& p : parameters_) {
      if (p.grad().defined()) squares.push_back(p.grad().detach().to(torch::kDouble).pow(2).sum());
    }
    stats.grad_norm = squares.empty() ? 0.0 : torch::stack(squares).sum().sqrt().item<double>();
    if (!std::isfinite(stats.grad_norm)) {
      stats.skipped = true;
    } else {
      // torch.nn.utils.clip_grad_norm_'s rule: scale by max / (norm + 1e-6) when that is < 1.
      const double coef = options_.max_grad_norm() / (stats.grad_norm + 1e-6);
      if (options_.max_grad_norm() > 0 && coef < 1) {
        for (const torch::Tensor& p : parameters_) {
          if (p.grad().defined()) p.grad().mul_(coef);
        }
      }
      for (auto& group : adamw_->param_groups()) {
        static_cast<torch::optim::AdamWOptions&>(group.options()).lr(stats.learning_rate);
      }
      adamw_->step();
    }
    adamw_->zero_grad();
    ++steps_done_;
    return stats;
  } catch (...) {
    return policy::StatusFromCurrentException("optimizer step");
  }
}

absl::Status Optimizer::Save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  try {
    torch::serialize::OutputArchive archive;
    adamw_->save(archive);
    archive.write("grpo_steps_done", torch::tensor(steps_done_, torch::kLong));
    archive.save_to(tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    return absl::DataLossError(
        absl::StrCat("cannot write optimizer state ", path, ": ",
                     policy::StatusFromCurrentException("saving").message()));
  }
  if (absl::Status s = SyncFile(tmp); !s.ok()) return s;
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::DataLossError(absl::StrCat("cannot rename ", tmp, " to ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status Optimizer::Load(const std::string& path) {
  if (!std::filesystem::exists(path)) return absl::NotFoundError(absl::StrCat("no optimizer state at ", path));
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    torch::Tensor steps;
    archive.read("grpo_steps_done", steps);
    adamw_->load(archive);
    steps_done_ = steps.item<int64_t>();
    return absl::OkStatus();
  } catch (...) {
    return absl::DataLossError(
        absl::StrCat("optimizer state ", path, " is damaged or does not fit these parameters: ",
                     policy::StatusFromCurrentException("loading").message()));
  }
}

}  // namespace grpo::train
