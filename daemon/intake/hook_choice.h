// The completion hooks recorded with an intent when it is stored (docs/delivery.md, "Completion
// hooks"): chosen at intake, so a reload later does not change what an accepted intent runs.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "config/config.h"
#include "intake/intent_parser.h"
#include "model/lane.h"

namespace purgeq {

struct HookChoice {
  std::vector<std::string> zone_ids;  // the intent's zones, in the order their items come
  std::vector<std::string> names;     // the hooks that run for it (hooks_for_intent)
};

// The hooks whose zones include one of the intent's zones and whose lanes include `lane`. Empty
// (zones too) when no hooks are configured: then nothing is recorded.
HookChoice choose_hooks(const Config& config, std::span<const RoutedItem> items, Lane lane);

}  // namespace purgeq
