// Log severities, named as `log.level` spells them. A leaf of its own so that config can name a
// level without observe depending on config.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace purgeq {

enum class LogLevel { debug, info, notice, warning, error };

// "debug", "info", "notice", "warning", "error", in LogLevel order.
const std::vector<std::string_view>& log_level_names();
std::string_view to_string(LogLevel level);
std::optional<LogLevel> log_level_from_string(std::string_view name);

}  // namespace purgeq
