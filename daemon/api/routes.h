// Which endpoint a request is for, from its method and target alone: the routing table of the
// socket API (docs/api.md), pure so that the fuzz target runs the daemon's own routing.
#pragma once

#include <optional>
#include <string_view>

namespace purgeq {

enum class Endpoint {
  purge,             // POST /v1/purge
  cloudflare_purge,  // POST [/client/v4]/zones/{zone_id}/purge_cache
  expand,            // POST /v1/expand
  intent,            // GET /v1/intents/{id}[?wait=S]
  status,            // GET /v1/status
  status_history,    // GET /v1/status/history
  page,              // GET / and GET /assets/{file}: the status page
  failed,            // GET /v1/failed
  retry_failed,      // POST /v1/failed/retry
  metrics,           // GET /metrics
  healthz,           // GET /healthz
  none,              // no route: 404
};

struct Route {
  Endpoint endpoint = Endpoint::none;
  // False when the path is an endpoint's that takes only POST and the method is another (405).
  // The read-only endpoints answer other methods with 404, like unknown paths.
  bool method_allowed = true;
  std::string_view path;   // the target before '?'
  std::string_view query;  // after '?', or empty
  std::string_view param;  // the intent id, the zone id of Cloudflare's endpoint, or the page's
                           // file under /assets/ ("" for the page itself, GET /)
};

// `method` as the request line spells it ("GET"). Views `target`: keep it alive while the route
// is used.
Route route_of(std::string_view method, std::string_view target);

// The zone id of Cloudflare's purge path, /client/v4/zones/{zone_id}/purge_cache (also without
// the /client/v4 prefix, as some clients put it in their base URL); nullopt for any other path.
std::optional<std::string_view> cloudflare_route_zone(std::string_view path);

}  // namespace purgeq
