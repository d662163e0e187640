// Host-pattern matching and zone routing.
#include "intake/routing.h"

#include <algorithm>

#include "model/ascii.h"

namespace purgeq {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// How specifically `pattern` matches `host`: 0 for no match, otherwise larger is more specific.
// Exact patterns rank above every wildcard regardless of length.
std::size_t match_rank(std::string_view pattern, std::string_view host) {
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    // The host needs at least one label of its own in front of the suffix: the apex is not a
    // subdomain of itself.
    if (host.size() <= suffix.size()) return 0;
    if (!iequals(host.substr(host.size() - suffix.size()), suffix)) return 0;
    return suffix.size();
  }
  if (!iequals(pattern, host)) return 0;
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
  std::string_view value = item.value;
  switch (item.kind) {
    case Kind::file: {
      const auto scheme_end = value.find("://");
      if (scheme_end == std::string_view::npos) return {};
      value.remove_prefix(scheme_end + 3);
      return value.substr(0, value.find_first_of(":/?"));
    }
    case Kind::host:
      return value;
    case Kind::prefix:
      return value.substr(0, value.find('/'));
    case Kind::tag:
    case Kind::everything:
      return {};
  }
  return {};
}

}  // namespace purgeq
