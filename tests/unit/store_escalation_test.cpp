// The store's side of cost-based escalation and of receipts that name their coverer: escalate()
// adds a prefix the coverage rules complete the URLs with, only when the rule's thresholds hold,
// never twice while one is on its way or after Cloudflare refused it; covered rows remember what
// covered them, and intent_status() names it.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "support/pg_cluster.h"
#include "support/store_backends.h"

namespace purgeq {
namespace {

using test::Backend;

constexpr std::string_view kZone = "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c";
const Peer kPeer{1000, 1000, 42};

ZonedItem url(const std::string& value) {
  return ZonedItem{std::string(kZone), Item{Kind::file, value, {}}};
}
// "https://h/<dir>/1" ... "https://h/<dir>/n"
std::vector<ZonedItem> urls_under(const std::string& dir, int n, int first = 1) {
  std::vector<ZonedItem> items;
  for (int i = first; i < first + n; ++i)
    items.push_back(url("https://h/" + dir + std::to_string(i)));
  return items;
}

class StoreEscalationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("purgeq-escalation");
    const auto where = test::scratch_store(backend(), dir_);
    if (!where) GTEST_SKIP() << test::PgTestCluster::missing();
    where_ = *where;
    store_ = open();
  }
  // SQLite here; both for StoreEscalationContract.
  [[nodiscard]] virtual Backend backend() const { return Backend::sqlite; }
  // As the daemon opens it with a zone whose escalation asks for a share.
  [[nodiscard]] std::unique_ptr<Store> open() const {
    auto store = test::open_backend(backend(), where_);
    store->index_known_urls(true);
    return store;
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  template <class F>
  auto tx(F fn) {
    store_->begin();
    auto result = fn(*store_);
    store_->commit();
    return result;
  }
  void add(std::string_view id, const std::vector<ZonedItem>& items, std::int64_t now_ms = 1000) {
    tx([&](Store& s) { return s.add_intent(id, now_ms, kPeer, "test", items); });
  }
  std::vector<Escalation> escalate(const EscalationRule& rule) {
    EscalationRequest request;
    request.zone_id = std::string(kZone);
    request.group = Group::file;
    request.rule = rule;
    request.now_ms = 5000;
    return tx([&](Store& s) { return s.escalate(request); });
  }
  TakeResult take(Group group, std::int64_t flight, std::size_t budget = 1000) {
    TakeRequest request;
    request.zone_id = std::string(kZone);
    request.group = group;
    request.flight = flight;
    request.budget = budget;
    request.now_ms = 10'000;
    return tx([&](Store& s) { return s.take(request, 100'000); });
  }
  void settle(std::int64_t flight, Settlement outcome) {
    SettleRequest request;
    request.flight = flight;
    request.outcome = outcome;
    request.now_ms = 20'000;
    request.code = 1234;
    request.message = "refused";
    tx([&](Store& s) { return s.settle(request, 100'000); });
  }
  // Rows whose `known` disagrees with state != 0 (what targets_known_rows relies on).
  std::int64_t known_mismatches() {
    return scalar("SELECT count(*) FROM targets WHERE (known IS NOT NULL) != (state != 0)");
  }
  std::int64_t scalar(const char* sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open((dir_ / "queue.db").string().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    std::int64_t value = -1;
    if (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }
  std::int64_t pending(Group group) {
    return store_->queue_counts().of(kZone, group, TargetState::pending);
  }
  static EscalationRule blog_rule() {
    EscalationRule rule;
    rule.prefixes = {"h/blog/"};
    rule.min_urls = 100;
    rule.min_share = 0.5;
    return rule;
  }

  std::filesystem::path dir_;
  std::string where_;  // the SQLite file or the PostgreSQL test database's connection string
  std::unique_ptr<Store> store_;
};

// The tests that are the Store contract, run on every backend.
class StoreEscalationContract : public StoreEscalationTest,
                                public ::testing::WithParamInterface<Backend> {
 protected:
  [[nodiscard]] Backend backend() const override { return GetParam(); }
};
PURGEQ_ON_BOTH_BACKENDS(StoreEscalationContract);

TEST_P(StoreEscalationContract, APrefixReplacesItsPendingUrlsAndTheReceiptNamesIt) {
  add("blog", urls_under("blog/", 150));
  add("other", urls_under("shop/", 10));
  const auto escalated = escalate(blog_rule());
  ASSERT_EQ(escalated.size(), 1U);
  EXPECT_EQ(escalated[0].prefix, "h/blog/");
  EXPECT_EQ(escalated[0].urls, 150);
  EXPECT_EQ(escalated[0].known, 150);
  EXPECT_EQ(pending(Group::prefix), 1);  // counted like any insert

  // The coverage machinery does the rest: the prefix takes its URLs along.
  const auto batch = take(Group::prefix, 1);
  ASSERT_EQ(batch.members.size(), 1U);
  EXPECT_EQ(batch.members[0].item.value, "h/blog/");
  EXPECT_EQ(batch.riders, 150);
  settle(1, Settlement::done);
  EXPECT_EQ(pending(Group::file), 10);

  const auto blog = store_->intent_status("blog");
  ASSERT_TRUE(blog);
  EXPECT_EQ(blog->done, 150);
  ASSERT_EQ(blog->covered_by.size(), 1U);
  EXPECT_EQ(blog->covered_by[0].kind, Kind::prefix);
  EXPECT_EQ(blog->covered_by[0].value, "h/blog/");
  EXPECT_EQ(blog->covered_by[0].items, 150);
  EXPECT_EQ(blog->covered_by[0].escalation, escalated[0].id);
  EXPECT_TRUE(store_->intent_status("other")->covered_by.empty());
}

TEST_P(StoreEscalationContract, OnlyAllowedPrefixesAboveTheThresholds) {
  add("blog", urls_under("blog/", 99));
  EXPECT_TRUE(escalate(blog_rule()).empty());  // below min_urls
  EscalationRule elsewhere = blog_rule();
  elsewhere.prefixes = {"h/news/", "other.example/blog/"};
  add("more", urls_under("blog/", 50, 100));
  EXPECT_TRUE(escalate(elsewhere).empty());  // not an allowed prefix
  EscalationRule off = blog_rule();
  off.prefixes.clear();
  EXPECT_TRUE(escalate(off).empty());
  EXPECT_EQ(pending(Group::prefix), 0);

  // Depth derives the prefix from the head's URLs.
  EscalationRule depth;
  depth.depth = 1;
  depth.min_urls = 100;
  const auto escalated = escalate(depth);
  ASSERT_EQ(escalated.size(), 1U);
  EXPECT_EQ(escalated[0].prefix, "h/blog/");
}

TEST_P(StoreEscalationContract, AShareOfKnownUrlsBelowTheRuleKeepsTheCache) {
  // 120 of the prefix's URLs were purged already (still held, finished); 110 are pending.
  add("earlier", urls_under("blog/", 120));
  ASSERT_EQ(take(Group::file, 1).members.size(), 120U);
  settle(1, Settlement::done);
  add("now", urls_under("blog/", 110, 1000));
  EXPECT_TRUE(escalate(blog_rule()).empty());  // 110 / 230 < 0.5
  EscalationRule lower = blog_rule();
  lower.min_share = 0.4;
  const auto escalated = escalate(lower);  // 110 / 230 >= 0.4
  ASSERT_EQ(escalated.size(), 1U);
  EXPECT_EQ(escalated[0].known, 230);
}

TEST_P(StoreEscalationContract, NotAgainWhileOnItsWayNorAfterARefusal) {
  add("blog", urls_under("blog/", 100));
  ASSERT_EQ(escalate(blog_rule()).size(), 1U);
  EXPECT_TRUE(escalate(blog_rule()).empty());  // pending
  const auto batch = take(Group::prefix, 1);
  ASSERT_EQ(batch.members.size(), 1U);
  EXPECT_TRUE(escalate(blog_rule()).empty());  // in flight
  // Cloudflare refused the prefix: as the engine records a refused single member, it fails on a
  // flight of its own and the URLs it covered go back to the queue, to be sent as URLs.
  const std::vector<std::int64_t> member{batch.members[0].id};
  tx([&](Store& s) {
    s.move_to_flight(member, 99);
    return true;
  });
  settle(99, Settlement::failed);
  settle(1, Settlement::released);
  EXPECT_EQ(pending(Group::file), 100);
  EXPECT_EQ(pending(Group::prefix), 0);
  EXPECT_TRUE(escalate(blog_rule()).empty());
  const auto urls = take(Group::file, 3);
  ASSERT_EQ(urls.members.size(), 100U);
  settle(3, Settlement::done);
  // Sent by their own request: nothing covered them.
  EXPECT_TRUE(store_->intent_status("blog")->covered_by.empty());
}

TEST_F(StoreEscalationTest, WithoutTheIndexOfKnownUrlsOnlyRulesWithoutAShareEscalate) {
  // No zone asked for a share: takes do not pay for the index, and a rule that asks for one
  // (a reload racing the daemon's index job) escalates nothing rather than guessing.
  store_->index_known_urls(false);
  EXPECT_EQ(scalar("SELECT count(*) FROM sqlite_master WHERE name = 'targets_known_rows'"), 0);
  add("blog", urls_under("blog/", 150));
  EXPECT_TRUE(escalate(blog_rule()).empty());
  EscalationRule no_share = blog_rule();
  no_share.min_share = 0;
  EXPECT_EQ(escalate(no_share).size(), 1U);
  store_->index_known_urls(true);
  EXPECT_EQ(scalar("SELECT count(*) FROM sqlite_master WHERE name = 'targets_known_rows'"), 1);
}

TEST_P(StoreEscalationContract, RetryFailedLeavesARefusedPrefixNoIntentAskedFor) {
  add("blog", urls_under("blog/", 100));
  ASSERT_EQ(escalate(blog_rule()).size(), 1U);
  const auto batch = take(Group::prefix, 1);
  ASSERT_EQ(batch.members.size(), 1U);
  const std::vector<std::int64_t> member{batch.members[0].id};
  tx([&](Store& s) {
    s.move_to_flight(member, 99);
    return true;
  });
  settle(99, Settlement::failed);
  settle(1, Settlement::released);
  // Its URLs are back as URLs; sending the refused prefix again would repeat the refusal.
  EXPECT_EQ(tx([](Store& s) { return s.retry_failed_step(30'000, 1000); }), 0);
  EXPECT_EQ(pending(Group::prefix), 0);
}

TEST_P(StoreEscalationContract, ThePrefixGoesInTheLaneOfTheUrlsItReplaces) {
  tx([&](Store& s) {
    return s.add_intent("high", 1000, kPeer, "test", urls_under("shop/", 1), Lane::high);
  });
  tx([&](Store& s) {
    return s.add_intent("bulk", 1000, kPeer, "test", urls_under("blog/", 150), Lane::bulk);
  });
  EscalationRequest request;
  request.zone_id = std::string(kZone);
  request.group = Group::file;
  request.lane = Lane::bulk;
  request.rule = blog_rule();
  request.now_ms = 5000;
  ASSERT_EQ(tx([&](Store& s) { return s.escalate(request); }).size(), 1U);
  const auto counts = store_->queue_counts();
  EXPECT_EQ(counts.pending_in(kZone, Group::prefix, Lane::bulk), 1);
  EXPECT_EQ(counts.pending_in(kZone, Group::prefix, Lane::high), 0);
  // The high lane's head alone (one shop URL) escalates nothing.
  request.lane = Lane::high;
  EXPECT_TRUE(tx([&](Store& s) { return s.escalate(request); }).empty());
}

TEST_P(StoreEscalationContract, AfterADoneEscalationANewBacklogMayEscalateAgain) {
  add("first", urls_under("blog/", 100));
  ASSERT_EQ(escalate(blog_rule()).size(), 1U);
  take(Group::prefix, 1);
  settle(1, Settlement::done);
  add("second", urls_under("blog/", 100, 500), 6000);
  EscalationRule rule = blog_rule();
  rule.min_share = 0;  // the first hundred are known and finished
  const auto again = escalate(rule);
  ASSERT_EQ(again.size(), 1U);
  take(Group::prefix, 2);
  settle(2, Settlement::done);
  EXPECT_EQ(store_->intent_status("second")->covered_by.at(0).escalation, again[0].id);
}

TEST_P(StoreEscalationContract, ReceiptsNamePurgeEverythingAndHosts) {
  add("files", {url("https://h/a"), url("https://h/b"), url("https://g/c")});
  add("host", {ZonedItem{std::string(kZone), Item{Kind::host, "g", {}}}}, 2000);
  ASSERT_EQ(take(Group::host, 1).riders, 1);
  settle(1, Settlement::done);
  add("all", {ZonedItem{std::string(kZone), Item{Kind::everything, "", {}}}}, 3000);
  ASSERT_EQ(take(Group::everything, 2).riders, 2);
  settle(2, Settlement::done);
  const auto status = store_->intent_status("files");
  ASSERT_EQ(status->covered_by.size(), 2U);
  EXPECT_EQ(status->covered_by[0].kind, Kind::everything);
  EXPECT_EQ(status->covered_by[0].items, 2);
  EXPECT_FALSE(status->covered_by[0].escalation);
  EXPECT_EQ(status->covered_by[1].kind, Kind::host);
  EXPECT_EQ(status->covered_by[1].value, "g");
  EXPECT_EQ(status->covered_by[1].items, 1);
  EXPECT_TRUE(store_->intent_status("all")->covered_by.empty());
}

TEST_P(StoreEscalationContract, PruneDropsOldEscalationsWithTheirFinishedPrefix) {
  add("blog", urls_under("blog/", 100));
  ASSERT_EQ(escalate(blog_rule()).size(), 1U);
  take(Group::prefix, 1);
  settle(1, Settlement::done);
  EXPECT_GT(tx([](Store& s) { return s.prune_step(1'000'000, 100); }), 0);
  while (tx([](Store& s) { return s.prune_step(1'000'000, 100); }) > 0) {
  }
  const auto counts = store_->queue_counts();
  EXPECT_EQ(counts.zone_total(kZone, TargetState::done), 0);  // the prefix row too
  EXPECT_FALSE(store_->intent_status("blog"));
  // Reopening adds nothing twice.
  store_.reset();
  store_ = open();
  add("again", urls_under("blog/", 100));
  EXPECT_EQ(escalate(blog_rule()).size(), 1U);
}

TEST_F(StoreEscalationTest, ADatabaseOfAnEarlierPurgeqdGainsWhatEscalationNeedsOnOpen) {
  add("done", urls_under("blog/", 50, 500));
  ASSERT_EQ(take(Group::file, 9).members.size(), 50U);
  settle(9, Settlement::done);
  add("before", urls_under("blog/", 100));
  store_.reset();
  // As an earlier purgeqd of the same schema version left it: no escalations, no coverer or known
  // column, no targets_known_rows.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "queue.db").string().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TABLE escalations; DROP INDEX targets_known_rows; "
                         "ALTER TABLE targets DROP COLUMN coverer; "
                         "ALTER TABLE targets DROP COLUMN known;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  store_ = open();
  EXPECT_EQ(known_mismatches(), 0);
  const auto escalated = escalate(blog_rule());
  ASSERT_EQ(escalated.size(), 1U);
  EXPECT_EQ(escalated[0].known, 150);  // the 50 finished before the upgrade count
  take(Group::prefix, 1);
  settle(1, Settlement::done);
  EXPECT_EQ(store_->intent_status("before")->covered_by.at(0).escalation, escalated[0].id);
}

TEST_F(StoreEscalationTest, KnownFollowsEveryWayInAndOutOfPending) {
  add("a", urls_under("blog/", 30));
  add("b", urls_under("blog/", 30, 100));
  EXPECT_EQ(known_mismatches(), 0);
  ASSERT_EQ(take(Group::file, 1, 10).members.size(), 10U);  // in flight
  ASSERT_EQ(take(Group::file, 2, 10).members.size(), 10U);
  ASSERT_EQ(take(Group::file, 3, 10).members.size(), 10U);
  ASSERT_EQ(take(Group::file, 4, 10).members.size(), 10U);
  EXPECT_EQ(scalar("SELECT count(*) FROM targets WHERE known = 1"), 40);
  settle(1, Settlement::done);
  settle(2, Settlement::failed);
  settle(3, Settlement::retry);  // back to pending
  EXPECT_EQ(known_mismatches(), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM targets WHERE known = 1"), 30);
  tx([](Store& s) { return s.retry_failed_step(30'000, 100); });  // failed -> pending
  EXPECT_EQ(known_mismatches(), 0);
  tx([](Store& s) { return s.recover_step(100); });  // flight 4 -> pending
  EXPECT_EQ(known_mismatches(), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM targets WHERE known = 1"), 10);
  // A prefix covers the pending ones: taken with it, then done.
  add("p", {ZonedItem{std::string(kZone), Item{Kind::prefix, "h/blog/", {}}}});
  const auto taken = take(Group::prefix, 5);
  ASSERT_EQ(taken.members.size(), 1U);
  EXPECT_EQ(known_mismatches(), 0);
  settle(5, Settlement::done);
  EXPECT_EQ(known_mismatches(), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM targets WHERE known IS NULL"), 0);
  // Given up without being sent: finished, so known.
  add("late", urls_under("news/", 5));
  tx([](Store& s) { return s.give_up_step(2000, 40'000, "gave up (", 100); });
  EXPECT_EQ(known_mismatches(), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM targets WHERE known IS NULL"), 0);
}

TEST_F(StoreEscalationTest, AfterAnOlderPurgeqdOpenedTheFileKnownIsRebuilt) {
  add("a", urls_under("blog/", 20));
  ASSERT_EQ(take(Group::file, 1, 10).members.size(), 10U);
  settle(1, Settlement::done);
  store_.reset();
  // An older purgeqd recreated targets_known and moved rows without setting `known`.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "queue.db").string().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE INDEX targets_known ON targets(zone, kind, key) WHERE state != 0; "
                         "UPDATE targets SET known = NULL WHERE state = 2; "
                         "UPDATE targets SET known = 1 WHERE id = (SELECT min(id) FROM targets "
                         "WHERE state = 0);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  ASSERT_GT(known_mismatches(), 0);
  store_ = open();
  EXPECT_EQ(known_mismatches(), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM sqlite_master WHERE name = 'targets_known'"), 0);
}

}  // namespace
}  // namespace purgeq
