// The intent's zones, then the configured hooks that apply to them.
#include "intake/hook_choice.h"

#include <algorithm>

#include "config/hooks_config.h"

namespace purgeq {

HookChoice choose_hooks(const Config& config, std::span<const RoutedItem> items, Lane lane) {
  HookChoice choice;
  if (config.hooks.empty()) return choice;
  std::vector<std::string> zone_names;
  for (const auto& routed : items) {
    const auto& zone = config.zones.at(routed.zone_index);
    if (std::find(zone_names.begin(), zone_names.end(), zone.name) == zone_names.end()) {
      zone_names.push_back(zone.name);
      choice.zone_ids.push_back(zone.name);
    }
  }
  choice.names = hooks_for_intent(config.hooks, zone_names, lane);
  return choice;
}

}  // namespace purgeq
