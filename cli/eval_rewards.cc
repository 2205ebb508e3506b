#include "cli/eval_rewards.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/atomic_file.h"
#include "cli/code_task.h"
#include "cli/jsonl.h"
#include "cli/remote_checker.h"
#include "nlohmann/json.hpp"
#include "reward/code_checker.h"
#include "reward/format_reward.h"
#include "reward/math_checker.h"
#include "reward/reward_result.h"
#include "reward/task_json.h"

namespace grpo::cli {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;
using reward::RewardResult;
using reward::RewardStatus;

constexpr RewardStatus kAllStatuses[] = {RewardStatus::kOk, RewardStatus::kNoAnswer,
                                         RewardStatus::kUnparseableGold, RewardStatus::kTimeout,
                                         RewardStatus::kError};
constexpr int kMaxLoggedProblems = 100;

std::string Name(RewardStatus status) { return std::string(reward::RewardStatusName(status)); }

// Invalid UTF-8 cannot reach the output: dump() replaces it with U+FFFD.
template <typename J>
std::string Dump(const J& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What the writer needs from one scored line.
struct ScoredLine {
  int64_t line = 0;
  std::string json;  // the output line, no newline
  RewardStatus status = RewardStatus::kError;
  double reward = 0;
  bool checked = false;  // reached the checker; latency_ms is valid
  bool malformed = false;
  bool sanitized = false;
  double latency_ms = 0;
  int label = -1;                     // -1 unknown, else 0 / 1
  std::string verdict;                // the code checker's verdict; empty for others
  std::vector<std::string> problems;  // for the log: why the line is malformed
};

// The fields of one input line, moved out of its parsed JSON.
struct LineFields {
  Json id;
  std::string completion;
  std::string gold;
  int label = -1;
  std::string label_problem;
  reward::CodeTask code_task;  // --checker=code
};

const char* TypeName(const Json& value) { return value.type_name(); }

// Reads a boolean label; numbers 0/1 and "true"/"false" are accepted too
// because hand-made label files use them.
int ReadLabel(const Json& value) {
  if (value.is_boolean()) return value.get<bool>() ? 1 : 0;
  if (value.is_number_integer() || value.is_number_unsigned()) {
    const int64_t n = value.get<int64_t>();
    if (n == 0 || n == 1) return static_cast<int>(n);
  }
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (s == "true" || s == "True") return 1;
    if (s == "false" || s == "False") return 0;
  }
  return -1;
}

class Scorer {
 public:
  Scorer(const config::Config& config, std::optional<reward::MathChecker> math,
         std::unique_ptr<reward::CodeChecker> code = nullptr,
         std::unique_ptr<RemoteChecker> remote = nullptr)
      : completion_field_(config.eval_rewards().completion_field()),
        answer_field_(config.eval_rewards().answer_field()),
        id_field_(config.eval_rewards().id_field()),
        label_field_(config.eval_rewards().label_field()),
        format_(config.reward().format()),
        math_(std::move(math)),
        code_(std::move(code)),
        remote_(std::move(remote)),
        code_reader_(config.reward().code().test_style(), config.reward().code().include_challenge_tests(),
                     config.eval_rewards().code_fields()) {
    // Protobuf builds string defaults lazily on first read; read them here,
    // before the workers start, so no two threads race to build one.
    format_.think_open();
    format_.think_close();
    format_.answer_open();
    format_.answer_close();
  }

  // Never throws: any failure becomes an "error" line.
  ScoredLine Score(std::string raw, int64_t line) const {
    ScoredLine out;
    out.line = line;
    try {
      ScoreInto(std::move(raw), &out);
    } catch (const std::exception& e) {
      out = ScoredLine();
      out.line = line;
      out.problems.push_back(absl::StrCat("internal error: ", e.what()));
      out.json = Output(Json(line), line, ErrorResult(out.problems.back()), -1, false, nullptr);
    }
    return out;
  }

 private:
  static RewardResult ErrorResult(std::string reason) {
    RewardResult result;
    result.status = RewardStatus::kError;
    result.reason = std::move(reason);
    return result;
  }

  // Fills `fields` from the raw line; returns why the line is unusable, or "".
  std::string Extract(std::string raw, bool* sanitized, LineFields* fields) const {
    if (raw.find_first_not_of(" \t\r\n") == std::string::npos) {
      return "blank line; expected a JSON object";
    }
    *sanitized = SanitizeJsonText(&raw);
    Json doc;
    try {
      doc = Json::parse(raw);
    } catch (const Json::parse_error& e) {
      // e.what() starts with "[json.exception.parse_error.101] ".
      std::string what = e.what();
      const size_t bracket = what.find("] ");
      if (bracket != std::string::npos) what.erase(0, bracket + 2);
      return absl::StrCat("not valid JSON; expected a JSON object (", what, ")");
    }
    std::string().swap(raw);  // the parsed copy is all we need now
    if (!doc.is_object()) {
      return absl::StrCat("expected a JSON object, got ", TypeName(doc));
    }
    if (!id_field_.empty()) {
      if (const Json* id = FindField(&doc, id_field_)) fields->id = *id;
    }
    if (!label_field_.empty()) {
      const Json* label = FindField(&doc, label_field_);
      fields->label = label == nullptr ? -1 : ReadLabel(*label);
      if (fields->label < 0) {
        fields->label_problem = label == nullptr
                                    ? absl::StrCat("no label field \"", label_field_, "\"")
                                    : absl::StrCat("label field \"", label_field_, "\" is a ",
                                                   TypeName(*label), ", expected a boolean");
      }
    }
    Json* completion = FindField(&doc, completion_field_);
    if (completion == nullptr) {
      return absl::StrCat("missing field \"", completion_field_,
                          "\"; expected the completion as a string");
    }
    if (!completion->is_string()) {
      return absl::StrCat("field \"", completion_field_, "\" is a ", TypeName(*completion),
                          "; expected the completion as a string");
    }
    if (math_.has_value()) {
      Json* gold = FindField(&doc, answer_field_);
      if (gold == nullptr) {
        return absl::StrCat("missing field \"", answer_field_,
                            "\"; expected the gold answer as a string");
      }
      if (gold == completion) {
        fields->gold = completion->get_ref<const std::string&>();  // one field for both: copy
      } else if (gold->is_string()) {
        fields->gold = std::move(gold->get_ref<std::string&>());
      } else if (gold->is_number()) {
        fields->gold = gold->dump();  // a numeric gold is unambiguous
      } else {
        return absl::StrCat("field \"", answer_field_, "\" is a ", TypeName(*gold),
                            "; expected the gold answer as a string");
      }
    }
    if (code_ != nullptr) {
      const std::string problem = code_reader_.Read(&doc, &fields->code_task);
      if (!problem.empty()) return problem;
    }
    fields->completion = std::move(completion->get_ref<std::string&>());
    return "";
  }

  void ScoreInto(std::string raw, ScoredLine* out) const {
    LineFields fields;
    fields.id = out->line;
    const std::string malformed = Extract(std::move(raw), &out->sanitized, &fields);
    RewardResult result;
    std::optional<reward::CodeResult> code_result;
    if (!malformed.empty()) {
      out->malformed = true;
      out->problems.push_back(malformed);
      result = ErrorResult(malformed);
    } else {
      const Clock::time_point start = Clock::now();
      if (code_ != nullptr) {
        code_result = code_->Check(fields.completion, fields.code_task);
        result = code_result->reward;
        if (code_result->reward.status == RewardStatus::kOk ||
            code_result->reward.status == RewardStatus::kError) {
          out->verdict = std::string(reward::CodeVerdictName(code_result->verdict));
        }
      } else {
        result = remote_ != nullptr   ? remote_->Check(fields.completion, fields.gold)
                 : math_.has_value() ? math_->Check(fields.completion, fields.gold)
                                     : reward::FormatReward(fields.completion, format_);
      }
      out->latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      out->checked = true;
      // The checkers promise a reward of 0 unless the verdict is ok.
      if (result.status != RewardStatus::kOk) result.value = 0;
    }
    if (!fields.label_problem.empty()) out->problems.push_back(fields.label_problem);
    out->status = result.status;
    out->reward = result.value;
    out->label = fields.label;
    out->json = Output(fields.id, out->line, result, fields.label, out->checked,
                       code_result.has_value() ? &*code_result : nullptr);
  }

  std::string Output(const Json& id, int64_t line, const RewardResult& result, int label,
                     bool checked, const reward::CodeResult* code) const {
    OrderedJson json;
    json["id"] = id;
    json["line"] = line;
    json["reward"] = result.value;
    json["status"] = Name(result.status);
    json["extracted"] = result.extracted;
    json["reason"] = result.reason;
    if (code != nullptr) AddCodeFields(*code, &json);
    if (!label_field_.empty()) {
      json["label"] = label < 0 ? OrderedJson() : OrderedJson(label == 1);
      json["agree"] =
          label < 0 || !checked ? OrderedJson() : OrderedJson((result.value > 0.5) == (label == 1));
    }
    return Dump(json);
  }

  // Plain copies: workers never touch protobuf accessors.
  const std::string completion_field_;
  const std::string answer_field_;
  const std::string id_field_;
  const std::string label_field_;
  const config::FormatRewardOptions format_;
  const std::optional<reward::MathChecker> math_;
  const std::unique_ptr<reward::CodeChecker> code_;
  const std::unique_ptr<RemoteChecker> remote_;  // --server: scores instead of math_/format_
  const reward::CodeTaskReader code_reader_;
};

// Nearest-rank percentile of sorted values.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(p * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

// Reader -> workers -> in-order writer. The reader keeps at most `window`
// lines between reading and writing, so memory stays bounded however slow
// one line is and however long the file.
class Pipeline {
 public:
  Pipeline(const Scorer& scorer, int workers, std::ostream* out, std::ostream* log,
           std::string input_name, bool progress, uint64_t input_bytes)
      : scorer_(scorer),
        workers_(workers),
        window_(8 * static_cast<int64_t>(workers) + 16),
        out_(out),
        log_(log),
        input_name_(std::move(input_name)),
        progress_(progress && log != nullptr),
        input_bytes_(input_bytes) {}

  // Returns false if reading the input failed midway.
  bool Run(std::istream& in, EvalSummary* summary) {
    start_ = Clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < workers_; ++i) threads.emplace_back([this] { WorkLoop(); });
    std::thread writer([this, summary] { WriteLoop(summary); });

    std::string raw;
    int64_t line = 0;
    while (!write_failed_.load() && std::getline(in, raw)) {
      ++line;
      bytes_read_.fetch_add(raw.size() + 1, std::memory_order_relaxed);
      if (!raw.empty() && raw.back() == '\r') raw.pop_back();
      if (line == 1 && raw.compare(0, 3, "\xEF\xBB\xBF") == 0) raw.erase(0, 3);  // BOM
      std::unique_lock<std::mutex> lock(mu_);
      space_cv_.wait(lock, [&] { return read_ - written_ < window_ || write_failed_.load(); });
      tasks_.emplace_back(line, std::move(raw));
      raw = std::string();
      ++read_;
      work_cv_.notify_one();
    }
    const bool read_ok = !in.bad();
    {
      std::lock_guard<std::mutex> lock(mu_);
      input_done_ = true;
    }
    work_cv_.notify_all();
    done_cv_.notify_all();
    for (std::thread& t : threads) t.join();
    writer.join();
    summary->seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    return read_ok;
  }

  bool write_failed() const { return write_failed_.load(); }
  std::vector<double>& latencies() { return latencies_; }

 private:
  void WorkLoop() {
    for (;;) {
      std::pair<int64_t, std::string> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] { return !tasks_.empty() || input_done_; });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      ScoredLine scored = scorer_.Score(std::move(task.second), task.first);
      std::lock_guard<std::mutex> lock(mu_);
      const int64_t line = scored.line;
      done_.emplace(line, std::move(scored));
      if (line == written_ + 1) done_cv_.notify_one();
    }
  }

  void WriteLoop(EvalSummary* summary) {
    for (;;) {
      ScoredLine scored;
      {
        std::unique_lock<std::mutex> lock(mu_);
        done_cv_.wait(lock, [&] {
          return done_.count(written_ + 1) > 0 || (input_done_ && written_ == read_);
        });
        auto it = done_.find(written_ + 1);
        if (it == done_.end()) break;
        scored = std::move(it->second);
        done_.erase(it);
      }
      Record(scored, summary);
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++written_;
      }
      space_cv_.notify_one();
    }
    if (progress_) *log_ << "\r\033[K" << std::flush;
    if (logged_problems_ > kMaxLoggedProblems && log_ != nullptr) {
      *log_ << input_name_ << ": " << logged_problems_ - kMaxLoggedProblems
            << " more problems not shown; every line's reason is in the output\n";
    }
  }

  void Record(const ScoredLine& scored, EvalSummary* summary) {
    if (!write_failed_.load()) {
      *out_ << scored.json << '\n';
      if (!*out_) {
        write_failed_.store(true);
        space_cv_.notify_all();
      }
    }
    ++summary->lines;
    ++summary->status_counts[Name(scored.status)];
    summary->reward_sum += scored.reward;
    if (scored.malformed) ++summary->malformed;
    if (!scored.verdict.empty()) ++summary->verdict_counts[scored.verdict];
    if (scored.sanitized) ++summary->invalid_utf8_lines;
    if (scored.checked) {
      ++summary->checked;
      latencies_.push_back(scored.latency_ms);
      if (scored.label >= 0) {
        ++summary->labeled;
        if ((scored.reward > 0.5) == (scored.label == 1)) ++summary->agreed;
      }
    }
    for (const std::string& problem : scored.problems) {
      if (log_ != nullptr && ++logged_problems_ <= kMaxLoggedProblems) {
        if (progress_) *log_ << "\r\033[K";
        *log_ << input_name_ << ":" << scored.line << ": " << problem << "\n";
      }
    }
    if (progress_) DrawProgress(summary->lines);
  }

  void DrawProgress(int64_t lines) {
    const Clock::time_point now = Clock::now();
    if (now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    std::string bar;
    if (input_bytes_ > 0) {
      const double done = std::min(
          1.0, static_cast<double>(bytes_read_.load()) / static_cast<double>(input_bytes_));
      const int filled = static_cast<int>(done * 30);
      bar = absl::StrFormat("[%s%s] %3.0f%%  ", std::string(filled, '#'),
                            std::string(30 - filled, '-'), done * 100);
    }
    *log_ << "\r" << bar << lines << " lines  "
          << absl::StrFormat("%.0f", seconds > 0 ? lines / seconds : 0.0) << " lines/s"
          << "\033[K" << std::flush;
  }

  const Scorer& scorer_;
  const int workers_;
  const int64_t window_;
  std::ostream* const out_;
  std::ostream* const log_;
  const std::string input_name_;
  const bool progress_;
  const uint64_t input_bytes_;

  std::mutex mu_;
  std::condition_variable work_cv_;   // a task arrived or input ended
  std::condition_variable done_cv_;   // the next line to write may be ready
  std::condition_variable space_cv_;  // the window has room
  std::deque<std::pair<int64_t, std::string>> tasks_;
  std::map<int64_t, ScoredLine> done_;
  int64_t read_ = 0;
  int64_t written_ = 0;
  bool input_done_ = false;

  std::atomic<bool> write_failed_{false};
  std::atomic<uint64_t> bytes_read_{0};
  Clock::time_point start_;
  Clock::time_point last_draw_;
  int64_t logged_problems_ = 0;    // writer thread only
  std::vector<double> latencies_;  // writer thread only
};

absl::Status WriteSummaryFile(const std::string& path, const EvalSummary& summary) {
  AtomicFile file(path);
  if (absl::Status status = file.Open(); !status.ok()) return status;
  file.stream() << SummaryJson(summary) << "\n";
  return file.Commit();
}

absl::StatusOr<EvalSummary> RunEvalRewardsOrThrow(const config::Config& config, std::ostream* log,
                                                  bool progress) {
  const config::EvalRewardsJob& job = config.eval_rewards();
  EvalSummary summary;
  summary.input = job.input();
  summary.output = job.output();
  summary.checker = job.checker();
  summary.label_field = job.label_field();
  for (RewardStatus status : kAllStatuses) summary.status_counts[Name(status)] = 0;

  std::optional<reward::MathChecker> math;
  std::unique_ptr<reward::CodeChecker> code;
  if (job.checker() == "math") {
    absl::StatusOr<reward::MathChecker> checker =
        reward::MathChecker::Create(config.reward().math());
    if (!checker.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad reward.math options: ", checker.status().message()));
    }
    math.emplace(std::move(*checker));
  } else if (job.checker() == "code") {
    absl::StatusOr<std::unique_ptr<reward::CodeChecker>> checker =
        reward::CodeChecker::Create(config.reward().code());
    if (!checker.ok()) {
      const std::string why = absl::StrCat("reward.code: ", checker.status().message());
      return checker.status().code() == absl::StatusCode::kInvalidArgument
                 ? absl::InvalidArgumentError(why)
                 : absl::FailedPreconditionError(why);
    }
    code = std::move(*checker);
  } else if (job.checker() != "format") {
    return absl::InvalidArgumentError(absl::StrCat("unknown checker \"", job.checker(),
                                                   "\"; valid checkers: math, format, code"));
  }
  if (job.input().empty()) {
    return absl::InvalidArgumentError("no input: give --input=FILE.jsonl (or - for stdin)");
  }
  if (job.completion_field().empty()) {
    return absl::InvalidArgumentError("the completion field path is empty");
  }
  if (math.has_value() && job.answer_field().empty()) {
    return absl::InvalidArgumentError("the answer field path is empty (the math checker needs it)");
  }
  if (job.threads() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("threads must be >= 0, got ", job.threads()));
  }
  int workers = job.threads();
  if (workers == 0) workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  summary.threads = workers;

  // Open both ends before any work, so a bad path fails fast.
  const bool from_stdin = job.input() == "-";
  std::ifstream file;
  uint64_t input_bytes = 0;
  if (!from_stdin) {
    std::error_code ec;
    if (std::filesystem::is_directory(job.input(), ec)) {
      return absl::InvalidArgumentError(absl::StrCat(job.input(), ": is a directory"));
    }
    file.open(job.input(), std::ios::binary);
    if (!file) {
      const int err = errno;
      return absl::ErrnoToStatus(err, absl::StrCat("cannot read input ", job.input()));
    }
    const auto size = std::filesystem::file_size(job.input(), ec);
    if (!ec) input_bytes = size;
  }
  std::istream& in = from_stdin ? std::cin : file;
  const bool to_stdout = job.output().empty() || job.output() == "-";
  std::optional<AtomicFile> out_file;
  if (!to_stdout) {
    std::error_code ec;
    if (std::filesystem::is_directory(job.output(), ec)) {
      return absl::InvalidArgumentError(absl::StrCat("output ", job.output(), " is a directory"));
    }
    if (!from_stdin && std::filesystem::equivalent(job.input(), job.output(), ec)) {
      return absl::InvalidArgumentError(
          absl::StrCat("output ", job.output(), " would overwrite the input"));
    }
    out_file.emplace(job.output());
    if (absl::Status status = out_file->Open(); !status.ok()) return status;
  }
  std::ostream& out = to_stdout ? std::cout : out_file->stream();

  std::unique_ptr<RemoteChecker> remote;
  if (!job.server().empty()) {
    absl::StatusOr<std::unique_ptr<RemoteChecker>> made =
        RemoteChecker::Create(job.server(), job.checker(), config.reward());
    if (!made.ok()) return made.status();
    remote = std::move(*made);
  }
  const Scorer scorer(config, std::move(math), std::move(code), std::move(remote));
  Pipeline pipeline(scorer, workers, &out, log, from_stdin ? "<stdin>" : job.input(), progress,
                    input_bytes);
  const bool read_ok = pipeline.Run(in, &summary);
  if (!read_ok) return absl::DataLossError(absl::StrCat("read failed: ", job.input()));
  out.flush();
  if (pipeline.write_failed() || !out) {
    return absl::DataLossError(
        absl::StrCat("write failed: ", to_stdout ? "<stdout>" : job.output() + ".tmp"));
  }
  if (out_file.has_value()) {
    if (absl::Status status = out_file->Commit(); !status.ok()) return status;
  }

  std::vector<double>& latencies = pipeline.latencies();
  std::sort(latencies.begin(), latencies.end());
  summary.latency_p50_ms = Percentile(latencies, 0.50);
  summary.latency_p99_ms = Percentile(latencies, 0.99);
  summary.latency_max_ms = latencies.empty() ? 0 : latencies.back();
  summary.checks_per_second =
      summary.seconds > 0 ? static_cast<double>(summary.checked) / summary.seconds : 0;

  if (log != nullptr) *log << FormatSummary(summary) << std::flush;
  if (!job.summary().empty()) {
    if (absl::Status status = WriteSummaryFile(job.summary(), summary); !status.ok()) {
      return status;
    }
  }
  return summary;
}

}  // namespace

absl::StatusOr<EvalSummary> RunEvalRewards(const config::Config& config, std::ostream* log,
                                           bool progress) {
  // Scoring never throws; this catches what is left (std::bad_alloc, a
  // failed thread start) so no exception crosses the API.
  try {
    return RunEvalRewardsOrThrow(config, log, progress);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("eval-rewards failed: ", e.what()));
  }
}

}  // namespace grpo::cli
