// Tests for retry backoff: doubling ceilings capped at max without overflow, and full-jitter
// delays within [0, ceiling], reproducible with a seeded generator.
#include "io/backoff.h"

#include <gtest/gtest.h>

#include <climits>
#include <set>
#include <vector>

namespace purgeq {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(Backoff, CeilingsDoubleAndCap) {
  const Backoff backoff(seconds(1), minutes(5));
  EXPECT_EQ(backoff.ceiling(1), seconds(1));
  EXPECT_EQ(backoff.ceiling(2), seconds(2));
  EXPECT_EQ(backoff.ceiling(3), seconds(4));
  EXPECT_EQ(backoff.ceiling(9), seconds(256));
  EXPECT_EQ(backoff.ceiling(10), minutes(5));  // 512 s capped
  EXPECT_EQ(backoff.ceiling(11), minutes(5));
}

TEST(Backoff, NoOverflowForHugeAttempts) {
  const Backoff backoff(seconds(1), minutes(5));
  EXPECT_EQ(backoff.ceiling(64), minutes(5));
  EXPECT_EQ(backoff.ceiling(1000), minutes(5));
  EXPECT_EQ(backoff.ceiling(INT_MAX), minutes(5));
  // Even with an unbounded max, doubling stops before it overflows.
  const Backoff unbounded(milliseconds(1), milliseconds::max());
  EXPECT_EQ(unbounded.ceiling(1000), milliseconds::max());
  EXPECT_GT(unbounded.ceiling(60), milliseconds(0));
  EXPECT_EQ(unbounded.ceiling(11), milliseconds(1024));
}

TEST(Backoff, OddInputs) {
  const Backoff backoff(seconds(1), minutes(5));
  EXPECT_EQ(backoff.ceiling(0), seconds(1));  // counts as the first retry
  EXPECT_EQ(backoff.ceiling(-3), seconds(1));
  EXPECT_EQ(Backoff(minutes(10), minutes(5)).ceiling(1), minutes(5));  // initial above max
  EXPECT_EQ(Backoff(milliseconds(0), minutes(5)).ceiling(1000), milliseconds(0));
  EXPECT_EQ(Backoff(milliseconds(3), milliseconds(10)).ceiling(3), milliseconds(10));  // 12 capped
}

TEST(Backoff, DelaysStayWithinZeroAndCeiling) {
  const Backoff backoff(seconds(1), minutes(5));
  std::mt19937_64 rng(7);
  for (int attempt = 1; attempt <= 12; ++attempt) {
    const auto ceiling = backoff.ceiling(attempt);
    milliseconds sum{0};
    for (int i = 0; i < 2000; ++i) {
      const auto delay = backoff.delay(attempt, rng);
      ASSERT_GE(delay, milliseconds(0));
      ASSERT_LE(delay, ceiling);
      sum += delay;
    }
    // Full jitter: the mean is about half the ceiling.
    const double mean = static_cast<double>(sum.count()) / 2000.0;
    EXPECT_NEAR(mean / static_cast<double>(ceiling.count()), 0.5, 0.05) << attempt;
  }
}

TEST(Backoff, JitterReachesBothEnds) {
  const Backoff backoff(milliseconds(1), milliseconds(1));
  std::mt19937_64 rng(1);
  std::set<long long> seen;
  for (int i = 0; i < 200; ++i) seen.insert(backoff.delay(5, rng).count());
  EXPECT_EQ(seen, (std::set<long long>{0, 1}));
}

TEST(Backoff, DeterministicWithASeededGenerator) {
  const Backoff backoff(seconds(1), minutes(5));
  std::mt19937_64 a(42);
  std::mt19937_64 b(42);
  std::vector<milliseconds> first;
  std::vector<milliseconds> second;
  for (int attempt = 1; attempt <= 20; ++attempt) {
    first.push_back(backoff.delay(attempt, a));
    second.push_back(backoff.delay(attempt, b));
  }
  EXPECT_EQ(first, second);
  std::mt19937_64 c(43);
  std::vector<milliseconds> third;
  for (int attempt = 1; attempt <= 20; ++attempt) third.push_back(backoff.delay(attempt, c));
  EXPECT_NE(first, third);
}

TEST(Backoff, AttemptThousandDelayIsBounded) {
  const Backoff backoff(seconds(1), minutes(5));
  std::mt19937_64 rng(3);
  for (int i = 0; i < 100; ++i) EXPECT_LE(backoff.delay(1000, rng), minutes(5));
}

}  // namespace
}  // namespace purgeq
