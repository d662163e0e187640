// The routing table.
#include "api/routes.h"

namespace purgeq {

std::optional<std::string_view> cloudflare_route_zone(std::string_view path) {
  constexpr std::string_view kVersion = "/client/v4";
  constexpr std::string_view kZones = "/zones/";
  constexpr std::string_view kPurge = "/purge_cache";
  if (path.starts_with(kVersion)) path.remove_prefix(kVersion.size());
  if (!path.starts_with(kZones) || !path.ends_with(kPurge) ||
      path.size() < kZones.size() + kPurge.size()) {
    return std::nullopt;
  }
  return path.substr(kZones.size(), path.size() - kZones.size() - kPurge.size());
}

Route route_of(std::string_view method, std::string_view target) {
  constexpr std::string_view kIntents = "/v1/intents/";
  constexpr std::string_view kAssets = "/assets/";
  Route route;
  const auto qmark = target.find('?');
  route.path = target.substr(0, qmark);
  if (qmark != std::string_view::npos) route.query = target.substr(qmark + 1);
  const std::string_view path = route.path;
  const bool get = method == "GET";
  const bool post = method == "POST";
  const auto only_post = [&route, post](Endpoint endpoint) {
    route.endpoint = endpoint;
    route.method_allowed = post;
    return route;
  };
  const auto only_get = [&route, get](Endpoint endpoint) {
    if (get) route.endpoint = endpoint;
    return route;
  };
  if (path == "/v1/purge") return only_post(Endpoint::purge);
  if (path == "/v1/expand") return only_post(Endpoint::expand);
  if (path.starts_with(kIntents) && get) {
    route.endpoint = Endpoint::intent;
    route.param = path.substr(kIntents.size());
    return route;
  }
  if (path == "/v1/status") return only_get(Endpoint::status);
  if (path == "/v1/status/history") return only_get(Endpoint::status_history);
  if (path == "/" || path.starts_with(kAssets)) {
    route.param = path == "/" ? std::string_view() : path.substr(kAssets.size());
    return only_get(Endpoint::page);
  }
  if (path == "/v1/failed") return only_get(Endpoint::failed);
  if (path == "/v1/failed/retry" && post) {
    route.endpoint = Endpoint::retry_failed;
    return route;
  }
  if (path == "/metrics") return only_get(Endpoint::metrics);
  if (path == "/healthz") return only_get(Endpoint::healthz);
  if (const auto zone = cloudflare_route_zone(path)) {
    route.param = *zone;
    return only_post(Endpoint::cloudflare_purge);
  }
  return route;
}

}  // namespace purgeq
