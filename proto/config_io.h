// Loading a grpo.cpp Config: a protobuf text-format file, then `--set
// a.b.c=value` overrides applied in order. Every error comes back as a Status
// that names where it came from (file:line:col, or the --set assignment).
//
//   ASSIGN_OR_RETURN(config::Config cfg,
//                    config::LoadConfig("configs/eval_math.textproto",
//                                       {"reward.math.percent_policy=STRICT"}));
#ifndef GRPO_PROTO_CONFIG_IO_H_
#define GRPO_PROTO_CONFIG_IO_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/config.pb.h"

namespace grpo::config {

// Parses text-format `text`. Errors are InvalidArgument
// "SOURCE_NAME:LINE:COL: message" with 1-based line and column.
absl::StatusOr<Config> ParseConfigText(std::string_view text, const std::string& source_name);

// Reads and parses the text-format file at `path`. NotFound when the file
// does not exist; InvalidArgument "PATH:LINE:COL: message" for a misspelled
// key, a bad enum value, a type error or a field given twice.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Applies one `a.b.c=value` assignment. The leaf field is cleared, then set:
//   reward.math.percent_policy=STRICT           enum by name (or number)
//   eval_rewards.input=x.jsonl                  strings need no quotes
//   reward.math.float_rel_tolerance=1e-6
//   reward.math.extraction_priority=[BOXED, LAST_NUMBER]   replaces the list
//   reward.math={percent_policy: STRICT}        a whole message, text format
// An unknown path segment is an InvalidArgument naming the segment and the
// valid field names at that level; a bad value is InvalidArgument
// "--set ASSIGNMENT: message". On error `config` is left unchanged.
absl::Status ApplyOverride(std::string_view assignment, Config* config);

// LoadConfigFile(path) (or an empty Config when `path_or_empty` is empty),
// then each override in order.
absl::StatusOr<Config> LoadConfig(const std::string& path_or_empty,
                                  const std::vector<std::string>& overrides);

// The config in text format (the fields that are set), for saving with a run;
// ParseConfigText reads it back to an equal message.
std::string ToTextProto(const Config& config);

}  // namespace grpo::config

#endif  // GRPO_PROTO_CONFIG_IO_H_
