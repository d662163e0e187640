// Strict reading of `hooks:`; the runner (daemon/hooks/) gives them meaning.
#include "config/hooks_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/url/parse.hpp>

#include "config/config.h"
#include "config/duration_yaml.h"
#include "config/strict_yaml.h"
#include "model/ascii.h"

namespace purgeq {
namespace {

using namespace strict_yaml;

// Hook names label metrics and key the store's rows: keep them to what needs no quoting.
bool is_hook_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::optional<std::string> url_problem(const std::string& url) {
  if (std::any_of(url.begin(), url.end(), [](char ch) {
        const auto u = static_cast<unsigned char>(ch);
        return u <= 0x20 || u == 0x7f;
      })) {
    return fmt::format("{} contains whitespace or control characters", quote(url));
  }
  const auto parsed = boost::urls::parse_uri(url);
  if (!parsed || (parsed->scheme_id() != boost::urls::scheme::http &&
                  parsed->scheme_id() != boost::urls::scheme::https)) {
    return fmt::format("must be an http:// or https:// URL, got {}", quote(url));
  }
  if (!parsed->has_authority() || parsed->encoded_host().empty()) {
    return fmt::format("{} has no host", quote(url));
  }
  if (parsed->has_fragment()) return fmt::format("{} must not have a fragment", quote(url));
  return std::nullopt;
}

std::optional<int> read_count(Checker& checker, const Field& field, int min, int max) {
  const auto value = read_int(checker, field);
  if (!value) return std::nullopt;
  if (*value < min || *value > max) {
    checker.add(field, fmt::format("must be between {} and {}, got {}", min, max, *value));
    return std::nullopt;
  }
  return static_cast<int>(*value);
}

// `lanes:` selects intents by the lane they were accepted in (docs/delivery.md, "Completion
// hooks"). An empty list would make the hook never run, a repeated lane is a typo for another.
void read_lanes(Checker& checker, const Field& field, std::vector<Lane>& lanes) {
  if (!expect_list(checker, field)) return;
  if (field.node.size() == 0) {
    checker.add(field, fmt::format("is empty; omit lanes to run the hook for every lane, or list "
                                   "some of {}",
                                   kLaneNames));
    return;
  }
  for (const auto& entry : items(field)) {
    const auto name = read_string(checker, entry);
    if (!name) continue;
    const auto lane = lane_from_string(*name);
    if (!lane) {
      checker.add(entry, fmt::format("unknown lane {} (use {})", quote(*name), kLaneNames));
    } else if (std::find(lanes.begin(), lanes.end(), *lane) != lanes.end()) {
      checker.add(entry, fmt::format("lane {} is listed twice", quote(*name)));
    } else {
      lanes.push_back(*lane);
    }
  }
}

}  // namespace

bool Hook::applies_to_zone(std::string_view zone_name) const {
  return zones.empty() || std::find(zones.begin(), zones.end(), zone_name) != zones.end();
}

bool Hook::applies_to_lane(Lane lane) const {
  return lanes.empty() || std::find(lanes.begin(), lanes.end(), lane) != lanes.end();
}

void load_hooks(Checker& checker, const Field& section, const std::vector<Zone>& zones,
                std::vector<Hook>& hooks) {
  if (section.node.IsNull()) return;
  if (!expect_list(checker, section)) return;
  const auto list = items(section);
  if (list.size() > kMaxHooks) {
    checker.add(section, fmt::format("has {} hooks; at most {} are allowed (each runs for every "
                                     "intent of its zones)",
                                     list.size(), kMaxHooks));
    return;
  }
  for (const auto& item : list) {
    if (!expect_map(checker, item, false)) continue;
    const MapView view(checker, item,
                       {"name", "command", "url", "zones", "lanes", "timeout", "attempts",
                        "retry_initial", "retry_max", "max_concurrent"});
    Hook hook;
    if (auto f = view.get("name")) {
      if (auto name = read_string(checker, *f)) {
        if (!is_hook_name(*name)) {
          checker.add(*f,
                      fmt::format("invalid name {}: use 1-64 of a-z, 0-9, _ and -", quote(*name)));
        } else if (std::any_of(hooks.begin(), hooks.end(),
                               [&](const Hook& other) { return other.name == *name; })) {
          checker.add(*f, fmt::format("a second hook named {}", quote(*name)));
        } else {
          hook.name = *name;
        }
      }
    } else {
      checker.add(item, "needs a name (it keys the hook's runs in the store, metrics and status)");
    }
    const auto command = view.get("command");
    const auto url = view.get("url");
    if (command && url) {
      checker.add(*url, "conflicts with command (a hook runs a command or posts to a URL)");
    } else if (!command && !url) {
      checker.add(item,
                  "needs a command (a list: program by absolute path, then arguments) or "
                  "a url");
    }
    if (command) {
      if (!command->node.IsSequence()) {
        checker.add(*command,
                    fmt::format("expected a list of arguments like [\"/usr/local/bin/warm\", "
                                "\"--fast\"] (run without a shell), got {}",
                                describe(command->node)));
      } else if (command->node.size() == 0) {
        checker.add(*command, "is empty; give the program by absolute path");
      } else {
        for (const auto& arg : items(*command)) {
          if (auto text = read_string(checker, arg)) hook.command.push_back(*text);
        }
        if (!hook.command.empty() && hook.command.size() == command->node.size() &&
            hook.command.front().front() != '/') {
          checker.add(items(*command).front(),
                      fmt::format("{} is not an absolute path (hooks run without a shell or "
                                  "PATH lookup)",
                                  quote(hook.command.front())));
        }
      }
    }
    if (url) {
      if (auto text = read_string(checker, *url)) {
        if (auto problem = url_problem(*text)) {
          checker.add(*url, *problem);
        } else {
          hook.url = *text;
        }
      }
    }
    if (auto f = view.get("zones")) {
      if (expect_list(checker, *f)) {
        if (f->node.size() == 0) {
          checker.add(*f, "is empty; omit zones to run the hook for every zone, or list some");
        }
        for (const auto& entry : items(*f)) {
          const auto name = read_string(checker, entry);
          if (!name) continue;
          const auto lower = ascii_lower(*name);
          const auto found = std::find_if(zones.begin(), zones.end(), [&](const Zone& zone) {
            return zone.name == lower || (!zone.id.empty() && zone.id == lower);
          });
          if (found == zones.end()) {
            checker.add(entry, fmt::format("unknown zone {}", quote(*name)));
          } else if (std::find(hook.zones.begin(), hook.zones.end(), found->name) !=
                     hook.zones.end()) {
            // By name and by id, say: a slip worth hearing about, as with lanes.
            checker.add(entry, fmt::format("zone {} is listed twice", quote(found->name)));
          } else {
            hook.zones.push_back(found->name);
          }
        }
      }
    }
    if (auto f = view.get("lanes")) read_lanes(checker, *f, hook.lanes);
    if (auto f = view.get("timeout")) {
      if (auto value = read_positive_duration(checker, *f)) hook.timeout = *value;
    }
    if (auto f = view.get("retry_initial")) {
      if (auto value = read_positive_duration(checker, *f)) hook.retry_initial = *value;
    }
    if (auto f = view.get("retry_max")) {
      if (auto value = read_positive_duration(checker, *f)) hook.retry_max = *value;
    }
    if (hook.retry_max < hook.retry_initial) {
      checker.add(
          item, fmt::format("retry_max ({}) is less than retry_initial ({})",
                            format_duration(hook.retry_max), format_duration(hook.retry_initial)));
    }
    if (auto f = view.get("attempts")) {
      if (auto value = read_count(checker, *f, 1, kMaxHookAttempts)) hook.attempts = *value;
    }
    if (auto f = view.get("max_concurrent")) {
      if (auto value = read_count(checker, *f, 1, kMaxHookConcurrency)) {
        hook.max_concurrent = *value;
      }
    }
    hooks.push_back(std::move(hook));
  }
}

std::vector<std::string> hooks_for_intent(const std::vector<Hook>& hooks,
                                          const std::vector<std::string>& zone_names, Lane lane) {
  std::vector<std::string> names;
  for (const auto& hook : hooks) {
    if (hook.applies_to_lane(lane) &&
        std::any_of(zone_names.begin(), zone_names.end(),
                    [&](const std::string& zone) { return hook.applies_to_zone(zone); })) {
      names.push_back(hook.name);
    }
  }
  return names;
}

}  // namespace purgeq
