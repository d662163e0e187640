// Host-pattern matching and zone routing.
#include "intake/routing.h"

#include <fmt/format.h>

#include <algorithm>

#include "model/ascii.h"
#include "model/url.h"

namespace purgeq {
namespace {

// How specifically `pattern` matches `host`: 0 for no match, otherwise larger is more specific.
// Exact patterns rank above every wildcard regardless of length.
std::size_t match_rank(std::string_view pattern, std::string_view host) {
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    // The host needs at least one label of its own in front of the suffix: the apex is not a
    // subdomain of itself.
    if (host.size() <= suffix.size()) return 0;
    if (!ascii_iequals(host.substr(host.size() - suffix.size()), suffix)) return 0;
    return suffix.size();
  }
  if (!ascii_iequals(pattern, host)) return 0;
  return static_cast<std::size_t>(-1);
}

}  // namespace

bool host_matches_pattern(std::string_view pattern, std::string_view host) {
  return !host.empty() && match_rank(pattern, host) != 0;
}

bool zone_owns_host(const Zone& zone, std::string_view host) {
  for (const auto& pattern : zone.hosts) {
    if (host_matches_pattern(pattern, host)) return true;
  }
  return false;
}

std::optional<std::size_t> route_host(const Config& config, std::string_view host) {
  if (host.empty()) return std::nullopt;
  std::optional<std::size_t> best;
  std::size_t best_rank = 0;
  for (std::size_t i = 0; i < config.zones.size(); ++i) {
    for (const auto& pattern : config.zones[i].hosts) {
      const std::size_t rank = match_rank(pattern, host);
      // Strictly greater: on equal rank the zone listed first keeps the host.
      if (rank > best_rank) {
        best_rank = rank;
        best = i;
      }
    }
  }
  return best;
}

std::string_view item_host(const Item& item) {
  switch (item.kind) {
    case Kind::file: {
      const auto url = parse_url(item.value, Fragments::allow);
      if (const auto* parts = std::get_if<Url>(&url)) return parts->host;
      return {};
    }
    case Kind::host:
      return item.value;
    case Kind::prefix:
      return std::string_view(item.value).substr(0, item.value.find('/'));
    case Kind::tag:
    case Kind::everything:
      return {};
  }
  return {};
}

std::variant<std::size_t, IntakeError> path_zone(const Config& config,
                                                 std::optional<std::size_t> forced_zone) {
  if (!forced_zone || *forced_zone >= config.zones.size()) {
    return make_error(ErrorCode::unknown_path_zone, {}, "the URL path names no configured zone",
                      {});
  }
  return *forced_zone;
}

std::optional<std::size_t> zone_with_id(const Config& config, std::string_view zone_id) {
  // A zone whose id is not known yet cannot be named by id (its id is empty).
  if (zone_id.empty()) return std::nullopt;
  for (std::size_t i = 0; i < config.zones.size(); ++i) {
    if (config.zones[i].id == zone_id) return i;
  }
  return std::nullopt;
}

IntakeError unknown_path_zone_error(std::string_view zone_id) {
  // Cloudflare's own words for an unknown zone id, which clients written for it recognise.
  return IntakeError{ErrorCode::unknown_path_zone,
                     fmt::format("Could not route to /zones/{}/purge_cache, perhaps your object "
                                 "identifier is invalid?",
                                 bounded_item(zone_id)),
                     bounded_item(zone_id)};
}

std::string_view zone_name_of(const Config& config, std::string_view zone_id) {
  const Zone* zone = config.find_zone(zone_id);
  return zone != nullptr ? std::string_view(zone->name) : zone_id;
}

std::variant<std::size_t, IntakeError> member_zone(const Config& config,
                                                   const boost::json::value& zone) {
  if (!zone.is_string() || zone.get_string().empty()) {
    return make_error(ErrorCode::invalid_zone, {},
                      fmt::format("\"zone\" must be a zone name or id, got {}",
                                  zone.is_string() ? "an empty string" : type_name(zone)),
                      {});
  }
  const std::string_view wanted = zone.get_string();
  for (std::size_t i = 0; i < config.zones.size(); ++i) {
    if (config.zones[i].name == wanted || config.zones[i].id == wanted) return i;
  }
  return make_error(
      ErrorCode::unknown_zone, {},
      fmt::format("unknown zone {} (not a configured zone name or id)", quote(wanted)), {});
}

ZoneRouter::ZoneRouter(const Config& config, std::optional<std::size_t> named_zone)
    : config_(config), named_zone_(named_zone), hostless_zone_(named_zone) {
  if (!hostless_zone_ && config.zones.size() == 1) hostless_zone_ = 0;
}

std::variant<std::size_t, IntakeError> ZoneRouter::zone_for(const Item& item,
                                                            std::string_view path) const {
  if (item.kind == Kind::tag || item.kind == Kind::everything) {
    if (hostless_zone_) return *hostless_zone_;
    return make_error(ErrorCode::zone_required, path,
                      fmt::format("{} needs \"zone\" because {} zones are configured",
                                  item.kind == Kind::tag ? "purging by tag" : "purge_everything",
                                  config_.zones.size()),
                      {});
  }
  const std::string_view host = item_host(item);
  if (named_zone_) {
    const Zone& zone = config_.zones[*named_zone_];
    if (!zone_owns_host(zone, host)) {
      return make_error(ErrorCode::host_not_in_zone, path,
                        fmt::format("host \"{}\" is not in zone {}", host, zone.name), {});
    }
    return *named_zone_;
  }
  if (const auto routed = route_host(config_, host)) return *routed;
  return make_error(ErrorCode::no_zone_for_host, path,
                    fmt::format("no configured zone owns host \"{}\"", host), {});
}

}  // namespace purgeq
