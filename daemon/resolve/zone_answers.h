// What Cloudflare's answers to zone lookups and token checks mean (docs/configuration.md, "Zones
// by name"): the requests' URLs and the reading of their answers, pure, so that the resolver
// (zone_resolver.h) is only their driver and both are tested apart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/transport.h"
#include "model/zone_record.h"

namespace purgeq {

// Zones of one page of GET /zones?name=: Cloudflare's `per_page` upper bound, so that a name
// shared by zones in several accounts rarely needs a second page.
constexpr int kZonesPerPage = 50;

std::string zones_by_name_url(std::string_view api_base, std::string_view name, int page);
std::string zone_url(std::string_view api_base, std::string_view zone_id);
std::string user_token_verify_url(std::string_view api_base);
std::string account_token_verify_url(std::string_view api_base, std::string_view account_id);

enum class LookupVerdict : std::uint8_t {
  found,      // `record` is the zone
  next_page,  // not on this page; more pages follow (`next_page`)
  not_found,  // the token sees no zone of that name (or, for /zones/{id}, not that zone)
  refused,    // the token is invalid or may not read zones (401 1000, 403 9109, 403 10000)
  outage,     // unreachable, 5xx, 429, or an answer that is not Cloudflare's: try again later
};

struct LookupAnswer {
  LookupVerdict verdict = LookupVerdict::outage;
  ZoneRecord record;  // with found
  int next_page = 0;  // with next_page
  // For logs and status: Cloudflare's code and message, or the transport's error.
  std::string error;
};

// An answer to GET /zones?name=<name>&page=<page>. Among zones of that exact name (lower case)
// an active one wins; `now_ms` becomes the record's resolved_at_ms.
[[nodiscard]] LookupAnswer read_zones_page(const HttpResponse& response, std::string_view name,
                                           int page, std::int64_t now_ms);
// An answer to GET /zones/{id} for the zone `name`.
[[nodiscard]] LookupAnswer read_zone(const HttpResponse& response, std::string_view name,
                                     std::int64_t now_ms);

enum class TokenVerdict : std::uint8_t { active, refused, outage };
struct TokenAnswer {
  TokenVerdict verdict = TokenVerdict::outage;
  std::string error;  // Cloudflare's status of the token ("disabled", "expired") or message
};
// An answer to GET /user/tokens/verify or /accounts/{id}/tokens/verify.
[[nodiscard]] TokenAnswer read_token_verify(const HttpResponse& response);

}  // namespace purgeq
