// Which configured zone owns a hostname, and which zone each item of an intent goes to: the single
// place that maps the hosts of files, hosts and prefixes to zones, so intake and any later
// consumer agree on ownership.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <optional>
#include <string_view>
#include <variant>

#include "config/config.h"
#include "intake/intake_error.h"
#include "model/item.h"

namespace purgeq {

// True when `pattern` ("example.com" exact, "*.example.com" any subdomain but not the apex)
// matches `host`. ASCII case-insensitive on both sides.
bool host_matches_pattern(std::string_view pattern, std::string_view host);

// True when any of the zone's host patterns matches `host`.
bool zone_owns_host(const Zone& zone, std::string_view host);

// Index into config.zones of the zone owning `host`: an exact pattern beats every wildcard, and
// among wildcards the longest suffix wins (so "*.shop.example.com" in one zone beats
// "*.example.com" in another). On a tie the zone listed first wins. nullopt when no zone matches.
std::optional<std::size_t> route_host(const Config& config, std::string_view host);

// The host an item is routed by: the URL host of a file (without port, model/url.h), the host of
// a host item, the part of a prefix before its first '/'. Empty for tags and purge_everything,
// which have no host, and for a file whose URL does not parse. Views the item's value.
std::string_view item_host(const Item& item);

// The zone whose id is `zone_id` (the path of the Cloudflare-compatible endpoint names zones by
// id).
std::optional<std::size_t> zone_with_id(const Config& config, std::string_view zone_id);

// The refusal of the Cloudflare-compatible endpoint when its path names no configured zone id
// (unknown_path_zone: 404, in Cloudflare's words).
IntakeError unknown_path_zone_error(std::string_view zone_id);

// The name of the zone with this id, for people (metrics labels, listings); the id itself when no
// configured zone has it (it was removed from the config).
std::string_view zone_name_of(const Config& config, std::string_view zone_id);

// The zone named by the path of the Cloudflare-compatible endpoint (the index found by
// zone_with_id, if any). Error: unknown_path_zone.
std::variant<std::size_t, IntakeError> path_zone(const Config& config,
                                                 std::optional<std::size_t> forced_zone);

// The zone named by a native body's "zone" member, by name or id. Errors: invalid_zone (not a
// non-empty string), unknown_zone.
std::variant<std::size_t, IntakeError> member_zone(const Config& config,
                                                   const boost::json::value& zone);

// Routes the items of one intent. With a named zone every item must belong to it; without, hosts
// choose their zone (route_host), and tags and purge_everything, which have no host, need the
// only zone there is.
class ZoneRouter {
 public:
  ZoneRouter(const Config& config, std::optional<std::size_t> named_zone);

  // The zone for a validated item. Errors: zone_required, host_not_in_zone, no_zone_for_host,
  // named after `path`; the error's item is left empty for the caller, who has the entry as given.
  [[nodiscard]] std::variant<std::size_t, IntakeError> zone_for(const Item& item,
                                                                std::string_view path) const;

 private:
  const Config& config_;
  std::optional<std::size_t> named_zone_;
  std::optional<std::size_t> hostless_zone_;
};

}  // namespace purgeq
