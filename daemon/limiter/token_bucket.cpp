// Token-bucket and sliding-window arithmetic behind each account's pacing (reference §3.1, §3.2).
#include "limiter/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace purgeq {
namespace {

// Refills are sums of products of doubles, so "enough tokens" allows a little rounding: what the
// bucket refills in a picosecond (wait_for rounds to within that) plus double precision relative
// to the bucket's size. Far below anything a request costs, and below one tick of refill, so
// asking a tick early is still refused.
double slack(double rate, double capacity) {
  return (rate + capacity + 1.0) * 1e-12;
}
// Bound on any computed wait, so that `now + wait` can never overflow (a rate of ~0 would
// otherwise ask for centuries). Callers re-ask after waiting.
constexpr Clock::duration kLongestWait = std::chrono::hours(24);

}  // namespace

TokenBucket::TokenBucket(double rate_per_second, double capacity, Clock::time_point now,
                         std::optional<double> initial)
    : rate_(std::max(rate_per_second, 0.0)),
      capacity_(std::max(capacity, 0.0)),
      tokens_(initial ? std::clamp(*initial, -capacity_, capacity_) : capacity_),
      updated_(now) {}

double TokenBucket::available(Clock::time_point now) const {
  // A clock that steps back (it should not: steady_clock) refills nothing rather than draining.
  const double elapsed = std::max(0.0, std::chrono::duration<double>(now - updated_).count());
  return std::min(capacity_, tokens_ + elapsed * rate_);
}

bool TokenBucket::try_take(double tokens, Clock::time_point now) {
  const double cost = std::min(tokens, capacity_);
  const double have = available(now);
  if (have + slack(rate_, capacity_) < cost) return false;
  tokens_ = std::max(0.0, have - cost);
  updated_ = std::max(updated_, now);
  return true;
}

Clock::duration TokenBucket::wait_for(double tokens, Clock::time_point now) const {
  const double missing = std::min(tokens, capacity_) - available(now);
  if (missing <= slack(rate_, capacity_)) return Clock::duration::zero();
  if (rate_ <= 0) return kLongestWait;
  // Rounded up to the clock's tick, so that after this wait the tokens are there; a picosecond
  // of rounding is forgiven so an exact answer (1 token at 50/s: 20 ms) stays exact.
  const double exact_ticks = missing / rate_ * static_cast<double>(Clock::period::den) /
                             static_cast<double>(Clock::period::num);
  const double ticks = std::ceil(exact_ticks - 1e-3);
  if (ticks >= static_cast<double>(kLongestWait.count())) return kLongestWait;
  return Clock::duration(static_cast<Clock::rep>(std::max(ticks, 1.0)));
}

void TokenBucket::drain(Clock::time_point now) {
  tokens_ = 0;
  updated_ = std::max(updated_, now);
}

void TokenBucket::charge(double tokens, Clock::time_point now) {
  const double cost = std::min(tokens, capacity_);
  tokens_ = std::max(-capacity_, available(now) - cost);
  updated_ = std::max(updated_, now);
}

SlidingWindow::SlidingWindow(int limit, Clock::duration window)
    : limit_(std::max(limit, 0)), window_(window) {}

int SlidingWindow::used(Clock::time_point now) const {
  // An event stops counting once `window` has passed since it: at exactly event + window.
  while (!events_.empty() && events_.front() + window_ <= now) events_.pop_front();
  return static_cast<int>(events_.size());
}

bool SlidingWindow::try_take(Clock::time_point now) {
  if (used(now) >= limit_) return false;
  events_.push_back(now);
  return true;
}

void SlidingWindow::record(Clock::time_point at) {
  events_.push_back(at);
}

std::deque<Clock::time_point> SlidingWindow::events(Clock::time_point now) const {
  (void)used(now);  // drops the events that no longer count
  return events_;
}

Clock::duration SlidingWindow::wait_for(Clock::time_point now) const {
  const int in_window = used(now);
  if (in_window < limit_) return Clock::duration::zero();
  if (limit_ == 0) return window_;  // never admits; callers re-ask after a window
  // The oldest events must expire until one slot is free; only the (in_window - limit + 1)-th
  // oldest matters (events arrive in time order).
  const auto& frees_slot = events_[static_cast<std::size_t>(in_window - limit_)];
  return std::max(Clock::duration::zero(), frees_slot + window_ - now);
}

}  // namespace purgeq
