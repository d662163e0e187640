// The routing table: which endpoint each method and target reach, which get 405 and which 404.
#include "api/routes.h"

#include <gtest/gtest.h>

namespace purgeq {
namespace {

TEST(Routes, EveryEndpointByMethodAndPath) {
  EXPECT_EQ(route_of("POST", "/v1/purge").endpoint, Endpoint::purge);
  EXPECT_EQ(route_of("POST", "/v1/expand").endpoint, Endpoint::expand);
  EXPECT_EQ(route_of("GET", "/v1/status").endpoint, Endpoint::status);
  EXPECT_EQ(route_of("GET", "/v1/failed").endpoint, Endpoint::failed);
  EXPECT_EQ(route_of("POST", "/v1/failed/retry").endpoint, Endpoint::retry_failed);
  EXPECT_EQ(route_of("GET", "/metrics").endpoint, Endpoint::metrics);
  EXPECT_EQ(route_of("GET", "/healthz").endpoint, Endpoint::healthz);
  const Route intent = route_of("GET", "/v1/intents/0190abc?wait=30");
  EXPECT_EQ(intent.endpoint, Endpoint::intent);
  EXPECT_EQ(intent.param, "0190abc");
  EXPECT_EQ(intent.query, "wait=30");
  EXPECT_EQ(intent.path, "/v1/intents/0190abc");
}

TEST(Routes, CloudflaresPurgePathWithOrWithoutItsVersionPrefix) {
  for (const char* target : {"/client/v4/zones/023e105f/purge_cache", "/zones/023e105f/purge_cache",
                             "/zones/023e105f/purge_cache?x=1"}) {
    const Route route = route_of("POST", target);
    EXPECT_EQ(route.endpoint, Endpoint::cloudflare_purge) << target;
    EXPECT_TRUE(route.method_allowed) << target;
    EXPECT_EQ(route.param, "023e105f") << target;
  }
  EXPECT_EQ(route_of("POST", "/zones//purge_cache").param, "");
  EXPECT_EQ(route_of("POST", "/zones/purge_cache").endpoint, Endpoint::none);
  EXPECT_EQ(route_of("POST", "/client/v4/zones/x/purge").endpoint, Endpoint::none);
}

TEST(Routes, PostOnlyEndpointsRefuseOtherMethodsWith405) {
  for (const char* target : {"/v1/purge", "/v1/expand", "/client/v4/zones/z/purge_cache"}) {
    const Route route = route_of("GET", target);
    EXPECT_NE(route.endpoint, Endpoint::none) << target;
    EXPECT_FALSE(route.method_allowed) << target;
  }
}

TEST(Routes, ReadOnlyEndpointsAndUnknownPathsAnswerOtherMethodsWith404) {
  for (const char* target : {"/v1/status", "/v1/failed", "/metrics", "/healthz", "/v1/intents/x",
                             "/", "/v1/purges", "/v1/status/"}) {
    const Route route = route_of("POST", target);
    EXPECT_EQ(route.endpoint, Endpoint::none) << target;
    EXPECT_TRUE(route.method_allowed) << target;
  }
  EXPECT_EQ(route_of("GET", "/v1/failed/retry").endpoint, Endpoint::none);
  EXPECT_EQ(route_of("DELETE", "/v1/intents/x").endpoint, Endpoint::none);
}

TEST(Routes, TheStatusPageAndItsHistory) {
  EXPECT_EQ(route_of("GET", "/v1/status/history").endpoint, Endpoint::status_history);
  const Route page = route_of("GET", "/");
  EXPECT_EQ(page.endpoint, Endpoint::page);
  EXPECT_EQ(page.param, "");
  const Route asset = route_of("GET", "/assets/status.js?v=1");
  EXPECT_EQ(asset.endpoint, Endpoint::page);
  EXPECT_EQ(asset.param, "status.js");
  EXPECT_EQ(route_of("POST", "/v1/status/history").endpoint, Endpoint::none);
  EXPECT_EQ(route_of("GET", "/index.html").endpoint, Endpoint::none);
}

}  // namespace
}  // namespace purgeq
