// One account's pacing: Cloudflare's per-account buckets (reference §3.1), the API-wide budget
// (§3.2) and the pauses a 429 imposes (§5.3), combined into one admit-or-wait answer.
#include "limiter/account_limiter.h"

#include <algorithm>

namespace purgeq {
namespace {

// Without Retry-After, a 429 pauses at least this long: Cloudflare rounds its own hints up to
// whole seconds, and hammering sooner only earns more 429s.
constexpr Clock::duration kMinimumPause = std::chrono::seconds(1);

double flex_capacity(const Limits& limits) {
  return std::max(limits.burst, 1.0);  // a request always needs one flex token
}
// A full batch must always fit, whatever urls_per_second says (Free: 800/s but 100 per request is
// fine; a custom 50/s with 500 per request would otherwise never send one).
double url_capacity(const Limits& limits) {
  return std::max(limits.urls_per_second,
                  static_cast<double>(std::max(limits.max_urls_per_request, 1)));
}
// Tokens after refilling from empty since `last` (or for `horizon`).
double refilled(double rate, double capacity, std::optional<Clock::time_point> last,
                Clock::duration horizon, Clock::time_point now) {
  const auto since = last ? std::max(Clock::duration::zero(), now - *last) : horizon;
  return std::min(capacity, std::chrono::duration<double>(since).count() * rate);
}

}  // namespace

AccountLimiter::AccountLimiter(const Limits& limits, Clock::time_point now,
                               const RecentSends& recent)
    : AccountLimiter(limits, now) {
  flex_ = TokenBucket(limits.requests_per_second, flex_capacity(limits), now,
                      refilled(limits.requests_per_second, flex_capacity(limits), recent.last_flex,
                               recent.horizon, now));
  urls_ = TokenBucket(limits.urls_per_second, url_capacity(limits), now,
                      refilled(limits.urls_per_second, url_capacity(limits), recent.last_urls,
                               recent.horizon, now));
  if (global_) {
    for (const auto at : recent.all) {
      if (at + limits.global_window > now) global_->record(at);
    }
  }
}

void AccountLimiter::reconfigure(const Limits& limits, Clock::time_point now) {
  const double flex = flex_.available(now);
  const double urls = urls_.available(now);
  flex_ = TokenBucket(limits.requests_per_second, flex_capacity(limits), now, flex);
  urls_ = TokenBucket(limits.urls_per_second, url_capacity(limits), now, urls);
  urls_per_request_ = static_cast<double>(std::max(limits.max_urls_per_request, 1));
  if (limits.global_requests <= 0) {
    global_.reset();
  } else if (!global_ || global_->limit() != limits.global_requests ||
             limits.global_window != limits_.global_window) {
    SlidingWindow fresh(limits.global_requests, limits.global_window);
    if (global_) {
      for (const auto at : global_->events(now)) fresh.record(at);
    }
    global_ = std::move(fresh);
  }
  limits_ = limits;
}

void AccountLimiter::charge(Kind kind, std::size_t count, Clock::time_point now) {
  const bool files = kind == Kind::file;
  (files ? urls_ : flex_).charge(files ? static_cast<double>(count) : 1.0, now);
  if (global_) global_->record(now);
}

Clock::duration AccountLimiter::take_global(Clock::time_point now) {
  Clock::duration wait = Clock::duration::zero();
  if (now < paused_until_) wait = paused_until_ - now;
  if (global_) wait = std::max(wait, global_->wait_for(now));
  if (wait > Clock::duration::zero()) return wait;
  if (global_ && !global_->try_take(now)) return global_->wait_for(now);  // cannot happen
  return Clock::duration::zero();
}

std::size_t AccountLimiter::budget(Kind kind, std::size_t cap, Clock::time_point now) const {
  if (now < paused_until_) return 0;
  if (global_ && global_->wait_for(now) > Clock::duration::zero()) return 0;
  if (kind != Kind::file) return flex_.wait_for(1.0, now) == Clock::duration::zero() ? cap : 0;
  const double tokens = urls_.available(now) + 1e-9;
  if (tokens < 1) return 0;
  return std::min(cap, static_cast<std::size_t>(tokens));
}

AccountLimiter::AccountLimiter(const Limits& limits, Clock::time_point now)
    : flex_(limits.requests_per_second, flex_capacity(limits), now),
      urls_(limits.urls_per_second, url_capacity(limits), now),
      urls_per_request_(static_cast<double>(std::max(limits.max_urls_per_request, 1))),
      limits_(limits) {
  if (limits.global_requests > 0) global_.emplace(limits.global_requests, limits.global_window);
}

bool AccountLimiter::try_acquire(Kind kind, std::size_t count, Clock::time_point now) {
  if (now < paused_until_) return false;
  // Check the global budget before taking tokens, so a refusal there takes nothing.
  if (global_ && global_->wait_for(now) > Clock::duration::zero()) return false;
  const bool files = kind == Kind::file;
  TokenBucket& bucket = files ? urls_ : flex_;
  if (!bucket.try_take(files ? static_cast<double>(count) : 1.0, now)) return false;
  if (global_ && !global_->try_take(now)) return false;  // cannot happen: checked above
  return true;
}

Clock::duration AccountLimiter::wait_for(Kind kind, std::size_t count,
                                         Clock::time_point now) const {
  Clock::duration wait = Clock::duration::zero();
  if (now < paused_until_) wait = paused_until_ - now;
  if (global_) wait = std::max(wait, global_->wait_for(now));
  const bool files = kind == Kind::file;
  const TokenBucket& bucket = files ? urls_ : flex_;
  return std::max(wait, bucket.wait_for(files ? static_cast<double>(count) : 1.0, now));
}

void AccountLimiter::on_rate_limited(Kind kind, std::optional<Clock::duration> retry_after,
                                     Clock::time_point now) {
  const bool files = kind == Kind::file;
  TokenBucket& bucket = files ? urls_ : flex_;
  bucket.drain(now);
  Clock::duration pause;
  if (retry_after) {
    pause = std::clamp(*retry_after, Clock::duration::zero(),
                       std::chrono::duration_cast<Clock::duration>(kMaxRetryAfter));
  } else {
    pause = std::max(kMinimumPause, bucket.wait_for(files ? urls_per_request_ : 1.0, now));
  }
  paused_until_ = std::max(paused_until_, now + pause);
}

std::optional<Clock::time_point> AccountLimiter::paused_until(Clock::time_point now) const {
  if (now < paused_until_) return paused_until_;
  return std::nullopt;
}

int AccountLimiter::global_used(Clock::time_point now) const {
  return global_ ? global_->used(now) : 0;
}

}  // namespace purgeq
