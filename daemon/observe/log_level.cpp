#include "observe/log_level.h"

#include <algorithm>
#include <cstddef>

namespace purgeq {

const std::vector<std::string_view>& log_level_names() {
  static const std::vector<std::string_view> names{"debug", "info", "notice", "warning", "error"};
  return names;
}

std::string_view to_string(LogLevel level) {
  return log_level_names().at(static_cast<std::size_t>(level));
}

std::optional<LogLevel> log_level_from_string(std::string_view name) {
  const auto& names = log_level_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) return std::nullopt;
  return static_cast<LogLevel>(it - names.begin());
}

}  // namespace purgeq
