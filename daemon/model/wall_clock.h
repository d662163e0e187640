// Wall-clock milliseconds, the unit timestamps are stored in, and how the API prints them.
#pragma once

#include <fmt/chrono.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace purgeq {

inline std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-25T10:02:11Z": RFC 3339 in UTC, whole seconds.
inline std::string rfc3339_utc(std::int64_t ms) {
  const auto tp = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", std::chrono::floor<std::chrono::seconds>(tp));
}

}  // namespace purgeq
