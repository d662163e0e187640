// Tests for TCP client authentication and client rules.
#include "intake/api_clients.h"

#include <gtest/gtest.h>

namespace purgeq {
namespace {

std::vector<ApiClient> clients() {
  ApiClient deploy;
  deploy.name = "deploy";
  deploy.token = "tok-deploy";
  ApiClient cms;
  cms.name = "cms";
  cms.token = "tok-cms";
  cms.zones = {"shop.example"};
  cms.kinds = {Kind::file, Kind::tag};
  return {deploy, cms};
}

Config two_zones() {
  Config config;
  for (const char* name : {"shop.example", "blog.example"}) {
    Zone zone;
    zone.name = name;
    zone.id = std::string(32, name[0] == 's' ? 'a' : 'b');
    config.zones.push_back(zone);
  }
  return config;
}

TEST(AuthenticateClient, BearerTokensOnly) {
  const auto all = clients();
  EXPECT_EQ(authenticate_client(all, "Bearer tok-cms"), &all[1]);
  EXPECT_EQ(authenticate_client(all, "bearer   tok-deploy "), &all[0]) << "scheme is case-blind";
  EXPECT_EQ(authenticate_client(all, "Bearer tok-cm"), nullptr);
  EXPECT_EQ(authenticate_client(all, "Bearer tok-cmsx"), nullptr);
  EXPECT_EQ(authenticate_client(all, "Bearer "), nullptr);
  EXPECT_EQ(authenticate_client(all, "Basic dG9rLWNtcw=="), nullptr);
  EXPECT_EQ(authenticate_client(all, "tok-cms"), nullptr);
  EXPECT_EQ(authenticate_client(all, ""), nullptr);
  EXPECT_EQ(authenticate_client({}, "Bearer tok-cms"), nullptr);
}

TEST(CheckClientAccess, ZonesAndKindsLikeAccessRules) {
  const auto config = two_zones();
  const auto all = clients();
  const std::vector<RoutedItem> shop_tag{{0, Item{Kind::tag, "t", {}}}};
  const std::vector<RoutedItem> blog_url{{1, Item{Kind::file, "https://blog.example/a", {}}}};
  const std::vector<RoutedItem> shop_all{{0, Item{Kind::everything, "", {}}}};
  EXPECT_FALSE(check_client_access(config, all[0], shop_all)) << "no rules: everything allowed";
  EXPECT_FALSE(check_client_access(config, all[1], shop_tag));

  const auto zone_refused = check_client_access(config, all[1], blog_url);
  ASSERT_TRUE(zone_refused);
  EXPECT_EQ(zone_refused->code, ErrorCode::access_denied);
  EXPECT_EQ(zone_refused->message,
            "api_clients \"cms\" may purge zones: shop.example; it may not purge by file on zone "
            "blog.example");
  EXPECT_EQ(zone_refused->item, "https://blog.example/a");

  const auto kind_refused = check_client_access(config, all[1], shop_all);
  ASSERT_TRUE(kind_refused);
  EXPECT_EQ(kind_refused->message,
            "api_clients \"cms\" may purge kinds: file, tag; it may not purge by everything on "
            "zone shop.example");
  EXPECT_EQ(kind_refused->item, "everything");
}

TEST(AuthenticateViewer, BearerOrBasicWithTheTokenAsThePassword) {
  const auto all = clients();
  EXPECT_EQ(authenticate_viewer(all, "Bearer tok-cms"), &all[1]);
  // base64("ops:tok-cms"), base64(":tok-deploy"), base64("tok-cms")
  EXPECT_EQ(authenticate_viewer(all, "Basic b3BzOnRvay1jbXM="), &all[1]) << "any user name";
  EXPECT_EQ(authenticate_viewer(all, "basic OnRvay1kZXBsb3k="), &all[0]);
  EXPECT_EQ(authenticate_viewer(all, "Basic dG9rLWNtcw=="), &all[1]) << "no colon: the token";
  EXPECT_EQ(authenticate_viewer(all, "Basic b3BzOnRvay1jbQ=="), nullptr) << "ops:tok-cm";
  EXPECT_EQ(authenticate_viewer(all, "Basic b3BzOnRvay1jbXM=!!"), nullptr) << "not base64";
  EXPECT_EQ(authenticate_viewer(all, "Basic Og=="), nullptr) << "\":\", an empty token";
  EXPECT_EQ(authenticate_viewer(all, ""), nullptr);
  EXPECT_EQ(authenticate_viewer(all, "Basic " + std::string(5000, 'A')), nullptr);
  EXPECT_EQ(bearer_token("Bearer  abc "), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), "");
}

}  // namespace
}  // namespace purgeq
