// One account's pacing: flex bucket, URL bucket, global budget and 429 pauses together.
#pragma once

#include <optional>
#include <vector>

#include "config/config.h"
#include "limiter/token_bucket.h"
#include "model/item.h"

namespace purgeq {

// The longest pause a Retry-After can impose: a broken or hostile value must not stop an account
// for a year; after this the limiter's own pacing applies again.
inline constexpr std::chrono::seconds kMaxRetryAfter{3600};

// Requests an account sent shortly before a restart (the store records them), so the new process
// paces from where the old one stopped instead of starting with full buckets.
struct RecentSends {
  std::optional<Clock::time_point> last_flex;  // the last tag/host/prefix/everything request
  std::optional<Clock::time_point> last_urls;  // the last files request
  std::vector<Clock::time_point> all;          // every request within the global window, in order
  // The history is complete for this long before now: with no send recorded in it, the buckets
  // have refilled for at least this long.
  Clock::duration horizon = std::chrono::minutes(5);
};

class AccountLimiter {
 public:
  // Starts with full buckets: a new account with no history.
  AccountLimiter(const Limits& limits, Clock::time_point now);
  // Starts conservatively from history: each bucket as if it had been emptied by its last
  // recorded request (or `horizon` ago) and refilled since; the global window holds the
  // recorded requests.
  AccountLimiter(const Limits& limits, Clock::time_point now, const RecentSends& recent);
  // A reload: the new limits, keeping the tokens (up to the new sizes), the 429 pause and the
  // global window's history.
  void reconfigure(const Limits& limits, Clock::time_point now);

  // Takes what one request of `kind` with `count` items costs (files: `count` URL tokens; other
  // kinds: one flex token; every request: one global-budget slot), all or nothing. Fails while
  // paused by a 429. The URL bucket holds at least max_urls_per_request, so a full batch fits.
  [[nodiscard]] bool try_acquire(Kind kind, std::size_t count, Clock::time_point now);
  // Zero when try_acquire would succeed now; else the longest of the pause, the bucket's refill
  // and the global window's next free slot.
  [[nodiscard]] Clock::duration wait_for(Kind kind, std::size_t count, Clock::time_point now) const;
  // A 429 arrived: pause the whole account for `retry_after` (or, without it, for as long as the
  // bucket of that kind takes to refill one request's worth -- one flex token, or a full file
  // batch of URL tokens -- but at least 1 s) and drain that bucket. Never shortens a pause.
  void on_rate_limited(Kind kind, std::optional<Clock::duration> retry_after,
                       Clock::time_point now);
  [[nodiscard]] std::optional<Clock::time_point> paused_until(Clock::time_point now) const;
  // Charges a request whose size was only known after admission (the store cut the batch):
  // the tokens are taken even into debt, and the global window counts it.
  void charge(Kind kind, std::size_t count, Clock::time_point now);
  // A request outside the purge buckets (a zone lookup, a token check: docs/configuration.md,
  // "Zones by name"): it costs a slot of the global window, which Cloudflare counts for every API
  // request, and waits out a 429 pause like a purge. Zero when the slot was free and is now
  // taken; else how long until one is (nothing taken).
  [[nodiscard]] Clock::duration take_global(Clock::time_point now);
  // The most items of `kind` one request may carry right now (files: the URL tokens there;
  // others: `cap` when a flex token is there). Zero while paused or out of global budget.
  [[nodiscard]] std::size_t budget(Kind kind, std::size_t cap, Clock::time_point now) const;

  [[nodiscard]] double flex_tokens(Clock::time_point now) const { return flex_.available(now); }
  [[nodiscard]] double url_tokens(Clock::time_point now) const { return urls_.available(now); }
  // The buckets' sizes, what flex_tokens and url_tokens refill up to.
  [[nodiscard]] double flex_size() const { return flex_.capacity(); }
  [[nodiscard]] double url_size() const { return urls_.capacity(); }
  [[nodiscard]] int global_used(Clock::time_point now) const;

 private:
  TokenBucket flex_;
  TokenBucket urls_;
  std::optional<SlidingWindow> global_;  // absent when limits.global_requests == 0
  double urls_per_request_ = 1;          // a full file batch: what a 429 pause waits to refill
  Limits limits_;
  Clock::time_point paused_until_{};
};

}  // namespace purgeq
