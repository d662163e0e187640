// What Cloudflare said about a zone when purgeqd looked it up by name with the account's token
// (GET /zones?name=, GET /zones/{id}): kept in the queue's database, so that a restart while the
// API is down starts from it (docs/configuration.md, "Zones by name").
#pragma once

#include <cstdint>
#include <string>

namespace purgeq {

struct ZoneRecord {
  std::string name;        // the zone's name, lower case: the key
  std::string id;          // 32 lower-case hex characters
  std::string account_id;  // Cloudflare's id of the account that owns the zone
  // The plan as Cloudflare reports it (`plan.legacy_id`): free, pro, business, enterprise, or a
  // value purgeqd does not know (kept as given, shown, and paced as the most conservative).
  std::string plan;
  std::int64_t resolved_at_ms = 0;  // Unix ms of Cloudflare's answer
};

}  // namespace purgeq
