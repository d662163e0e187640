// Tests for the purge-everything guardrail's decision and its refusal's wording.
#include "intake/everything_guard.h"

#include <gtest/gtest.h>

namespace purgeq {
namespace {

using Within = Zone::Everything::Within;

Zone guarded(Within within) {
  Zone zone;
  zone.name = "example.com";
  zone.id = "023e105f4ecef8ad9ca31a8372d0c353";
  zone.everything.min_interval = std::chrono::seconds(60);
  zone.everything.within = within;
  return zone;
}

// 2026-11-27T08:00:00Z
constexpr std::int64_t kSent = 1'795'766'400'000;

TEST(EverythingGuard, NoIntervalOrNoSendAccepts) {
  Zone open = guarded(Within::refuse);
  open.everything.min_interval = std::chrono::milliseconds(0);
  EXPECT_FALSE(everything_verdict(open, 0, kSent, false, kSent + 1));
  EXPECT_FALSE(everything_verdict(guarded(Within::refuse), 0, std::nullopt, false, kSent));
}

TEST(EverythingGuard, WithinTheIntervalRefusesUnlessItCanMerge) {
  for (const auto within : {Within::merge, Within::refuse}) {
    const Zone zone = guarded(within);
    const auto refused = everything_verdict(zone, 2, kSent, false, kSent + 1000);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->zone_index, 2U);
    EXPECT_EQ(refused->allowed_ms, kSent + 60'000);
    EXPECT_FALSE(everything_verdict(zone, 2, kSent, false, kSent + 60'000)) << "at the boundary";
  }
  EXPECT_FALSE(everything_verdict(guarded(Within::merge), 0, kSent, true, kSent + 1000))
      << "rides on the pending one";
  EXPECT_TRUE(everything_verdict(guarded(Within::refuse), 0, kSent, true, kSent + 1000));
}

TEST(EverythingGuard, RefusalNamesZoneRuleAndNextTime) {
  Config config;
  config.zones.push_back(guarded(Within::merge));
  config.zones.push_back(guarded(Within::refuse));
  config.zones[1].name = "example.net";
  const EverythingTooSoon refusal{1, kSent + 250, kSent + 60'250};
  const auto error = everything_too_soon_error(config, refusal, kSent + 1000);
  EXPECT_EQ(error.code, ErrorCode::everything_too_soon);
  EXPECT_EQ(error.message,
            "zone example.net: a purge-everything was sent at 2026-11-27T08:00:00.250Z and "
            "zones[1].everything.min_interval is 1m (within: refuse); the next is allowed at "
            "2026-11-27T08:01:00.250Z, in 60 s");
  EXPECT_EQ(retry_after_seconds(refusal, kSent + 1000), 60) << "59.25 s, rounded up";
  EXPECT_EQ(retry_after_seconds(refusal, kSent + 1250), 59);
  EXPECT_EQ(retry_after_seconds(refusal, kSent + 60'249), 1);
  const auto merge = everything_too_soon_error(config, {0, kSent, kSent + 60'000}, kSent);
  EXPECT_NE(merge.message.find("(within: merge, and none is pending to merge with)"),
            std::string::npos)
      << merge.message;
}

TEST(EverythingGuard, GuardedZonesAreTheEverythingItemsOfIntervalZones) {
  Config config;
  config.zones.push_back(guarded(Within::merge));
  config.zones.push_back(guarded(Within::merge));
  config.zones[1].everything.min_interval = std::chrono::milliseconds(0);
  Item all;
  all.kind = Kind::everything;
  Item tag;
  tag.kind = Kind::tag;
  const std::vector<RoutedItem> items{{0, tag}, {1, all}, {0, all}, {0, all}};
  const auto zones = guarded_zones(config, items);
  ASSERT_EQ(zones.size(), 1U);
  EXPECT_EQ(zones[0].zone_index, 0U);
  // The queue's key for a zone is its name (known before its id: "Zones by name").
  EXPECT_EQ(zones[0].zone_id, "example.com");
}

}  // namespace
}  // namespace purgeq
