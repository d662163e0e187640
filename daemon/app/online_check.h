// `purgeqd --check-config --online`: looks every zone up with its account's token, as a start
// would, and reports what Cloudflare says of each (docs/configuration.md, "Zones by name").
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace purgeq {

struct OnlineCheck {
  std::vector<std::string> lines;     // one per zone: its id, account and plan, and their source
  std::vector<std::string> problems;  // zones Cloudflare refused (the start would exit 2)
  bool unreachable = false;           // some lookups could not reach Cloudflare
};

[[nodiscard]] OnlineCheck check_zones_online(const Config& config);

}  // namespace purgeq
