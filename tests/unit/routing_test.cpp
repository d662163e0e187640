// Tests for zone routing: host patterns, exact-over-wildcard and longest-suffix precedence, and
// the zone each item of an intent goes to (path zone, "zone" member, ZoneRouter).
#include "intake/routing.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <variant>
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

TEST(ItemHost, FileHostComesFromTheUrlModel) {
  EXPECT_EQ(item_host(Item{Kind::file, "https://Example.com/a#top", {}}), "Example.com");
  EXPECT_EQ(item_host(Item{Kind::file, "https://example.com?x=1", {}}), "example.com");
  // Not a URL (never stored, but the rule must not invent a host).
  EXPECT_EQ(item_host(Item{Kind::file, "example.com/a", {}}), "");
  EXPECT_EQ(item_host(Item{Kind::file, "https://user@example.com/", {}}), "");
}

Config with_ids(Config config) {
  for (std::size_t i = 0; i < config.zones.size(); ++i) {
    config.zones[i].id = std::string(31, '0') + std::to_string(i);
  }
  return config;
}

std::string code_of(const std::variant<std::size_t, IntakeError>& result) {
  if (const auto* error = std::get_if<IntakeError>(&result))
    return std::string(error_name(error->code));
  return "zone " + std::to_string(std::get<std::size_t>(result));
}

TEST(ZoneChoice, PathZoneMustBeConfigured) {
  const auto config = config_of({zone_with("a", {"a.example"}), zone_with("b", {"b.example"})});
  EXPECT_EQ(code_of(path_zone(config, 1)), "zone 1");
  EXPECT_EQ(code_of(path_zone(config, 2)), "unknown_zone");
  EXPECT_EQ(code_of(path_zone(config, std::nullopt)), "unknown_zone");
}

TEST(ZoneChoice, MemberZoneByNameOrId) {
  const auto config = with_ids(config_of({zone_with("a.example", {}), zone_with("b.example", {})}));
  EXPECT_EQ(code_of(member_zone(config, boost::json::value("b.example"))), "zone 1");
  EXPECT_EQ(code_of(member_zone(config, boost::json::value(config.zones[0].id))), "zone 0");
  EXPECT_EQ(code_of(member_zone(config, boost::json::value("c.example"))), "unknown_zone");
  EXPECT_EQ(code_of(member_zone(config, boost::json::value(""))), "invalid_zone");
  EXPECT_EQ(code_of(member_zone(config, boost::json::value(3))), "invalid_zone");
}

TEST(ZoneRouter, HostlessItemsNeedANamedOrOnlyZone) {
  const Item tag{Kind::tag, "t", {}};
  const Item everything{Kind::everything, "", {}};
  const auto one = config_of({zone_with("a", {"a.example"})});
  EXPECT_EQ(code_of(ZoneRouter(one, std::nullopt).zone_for(tag, "tags[0]")), "zone 0");
  const auto two = config_of({zone_with("a", {"a.example"}), zone_with("b", {"b.example"})});
  EXPECT_EQ(code_of(ZoneRouter(two, 1).zone_for(everything, "")), "zone 1");
  const auto refused = ZoneRouter(two, std::nullopt).zone_for(tag, "tags[0]");
  EXPECT_EQ(code_of(refused), "zone_required");
  EXPECT_EQ(std::get<IntakeError>(refused).message,
            "tags[0]: purging by tag needs \"zone\" because 2 zones are configured");
}

TEST(ZoneRouter, HostsRouteOrMustBelongToTheNamedZone) {
  const auto config =
      config_of({zone_with("a", {"a.example", "*.a.example"}), zone_with("b", {"b.example"})});
  const Item file{Kind::file, "https://www.a.example/x", {}};
  const Item prefix{Kind::prefix, "b.example/blog", {}};
  EXPECT_EQ(code_of(ZoneRouter(config, std::nullopt).zone_for(file, "files[0]")), "zone 0");
  EXPECT_EQ(code_of(ZoneRouter(config, std::nullopt).zone_for(prefix, "prefixes[0]")), "zone 1");
  EXPECT_EQ(code_of(ZoneRouter(config, 0).zone_for(prefix, "prefixes[0]")), "host_not_in_zone");
  const Item stray{Kind::host, "c.example", {}};
  EXPECT_EQ(code_of(ZoneRouter(config, std::nullopt).zone_for(stray, "hosts[0]")),
            "no_zone_for_host");
}

}  // namespace
}  // namespace purgeq
