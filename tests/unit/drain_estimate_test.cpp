// Tests for the drain estimate shown by status and by stuck intents.
#include "limiter/drain_estimate.h"

#include <gtest/gtest.h>

namespace purgeq {
namespace {

PendingByKind pending(std::initializer_list<std::pair<Kind, std::int64_t>> items) {
  PendingByKind out{};
  for (const auto& [kind, n] : items) out[static_cast<std::size_t>(kind)] = n;
  return out;
}

TEST(DrainEstimate, NothingPendingIsZero) {
  EXPECT_EQ(drain_seconds(limits_for_plan(Plan::free), pending({})), 0);
}

TEST(DrainEstimate, TagsOnTheFreePlanTakeHours) {
  // 147,000 tags at 100 per request and 5 requests a minute: 1,470 requests, 294 minutes.
  const double seconds = drain_seconds(limits_for_plan(Plan::free), pending({{Kind::tag, 147000}}));
  EXPECT_NEAR(seconds, 294 * 60, 1);
}

TEST(DrainEstimate, UrlsAreBoundByTheUrlBucket) {
  Limits limits = limits_for_plan(Plan::enterprise);
  limits.global_requests = 0;
  limits.urls_per_second = 1000;
  EXPECT_NEAR(drain_seconds(limits, pending({{Kind::file, 60000}})), 60, 1e-9);
}

TEST(DrainEstimate, TheSlowestBudgetWins) {
  Limits limits;
  limits.urls_per_second = 1e9;  // URLs alone would be instant
  limits.max_urls_per_request = 10;
  limits.requests_per_second = 100;
  limits.max_ops_per_request = 100;
  limits.global_requests = 60;
  limits.global_window = std::chrono::minutes(1);  // one request a second
  // 100 URL requests + 2 tag requests + 1 purge-everything: 103 requests at 1/s.
  EXPECT_NEAR(
      drain_seconds(limits, pending({{Kind::file, 1000}, {Kind::tag, 101}, {Kind::everything, 3}})),
      103, 1e-9);
}

TEST(DrainEstimate, KindsShareTheFlexBucket) {
  Limits limits;
  limits.global_requests = 0;
  limits.requests_per_second = 2;
  limits.max_ops_per_request = 30;
  // 2 tag + 1 host + 1 prefix requests at 2/s.
  EXPECT_NEAR(
      drain_seconds(limits, pending({{Kind::tag, 60}, {Kind::host, 1}, {Kind::prefix, 30}})), 2,
      1e-9);
}

}  // namespace
}  // namespace purgeq
