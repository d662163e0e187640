#include "observe/journal_fields.h"

#include <fmt/format.h>

#include <array>
#include <charconv>

#include "model/ascii.h"

namespace purgeq::log {
namespace {

bool reserved(std::string_view name) {
  static constexpr std::array<std::string_view, 12> kExact{
      "MESSAGE",       "MESSAGE_ID",         "PRIORITY",   "ERRNO",
      "INVOCATION_ID", "DOCUMENTATION",      "TID",        "UNIT",
      "USER_UNIT",     "USER_INVOCATION_ID", "OBJECT_PID", "EVENT"};
  for (const auto exact : kExact) {
    if (name == exact) return true;
  }
  return name.starts_with("CODE_") || name.starts_with("SYSLOG_") || name.starts_with("COREDUMP_");
}

// Keys whose journal name differs from the logfmt key: `id` in intent events is the intent's id,
// and INTENT is what an operator would type.
std::string_view alias(std::string_view key) {
  if (key == "id") return "intent";
  return key;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_logfmt(std::string_view fields) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < fields.size()) {
    while (i < fields.size() && fields[i] == ' ') ++i;
    const auto eq = fields.find('=', i);
    if (eq == std::string_view::npos || eq == i) break;
    std::string key(fields.substr(i, eq - i));
    if (key.find(' ') != std::string::npos) break;
    i = eq + 1;
    std::string value;
    if (i < fields.size() && fields[i] == '"') {
      ++i;
      bool closed = false;
      while (i < fields.size()) {
        const char c = fields[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c != '\\' || i >= fields.size()) {
          value += c;
          continue;
        }
        const char escaped = fields[i++];
        if (escaped == 'x' && i + 2 <= fields.size()) {
          unsigned byte = 0;
          const auto hex = fields.substr(i, 2);
          const auto* end = hex.data() + hex.size();
          if (std::from_chars(hex.data(), end, byte, 16).ptr != end) return out;
          value += static_cast<char>(byte);
          i += 2;
        } else {
          value += escaped;
        }
      }
      if (!closed) return out;
    } else {
      const auto space = fields.find(' ', i);
      const auto end = space == std::string_view::npos ? fields.size() : space;
      value = std::string(fields.substr(i, end - i));
      i = end;
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

std::string journal_field_name(std::string_view key) {
  std::string name;
  name.reserve(key.size());
  for (const char c : alias(key)) {
    const char upper = ascii_upper(c);
    name += (upper >= 'A' && upper <= 'Z') || (upper >= '0' && upper <= '9') ? upper : '_';
  }
  // journald drops names that start with '_' (trusted fields) or a digit, or exceed 64 bytes.
  if (name.empty() || name.front() == '_' || (name.front() >= '0' && name.front() <= '9') ||
      reserved(name)) {
    name = "PURGEQ_" + name;
  }
  if (name.size() > 64) name.resize(64);
  return name;
}

std::vector<std::string> journal_fields(int priority, std::string_view identifier,
                                        std::string_view event, std::string_view fields) {
  std::vector<std::string> out;
  out.push_back(fields.empty() ? fmt::format("MESSAGE=event={}", event)
                               : fmt::format("MESSAGE=event={} {}", event, fields));
  out.push_back(fmt::format("PRIORITY={}", priority));
  out.push_back(fmt::format("SYSLOG_IDENTIFIER={}", identifier));
  out.push_back(fmt::format("EVENT={}", event));
  for (const auto& [key, value] : parse_logfmt(fields)) {
    out.push_back(journal_field_name(key) + "=" + value);
  }
  return out;
}

}  // namespace purgeq::log
