// Tests for one account's pacing: flex and URL buckets, the global window, all-or-nothing
// acquisition and 429 pauses with and without Retry-After. Limits are built directly (the config
// loader is not needed) and the clock is injected.
#include "limiter/account_limiter.h"

#include <gtest/gtest.h>

namespace purgeq {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const Clock::time_point t0{hours(1000)};

Limits enterprise(int global_requests = 0) {
  Limits limits;
  limits.requests_per_second = 50;
  limits.burst = 500;
  limits.urls_per_second = 3000;
  limits.max_ops_per_request = 100;
  limits.max_urls_per_request = 500;
  limits.global_requests = global_requests;
  limits.global_window = minutes(5);
  return limits;
}

TEST(AccountLimiter, FlexBurstThenRefill) {
  AccountLimiter limiter(enterprise(), t0);
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(limiter.try_acquire(Kind::tag, 100, t0)) << i;
  EXPECT_FALSE(limiter.try_acquire(Kind::host, 1, t0));
  EXPECT_EQ(limiter.wait_for(Kind::prefix, 1, t0), milliseconds(20));
  EXPECT_TRUE(limiter.try_acquire(Kind::everything, 1, t0 + milliseconds(20)));
}

TEST(AccountLimiter, FlexCostIsOneTokenWhateverTheCount) {
  AccountLimiter limiter(enterprise(), t0);
  ASSERT_TRUE(limiter.try_acquire(Kind::tag, 100, t0));
  EXPECT_NEAR(limiter.flex_tokens(t0), 499, 1e-9);
  EXPECT_NEAR(limiter.url_tokens(t0), 3000, 1e-9);
}

TEST(AccountLimiter, UrlBatchesCostTheirSize) {
  AccountLimiter limiter(enterprise(), t0);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(limiter.try_acquire(Kind::file, 500, t0)) << i;
  EXPECT_FALSE(limiter.try_acquire(Kind::file, 500, t0));
  EXPECT_TRUE(limiter.try_acquire(Kind::file, 0, t0));  // costs no URL tokens
  EXPECT_EQ(limiter.wait_for(Kind::file, 500, t0), nanoseconds(166666667));
  EXPECT_EQ(limiter.wait_for(Kind::file, 30, t0), milliseconds(10));
  // The flex bucket is separate.
  EXPECT_TRUE(limiter.try_acquire(Kind::tag, 1, t0));
  EXPECT_TRUE(limiter.try_acquire(Kind::file, 30, t0 + milliseconds(10)));
}

TEST(AccountLimiter, FullBatchAlwaysFitsTheUrlBucket) {
  Limits limits = enterprise();
  limits.urls_per_second = 50;  // below the per-request cap
  AccountLimiter limiter(limits, t0);
  EXPECT_NEAR(limiter.url_tokens(t0), 500, 1e-9);
  ASSERT_TRUE(limiter.try_acquire(Kind::file, 500, t0));
  EXPECT_EQ(limiter.wait_for(Kind::file, 500, t0), seconds(10));
  EXPECT_TRUE(limiter.try_acquire(Kind::file, 500, t0 + seconds(10)));
}

TEST(AccountLimiter, GlobalWindowBlocksThe1201stUntilTheFirstExpires) {
  Limits limits = enterprise(1200);
  AccountLimiter limiter(limits, t0);
  // 1,200 requests, one every 100 ms (10/s: well inside both buckets), alternating kinds.
  for (int i = 0; i < 1200; ++i) {
    const Kind kind = i % 2 == 0 ? Kind::tag : Kind::file;
    ASSERT_TRUE(limiter.try_acquire(kind, 10, t0 + milliseconds(100) * i)) << i;
  }
  const auto now = t0 + seconds(120);
  EXPECT_EQ(limiter.global_used(now), 1200);
  EXPECT_FALSE(limiter.try_acquire(Kind::tag, 1, now));
  EXPECT_FALSE(limiter.try_acquire(Kind::file, 1, now));
  EXPECT_EQ(limiter.wait_for(Kind::tag, 1, now), seconds(180));  // the first leaves at t0 + 5 min
  EXPECT_FALSE(limiter.try_acquire(Kind::tag, 1, t0 + minutes(5) - nanoseconds(1)));
  EXPECT_TRUE(limiter.try_acquire(Kind::tag, 1, t0 + minutes(5)));
  EXPECT_FALSE(limiter.try_acquire(Kind::tag, 1, t0 + minutes(5)));
  EXPECT_EQ(limiter.wait_for(Kind::tag, 1, t0 + minutes(5)), milliseconds(100));
}

TEST(AccountLimiter, NoGlobalWindowWhenZero) {
  AccountLimiter limiter(enterprise(0), t0);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(limiter.try_acquire(Kind::tag, 1, t0 + milliseconds(20) * i)) << i;
  }
  EXPECT_EQ(limiter.global_used(t0 + seconds(40)), 0);
}

// A zone lookup (docs/configuration.md, "Zones by name") costs a slot of the global window, no
// bucket token, and waits out a 429 pause.
TEST(AccountLimiter, AnApiRequestTakesOnlyAGlobalSlot) {
  AccountLimiter limiter(enterprise(2), t0);
  EXPECT_EQ(limiter.take_global(t0), Clock::duration::zero());
  ASSERT_TRUE(limiter.try_acquire(Kind::tag, 1, t0));
  EXPECT_EQ(limiter.global_used(t0), 2);
  EXPECT_NEAR(limiter.flex_tokens(t0), 499, 1e-9);  // the lookup took none
  EXPECT_EQ(limiter.take_global(t0 + seconds(1)), minutes(5) - seconds(1));
  EXPECT_FALSE(limiter.try_acquire(Kind::tag, 1, t0 + seconds(1)));  // a purge waits for it too
  EXPECT_EQ(limiter.take_global(t0 + minutes(5)), Clock::duration::zero());

  AccountLimiter unlimited(enterprise(0), t0);
  EXPECT_EQ(unlimited.take_global(t0), Clock::duration::zero());
  unlimited.on_rate_limited(Kind::tag, seconds(30), t0);
  EXPECT_EQ(unlimited.take_global(t0 + seconds(10)), seconds(20));
}

TEST(AccountLimiter, AllOrNothing) {
  // A refusal by the global budget takes no bucket tokens...
  Limits limits = enterprise(1);
  AccountLimiter limiter(limits, t0);
  ASSERT_TRUE(limiter.try_acquire(Kind::tag, 1, t0));
  EXPECT_FALSE(limiter.try_acquire(Kind::file, 500, t0));
  EXPECT_NEAR(limiter.url_tokens(t0), 3000, 1e-9);
  EXPECT_NEAR(limiter.flex_tokens(t0), 499, 1e-9);
  // ...and a refusal by a bucket takes no global slot.
  AccountLimiter other(enterprise(1200), t0);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(other.try_acquire(Kind::file, 500, t0));
  EXPECT_EQ(other.global_used(t0), 6);
  EXPECT_FALSE(other.try_acquire(Kind::file, 500, t0));
  EXPECT_EQ(other.global_used(t0), 6);
}

TEST(AccountLimiter, RateLimitedWithRetryAfterPausesEverything) {
  AccountLimiter limiter(enterprise(1200), t0);
  limiter.on_rate_limited(Kind::tag, seconds(30), t0);
  EXPECT_EQ(limiter.paused_until(t0), t0 + seconds(30));
  EXPECT_NEAR(limiter.flex_tokens(t0), 0, 1e-9);
  EXPECT_NEAR(limiter.url_tokens(t0), 3000, 1e-9);  // only that kind's bucket is drained
  EXPECT_FALSE(limiter.try_acquire(Kind::tag, 1, t0 + seconds(29)));
  EXPECT_FALSE(limiter.try_acquire(Kind::file, 1, t0 + seconds(29)));  // the whole account
  EXPECT_EQ(limiter.wait_for(Kind::file, 1, t0 + seconds(10)), seconds(20));
  EXPECT_EQ(limiter.wait_for(Kind::tag, 1, t0), seconds(30));
  EXPECT_TRUE(limiter.try_acquire(Kind::tag, 1, t0 + seconds(30)));
  EXPECT_EQ(limiter.paused_until(t0 + seconds(30)), std::nullopt);
}

TEST(AccountLimiter, RateLimitedWithoutRetryAfterWaitsForTheBucket) {
  // Enterprise flex refills one request in 20 ms: the 1 s floor applies.
  AccountLimiter fast(enterprise(), t0);
  fast.on_rate_limited(Kind::host, std::nullopt, t0);
  EXPECT_EQ(fast.paused_until(t0), t0 + seconds(1));

  // Free: 5 requests per minute, one request's worth in 12 s.
  Limits free_plan = enterprise();
  free_plan.requests_per_second = 5.0 / 60.0;
  free_plan.burst = 25;
  AccountLimiter slow(free_plan, t0);
  slow.on_rate_limited(Kind::tag, std::nullopt, t0);
  EXPECT_EQ(slow.paused_until(t0), t0 + seconds(12));
  EXPECT_EQ(slow.wait_for(Kind::tag, 1, t0), seconds(12));
  EXPECT_TRUE(slow.try_acquire(Kind::tag, 1, t0 + seconds(12)));

  // URLs: one full batch's worth. 500 URLs at 100/s is 5 s.
  Limits urls = enterprise();
  urls.urls_per_second = 100;
  AccountLimiter by_url(urls, t0);
  by_url.on_rate_limited(Kind::file, std::nullopt, t0);
  EXPECT_EQ(by_url.paused_until(t0), t0 + seconds(5));
  EXPECT_NEAR(by_url.url_tokens(t0), 0, 1e-9);
  EXPECT_NEAR(by_url.flex_tokens(t0), 500, 1e-9);
}

TEST(AccountLimiter, PauseIsNeverShortened) {
  AccountLimiter limiter(enterprise(), t0);
  limiter.on_rate_limited(Kind::tag, seconds(30), t0);
  limiter.on_rate_limited(Kind::tag, seconds(5), t0 + seconds(1));
  EXPECT_EQ(limiter.paused_until(t0 + seconds(1)), t0 + seconds(30));
  limiter.on_rate_limited(Kind::tag, seconds(60), t0 + seconds(2));
  EXPECT_EQ(limiter.paused_until(t0 + seconds(2)), t0 + seconds(62));
}

TEST(AccountLimiter, RetryAfterZeroStillDrains) {
  AccountLimiter limiter(enterprise(), t0);
  limiter.on_rate_limited(Kind::tag, seconds(0), t0);
  EXPECT_EQ(limiter.paused_until(t0), std::nullopt);
  EXPECT_EQ(limiter.wait_for(Kind::tag, 1, t0), milliseconds(20));
}

}  // namespace
}  // namespace purgeq
