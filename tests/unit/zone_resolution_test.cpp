// Zones by name (docs/configuration.md): reading Cloudflare's lookup answers, applying them to a
// config (ids, the most conservative plan), and the resolver's driving of lookups (pagination,
// retries with backoff, pacing, token checks).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/known_zones.h"
#include "resolve/zone_answers.h"
#include "resolve/zone_resolver.h"
#include "world/manual_time.h"
#include "world/scripted_transport.h"

namespace purgeq {
namespace {

constexpr std::string_view kIdA = "023e105f4ecef8ad9ca31a8372d0c353";
constexpr std::string_view kIdB = "13fb0e4a5b1f4bcd9f3d0c61d7a6a0e2";
constexpr std::string_view kAccountId = "01a7362d577a6c3019a474fd6f485823";

HttpResponse ok(const std::string& body) {
  HttpResponse r;
  r.status = 200;
  r.body = body;
  return r;
}

HttpResponse failed(long status, int code, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.body = R"({"success":false,"errors":[{"code":)" + std::to_string(code) + R"(,"message":")" +
           message + R"("}],"messages":[],"result":null})";
  return r;
}

std::string zone_json(std::string_view name, std::string_view id, std::string_view plan,
                      std::string_view status = "active") {
  return fmt::format(R"({{"id":"{}","name":"{}","status":"{}","account":{{"id":"{}","name":"a"}},)"
                     R"("plan":{{"id":"x","name":"Plan","legacy_id":"{}"}}}})",
                     id, name, status, kAccountId, plan);
}

std::string page_json(const std::string& zones, int page, int total_pages) {
  return fmt::format(
      R"({{"success":true,"errors":[],"messages":[],"result":[{}],)"
      R"("result_info":{{"page":{},"per_page":50,"count":1,"total_count":{},"total_pages":{}}}}})",
      zones, page, total_pages * 50, total_pages);
}

TEST(ZoneAnswers, ZonesPageFindsTheZoneOfThatName) {
  const auto answer = read_zones_page(
      ok(page_json(zone_json("example.com", kIdA, "business"), 1, 1)), "example.com", 1, 1234);
  ASSERT_EQ(answer.verdict, LookupVerdict::found);
  EXPECT_EQ(answer.record.id, kIdA);
  EXPECT_EQ(answer.record.account_id, kAccountId);
  EXPECT_EQ(answer.record.plan, "business");
  EXPECT_EQ(answer.record.resolved_at_ms, 1234);
}

TEST(ZoneAnswers, ZonesPageAsksForTheNextPageUntilTheLast) {
  const auto first = read_zones_page(ok(page_json(zone_json("other.com", kIdB, "free"), 1, 2)),
                                     "example.com", 1, 0);
  EXPECT_EQ(first.verdict, LookupVerdict::next_page);
  EXPECT_EQ(first.next_page, 2);
  const auto last = read_zones_page(ok(page_json(zone_json("other.com", kIdB, "free"), 2, 2)),
                                    "example.com", 2, 0);
  EXPECT_EQ(last.verdict, LookupVerdict::not_found);
  EXPECT_NE(last.error.find("example.com"), std::string::npos);
}

TEST(ZoneAnswers, AnActiveZoneWinsOverAPendingOneOfTheSameName) {
  const auto answer =
      read_zones_page(ok(page_json(zone_json("example.com", kIdB, "free", "pending") + "," +
                                       zone_json("example.com", kIdA, "pro"),
                                   1, 1)),
                      "example.com", 1, 0);
  ASSERT_EQ(answer.verdict, LookupVerdict::found);
  EXPECT_EQ(answer.record.id, kIdA);
}

TEST(ZoneAnswers, RefusalsAndOutagesAreTold) {
  EXPECT_EQ(read_zones_page(failed(401, 1000, "Invalid API Token"), "a.com", 1, 0).verdict,
            LookupVerdict::refused);
  EXPECT_EQ(read_zone(failed(403, 9109, "Unauthorized"), "a.com", 0).verdict,
            LookupVerdict::refused);
  HttpResponse html;
  html.status = 502;
  html.body = "<html>502 Bad Gateway</html>";
  EXPECT_EQ(read_zones_page(html, "a.com", 1, 0).verdict, LookupVerdict::outage);
  HttpResponse refused;
  refused.transport_error = "Couldn't connect to server";
  const auto down = read_zones_page(refused, "a.com", 1, 0);
  EXPECT_EQ(down.verdict, LookupVerdict::outage);
  EXPECT_NE(down.error.find("connect"), std::string::npos);
  EXPECT_EQ(read_zones_page(ok(R"({"success":true,"result":{}})"), "a.com", 1, 0).verdict,
            LookupVerdict::outage);
}

TEST(ZoneAnswers, ZoneByIdMustStillBeThatName) {
  const std::string body = R"({"success":true,"errors":[],"messages":[],"result":)" +
                           zone_json("b.com", kIdA, "pro") + "}";
  EXPECT_EQ(read_zone(ok(body), "b.com", 0).verdict, LookupVerdict::found);
  EXPECT_EQ(read_zone(ok(body), "a.com", 0).verdict, LookupVerdict::not_found);
}

TEST(ZoneAnswers, TokenVerify) {
  EXPECT_EQ(
      read_token_verify(ok(R"({"success":true,"result":{"id":"t","status":"active"}})")).verdict,
      TokenVerdict::active);
  const auto disabled =
      read_token_verify(ok(R"({"success":true,"result":{"id":"t","status":"disabled"}})"));
  EXPECT_EQ(disabled.verdict, TokenVerdict::refused);
  EXPECT_NE(disabled.error.find("disabled"), std::string::npos);
  EXPECT_EQ(read_token_verify(failed(401, 1000, "Invalid API Token")).verdict,
            TokenVerdict::refused);
  EXPECT_EQ(read_token_verify(failed(503, 10001, "down")).verdict, TokenVerdict::outage);
}

TEST(ZoneAnswers, Urls) {
  EXPECT_EQ(zones_by_name_url("https://api/v4", "example.com", 2),
            "https://api/v4/zones?name=example.com&page=2&per_page=50");
  EXPECT_EQ(zone_url("https://api/v4", kIdA), fmt::format("https://api/v4/zones/{}", kIdA));
  EXPECT_EQ(account_token_verify_url("https://api/v4", kAccountId),
            fmt::format("https://api/v4/accounts/{}/tokens/verify", kAccountId));
}

Config names_only(const std::string& extra_account = "", const std::string& plan = "") {
  ::setenv("PURGEQ_ZONES_TEST_TOKEN", "secret-token", 1);
  return load_config_string(R"(
accounts:
  - name: main
    token_env: PURGEQ_ZONES_TEST_TOKEN
)" + plan + extra_account + R"(
zones:
  - name: a.com
)" + (extra_account.empty() ? "" : "    account: main\n") +
                            R"(  - name: b.com
)" + (extra_account.empty() ? "" : "    account: main\n"));
}

KnownZones known(std::string_view plan_a, std::string_view plan_b) {
  KnownZones out;
  out["a.com"] = KnownZone{
      ZoneRecord{"a.com", std::string(kIdA), std::string(kAccountId), std::string(plan_a), 100},
      ZoneSource::stored};
  out["b.com"] = KnownZone{
      ZoneRecord{"b.com", std::string(kIdB), std::string(kAccountId), std::string(plan_b), 200},
      ZoneSource::cloudflare};
  return out;
}

TEST(KnownZones, NamesOnlyConfigLoadsUnresolved) {
  const Config config = names_only();
  ASSERT_EQ(config.zones.size(), 2U);
  EXPECT_FALSE(config.zones[0].resolved());
  EXPECT_EQ(config.zones[0].account, "main");  // the only account
  EXPECT_EQ(config.accounts[0].plan_source, PlanSource::unresolved);
  EXPECT_TRUE(needs_lookup(config, config.zones[0]));
}

TEST(KnownZones, SeveralAccountsNeedEachZonesAccount) {
  ::setenv("PURGEQ_ZONES_TEST_TOKEN", "secret-token", 1);
  try {
    (void)load_config_string(R"(
accounts:
  - name: main
    token_env: PURGEQ_ZONES_TEST_TOKEN
  - name: other
    token_env: PURGEQ_ZONES_TEST_TOKEN
zones:
  - name: a.com
)");
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    const std::string all = e.what();
    EXPECT_NE(all.find("zones[0].account"), std::string::npos) << all;
    EXPECT_NE(all.find("several accounts"), std::string::npos) << all;
  }
}

TEST(KnownZones, TheMostConservativePlanOfTheZonesIsPaced) {
  const Config config = with_known_zones(names_only(), known("business", "free"));
  EXPECT_EQ(config.zones[0].id, kIdA);
  EXPECT_EQ(config.zones[0].source, ZoneSource::stored);
  EXPECT_EQ(config.zones[1].source, ZoneSource::cloudflare);
  const Account& account = config.accounts[0];
  EXPECT_EQ(account.plan, Plan::free);
  EXPECT_EQ(account.plan_source, PlanSource::cloudflare);
  EXPECT_NE(account.plan_note.find("different plans"), std::string::npos) << account.plan_note;
  EXPECT_EQ(account.limits.burst, limits_for_plan(Plan::free).burst);
}

TEST(KnownZones, OneZoneResolvedSetsThePlan) {
  KnownZones one = known("business", "business");
  one.erase("b.com");
  const Config config = with_known_zones(names_only(), one);
  EXPECT_FALSE(config.zones[1].resolved());
  EXPECT_EQ(config.accounts[0].plan, Plan::business);
  EXPECT_TRUE(config.accounts[0].plan_note.empty());
}

TEST(KnownZones, APlanSetInTheConfigWinsAndSaysSo) {
  const Config config =
      with_known_zones(names_only("", "    plan: enterprise\n"), known("business", "business"));
  EXPECT_EQ(config.accounts[0].plan, Plan::enterprise);
  EXPECT_EQ(config.accounts[0].plan_source, PlanSource::config);
  EXPECT_NE(config.accounts[0].plan_note.find("accounts.plan"), std::string::npos);
  EXPECT_FALSE(needs_lookup(config, config.zones[0]));
}

TEST(KnownZones, AnUnknownPlanIsPacedAsFree) {
  const Config config = with_known_zones(names_only(), known("partners_ent", "business"));
  EXPECT_EQ(config.accounts[0].plan, Plan::free);
  EXPECT_NE(config.accounts[0].plan_note.find("does not know"), std::string::npos);
}

// The resolver on manual time and a scripted transport.
class ResolverTest : public ::testing::Test {
 protected:
  ResolverTest() {
    ResolverHooks hooks;
    hooks.pace = [this](const std::string&) { return pace_wait; };
    hooks.resolved = [this](const ZoneRecord& record) { resolved.push_back(record); };
    hooks.status_changed = [this](std::shared_ptr<const LookupStatus> s) { status = std::move(s); };
    hooks.round_done = [this] { ++rounds; };
    resolver.set_hooks(std::move(hooks));
  }
  void run_for(Clock::duration d) { scheduler.run_until(clocks.now() + d); }
  const sim::ScriptedTransport::Sent& last() { return transport.sent().back(); }

  sim::ManualClocks clocks;
  sim::ManualScheduler scheduler{clocks};
  sim::ScriptedTransport transport{scheduler, clocks};
  ZoneResolver resolver{ResolverEnv{clocks, scheduler, transport, 7}, {}};
  Clock::duration pace_wait{};
  std::vector<ZoneRecord> resolved;
  std::shared_ptr<const LookupStatus> status;
  int rounds = 0;
};

TEST_F(ResolverTest, FollowsPagesThenChecksTheTokenUnderItsAccount) {
  KnownZones a_known = known("pro", "pro");
  a_known.erase("a.com");
  a_known["b.com"].record.resolved_at_ms = clocks.wall_ms();  // fresh: not refreshed before a day
  auto config = std::make_shared<const Config>(with_known_zones(names_only(), a_known));
  resolver.reconfigure(config, false);  // b.com is fresh: only a.com is looked up
  run_for(std::chrono::milliseconds(1));
  ASSERT_EQ(transport.sent().size(), 1U);
  EXPECT_EQ(last().request.method, HttpRequest::Method::get);
  EXPECT_NE(last().request.url.find("/zones?name=a.com&page=1"), std::string::npos);
  EXPECT_EQ(last().request.headers.at(0), "Authorization: Bearer secret-token");
  transport.answer(0, 200, page_json(zone_json("x.com", kIdB, "free"), 1, 2));
  run_for(std::chrono::milliseconds(1));
  ASSERT_EQ(transport.sent().size(), 2U);
  EXPECT_NE(last().request.url.find("page=2"), std::string::npos);
  EXPECT_EQ(rounds, 0);
  transport.answer(1, 200, page_json(zone_json("a.com", kIdA, "pro"), 2, 2));
  run_for(std::chrono::milliseconds(1));
  ASSERT_EQ(resolved.size(), 1U);
  EXPECT_EQ(resolved[0].id, kIdA);
  EXPECT_EQ(rounds, 1);
  // The token: a user token's route first; an account-owned one answers there under its account.
  ASSERT_EQ(transport.sent().size(), 3U);
  EXPECT_NE(last().request.url.find("/user/tokens/verify"), std::string::npos);
  transport.answer(2, 401,
                   R"({"success":false,"errors":[{"code":1000,"message":"Invalid API Token"}]})");
  run_for(std::chrono::milliseconds(1));
  ASSERT_EQ(transport.sent().size(), 4U);
  EXPECT_NE(last().request.url.find(fmt::format("/accounts/{}/tokens/verify", kAccountId)),
            std::string::npos);
  transport.answer(3, 200, R"({"success":true,"result":{"id":"t","status":"active"}})");
  run_for(std::chrono::milliseconds(1));
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->tokens.at("main"), TokenState::verified);
  // A day later both zones are refreshed by id.
  run_for(kZoneRefreshInterval);
  ASSERT_EQ(transport.sent().size(), 6U);
  std::vector<std::string> urls{transport.sent()[4].request.url, transport.sent()[5].request.url};
  std::sort(urls.begin(), urls.end());
  EXPECT_EQ(urls[0], zone_url(config->cloudflare.api_base, kIdA));
  EXPECT_EQ(urls[1], zone_url(config->cloudflare.api_base, kIdB));
}

TEST_F(ResolverTest, AnOutageIsRetriedWithBackoffAndARefusalIsNot) {
  auto config = std::make_shared<const Config>(names_only());
  resolver.reconfigure(config, true);
  run_for(std::chrono::milliseconds(1));
  ASSERT_EQ(transport.sent().size(), 2U);  // a.com and b.com
  transport.answer(0, 0, "", "Couldn't connect to server");
  transport.answer(1, 200, page_json("", 1, 1));  // b.com: not found for the token
  run_for(std::chrono::milliseconds(1));
  EXPECT_EQ(rounds, 1);
  ASSERT_NE(status, nullptr);
  const auto& a = status->zones.at("a.com");
  EXPECT_FALSE(a.refused);
  ASSERT_TRUE(a.next_attempt_ms.has_value());
  const auto& b = status->zones.at("b.com");
  EXPECT_TRUE(b.refused);
  EXPECT_NE(b.error.find("b.com"), std::string::npos);
  // The retry comes within the first backoff step (1 s), and only for a.com.
  run_for(std::chrono::seconds(1));
  ASSERT_EQ(transport.sent().size(), 3U);
  EXPECT_NE(last().request.url.find("name=a.com"), std::string::npos);
  run_for(std::chrono::minutes(10));
  EXPECT_EQ(transport.sent().size(), 3U);  // the retry is not answered yet; b.com never again
}

TEST_F(ResolverTest, LookupsWaitForTheGlobalWindow) {
  pace_wait = std::chrono::seconds(30);
  resolver.reconfigure(std::make_shared<const Config>(names_only()), true);
  run_for(std::chrono::seconds(29));
  EXPECT_TRUE(transport.sent().empty());
  pace_wait = {};
  run_for(std::chrono::seconds(2));
  EXPECT_EQ(transport.sent().size(), 2U);
}

}  // namespace
}  // namespace purgeq
