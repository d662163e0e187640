// Token buckets and a sliding-window budget: the arithmetic of Cloudflare's rate limits.
// Pure: the clock is an argument.
#pragma once

#include <chrono>
#include <deque>
#include <optional>

namespace purgeq {

using Clock = std::chrono::steady_clock;

// Refills at `rate` tokens per second up to `capacity`; starts full unless `initial` says
// otherwise (down to -capacity: a bucket carried over in debt stays in debt).
class TokenBucket {
 public:
  TokenBucket(double rate_per_second, double capacity, Clock::time_point now,
              std::optional<double> initial = std::nullopt);

  // Takes `tokens` if they are all there, else nothing. tokens > capacity: as if capacity were
  // asked (a full bucket always serves one request), consistent with wait_for.
  [[nodiscard]] bool try_take(double tokens, Clock::time_point now);
  // How long until `tokens` could be taken (zero when they can now), rounded up to the clock's
  // tick and bounded by a day. tokens > capacity: as if capacity were asked, so a caller never
  // waits forever.
  [[nodiscard]] Clock::duration wait_for(double tokens, Clock::time_point now) const;
  [[nodiscard]] double available(Clock::time_point now) const;
  // Cloudflare said 429: assume its bucket is empty too.
  void drain(Clock::time_point now);
  // Takes `tokens` whether or not they are there (a request already decided on): the bucket may
  // go into debt, never below -capacity, and later requests wait for it to refill.
  void charge(double tokens, Clock::time_point now);
  [[nodiscard]] double capacity() const { return capacity_; }
  [[nodiscard]] double rate() const { return rate_; }

 private:
  double rate_;
  double capacity_;
  double tokens_;
  Clock::time_point updated_;
};

// At most `limit` events in any `window` (Cloudflare's 1,200 requests per 5 minutes).
class SlidingWindow {
 public:
  SlidingWindow(int limit, Clock::duration window);
  // Records one event at `now` if fewer than `limit` happened in (now - window, now].
  [[nodiscard]] bool try_take(Clock::time_point now);
  // Until the oldest counted event expires (zero when try_take would succeed now).
  [[nodiscard]] Clock::duration wait_for(Clock::time_point now) const;
  [[nodiscard]] int used(Clock::time_point now) const;
  [[nodiscard]] int limit() const { return limit_; }
  // Records an event at `at` regardless of the limit (restoring history, or a request already
  // decided on). Events must come in time order.
  void record(Clock::time_point at);
  // The events still counted at `now`, oldest first.
  [[nodiscard]] std::deque<Clock::time_point> events(Clock::time_point now) const;

 private:
  int limit_;
  Clock::duration window_;
  mutable std::deque<Clock::time_point> events_;
};

}  // namespace purgeq
