// One event per call: under systemd a journald entry with one field per key (EVENT=, ZONE=,
// INTENT=,
// ...); elsewhere one logfmt line on stderr with a syslog priority prefix ("<6>event=... k=v").
// Secrets never reach here: callers pass names, not tokens.
#pragma once

#include <fmt/format.h>

#include <exception>
#include <string>
#include <string_view>

#include "observe/log_level.h"

namespace purgeq::log {

void set_level(LogLevel level);
[[nodiscard]] bool enabled(LogLevel level);
// Writes "<prio>event=NAME fields\n" atomically (one write call).
void write(LogLevel level, std::string_view event, std::string_view fields);

// A value safe to put after "key=": quoted (with \" and \\ escaped) when it has spaces, quotes or
// is empty; control characters are escaped so one event stays one line.
std::string quote(std::string_view value);
// What a failed job threw, for `error=` (a store job's exception, handed over as a pointer).
std::string describe(const std::exception_ptr& error);

template <class... Args>
void emit(LogLevel level, std::string_view event, fmt::format_string<Args...> fields,
          Args&&... args) {
  if (!enabled(level)) return;
  write(level, event, fmt::format(fields, std::forward<Args>(args)...));
}

template <class... Args>
void debug(std::string_view event, fmt::format_string<Args...> f, Args&&... a) {
  emit(LogLevel::debug, event, f, std::forward<Args>(a)...);
}
template <class... Args>
void info(std::string_view event, fmt::format_string<Args...> f, Args&&... a) {
  emit(LogLevel::info, event, f, std::forward<Args>(a)...);
}
template <class... Args>
void notice(std::string_view event, fmt::format_string<Args...> f, Args&&... a) {
  emit(LogLevel::notice, event, f, std::forward<Args>(a)...);
}
template <class... Args>
void warning(std::string_view event, fmt::format_string<Args...> f, Args&&... a) {
  emit(LogLevel::warning, event, f, std::forward<Args>(a)...);
}
template <class... Args>
void error(std::string_view event, fmt::format_string<Args...> f, Args&&... a) {
  emit(LogLevel::error, event, f, std::forward<Args>(a)...);
}

}  // namespace purgeq::log
