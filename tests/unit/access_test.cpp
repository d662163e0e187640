// Tests for access rules, admin rights and peer identities: NSS lookups with growing buffers, the
// admin decision table, and the identity cache's thread and expiry.
#include "intake/access.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <thread>

namespace purgeq {
namespace {

bool has(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// --- resolve_peer ------------------------------------------------------------------------------

TEST(ResolvePeer, RootByNumberAndName) {
  const PeerIdentity identity = resolve_peer(Peer{0, 0, 1});
  ASSERT_GE(identity.users.size(), 2U);
  EXPECT_EQ(identity.users[0], "0");
  EXPECT_EQ(identity.users[1], "root");
  EXPECT_TRUE(has(identity.groups, "0"));
  EXPECT_TRUE(has(identity.groups, "root"));
}

TEST(ResolvePeer, BuffersGrowOnErange) {
  // A one-byte buffer makes every lookup fail with ERANGE: a fixed buffer then reads "no such
  // user", and a rule naming the user refused its own members (a false 403).
  for (const std::size_t initial : {std::size_t{1}, std::size_t{7}, std::size_t{100}}) {
    const PeerIdentity identity = resolve_peer(Peer{0, 0, 1}, initial);
    EXPECT_TRUE(has(identity.users, "root")) << initial;
    EXPECT_TRUE(has(identity.groups, "root")) << initial;
    EXPECT_EQ(identity.users, resolve_peer(Peer{0, 0, 1}).users);
    EXPECT_EQ(identity.groups, resolve_peer(Peer{0, 0, 1}).groups);
  }
}

TEST(ResolvePeer, UnknownUidIsKnownByNumberOnly) {
  constexpr long kUid = 3'999'999;
  ASSERT_EQ(getpwuid(static_cast<uid_t>(kUid)), nullptr) << "uid " << kUid << " exists here";
  const PeerIdentity identity = resolve_peer(Peer{kUid, 4242, 1}, 1);
  EXPECT_EQ(identity.users, (std::vector<std::string>{"3999999"}));
  EXPECT_EQ(identity.groups, (std::vector<std::string>{"4242"}));
  EXPECT_TRUE(resolve_peer(Peer{}).users.empty());
}

// --- access rules ------------------------------------------------------------------------------

Config two_zones() {
  Config config;
  for (const char* name : {"a.example", "b.example"}) {
    Zone zone;
    zone.name = name;
    zone.hosts = {name};
    config.zones.push_back(zone);
  }
  return config;
}

RoutedItem routed(std::size_t zone, Kind kind, std::string value = "x") {
  return RoutedItem{zone, Item{kind, std::move(value), {}}};
}

TEST(AccessRules, MatchByZoneAndKindAndAdmitByUserOrGroup) {
  Config config = two_zones();
  AccessRule rule;
  rule.name = "everything-is-deploys";
  rule.kinds = {Kind::everything};
  rule.groups = {"deploy"};
  config.access.push_back(rule);
  const std::vector<RoutedItem> tags{routed(0, Kind::tag)};
  const std::vector<RoutedItem> everything{routed(1, Kind::everything, "")};
  EXPECT_FALSE(access_needs_identity(config, tags));
  EXPECT_TRUE(access_needs_identity(config, everything));

  const Peer peer{1000, 1000, 5};
  const PeerIdentity alice{{"1000", "alice"}, {"1000", "alice"}};
  const auto denied = check_access(config, peer, alice, everything);
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->code, ErrorCode::access_denied);
  EXPECT_EQ(denied->message,
            "access rule \"everything-is-deploys\" does not allow alice to purge by everything on "
            "zone b.example");
  EXPECT_EQ(denied->item, "purge_everything");
  const PeerIdentity deployer{{"1000", "alice"}, {"1000", "alice", "77", "deploy"}};
  EXPECT_FALSE(check_access(config, peer, deployer, everything));
  EXPECT_FALSE(check_access(config, peer, alice, tags));
  // Unnamed users are named by uid.
  const auto by_uid = check_access(config, peer, PeerIdentity{{"1000"}, {"1000"}}, everything);
  ASSERT_TRUE(by_uid);
  EXPECT_NE(by_uid->message.find("allow uid 1000 to purge"), std::string::npos);
  EXPECT_FALSE(access_needs_identity(two_zones(), everything));
  // The blocking form resolves the peer itself: root is not in group "deploy".
  EXPECT_TRUE(check_access(config, Peer{0, 0, 1}, everything));
  EXPECT_FALSE(check_access(config, Peer{0, 0, 1}, tags));
}

TEST(AccessRules, RefusedItemIsBounded) {
  Config config = two_zones();
  AccessRule rule;
  rule.name = "r";
  rule.users = {"root"};
  config.access.push_back(rule);
  const std::vector<RoutedItem> items{routed(0, Kind::file, std::string(4000, 'u'))};
  const auto denied = check_access(config, Peer{5, 5, 5}, PeerIdentity{{"5"}, {"5"}}, items);
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->item, std::string(256, 'u') + "... (4000 bytes)");
}

// --- admin rights ------------------------------------------------------------------------------

constexpr long kSelf = 4321;

TEST(Admin, RootAndSelfAlwaysMay) {
  Config config = two_zones();
  config.access.push_back(AccessRule{"r", {}, {}, {"root"}, {}, {}});
  config.admin.configured = true;
  EXPECT_EQ(admin_verdict(config, Peer{0, 0, 1}, kSelf), AdminVerdict::kAllowed);
  EXPECT_EQ(admin_verdict(config, Peer{kSelf, 9, 1}, kSelf), AdminVerdict::kAllowed);
  EXPECT_EQ(admin_verdict(config, Peer{-1, -1, -1}, -1), AdminVerdict::kDenied);
}

TEST(Admin, WithoutAdminSectionAccessRulesDecide) {
  Config config = two_zones();
  const Peer user{1000, 1000, 1};
  // No access rules: the socket's permissions are the gate, as before.
  EXPECT_EQ(admin_verdict(config, user, kSelf), AdminVerdict::kAllowed);
  config.access.push_back(AccessRule{"r", {}, {}, {"1000"}, {}, {}});
  EXPECT_EQ(admin_verdict(config, user, kSelf), AdminVerdict::kDenied);
  const auto denied = admin_denied(config, user, nullptr, "GET /v1/failed");
  EXPECT_EQ(denied.code, ErrorCode::access_denied);
  EXPECT_EQ(denied.message,
            "GET /v1/failed is for admins: access rules are configured and admin is not, so only "
            "root and purgeqd's own user may (uid 1000 is neither); name admins under admin.users "
            "or admin.groups");
}

TEST(Admin, ConfiguredUsersAndGroups) {
  Config config = two_zones();
  config.admin.configured = true;
  const Peer user{1000, 1000, 1};
  // Configured but empty: only root and purgeqd's user, even without access rules.
  EXPECT_EQ(admin_verdict(config, user, kSelf), AdminVerdict::kDenied);

  config.admin.users = {"1000"};
  EXPECT_EQ(admin_verdict(config, user, kSelf), AdminVerdict::kAllowed);  // by number: no lookup
  config.admin.users = {};
  config.admin.groups = {"1000"};
  EXPECT_EQ(admin_verdict(config, user, kSelf), AdminVerdict::kAllowed);  // the primary gid

  config.admin.users = {"alice"};
  config.admin.groups = {"ops"};
  EXPECT_EQ(admin_verdict(config, user, kSelf), AdminVerdict::kNeedsIdentity);
  EXPECT_TRUE(admin_admits(config, PeerIdentity{{"1000", "alice"}, {"1000"}}));
  EXPECT_TRUE(admin_admits(config, PeerIdentity{{"1000", "bob"}, {"1000", "bob", "12", "ops"}}));
  const PeerIdentity bob{{"1000", "bob"}, {"1000", "bob"}};
  EXPECT_FALSE(admin_admits(config, bob));
  EXPECT_EQ(admin_denied(config, user, &bob, "POST /v1/failed/retry").message,
            "POST /v1/failed/retry is for admins: bob (uid 1000) is not root, not purgeqd's own "
            "user and not named in admin.users or admin.groups");
}

// --- IdentityCache ------------------------------------------------------------------------------

// Runs `body` as a coroutine on a fresh io_context until it finishes.
template <class Body>
void run_coroutine(Body body) {
  boost::asio::io_context io;
  auto done = boost::asio::co_spawn(io, body(), boost::asio::use_future);
  io.run();
  done.get();  // rethrows a failed expectation's exception, if any
}

TEST(IdentityCache, LooksUpOffTheLoopOncePerPeerAndInterval) {
  std::atomic<int> calls{0};
  std::atomic<bool> on_loop_thread{false};
  const auto loop_thread = std::this_thread::get_id();
  IdentityCache cache(
      [&](const Peer& peer) {
        ++calls;
        if (std::this_thread::get_id() == loop_thread) on_loop_thread = true;
        return PeerIdentity{{std::to_string(peer.uid), "user"}, {std::to_string(peer.gid)}};
      },
      std::chrono::hours(1));
  run_coroutine([&]() -> boost::asio::awaitable<void> {
    const auto first = co_await cache.resolve(Peer{7, 8, 1});
    EXPECT_EQ(first.users, (std::vector<std::string>{"7", "user"}));
    const auto again = co_await cache.resolve(Peer{7, 8, 2});  // another pid, same identity
    EXPECT_EQ(again.users, first.users);
    (void)co_await cache.resolve(Peer{7, 9, 1});         // another primary group: another identity
    EXPECT_EQ(std::this_thread::get_id(), loop_thread);  // resumed on the loop
  });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(cache.lookups(), 2U);
  EXPECT_FALSE(on_loop_thread);

  cache.clear();  // a reload forgets everything
  run_coroutine([&]() -> boost::asio::awaitable<void> {
    (void)co_await cache.resolve(Peer{7, 8, 1});
  });
  EXPECT_EQ(calls, 3);
}

TEST(IdentityCache, EntriesExpire) {
  std::atomic<int> calls{0};
  IdentityCache cache(
      [&](const Peer&) {
        ++calls;
        return PeerIdentity{};
      },
      std::chrono::milliseconds(0));
  run_coroutine([&]() -> boost::asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) (void)co_await cache.resolve(Peer{1, 1, 1});
  });
  EXPECT_EQ(calls, 3);
}

TEST(IdentityCache, DefaultLookupResolvesRoot) {
  IdentityCache cache;
  run_coroutine([&]() -> boost::asio::awaitable<void> {
    const auto identity = co_await cache.resolve(Peer{0, 0, 1});
    EXPECT_TRUE(has(identity.users, "root"));
  });
}

TEST(AccessRules, TheFirstMatchingRuleWithAPriorityGivesTheLane) {
  Config config = two_zones();
  AccessRule open_rule;  // admits alice and bob, sets no lane
  open_rule.name = "files";
  open_rule.kinds = {Kind::file};
  open_rule.users = {"alice", "bob"};
  AccessRule crawler;
  crawler.name = "crawler";
  crawler.kinds = {Kind::file};
  crawler.users = {"bob"};
  crawler.priority = Lane::bulk;
  AccessRule deploy;
  deploy.name = "deploy";
  deploy.groups = {"deploy"};
  deploy.kinds = {Kind::everything};
  deploy.priority = Lane::high;
  config.access = {open_rule, crawler, deploy};
  const PeerIdentity alice{{"1000", "alice"}, {"1000", "alice", "77", "deploy"}};
  const PeerIdentity bob{{"1001", "bob"}, {"1001", "bob"}};
  const std::vector<RoutedItem> files{routed(0, Kind::file)};
  const std::vector<RoutedItem> everything{routed(1, Kind::everything, "")};
  EXPECT_EQ(access_lane(config, bob, files), Lane::bulk);
  EXPECT_EQ(access_lane(config, alice, files), std::nullopt) << "the crawler rule names bob";
  EXPECT_EQ(access_lane(config, alice, everything), Lane::high);
  EXPECT_EQ(access_lane(config, bob, everything), std::nullopt) << "not in group deploy";
  const std::vector<RoutedItem> mixed{routed(1, Kind::everything, ""), routed(0, Kind::file)};
  EXPECT_EQ(access_lane(config, alice, mixed), Lane::high) << "one matching item is enough";
}

}  // namespace
}  // namespace purgeq
