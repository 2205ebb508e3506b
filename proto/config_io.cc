#include "proto/config_io.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"
#include "proto/status_macros.h"

namespace grpo::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::TextFormat;

// "a, b, c": the names of the fields of `type`, for error messages.
std::string FieldNames(const Descriptor& type) {
  std::vector<std::string> names;
  for (int i = 0; i < type.field_count(); ++i) names.push_back(type.field(i)->name());
  return absl::StrJoin(names, ", ");
}

std::string EnumValueNames(const FieldDescriptor& field) {
  std::vector<std::string> names;
  const auto* type = field.enum_type();
  for (int i = 0; i < type->value_count(); ++i) names.push_back(type->value(i)->name());
  return absl::StrJoin(names, ", ");
}

// Protobuf says `Message type "grpo.config.X" has no field named "y".`; a
// list of the fields that do exist turns a typo into a one-glance fix.
std::string WithFieldHint(const std::string& message) {
  static constexpr std::string_view kPrefix = "Message type \"";
  const size_t start = message.find(kPrefix);
  if (start == std::string::npos || message.find("has no field named") == std::string::npos) {
    return message;
  }
  const size_t name_begin = start + kPrefix.size();
  const size_t name_end = message.find('"', name_begin);
  if (name_end == std::string::npos) return message;
  const Descriptor* type = DescriptorPool::generated_pool()->FindMessageTypeByName(
      message.substr(name_begin, name_end - name_begin));
  if (type == nullptr) return message;
  return absl::StrCat(message, " Valid fields: ", FieldNames(*type), ".");
}

// The "X" in `... MARKER"X" ...`, or empty.
absl::string_view QuotedAfter(absl::string_view message, absl::string_view marker) {
  const size_t at = message.find(marker);
  if (at == absl::string_view::npos) return {};
  const size_t begin = at + marker.size();
  const size_t end = message.find('"', begin);
  if (end == absl::string_view::npos) return {};
  return message.substr(begin, end - begin);
}

// The 0-based byte column of an error. Protobuf counts a tab as reaching the
// next multiple of 8 and reports unknown names where the token after them
// starts; editors want the byte where the offending name starts.
int ByteColumn(absl::string_view text, int line, int column, absl::string_view message) {
  for (int i = 0; i < line; ++i) {
    const size_t newline = text.find('\n');
    if (newline == absl::string_view::npos) return column;
    text.remove_prefix(newline + 1);
  }
  const absl::string_view line_text = text.substr(0, text.find('\n'));
  size_t index = 0;
  for (int col = 0; index < line_text.size() && col < column; ++index) {
    col = line_text[index] == '\t' ? (col / 8 + 1) * 8 : col + 1;
  }
  absl::string_view name = QuotedAfter(message, "has no field named \"");
  if (name.empty()) name = QuotedAfter(message, "Unknown enumeration value of \"");
  if (!name.empty()) {
    const size_t start = line_text.substr(0, index).rfind(name);
    if (start != absl::string_view::npos) return static_cast<int>(start);
  }
  return static_cast<int>(index);
}

// Keeps every parser error; protobuf reports 0-based lines and columns.
class CollectingErrors : public google::protobuf::io::ErrorCollector {
 public:
  struct Error {
    int line;
    int column;
    std::string message;
  };

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.push_back({line, column, WithFieldHint(message)});
  }

  const std::vector<Error>& errors() const { return errors_; }

  // "SOURCE:LINE:COL: message" per error, one a line, 1-based; `text` is
  // what was parsed, to turn protobuf's columns into byte columns.
  std::string Describe(const std::string& source, absl::string_view text) const {
    std::vector<std::string> lines;
    for (const Error& e : errors_) {
      if (e.line < 0) {
        lines.push_back(absl::StrCat(source, ": ", e.message));
      } else {
        lines.push_back(absl::StrCat(source, ":", e.line + 1, ":",
                                     ByteColumn(text, e.line, e.column, e.message) + 1, ": ",
                                     e.message));
      }
    }
    if (lines.empty()) lines.push_back(absl::StrCat(source, ": could not parse"));
    return absl::StrJoin(lines, "\n");
  }

  // The messages alone: positions inside synthesized --set text mean
  // nothing to the user.
  std::string Messages() const {
    std::vector<std::string> messages;
    for (const Error& e : errors_) messages.push_back(e.message);
    if (messages.empty()) messages.push_back("could not parse the value");
    return absl::StrJoin(messages, "; ");
  }

 private:
  std::vector<Error> errors_;
};

bool IsQuoted(absl::string_view s) {
  return s.size() >= 2 &&
         ((s.front() == '"' && s.back() == '"') || (s.front() == '\'' && s.back() == '\''));
}

// A string value as a text-format literal: kept when the user already quoted
// it, else escaped and quoted (so paths and spaces need no shell gymnastics).
std::string StringLiteral(absl::string_view raw) {
  if (IsQuoted(raw)) return std::string(raw);
  return absl::StrCat("\"", absl::CEscape(raw), "\"");
}

// Splits the inside of "[a, "b,c", d]" at the commas outside quotes.
std::vector<absl::string_view> SplitListItems(absl::string_view inner) {
  std::vector<absl::string_view> items;
  if (absl::StripAsciiWhitespace(inner).empty()) return items;
  char quote = 0;
  size_t begin = 0;
  for (size_t i = 0; i < inner.size(); ++i) {
    const char c = inner[i];
    if (quote != 0) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == ',') {
      items.push_back(absl::StripAsciiWhitespace(inner.substr(begin, i - begin)));
      begin = i + 1;
    }
  }
  items.push_back(absl::StripAsciiWhitespace(inner.substr(begin)));
  return items;
}

bool IsList(absl::string_view value) {
  return value.size() >= 2 && value.front() == '[' && value.back() == ']';
}

// The text-format body that sets `field` (relative to its parent) to `raw`.
std::string FieldText(const FieldDescriptor& field, absl::string_view raw) {
  const absl::string_view value = absl::StripAsciiWhitespace(raw);
  const bool is_string =
      field.type() == FieldDescriptor::TYPE_STRING || field.type() == FieldDescriptor::TYPE_BYTES;
  if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    if (field.is_repeated() && IsList(value)) return absl::StrCat(field.name(), ": ", value);
    if (!value.empty() && (value.front() == '{' || value.front() == '<')) {
      return absl::StrCat(field.name(), " ", value);
    }
    return absl::StrCat(field.name(), " { ", value, " }");
  }
  if (field.is_repeated() && IsList(value)) {
    if (!is_string) return absl::StrCat(field.name(), ": ", value);
    std::vector<std::string> quoted;
    for (absl::string_view item : SplitListItems(value.substr(1, value.size() - 2))) {
      quoted.push_back(StringLiteral(item));
    }
    return absl::StrCat(field.name(), ": [", absl::StrJoin(quoted, ", "), "]");
  }
  // Strings keep their spaces: the user wrote exactly what they want.
  if (is_string) return absl::StrCat(field.name(), ": ", StringLiteral(raw));
  return absl::StrCat(field.name(), ": ", value);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not a config file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such config file"));
    return absl::ErrnoToStatus(err, absl::StrCat(path, ": cannot open config file"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return std::move(text).str();
}

}  // namespace

absl::StatusOr<Config> ParseConfigText(std::string_view text, const std::string& source_name) {
  CollectingErrors errors;
  TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  Config config;
  const std::string text_copy(text);
  // ParseFromString (not Merge) also rejects a singular field given twice.
  if (!parser.ParseFromString(text_copy, &config) || !errors.errors().empty()) {
    return absl::InvalidArgumentError(errors.Describe(source_name, text_copy));
  }
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseConfigText(text, path);
}

absl::Status ApplyOverride(std::string_view assignment_in, Config* config) {
  // Debian's Abseil has its own string_view type.
  const absl::string_view assignment(assignment_in.data(), assignment_in.size());
  const std::string where = absl::StrCat("--set ", assignment);
  const size_t eq = assignment.find('=');
  if (eq == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected PATH=VALUE, e.g. reward.math.percent_policy=STRICT"));
  }
  const absl::string_view path = absl::StripAsciiWhitespace(assignment.substr(0, eq));
  const absl::string_view value = assignment.substr(eq + 1);
  const std::vector<absl::string_view> segments = absl::StrSplit(path, '.');

  // Work on a copy so a failed override leaves the caller's config intact.
  Config updated = *config;
  Message* message = &updated;
  const FieldDescriptor* field = nullptr;
  for (size_t i = 0; i < segments.size(); ++i) {
    const absl::string_view segment = segments[i];
    if (segment.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": empty segment in path \"", path, "\""));
    }
    const Descriptor& type = *message->GetDescriptor();
    field = type.FindFieldByName(std::string(segment));
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": unknown field \"", segment, "\" in ",
                                                     type.full_name(),
                                                     "; valid fields: ", FieldNames(type)));
    }
    if (i + 1 == segments.size()) break;
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || field->is_repeated()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"", segment, "\" is ",
                       field->is_repeated() ? "a repeated field" : "not a message",
                       ", so the path cannot go on to \"", segments[i + 1], "\""));
    }
    message = message->GetReflection()->MutableMessage(message, field);
  }

  // Parse into a fresh message first: that proves the value set exactly one
  // field (no "5 symbolic: false" smuggled in) before anything is replaced.
  CollectingErrors errors;
  TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  std::unique_ptr<Message> parsed(message->New());
  if (!parser.ParseFromString(FieldText(*field, value), parsed.get()) || !errors.errors().empty()) {
    std::string message_text = errors.Messages();
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      absl::StrAppend(&message_text, " (valid values: ", EnumValueNames(*field), ")");
    }
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", message_text));
  }
  std::vector<const FieldDescriptor*> set_fields;
  parsed->GetReflection()->ListFields(*parsed, &set_fields);
  if (set_fields.size() > 1 || (set_fields.size() == 1 && set_fields[0] != field)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the value must set only \"", field->name(),
                     "\" (quote a string value that contains spaces and colons)"));
  }
  message->GetReflection()->ClearField(message, field);
  message->MergeFrom(*parsed);
  *config = std::move(updated);
  return absl::OkStatus();
}

absl::StatusOr<Config> LoadConfig(const std::string& path_or_empty,
                                  const std::vector<std::string>& overrides) {
  Config config;
  if (!path_or_empty.empty()) {
    ASSIGN_OR_RETURN(config, LoadConfigFile(path_or_empty));
  }
  for (const std::string& assignment : overrides) {
    RETURN_IF_ERROR(ApplyOverride(assignment, &config));
  }
  return config;
}

std::string ToTextProto(const Config& config) {
  std::string text;
  TextFormat::Printer printer;
  // A Config holds no unknown fields or Any; printing cannot fail.
  printer.PrintToString(config, &text);
  return text;
}

}  // namespace grpo::config
