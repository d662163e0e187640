// Durations as config files write them: a whole number and one unit ("250ms", "30s", "5m", "72h").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace purgeq {

using Duration = std::chrono::milliseconds;

// Parses "250ms", "1s", "5m", "72h" (a non-negative integer and one unit). nullopt when malformed.
std::optional<Duration> parse_duration(std::string_view text);
// The inverse, in the largest exact unit: 5m, 90s, 1500ms, 0s.
std::string format_duration(Duration duration);

}  // namespace purgeq
