// A config with what Cloudflare said about its zones applied: their ids, and the accounts' plans
// and limits that follow the zones' plans (docs/configuration.md, "Zones by name"). Pure: the
// daemon applies the records it stored or looked up, and hands the result to intake, delivery
// and status as it would a reloaded config.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "model/zone_record.h"

namespace purgeq {

// A zone's record and where it came from (ZoneSource::cloudflare or ZoneSource::stored).
struct KnownZone {
  ZoneRecord record;
  ZoneSource source = ZoneSource::stored;
};
using KnownZones = std::map<std::string, KnownZone, std::less<>>;  // by zone name

// What went wrong looking things up, for status and an intent's waiting_for (the resolver keeps
// it; a zone or account that looks up fine has no entry).
struct LookupTrouble {
  std::string error;  // what Cloudflare or the network said, and what to check
  // Cloudflare answered no (zone not found for the token, token refused): trying again helps only
  // once the config or the token changes. False: an outage (unreachable, 5xx, 429).
  bool refused = false;
  std::int64_t since_ms = 0;                    // the first failure in a row (Unix ms)
  std::optional<std::int64_t> next_attempt_ms;  // when it is tried again (Unix ms)
  int failures = 0;                             // in a row
};
enum class TokenState : std::uint8_t {
  unchecked,  // not verified yet (no token, a dry run, or Cloudflare not reached)
  verified,   // GET /user/tokens/verify (or the account's) said active
  refused,    // Cloudflare said the token is invalid, disabled or expired
};
std::string_view to_string(TokenState state);
struct LookupStatus {
  std::map<std::string, LookupTrouble, std::less<>> zones;  // by zone name
  std::map<std::string, TokenState, std::less<>> tokens;    // by account name
};

// The plan a Cloudflare `plan.legacy_id` names: free, pro, business, enterprise; nullopt for
// anything else.
[[nodiscard]] std::optional<Plan> plan_of_legacy_id(std::string_view legacy_id);

// `config` with `known` applied:
//  - a zone with zones[i].id keeps it (source config) and takes the record's plan only when the
//    record is for that id; any other zone takes the record's id (source cloudflare or stored),
//    or stays unresolved;
//  - an account with `plan` set keeps it (source config); else its plan is the most conservative
//    plan of its resolved zones (source cloudflare), or free while none is resolved
//    (source unresolved). A plan purgeqd does not know counts as free. plan_note says when the
//    plan in effect is not every zone's;
//  - every account's limits are its plan's, with its `limits` overrides.
[[nodiscard]] Config with_known_zones(const Config& config, const KnownZones& known);

// Whether the zone needs Cloudflare before its items can be sent as configured: its id is not
// known, or its account has no `plan` and the zone's plan is not known.
[[nodiscard]] bool needs_lookup(const Config& config, const Zone& zone);

}  // namespace purgeq
