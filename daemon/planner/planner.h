// Coalescing and batch planning: turns a zone's pending targets into the fewest Cloudflare
// requests its caps allow. Pure: no I/O, the clock is an argument.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
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
  // Bound on a request body's size. Cloudflare documents none; proxies commonly refuse bodies
  // over 1 MiB, and 500 long URLs (or header objects) can pass that. A batch that reaches it is
  // full. Always at least one item per batch.
  std::size_t max_body_bytes = 1000 * 1000;
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
  std::vector<Batch> ready;                  // may be sent now, most urgent first
  std::optional<Clock::time_point> wake_at;  // earliest instant a further batch becomes ready
};

// Plans one zone: every target in `pending` belongs to the same zone. Each target ends in exactly
// one of three places: a ready batch's `members`, a ready batch's `covered`, or nowhere yet.
// - Duplicates (same kind and coverage_key, planner/coverage.h) and targets another pending target
//   covers (coverage.h's rules) never get a body of their own: they ride in the `covered` list of
//   the batch whose member covers them (transitively: a URL under a prefix under a host rides
//   with the host). A pending purge-everything makes the plan that single batch.
// - A covered target waits for its coverer: when the coverer is not ready (lingering, or in retry
//   backoff) the covered target is not sent either.
// - Eligible: not_before <= now. Ineligible targets never appear in `members`, may be `covered`.
// - Groups are (kind, with_headers); batches hold caps.max_urls files or caps.max_ops others
//   (purge-everything: one), filled oldest first (accepted_at, then id). A group yields its full
//   batches at once; the remainder when its oldest member has waited `linger` (linger <= 0: at
//   once). A purge-everything batch is always full.
// - `ready` order: everything, hosts, prefixes, tags, files (broad purges first); within a kind
//   oldest first. Members and covered lists are oldest first.
// - `wake_at`: the earliest lingering remainder's oldest accepted_at + linger, or the earliest
//   not_before of an ineligible uncovered target; nullopt when nothing is left waiting.
// O(n log n) in the number of targets (URLs are matched against prefixes by binary search).
// Throws std::invalid_argument if a target's item is null.
ZonePlan plan_zone(std::span<const PlanTarget> pending, const Caps& caps, Clock::duration linger,
                   Clock::time_point now);

// Zones of one account share its budget fairly: round robin over the zones' ready batches,
// starting at zone `start` (mod the number of plans): the first batch of zone start, of start+1,
// ..., then every zone's second batch, and so on; zones with nothing left are skipped. Returns
// (index into plans, batch) pairs. The caller rotates `start` so no zone is always first.
std::vector<std::pair<std::size_t, Batch>> interleave_fairly(std::vector<ZonePlan> plans,
                                                             std::size_t start);

}  // namespace purgeq
