// Tests for zone routing: host patterns, exact-over-wildcard and longest-suffix precedence.
#include "intake/routing.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace purgeq {
namespace {

Zone zone_with(std::string name, std::vector<std::string> hosts) {
  Zone zone;
  zone.name = std::move(name);
  zone.hosts = std::move(hosts);
  return zone;
}

Config config_of(std::vector<Zone> zones) {
  Config config;
  config.zones = std::move(zones);
  return config;
}

TEST(HostPattern, ExactMatchesOnlyItself) {
  EXPECT_TRUE(host_matches_pattern("example.com", "example.com"));
  EXPECT_FALSE(host_matches_pattern("example.com", "www.example.com"));
  EXPECT_FALSE(host_matches_pattern("example.com", "badexample.com"));
  EXPECT_FALSE(host_matches_pattern("example.com", "example.co"));
  EXPECT_FALSE(host_matches_pattern("example.com", ""));
}

TEST(HostPattern, WildcardMatchesSubdomainsNotTheApex) {
  EXPECT_TRUE(host_matches_pattern("*.example.com", "www.example.com"));
  EXPECT_TRUE(host_matches_pattern("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(host_matches_pattern("*.example.com", "example.com"));
  EXPECT_FALSE(host_matches_pattern("*.example.com", ".example.com"));
  EXPECT_FALSE(host_matches_pattern("*.example.com", "badexample.com"));
  EXPECT_FALSE(host_matches_pattern("*.example.com", "www.example.org"));
}

TEST(HostPattern, CaseInsensitive) {
  EXPECT_TRUE(host_matches_pattern("example.com", "EXAMPLE.com"));
  EXPECT_TRUE(host_matches_pattern("*.example.com", "WWW.Example.Com"));
}

TEST(ZoneOwnsHost, AnyPatternOfTheZone) {
  const Zone zone = zone_with("example.com", {"example.com", "*.example.com", "example-cdn.net"});
  EXPECT_TRUE(zone_owns_host(zone, "example.com"));
  EXPECT_TRUE(zone_owns_host(zone, "img.example.com"));
  EXPECT_TRUE(zone_owns_host(zone, "example-cdn.net"));
  EXPECT_FALSE(zone_owns_host(zone, "img.example-cdn.net"));
  EXPECT_FALSE(zone_owns_host(zone_with("empty", {}), "example.com"));
}

TEST(RouteHost, ApexAndWildcardInDifferentZones) {
  const auto config =
      config_of({zone_with("apex", {"example.com"}), zone_with("subs", {"*.example.com"})});
  EXPECT_EQ(route_host(config, "example.com"), 0U);
  EXPECT_EQ(route_host(config, "www.example.com"), 1U);
  EXPECT_EQ(route_host(config, "example.org"), std::nullopt);
}

TEST(RouteHost, ExactBeatsWildcardWhateverTheOrder) {
  const Zone parent = zone_with("example.com", {"example.com", "*.example.com"});
  const Zone shop = zone_with("shop", {"shop.example.com"});
  for (const bool shop_first : {false, true}) {
    const auto config = shop_first ? config_of({shop, parent}) : config_of({parent, shop});
    const std::size_t shop_index = shop_first ? 0 : 1;
    const std::size_t parent_index = shop_first ? 1 : 0;
    EXPECT_EQ(route_host(config, "shop.example.com"), shop_index);
    // shop has no wildcard, so its subdomains stay with the parent.
    EXPECT_EQ(route_host(config, "cdn.shop.example.com"), parent_index);
    EXPECT_EQ(route_host(config, "example.com"), parent_index);
  }
}

TEST(RouteHost, LongestWildcardSuffixWinsWhateverTheOrder) {
  const Zone parent = zone_with("example.com", {"*.example.com"});
  const Zone eu = zone_with("eu", {"*.eu.example.com"});
  for (const bool eu_first : {false, true}) {
    const auto config = eu_first ? config_of({eu, parent}) : config_of({parent, eu});
    const std::size_t eu_index = eu_first ? 0 : 1;
    const std::size_t parent_index = eu_first ? 1 : 0;
    EXPECT_EQ(route_host(config, "www.eu.example.com"), eu_index);
    EXPECT_EQ(route_host(config, "a.b.eu.example.com"), eu_index);
    // "eu.example.com" itself is not under "*.eu.example.com".
    EXPECT_EQ(route_host(config, "eu.example.com"), parent_index);
    EXPECT_EQ(route_host(config, "www.example.com"), parent_index);
  }
}

TEST(RouteHost, TieGoesToTheZoneListedFirst) {
  const auto config =
      config_of({zone_with("a", {"*.example.com"}), zone_with("b", {"*.example.com"})});
  EXPECT_EQ(route_host(config, "www.example.com"), 0U);
}

TEST(RouteHost, NothingToRoute) {
  EXPECT_EQ(route_host(Config{}, "example.com"), std::nullopt);
  const auto config = config_of({zone_with("example.com", {"example.com", "*.example.com"})});
  EXPECT_EQ(route_host(config, ""), std::nullopt);
  EXPECT_EQ(route_host(config, "example.com.evil.net"), std::nullopt);
}

TEST(ItemHost, EachKind) {
  EXPECT_EQ(item_host(Item{Kind::file, "https://www.example.com/a?b", {}}), "www.example.com");
  EXPECT_EQ(item_host(Item{Kind::file, "http://example.com:8080/a", {}}), "example.com");
  EXPECT_EQ(item_host(Item{Kind::file, "https://example.com/", {}}), "example.com");
  EXPECT_EQ(item_host(Item{Kind::host, "img.example.com", {}}), "img.example.com");
  EXPECT_EQ(item_host(Item{Kind::prefix, "example.com/blog/", {}}), "example.com");
  EXPECT_EQ(item_host(Item{Kind::prefix, "example.com", {}}), "example.com");
  EXPECT_EQ(item_host(Item{Kind::tag, "example.com", {}}), "");
  EXPECT_EQ(item_host(Item{Kind::everything, "", {}}), "");
}

}  // namespace
}  // namespace purgeq
