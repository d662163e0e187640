// Which configured zone owns a hostname: the single place that maps the hosts of files, hosts and
// prefixes to zones, so intake and any later consumer agree on ownership.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "config/config.h"
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

// The host an item is routed by: the URL host of a file (without port), the host of a host item,
// the part of a prefix before its first '/'. Empty for tags and purge_everything, which have no
// host. Expects a validated item (see intake/intent_parser.h).
std::string_view item_host(const Item& item);

}  // namespace purgeq
