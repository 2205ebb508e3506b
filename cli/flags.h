// A small command-line flag parser for the `grpo` subcommands:
//   --key=value   --key value   --flag   --flag=false   --   (ends flags)
// Every flag must be declared; an unknown one is an error that lists the
// valid flags (and the closest one, for typos).
#ifndef GRPO_CLI_FLAGS_H_
#define GRPO_CLI_FLAGS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace grpo::cli {

struct FlagDef {
  std::string name;        // without the leading "--"
  std::string value_name;  // "FILE", "N", ...; empty for a boolean flag
  std::string help;
  bool repeatable = false;  // may be given more than once (--set)
};

class ParsedFlags {
 public:
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // The value given, or `fallback` when the flag is absent.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // Every value of a repeatable flag, in command-line order.
  std::vector<std::string> GetAll(const std::string& name) const;
  // A boolean flag: true when given bare or as --flag=true.
  bool GetBool(const std::string& name) const { return Get(name, "false") == "true"; }

  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                                                const std::vector<FlagDef>& defs);
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// InvalidArgument for an unknown flag, a missing or unexpected value, a
// boolean that is not true/false, or a non-repeatable flag given twice.
absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                                       const std::vector<FlagDef>& defs);

// One line per flag, aligned: "  --input=FILE   Input JSONL ...".
std::string FlagHelp(const std::vector<FlagDef>& defs);

}  // namespace grpo::cli

#endif  // GRPO_CLI_FLAGS_H_
