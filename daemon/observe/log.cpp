// Logging to stderr for journald.
#include "observe/log.h"

#include <unistd.h>

#include <atomic>

namespace purgeq::log {
namespace {

std::atomic<LogLevel> g_level{LogLevel::info};

// syslog(3) priorities: debug 7, info 6, notice 5, warning 4, err 3.
int priority(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return 7;
    case LogLevel::info:
      return 6;
    case LogLevel::notice:
      return 5;
    case LogLevel::warning:
      return 4;
    case LogLevel::error:
      return 3;
  }
  return 6;
}

}  // namespace

void set_level(LogLevel level) {
  g_level.store(level);
}

bool enabled(LogLevel level) {
  return level >= g_level.load();
}

void write(LogLevel level, std::string_view event, std::string_view fields) {
  std::string line = fmt::format("<{}>event={}", priority(level), event);
  if (!fields.empty()) {
    line += ' ';
    line += fields;
  }
  line += '\n';
  // One write() per line so concurrent writers (the store thread) never interleave mid-line.
  const char* data = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, data, left);
    if (n <= 0) return;
    data += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::string quote(std::string_view value) {
  bool plain = !value.empty();
  for (const char c : value) {
    if (c == ' ' || c == '"' || c == '\\' || c == '=' || static_cast<unsigned char>(c) < 0x20 ||
        c == 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) return std::string(value);
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace purgeq::log
