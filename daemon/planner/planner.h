// Coalescing and batch planning: turns a zone's pending targets into the fewest Cloudflare
// requests its caps allow. Pure: no I/O, the clock is an argument.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "model/item.h"

namespace purgeq {

using Clock = std::chrono::steady_clock;

// A pending (accepted, not yet sent) target as the planner sees it. `item` must outlive the call.
struct PlanTarget {
  std::int64_t id = 0;
  const Item* item = nullptr;
  Clock::time_point accepted_at;  // when the item was acknowledged; drives `linger`
  Clock::time_point not_before;   // retry backoff: not sent in a body before this instant
};

// Per-request caps of the zone's account.
struct Caps {
  int max_ops = 100;   // tags, hosts, prefixes per request, >= 1
  int max_urls = 500;  // files per request, >= 1
};

// One Cloudflare request: one kind, at most the cap for that kind.
struct Batch {
  Kind kind = Kind::file;
  bool with_headers = false;          // files only: all members are {url, headers} objects
  std::vector<std::int64_t> members;  // targets named in the request body
  // Pending targets of the same zone that this request purges as well (a pending host covers URLs
  // and prefixes on it, a prefix covers URLs and longer prefixes under it, everything covers all).
  // They are done when the batch is; they are not in the body.
  std::vector<std::int64_t> covered;
};

struct ZonePlan {
  std::vector<Batch> ready;                 // may be sent now, most urgent first
  std::optional<Clock::time_point> wake_at;  // earliest instant a further batch becomes ready
};

// Plans one zone. A batch is ready when it is full, or when its oldest member has waited `linger`.
// Targets covered by another pending target never get batches of their own.
ZonePlan plan_zone(std::span<const PlanTarget> pending, const Caps& caps,
                   Clock::duration linger, Clock::time_point now);

}  // namespace purgeq
