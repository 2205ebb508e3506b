#include "cli/flags.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace grpo::cli {
namespace {

const FlagDef* FindDef(const std::vector<FlagDef>& defs, const std::string& name) {
  for (const FlagDef& def : defs) {
    if (def.name == name) return &def;
  }
  return nullptr;
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string UnknownFlagError(const std::string& name, const std::vector<FlagDef>& defs) {
  std::vector<std::string> valid;
  const FlagDef* closest = nullptr;
  size_t best = name.size() / 3 + 1;  // close enough to be a typo, not a guess
  for (const FlagDef& def : defs) {
    valid.push_back("--" + def.name);
    const size_t distance = EditDistance(name, def.name);
    if (distance <= best) {
      best = distance;
      closest = &def;
    }
  }
  std::string message = absl::StrCat("unknown flag --", name);
  if (closest != nullptr) absl::StrAppend(&message, " (did you mean --", closest->name, "?)");
  absl::StrAppend(&message, "; valid flags: ", absl::StrJoin(valid, ", "));
  return message;
}

}  // namespace

std::string ParsedFlags::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second.back();
}

std::vector<std::string> ParsedFlags::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                                       const std::vector<FlagDef>& defs) {
  ParsedFlags parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      parsed.positional_.insert(parsed.positional_.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg == "-h") {
      parsed.values_["help"].push_back("true");
      continue;
    }
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      if (!arg.empty() && arg[0] == '-' && arg != "-") {
        return absl::InvalidArgumentError(
            absl::StrCat("bad flag \"", arg, "\": flags are written --name=value"));
      }
      parsed.positional_.push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const FlagDef* def = FindDef(defs, name);
    if (def == nullptr) return absl::InvalidArgumentError(UnknownFlagError(name, defs));

    std::string value;
    if (def->value_name.empty()) {
      value = eq == std::string::npos ? "true" : arg.substr(eq + 1);
      if (value != "true" && value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " takes no value (or =true / =false), got \"", value, "\""));
      }
    } else if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size() && args[i + 1].compare(0, 2, "--") != 0) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " needs a value: --", name, "=", def->value_name));
    }
    std::vector<std::string>& slot = parsed.values_[name];
    if (!slot.empty() && !def->repeatable) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " given more than once"));
    }
    slot.push_back(std::move(value));
  }
  return parsed;
}

std::string FlagHelp(const std::vector<FlagDef>& defs) {
  std::vector<std::string> heads;
  size_t width = 0;
  for (const FlagDef& def : defs) {
    std::string head = "--" + def.name;
    if (!def.value_name.empty()) absl::StrAppend(&head, "=", def.value_name);
    width = std::max(width, head.size());
    heads.push_back(std::move(head));
  }
  std::string out;
  for (size_t i = 0; i < defs.size(); ++i) {
    absl::StrAppend(&out, "  ", heads[i], std::string(width - heads[i].size() + 3, ' '),
                    defs[i].help, defs[i].repeatable ? " (repeatable)" : "", "\n");
  }
  return out;
}

}  // namespace grpo::cli
