#include "grpo/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "proto/status_macros.h"

namespace grpo::train {
namespace {

namespace fs = std::filesystem;
constexpr char kPrefix[] = "step-";

// fsync a file or a directory.
absl::Status Sync(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::DataLossError(absl::StrCat("cannot open ", path.string(), " to sync"));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::DataLossError(absl::StrCat("cannot fsync ", path.string()));
  return absl::OkStatus();
}

absl::Status SyncTree(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) RETURN_IF_ERROR(Sync(e.path()));
  if (ec) return absl::DataLossError(absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
  return Sync(dir);
}

// Complete checkpoints (step-N dirs, no temp dirs), oldest first.
std::vector<std::pair<int64_t, fs::path>> Checkpoints(const fs::path& root) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    absl::string_view digits = name;
    int64_t step = 0;
    if (e.is_directory() && absl::ConsumePrefix(&digits, kPrefix) && absl::SimpleAtoi(digits, &step)) {
      out.emplace_back(step, e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

absl::Status WriteCheckpoint(const std::string& run_dir, policy::CausalLM& model, policy::CausalLM* reference,
                             const Optimizer& optimizer, const TrainerState& state, int keep) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  const fs::path final_dir = root / absl::StrCat(kPrefix, state.step);
  const fs::path tmp = root / absl::StrCat(".tmp-", kPrefix, state.step);
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return absl::DataLossError(absl::StrCat("cannot create ", tmp.string(), ": ", ec.message()));
  RETURN_IF_ERROR(policy::SaveCausalLM(model, (tmp / "model").string()));
  if (reference != nullptr) RETURN_IF_ERROR(policy::SaveCausalLM(*reference, (tmp / "reference").string()));
  RETURN_IF_ERROR(optimizer.Save((tmp / "optimizer.pt").string()));
  {
    const nlohmann::json j{{"step", state.step},
                           {"data_epoch", state.data_epoch},
                           {"data_position", state.data_position},
                           {"accuracy_before", state.accuracy_before},
                           {"sft_seconds", state.sft_seconds},
                           {"grpo_seconds", state.grpo_seconds},
                           {"failed_rewards", state.failed_rewards}};
    std::ofstream out(tmp / "state.json");
    out << j.dump(2) << "\n";
    if (!out.flush()) return absl::DataLossError(absl::StrCat("cannot write ", (tmp / "state.json").string()));
  }
  RETURN_IF_ERROR(SyncTree(tmp));
  fs::remove_all(final_dir, ec);  // a checkpoint of this step from an earlier, crashed attempt
  fs::rename(tmp, final_dir, ec);
  if (ec) return absl::DataLossError(absl::StrCat("cannot rename ", tmp.string(), ": ", ec.message()));
  RETURN_IF_ERROR(Sync(root));
  std::vector<std::pair<int64_t, fs::path>> all = Checkpoints(root);
  for (size_t i = 0; i + static_cast<size_t>(std::max(keep, 1)) < all.size(); ++i) fs::remove_all(all[i].second, ec);
  return absl::OkStatus();
}

absl::StatusOr<std::string> LatestCheckpoint(const std::string& run_dir) {
  const std::vector<std::pair<int64_t, fs::path>> all = Checkpoints(fs::path(run_dir) / "checkpoints");
  if (all.empty()) return absl::NotFoundError(absl::StrCat("no checkpoint under ", run_dir, "/checkpoints"));
  return all.back().second.string();
}

absl::StatusOr<TrainerState> ReadTrainerState(const std::string& checkpoint_dir) {
  const std::string path = checkpoint_dir + "/state.json";
  std::ifstream in(path);
  if (!in) return absl::DataLossError(absl::StrCat("checkpoint state ", path, " is missing"));
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    TrainerState s;
    s.step = j.at("step").get<int64_t>();
    s.data_epoch = j.at("data_epoch").get<int64_t>();
    s.data_position = j.at("data_position").get<int64_t>();
    s.accuracy_before = j.at("accuracy_before").get<double>();
    s.sft_seconds = j.at("sft_seconds").get<double>();
    s.grpo_seconds = j.at("grpo_seconds").get<double>();
    s.failed_rewards = j.at("failed_rewards").get<int64_t>();
    return s;
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("checkpoint state ", path, " is malformed: ", e.what()));
  }
}

// Drops the JSONL lines of `path` whose "step" is past `steps_done` (they came
// after the checkpoint being resumed); a missing file is fine.
absl::Status KeepLinesUpToStep(const std::string& path, int64_t steps_done) {
  std::ifstream in(path);
  if (!in) return absl::OkStatus();
  std::string kept, line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
        j["step"].get<int64_t>() <= steps_done) {
      kept += line + "\n";
    }
  }
  in.close();
  std::ofstream out(path, std::ios::trunc);
  out << kept;
  if (!out.flush()) return absl::DataLossError(absl::StrCat("cannot rewrite ", path));
  return absl::OkStatus();
}

}  // namespace grpo::train
