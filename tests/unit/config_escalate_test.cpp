// zones[i].escalate (docs/configuration.md): cost-based escalation is off by default, and every
// prefix it may purge is checked to be one Cloudflare takes and one of the zone's hosts.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/config.h"
#include "support/config_problems.h"

namespace purgeq {
namespace {

std::string zone_with(const std::string& escalate) {
  return R"(
accounts:
  - name: main
    token_env: PURGEQ_ESCALATE_TEST_TOKEN
    plan: business
zones:
  - name: example.com
    id: 023e105f4ecef8ad9ca31a8372d0c353
    account: main
)" + escalate;
}

using test::problems_of;

class ConfigEscalateTest : public ::testing::Test {
 protected:
  void SetUp() override { ::setenv("PURGEQ_ESCALATE_TEST_TOKEN", "secret-token", 1); }
  void TearDown() override { ::unsetenv("PURGEQ_ESCALATE_TEST_TOKEN"); }
};

TEST_F(ConfigEscalateTest, OffByDefault) {
  const auto config = load_config_string(zone_with(""));
  EXPECT_FALSE(config.zones.at(0).escalate.enabled());
}

TEST_F(ConfigEscalateTest, PrefixesDepthAndThresholds) {
  const auto config = load_config_string(
      zone_with("    escalate:\n"
                "      prefixes: [WWW.Example.com/Blog/, example.com/news, shop.example.com]\n"
                "      depth: 2\n"
                "      min_urls: 50\n"
                "      min_share: 0.25\n"
                "      horizon: 30s\n"));
  const auto& escalate = config.zones.at(0).escalate;
  EXPECT_TRUE(escalate.enabled());
  // The host is folded as Cloudflare compares it; the path is kept as written.
  EXPECT_EQ(escalate.prefixes, (std::vector<std::string>{"www.example.com/Blog/",
                                                         "example.com/news", "shop.example.com"}));
  EXPECT_EQ(escalate.depth, 2);
  EXPECT_EQ(escalate.min_urls, 50);
  EXPECT_DOUBLE_EQ(escalate.min_share, 0.25);
  EXPECT_EQ(escalate.horizon, std::chrono::seconds(30));
}

TEST_F(ConfigEscalateTest, DefaultsForThresholds) {
  const auto config = load_config_string(zone_with("    escalate: {depth: 1}\n"));
  const auto& escalate = config.zones.at(0).escalate;
  EXPECT_TRUE(escalate.prefixes.empty());
  EXPECT_EQ(escalate.min_urls, 100);
  EXPECT_DOUBLE_EQ(escalate.min_share, 0.5);
  EXPECT_EQ(escalate.horizon, std::chrono::seconds(10));
  EXPECT_DOUBLE_EQ(load_config_string(zone_with("    escalate: {depth: 1, min_share: 0}\n"))
                       .zones.at(0)
                       .escalate.min_share,
                   0.0);
}

TEST_F(ConfigEscalateTest, ProblemsNameTheKeyAndTheRule) {
  EXPECT_EQ(problems_of(zone_with("    escalate: {min_urls: 10}\n")),
            (std::vector<std::string>{
                "zones[0].escalate.prefixes: required unless `depth` is set (the prefixes that "
                "may be purged in place of the URLs under them)"}));
  EXPECT_EQ(
      problems_of(zone_with("    escalate:\n      prefixes: [https://example.com/blog/]\n")),
      (std::vector<std::string>{
          R"(zones[0].escalate.prefixes[0]: "https://example.com/blog/": a prefix is a host and a path without a scheme ("www.example.com/blog/"))"}));
  EXPECT_EQ(
      problems_of(zone_with("    escalate:\n      prefixes: [other.org/blog/]\n")),
      (std::vector<std::string>{
          R"(zones[0].escalate.prefixes[0]: "other.org/blog/": host "other.org" is not one of this zone's hosts)"}));
  EXPECT_EQ(
      problems_of(zone_with("    escalate:\n      prefixes: [\"example.com/a?b\"]\n")),
      (std::vector<std::string>{
          R"(zones[0].escalate.prefixes[0]: "example.com/a?b": a prefix with a query or fragment matches nothing at Cloudflare)"}));
  EXPECT_EQ(
      problems_of(zone_with("    escalate:\n      prefixes: [example.com/a/, Example.com/a/]\n")),
      (std::vector<std::string>{
          R"(zones[0].escalate.prefixes[1]: duplicate prefix "example.com/a/")"}));
  EXPECT_EQ(problems_of(zone_with("    escalate: {depth: 0}\n")).at(0),
            "zones[0].escalate.depth: must be between 1 and 30, got 0");
  EXPECT_EQ(
      problems_of(zone_with("    escalate: {depth: 1, min_urls: 1}\n")),
      (std::vector<std::string>{"zones[0].escalate.min_urls: must be between 2 and 5000, got 1"}));
  EXPECT_EQ(problems_of(zone_with("    escalate: {depth: 1, min_share: 0.05}\n")),
            (std::vector<std::string>{"zones[0].escalate.min_share: must be 0 (no share asked) or "
                                      "between 0.1 and 1, got 0.05"}));
  EXPECT_EQ(problems_of(zone_with("    escalate: {depth: 1, horizon: 0s}\n")),
            (std::vector<std::string>{"zones[0].escalate.horizon: must be greater than 0"}));
  const auto unknown = problems_of(zone_with("    escalate: {depth: 1, everything: true}\n"));
  ASSERT_EQ(unknown.size(), 1U);
  EXPECT_TRUE(unknown[0].starts_with("zones[0].escalate.everything")) << unknown[0];
}

TEST_F(ConfigEscalateTest, SubdomainPatternsOwnTheirHostsOnly) {
  const auto config =
      load_config_string(zone_with("    escalate:\n      prefixes: [a.b.example.com/x/]\n"));
  EXPECT_EQ(config.zones.at(0).escalate.prefixes.at(0), "a.b.example.com/x/");
  EXPECT_EQ(
      problems_of(zone_with("    hosts: [\"*.example.com\"]\n"
                            "    escalate:\n      prefixes: [example.com/x/]\n")),
      (std::vector<std::string>{
          R"(zones[0].escalate.prefixes[0]: "example.com/x/": host "example.com" is not one of this zone's hosts)"}));
}

}  // namespace
}  // namespace purgeq
