// `hooks:` (docs/configuration.md, docs/delivery.md "Completion hooks"): commands or HTTP POSTs
// run once an intent is terminal, e.g. a cache warmer fetching the purged URLs.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "config/duration.h"
#include "model/lane.h"

namespace purgeq {

namespace strict_yaml {
class Checker;
struct Field;
}  // namespace strict_yaml

struct Zone;

struct Hook {
  std::string name;  // the key of its runs in the store, metrics and status
  // Exactly one of: argv (the program by absolute path, then fixed arguments; run without a
  // shell), or an http:// or https:// URL to POST a JSON summary to.
  std::vector<std::string> command;
  std::string url;
  std::vector<std::string> zones;  // zone names; empty = every zone
  std::vector<Lane> lanes;         // the lanes an intent is accepted in; empty = every lane
  Duration timeout = std::chrono::seconds(30);
  int attempts = 5;  // runs before the run is recorded failed
  Duration retry_initial = std::chrono::seconds(5);
  Duration retry_max = std::chrono::minutes(5);
  int max_concurrent = 2;  // runs of this hook at once

  [[nodiscard]] bool applies_to_zone(std::string_view zone_name) const;
  [[nodiscard]] bool applies_to_lane(Lane lane) const;
};

inline constexpr int kMaxHookAttempts = 100;
inline constexpr int kMaxHookConcurrency = 64;
inline constexpr std::size_t kMaxHooks = 32;

// Reads the `hooks:` list (zones must already be loaded) into `hooks`, reporting problems to
// `checker` with their key paths.
void load_hooks(strict_yaml::Checker& checker, const strict_yaml::Field& section,
                const std::vector<Zone>& zones, std::vector<Hook>& hooks);

// The names of the hooks that apply to an intent touching `zone_names`, accepted in `lane`: a
// hook's zones must include one of them and its lanes the intent's lane.
std::vector<std::string> hooks_for_intent(const std::vector<Hook>& hooks,
                                          const std::vector<std::string>& zone_names, Lane lane);

}  // namespace purgeq
