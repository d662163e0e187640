#include "config/duration.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <limits>

namespace purgeq {

std::optional<Duration> parse_duration(std::string_view text) {
  std::int64_t number = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  const auto [unit_begin, ec] = std::from_chars(begin, end, number);
  if (ec != std::errc() || unit_begin == begin || number < 0 || *begin == '-') return std::nullopt;
  const std::string_view unit(unit_begin, static_cast<std::size_t>(end - unit_begin));
  std::int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = Duration(std::chrono::seconds(1)).count();
  } else if (unit == "m") {
    scale = Duration(std::chrono::minutes(1)).count();
  } else if (unit == "h") {
    scale = Duration(std::chrono::hours(1)).count();
  } else {
    return std::nullopt;
  }
  if (number > std::numeric_limits<Duration::rep>::max() / scale) return std::nullopt;
  return Duration(number * scale);
}

std::string format_duration(Duration duration) {
  const auto ms = duration.count();
  constexpr std::int64_t kHour = Duration(std::chrono::hours(1)).count();
  constexpr std::int64_t kMinute = Duration(std::chrono::minutes(1)).count();
  if (ms != 0 && ms % kHour == 0) return fmt::format("{}h", ms / kHour);
  if (ms != 0 && ms % kMinute == 0) return fmt::format("{}m", ms / kMinute);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

}  // namespace purgeq
