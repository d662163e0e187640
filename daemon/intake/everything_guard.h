// Purge-everything guardrails (`zones[i].everything`, docs/delivery.md): whether a purge-everything
// may be accepted for a zone given when the last one was sent. Decided inside the store call that
// stores the intent, so no take can slip in between the check and the write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/config.h"
#include "intake/intake_error.h"
#include "intake/intent_parser.h"

namespace purgeq {

// A zone of the intent that asks for a purge-everything and has a minimum interval.
struct GuardedZone {
  std::size_t zone_index = 0;
  std::string zone_id;
};

// The zones of `items` (deduplicated, in order) whose purge-everything the guard must judge.
std::vector<GuardedZone> guarded_zones(const Config& config, std::span<const RoutedItem> items);

struct EverythingTooSoon {
  std::size_t zone_index = 0;
  std::int64_t last_sent_ms = 0;
  std::int64_t allowed_ms = 0;  // the first moment the next purge-everything is accepted
};

// nullopt: accept. `last_sent_ms`: Store::last_everything_ms; `pending`: a purge-everything of
// the zone is pending (not yet taken), so a merge costs no request.
std::optional<EverythingTooSoon> everything_verdict(const Zone& zone, std::size_t zone_index,
                                                    std::optional<std::int64_t> last_sent_ms,
                                                    bool pending, std::int64_t now_ms);

// The refusal, code everything_too_soon, naming the zone, the rule and when the next is allowed.
IntakeError everything_too_soon_error(const Config& config, const EverythingTooSoon& refusal,
                                      std::int64_t now_ms);
// Whole seconds until the next is allowed, at least 1: the Retry-After value.
std::int64_t retry_after_seconds(const EverythingTooSoon& refusal, std::int64_t now_ms);

}  // namespace purgeq
