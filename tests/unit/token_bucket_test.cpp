// Tests for the rate-limit arithmetic: token-bucket refill, burst, exact waits and drain, and the
// sliding window behind Cloudflare's 1,200-requests-per-5-minutes budget. The clock is injected.
#include "limiter/token_bucket.h"

#include <gtest/gtest.h>

namespace purgeq {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const Clock::time_point t0{hours(1000)};

TEST(TokenBucket, StartsFull) {
  const TokenBucket bucket(10, 100, t0);
  EXPECT_DOUBLE_EQ(bucket.available(t0), 100);
  EXPECT_DOUBLE_EQ(bucket.capacity(), 100);
  EXPECT_DOUBLE_EQ(bucket.rate(), 10);
  EXPECT_EQ(bucket.wait_for(100, t0), Clock::duration::zero());
}

TEST(TokenBucket, BurstThenRefusal) {
  TokenBucket bucket(50, 500, t0);  // Enterprise flex bucket
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(bucket.try_take(1, t0)) << i;
  EXPECT_FALSE(bucket.try_take(1, t0));
  EXPECT_NEAR(bucket.available(t0), 0, 1e-9);
}

TEST(TokenBucket, RefillsContinuouslyUpToCapacity) {
  TokenBucket bucket(10, 100, t0);
  ASSERT_TRUE(bucket.try_take(100, t0));
  EXPECT_NEAR(bucket.available(t0 + milliseconds(1500)), 15, 1e-9);
  EXPECT_NEAR(bucket.available(t0 + milliseconds(100)), 1, 1e-9);
  EXPECT_DOUBLE_EQ(bucket.available(t0 + hours(1)), 100);  // capped
}

TEST(TokenBucket, TakeIsAllOrNothing) {
  TokenBucket bucket(10, 100, t0);
  ASSERT_TRUE(bucket.try_take(100, t0));
  const auto later = t0 + milliseconds(1500);
  EXPECT_FALSE(bucket.try_take(20, later));
  EXPECT_NEAR(bucket.available(later), 15, 1e-9);  // nothing taken
  EXPECT_TRUE(bucket.try_take(15, later));
  EXPECT_NEAR(bucket.available(later), 0, 1e-9);
}

TEST(TokenBucket, WaitForIsExact) {
  TokenBucket bucket(50, 500, t0);
  ASSERT_TRUE(bucket.try_take(500, t0));
  EXPECT_EQ(bucket.wait_for(1, t0), milliseconds(20));
  EXPECT_EQ(bucket.wait_for(25, t0), milliseconds(500));
  // Part of it already refilled: 5 tokens after 100 ms, 20 more need 400 ms.
  EXPECT_EQ(bucket.wait_for(25, t0 + milliseconds(100)), milliseconds(400));
  // Waiting exactly that long is enough.
  EXPECT_FALSE(bucket.try_take(25, t0 + milliseconds(500) - nanoseconds(1)));
  EXPECT_TRUE(bucket.try_take(25, t0 + milliseconds(500)));
}

TEST(TokenBucket, WaitForRoundsUpToTheTick) {
  TokenBucket bucket(3000, 3000, t0);  // URLs per second
  ASSERT_TRUE(bucket.try_take(3000, t0));
  // 500 URLs at 3,000/s: 1/6 s = 166,666,666.67 ns, so 166,666,667 ns.
  const auto wait = bucket.wait_for(500, t0);
  EXPECT_EQ(wait, nanoseconds(166666667));
  EXPECT_TRUE(bucket.try_take(500, t0 + wait));
}

TEST(TokenBucket, SlowPlanRates) {
  TokenBucket bucket(5.0 / 60.0, 25, t0);  // Free: 5 per minute, bucket 25
  ASSERT_TRUE(bucket.try_take(25, t0));
  EXPECT_EQ(bucket.wait_for(1, t0), seconds(12));
  EXPECT_EQ(bucket.wait_for(5, t0), seconds(60));
  EXPECT_TRUE(bucket.try_take(1, t0 + seconds(12)));
}

TEST(TokenBucket, MoreThanCapacityCountsAsCapacity) {
  TokenBucket bucket(10, 100, t0);
  EXPECT_EQ(bucket.wait_for(1000, t0), Clock::duration::zero());
  ASSERT_TRUE(bucket.try_take(1000, t0));  // takes the whole bucket
  EXPECT_NEAR(bucket.available(t0), 0, 1e-9);
  EXPECT_EQ(bucket.wait_for(1000, t0), seconds(10));  // as long as a full refill, not forever
}

TEST(TokenBucket, DrainEmptiesAndRefillsFromThere) {
  TokenBucket bucket(10, 100, t0);
  bucket.drain(t0 + seconds(1));
  EXPECT_DOUBLE_EQ(bucket.available(t0 + seconds(1)), 0);
  EXPECT_EQ(bucket.wait_for(1, t0 + seconds(1)), milliseconds(100));
  EXPECT_NEAR(bucket.available(t0 + seconds(3)), 20, 1e-9);
}

TEST(TokenBucket, ClockSteppingBackNeitherRefillsNorDrains) {
  TokenBucket bucket(10, 100, t0);
  ASSERT_TRUE(bucket.try_take(50, t0 + seconds(1)));
  EXPECT_NEAR(bucket.available(t0), 50, 1e-9);
}

TEST(TokenBucket, ZeroRateWaitIsBounded) {
  TokenBucket bucket(0, 1, t0);
  ASSERT_TRUE(bucket.try_take(1, t0));
  const auto wait = bucket.wait_for(1, t0);
  EXPECT_GT(wait, hours(1));
  EXPECT_LE(wait, hours(24));
}

TEST(SlidingWindow, BlocksUntilTheOldestExpires) {
  SlidingWindow window(3, seconds(10));
  EXPECT_TRUE(window.try_take(t0));
  EXPECT_TRUE(window.try_take(t0 + seconds(1)));
  EXPECT_TRUE(window.try_take(t0 + seconds(2)));
  EXPECT_EQ(window.used(t0 + seconds(5)), 3);
  EXPECT_FALSE(window.try_take(t0 + seconds(5)));
  EXPECT_EQ(window.wait_for(t0 + seconds(5)), seconds(5));
  EXPECT_FALSE(window.try_take(t0 + seconds(10) - nanoseconds(1)));
  EXPECT_TRUE(window.try_take(t0 + seconds(10)));  // the first event left the window
  EXPECT_EQ(window.used(t0 + seconds(10)), 3);
  EXPECT_EQ(window.wait_for(t0 + seconds(10)), seconds(1));
  EXPECT_EQ(window.used(t0 + seconds(30)), 0);
  EXPECT_EQ(window.wait_for(t0 + seconds(30)), Clock::duration::zero());
  EXPECT_EQ(window.limit(), 3);
}

TEST(SlidingWindow, ZeroLimitNeverAdmits) {
  SlidingWindow window(0, seconds(10));
  EXPECT_FALSE(window.try_take(t0));
  EXPECT_EQ(window.wait_for(t0), seconds(10));
}

}  // namespace
}  // namespace purgeq
