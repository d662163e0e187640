// The store contract through the Store interface, on SQLite and (StoreContract, the tests that are
// the contract rather than the file format) on PostgreSQL too: twins, queue counts, taking a
// queue's head, coverage, settling, recovery, give-up, retry, prune, sends, the schema, the
// migration from version 1, and the worker's group commit.
#include "store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "planner/batch_rules.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "store/store_worker.h"
#include "support/pg_cluster.h"
#include "support/store_backends.h"

namespace purgeq {
namespace {

using test::Backend;

constexpr std::string_view kZone = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a";
constexpr std::string_view kOther = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";
const Peer kPeer{1000, 1000, 42};

constexpr auto kPending = TargetState::pending;
constexpr auto kInFlight = TargetState::in_flight;
constexpr auto kDone = TargetState::done;
constexpr auto kFailed = TargetState::failed;

Item file(std::string url, std::vector<Header> headers = {}) {
  return Item{Kind::file, std::move(url), std::move(headers)};
}
Item tag(std::string value) {
  return Item{Kind::tag, std::move(value), {}};
}
Item host(std::string value) {
  return Item{Kind::host, std::move(value), {}};
}
Item prefix(std::string value) {
  return Item{Kind::prefix, std::move(value), {}};
}
Item everything() {
  return Item{Kind::everything, "", {}};
}
ZonedItem in(std::string_view zone, Item item) {
  return ZonedItem{std::string(zone), std::move(item)};
}
// "https://h/1" ... "https://h/n" in zone `zone`.
std::vector<ZonedItem> files(int n, std::string_view zone = kZone) {
  std::vector<ZonedItem> items;
  for (int i = 1; i <= n; ++i) items.push_back(in(zone, file("https://h/" + std::to_string(i))));
  return items;
}

// {pending, in_flight, done, failed} of one queue.
using Counts = std::array<std::int64_t, kStateCount>;
Counts states(const QueueCounts& counts, std::string_view zone, Group group) {
  return {counts.of(zone, group, kPending), counts.of(zone, group, kInFlight),
          counts.of(zone, group, kDone), counts.of(zone, group, kFailed)};
}

std::vector<std::string> values(const TakeResult& batch) {
  std::vector<std::string> out;
  for (const auto& member : batch.members) out.push_back(member.item.value);
  return out;
}
std::vector<std::int64_t> ids(const TakeResult& batch) {
  std::vector<std::int64_t> out;
  for (const auto& member : batch.members) out.push_back(member.id);
  return out;
}

// Raw SQL on the database file: what the interface does not show (attempts, the row scan the
// counts must equal) and the version-1 database the migration starts from.
// On PostgreSQL the "path" is the test database's connection string.
class Sql {
 public:
  explicit Sql(const std::string& path) {
    if (path.starts_with("host=")) {
      pg_ = std::make_unique<test::PgSql>(path);
      return;
    }
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
      throw std::runtime_error(sqlite3_errmsg(db_));
    }
    sqlite3_busy_timeout(db_, 1000);
  }
  ~Sql() {
    if (db_ != nullptr) sqlite3_close(db_);
  }
  Sql(const Sql&) = delete;
  Sql& operator=(const Sql&) = delete;

  void exec(const std::string& sql) {
    if (pg_) {
      pg_->rows(sql);
      return;
    }
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string reason = error != nullptr ? error : "?";
      sqlite3_free(error);
      throw std::runtime_error(reason + " in: " + sql);
    }
  }
  // Every row of a query, each column as text ("NULL" for null).
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    if (pg_) return pg_->rows(sql);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sqlite3_errmsg(db_));
    }
    std::vector<std::vector<std::string>> out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      auto& row = out.emplace_back();
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const auto* text = sqlite3_column_text(stmt, c);
        row.emplace_back(text == nullptr ? "NULL" : reinterpret_cast<const char*>(text));
      }
    }
    sqlite3_finalize(stmt);
    return out;
  }
  std::int64_t integer(const std::string& sql) {
    const auto result = rows(sql);
    if (result.empty() || result[0].empty()) throw std::runtime_error("no value: " + sql);
    return std::stoll(result[0][0]);
  }

 private:
  sqlite3* db_ = nullptr;
  std::unique_ptr<test::PgSql> pg_;
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("purgeq-store");
    const auto where = test::scratch_store(backend(), dir_);
    if (!where) GTEST_SKIP() << test::PgTestCluster::missing();
    path_ = *where;
  }
  // The backend under test: SQLite here, both for StoreContract.
  [[nodiscard]] virtual Backend backend() const { return Backend::sqlite; }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  [[nodiscard]] std::unique_ptr<Store> open(bool read_only = false) const {
    return test::open_backend(backend(), path_, read_only);
  }

  // Runs `fn(store)` in one transaction, as StoreWorker does.
  template <class F>
  static auto tx(Store& store, F fn) {
    store.begin();
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<F, Store&>>) {
        fn(store);
        store.commit();
      } else {
        auto result = fn(store);
        store.commit();
        return result;
      }
    } catch (...) {
      store.rollback();
      throw;
    }
  }

  static SubmitResult add(Store& store, std::string_view id, std::vector<ZonedItem> items,
                          std::int64_t now_ms = 1000) {
    return tx(store, [&](Store& s) { return s.add_intent(id, now_ms, kPeer, "test", items); });
  }
  static SubmitResult add_in(Store& store, Lane lane, std::string_view id,
                             std::vector<ZonedItem> items, std::int64_t now_ms = 1000) {
    return tx(store,
              [&](Store& s) { return s.add_intent(id, now_ms, kPeer, "test", items, lane); });
  }
  static TakeResult take_lane(Store& store, Group group, Lane lane, std::int64_t flight) {
    auto req = request(group, flight);
    req.lane = lane;
    return take(store, req);
  }

  // A take of zone kZone with no linger and a budget that never cuts.
  static TakeRequest request(Group group, std::int64_t flight) {
    TakeRequest request;
    request.zone_id = std::string(kZone);
    request.group = group;
    request.flight = flight;
    request.budget = 1000;
    request.linger_ms = 0;
    request.now_ms = 10'000;
    return request;
  }
  static TakeResult take(Store& store, const TakeRequest& request,
                         std::int64_t cover_limit = 1000) {
    return tx(store, [&](Store& s) { return s.take(request, cover_limit); });
  }
  static TakeResult take(Store& store, Group group, std::int64_t flight) {
    return take(store, request(group, flight));
  }

  static Settled settle(Store& store, const SettleRequest& request, std::int64_t limit = 1000) {
    return tx(store, [&](Store& s) { return s.settle(request, limit); });
  }
  static Settled settle(Store& store, std::int64_t flight, Settlement outcome,
                        std::int64_t limit = 1000) {
    SettleRequest request;
    request.flight = flight;
    request.outcome = outcome;
    request.now_ms = 20'000;
    return settle(store, request, limit);
  }

  static std::string status_of(Store& store, std::string_view id) {
    const auto status = store.intent_status(id);
    return status ? std::string(status->status()) : "missing";
  }

  // The counts the store keeps must equal a scan of its rows.
  void expect_counts_match_rows(Store& store) const {
    QueueCounts scanned;
    Sql sql(path_);
    for (const auto& row :
         sql.rows("SELECT z.zone_id, t.grp, t.state, count(*) FROM targets t JOIN zones z ON "
                  "z.id = t.zone GROUP BY 1, 2, 3")) {
      auto [it, inserted] = scanned.zones.try_emplace(row[0]);
      if (inserted) it->second = {};
      it->second.at(std::stoul(row[1])).at(std::stoul(row[2])) = std::stoll(row[3]);
    }
    const auto kept = store.queue_counts();
    // Pending rows per lane, too: the queues are (zone, group, lane).
    for (const auto& row :
         sql.rows("SELECT z.zone_id, t.grp, t.lane, count(*) FROM targets t JOIN zones z ON "
                  "z.id = t.zone WHERE t.state = 0 GROUP BY 1, 2, 3")) {
      EXPECT_EQ(kept.pending_in(row[0], static_cast<Group>(std::stoi(row[1])),
                                static_cast<Lane>(std::stoi(row[2]))),
                std::stoll(row[3]))
          << "zone " << row[0] << " group " << row[1] << " lane " << row[2];
    }
    for (const auto& [zone, groups] : kept.lanes) {
      for (int g = 0; g < kGroupCount; ++g) {
        std::int64_t lanes = 0;
        for (const auto n : groups.at(static_cast<std::size_t>(g))) lanes += n;
        EXPECT_EQ(lanes, kept.of(zone, static_cast<Group>(g), kPending))
            << "the lanes of zone " << zone << " group " << g << " add up to its pending";
      }
    }
    for (const auto* zones : {&std::as_const(scanned).zones, &kept.zones}) {
      for (const auto& [zone, groups] : *zones) {
        for (int g = 0; g < kGroupCount; ++g) {
          EXPECT_EQ(states(kept, zone, static_cast<Group>(g)),
                    states(scanned, zone, static_cast<Group>(g)))
              << "zone " << zone << " group " << to_string(static_cast<Group>(g));
        }
      }
    }
  }

  std::int64_t attempts(std::int64_t id) const {
    return Sql(path_).integer("SELECT attempts FROM targets WHERE id = " + std::to_string(id));
  }

  std::filesystem::path dir_;
  std::string path_;  // the SQLite file, or the PostgreSQL test database's connection string
};

// The tests that are the Store contract, run on every backend.
class StoreContract : public StoreTest, public ::testing::WithParamInterface<Backend> {
 protected:
  [[nodiscard]] Backend backend() const override { return GetParam(); }
};
PURGEQ_ON_BOTH_BACKENDS(StoreContract);

// --- add_intent ---------------------------------------------------------------------------------

TEST_P(StoreContract, PendingTwinsMergeAndEveryIntentReportsAllItsItems) {
  auto store = open();
  const auto first = add(
      *store, "i1", {in(kZone, file("https://h/x")), in(kZone, tag("Blog")), in(kZone, host("h"))});
  EXPECT_EQ(first.items, 3U);
  EXPECT_EQ(first.created, 3U);
  const auto second =
      add(*store, "i2",
          {in(kZone, file("https://h/x")), in(kZone, tag("blog")), in(kZone, file("https://h/y"))},
          2000);
  EXPECT_EQ(second.items, 3U);
  EXPECT_EQ(second.created, 1U) << "same zone, kind and key merge (tags case-insensitively)";
  const auto third = add(*store, "i3",
                         {in(kOther, file("https://h/x")), in(kZone, prefix("h")),
                          in(kZone, file("https://h/x", {{"Origin", "https://o"}}))},
                         3000);
  EXPECT_EQ(third.created, 3U) << "another zone, another kind or other headers never merge";

  for (const auto* id : {"i1", "i2", "i3"}) {
    const auto status = store->intent_status(id);
    ASSERT_TRUE(status) << id;
    EXPECT_EQ(status->total, 3) << id;
    EXPECT_EQ(status->queued, 3) << id;
    EXPECT_EQ(status->status(), "queued") << id;
  }
  const auto status = store->intent_status("i2");
  EXPECT_EQ(status->created_ms, 2000);
  EXPECT_EQ(status->peer.uid, kPeer.uid);
  EXPECT_EQ(status->peer.pid, kPeer.pid);
  EXPECT_EQ(status->waiting_zones, std::vector<std::string>{std::string(kZone)});
  EXPECT_EQ(store->intent_status("i3")->waiting_zones.size(), 2U) << "one entry per zone";
  EXPECT_FALSE(store->intent_status("nope"));

  const auto counts = store->queue_counts();
  EXPECT_EQ(states(counts, kZone, Group::file), (Counts{2, 0, 0, 0}));
  EXPECT_EQ(states(counts, kZone, Group::file_with_headers), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(states(counts, kZone, Group::tag), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(states(counts, kZone, Group::host), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(states(counts, kZone, Group::prefix), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(states(counts, kOther, Group::file), (Counts{1, 0, 0, 0}));

  // The merged target answers for both intents.
  take(*store, Group::file, 1);
  settle(*store, 1, Settlement::done);
  EXPECT_EQ(store->intent_status("i1")->done, 1);
  EXPECT_EQ(store->intent_status("i2")->done, 2);
  EXPECT_EQ(status_of(*store, "i2"), "in_flight");
  EXPECT_EQ(store->intent_status("i2")->waiting_zones, std::vector<std::string>{std::string(kZone)})
      << "pending and in-flight items both keep the zone listed";
}

TEST_P(StoreContract, ValuesWithQuotesBackslashesBracesAndNullsRoundTrip) {
  // The PostgreSQL backend passes an intent's items as array literals: nothing in a value may
  // break out of its element.
  auto store = open();
  const std::vector<std::string> odd{"https://h/a\"b", "https://h/c\\d", "https://h/{e},f",
                                     "https://h/NULL", "https://h/\u00e9 g"};
  std::vector<ZonedItem> items;
  for (const auto& value : odd) items.push_back(in(kZone, file(value)));
  items.push_back(in(kZone, file("https://h/v", {{"Origin", "https://x\"y"}})));
  EXPECT_EQ(add(*store, "odd", items).created, odd.size() + 1);
  EXPECT_EQ(add(*store, "again", items).created, 0U) << "every one found as a pending twin";
  auto batch = take(*store, Group::file, 1);
  EXPECT_EQ(values(batch), odd);
  batch = take(*store, Group::file_with_headers, 2);
  ASSERT_EQ(batch.members.size(), 1U);
  EXPECT_EQ(batch.members[0].item.headers, (std::vector<Header>{{"Origin", "https://x\"y"}}));
}

TEST_P(StoreContract, InFlightTwinIsNotReusedSoALateItemIsPurgedAgain) {
  auto store = open();
  add(*store, "i1", {in(kZone, file("https://h/x"))});
  const auto first = take(*store, Group::file, 1);
  ASSERT_EQ(first.members.size(), 1U);

  const auto late = add(*store, "i2", {in(kZone, file("https://h/x"))}, 2000);
  EXPECT_EQ(late.created, 1U) << "the request naming it has already left";
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{1, 1, 0, 0}));
  EXPECT_EQ(status_of(*store, "i2"), "queued");

  const auto second = take(*store, Group::file, 2);
  ASSERT_EQ(second.members.size(), 1U);
  EXPECT_NE(second.members[0].id, first.members[0].id);
  EXPECT_EQ(second.members[0].item.value, "https://h/x");

  settle(*store, 1, Settlement::done);
  EXPECT_EQ(status_of(*store, "i1"), "done");
  EXPECT_EQ(status_of(*store, "i2"), "in_flight") << "only the second request purges it";
  settle(*store, 2, Settlement::done);
  EXPECT_EQ(status_of(*store, "i2"), "done");
}

// The store caches each zone's row id. A zone row inserted by a transaction that is then rolled
// back (StoreWorker rolls a round back when its commit fails, and a failing job back to its
// savepoint) must not stay cached: the next new zone would be given the same row id, and the two
// zones would share one queue.
TEST_P(StoreContract, ZoneFirstSeenInARolledBackTransactionIsNotRemembered) {
  auto store = open();
  store->begin();
  const std::vector<ZonedItem> first{in(kZone, file("https://h/1"))};
  store->add_intent("a", 1000, kPeer, "test", first);   // inserts kZone's row
  store->add_intent("a2", 1000, kPeer, "test", first);  // finds that row (and caches it)
  store->rollback();                                    // the round's commit failed, say
  add(*store, "b", {in(kOther, file("https://o/1"))});  // kOther gets the row id kZone had
  add(*store, "c", {in(kZone, file("https://h/2"))});
  auto counts = store->queue_counts();
  EXPECT_EQ(states(counts, kZone, Group::file), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(states(counts, kOther, Group::file), (Counts{1, 0, 0, 0}));
  auto other = request(Group::file, 1);
  other.zone_id = std::string(kOther);
  EXPECT_EQ(values(take(*store, other)), (std::vector<std::string>{"https://o/1"}))
      << "only kOther's own URL may leave in kOther's request";

  // The same within one job undone to its savepoint.
  const std::string third = "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c";
  const std::string fourth = "0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d";
  store->begin();
  store->savepoint();
  const std::vector<ZonedItem> mixed{in(third, file("https://t/1")),
                                     in(fourth, file("https://f/1")),
                                     in(third, file("https://t/2"))};
  store->add_intent("d", 1000, kPeer, "test", mixed);  // third's row is found again: cached
  store->rollback_to_savepoint();                      // the job failed
  const std::vector<ZonedItem> fourth_only{in(fourth, file("https://f/2"))};
  store->add_intent("e", 1000, kPeer, "test", fourth_only);  // fourth gets third's row id
  const std::vector<ZonedItem> third_only{in(third, file("https://t/3"))};
  store->add_intent("f", 1000, kPeer, "test", third_only);
  store->commit();
  counts = store->queue_counts();
  EXPECT_EQ(states(counts, third, Group::file), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(states(counts, fourth, Group::file), (Counts{1, 0, 0, 0}));
  expect_counts_match_rows(*store);
}

// --- queue counts -------------------------------------------------------------------------------

// --- zones by name (docs/configuration.md) ----------------------------------------------------

TEST_P(StoreContract, ZoneRecordsAreKeptByNameAndReplacedByALaterAnswer) {
  {
    auto store = open();
    EXPECT_TRUE(store->zone_records().empty());
    store->record_zone(ZoneRecord{"b.com", std::string(kOther), "acc", "free", 100});
    store->record_zone(ZoneRecord{"a.com", std::string(kZone), "acc", "business", 200});
    store->record_zone(ZoneRecord{"b.com", std::string(kOther), "acc", "pro", 300});
  }
  // Kept across a restart: a start while Cloudflare is down begins from them.
  auto store = open();
  const auto records = store->zone_records();
  ASSERT_EQ(records.size(), 2U);
  EXPECT_EQ(records[0].name, "a.com");
  EXPECT_EQ(records[0].id, kZone);
  EXPECT_EQ(records[0].plan, "business");
  EXPECT_EQ(records[1].name, "b.com");
  EXPECT_EQ(records[1].plan, "pro");
  EXPECT_EQ(records[1].resolved_at_ms, 300);
}

TEST_P(StoreContract, AZoneStoredUnderItsIdMovesToItsName) {
  auto store = open();
  // An older build queued under the id; this one under the name, before the id was known.
  add(*store, "old", {in(kZone, file("https://h/1")), in(kZone, file("https://h/2"))});
  add(*store, "new", {in("a.com", file("https://h/3"))}, 2000);
  EXPECT_EQ(store->adopt_zone_step(kZone, "a.com", 1), 1) << "one step moves at most the limit";
  EXPECT_EQ(store->adopt_zone_step(kZone, "a.com", 5), 1);
  EXPECT_EQ(store->adopt_zone_step(kZone, "a.com", 5), 0);
  auto counts = store->queue_counts();
  EXPECT_EQ(counts.zone_total("a.com", kPending), 3);
  EXPECT_EQ(counts.zone_total(kZone, kPending), 0);
  expect_counts_match_rows(*store);
  // Only one key holds targets: the zone is renamed at once.
  add(*store, "other", {in(kOther, tag("t"))}, 3000);
  EXPECT_EQ(store->adopt_zone_step(kOther, "b.com", 1), 0);
  counts = store->queue_counts();
  EXPECT_EQ(counts.zone_total("b.com", kPending), 1);
  EXPECT_EQ(counts.zone_total(kOther, kPending), 0);
  EXPECT_EQ(store->intent_status("other")->waiting_zones, std::vector<std::string>{"b.com"});
  expect_counts_match_rows(*store);
  EXPECT_EQ(store->adopt_zone_step("nothing.com", "c.com", 5), 0);
}

TEST_P(StoreContract, QueueCountsFollowEveryStateChange) {
  auto store = open();
  auto items = files(4);
  items.push_back(in(kZone, tag("t")));
  items.push_back(in(kOther, file("https://h/1")));
  add(*store, "a", items);
  auto counts = store->queue_counts();
  EXPECT_EQ(states(counts, kZone, Group::file), (Counts{4, 0, 0, 0}));
  EXPECT_EQ(states(counts, kZone, Group::tag), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(states(counts, kOther, Group::file), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(counts.zone_total(kZone, kPending), 5);
  EXPECT_EQ(counts.zone_total(kOther, kPending), 1);
  EXPECT_EQ(counts.total(kPending), 6);
  EXPECT_EQ(counts.total(kInFlight), 0);
  EXPECT_EQ(counts.of("ffff", Group::file, kPending), 0) << "an unknown zone counts nothing";
  EXPECT_EQ(counts.zone_total("ffff", kPending), 0);
  expect_counts_match_rows(*store);

  auto two = request(Group::file, 1);
  two.budget = 2;
  take(*store, two);
  counts = store->queue_counts();
  EXPECT_EQ(states(counts, kZone, Group::file), (Counts{2, 2, 0, 0}));
  EXPECT_EQ(counts.total(kInFlight), 2);
  expect_counts_match_rows(*store);

  settle(*store, 1, Settlement::done);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{2, 0, 2, 0}));
  expect_counts_match_rows(*store);

  auto one = request(Group::file, 2);
  one.budget = 1;
  take(*store, one);
  settle(*store, 2, Settlement::failed);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{1, 0, 2, 1}));
  expect_counts_match_rows(*store);

  one.flight = 3;
  take(*store, one);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{0, 1, 2, 1}));
  settle(*store, 3, Settlement::retry);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{1, 0, 2, 1}));
  one.flight = 4;
  take(*store, one);
  settle(*store, 4, Settlement::released);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{1, 0, 2, 1}));
  expect_counts_match_rows(*store);

  EXPECT_EQ(tx(*store, [](Store& s) { return s.give_up_step(5000, 6000, "gave up (", 100); }).rows,
            3U);
  counts = store->queue_counts();
  EXPECT_EQ(states(counts, kZone, Group::file), (Counts{0, 0, 2, 2}));
  EXPECT_EQ(states(counts, kZone, Group::tag), (Counts{0, 0, 0, 1}));
  EXPECT_EQ(states(counts, kOther, Group::file), (Counts{0, 0, 0, 1}));
  EXPECT_EQ(counts.total(kFailed), 4);
  EXPECT_EQ(counts.total(kPending), 0);
  expect_counts_match_rows(*store);

  EXPECT_EQ(tx(*store, [](Store& s) { return s.retry_failed_step(7000, 100); }), 4);
  counts = store->queue_counts();
  EXPECT_EQ(states(counts, kZone, Group::file), (Counts{2, 0, 2, 0}));
  EXPECT_EQ(states(counts, kZone, Group::tag), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(states(counts, kOther, Group::file), (Counts{1, 0, 0, 0}));
  expect_counts_match_rows(*store);

  take(*store, Group::file, 5);
  settle(*store, 5, Settlement::done);
  take(*store, Group::tag, 6);
  settle(*store, 6, Settlement::done);
  auto other = request(Group::file, 7);
  other.zone_id = std::string(kOther);
  take(*store, other);
  settle(*store, 7, Settlement::done);
  counts = store->queue_counts();
  EXPECT_EQ(states(counts, kZone, Group::file), (Counts{0, 0, 4, 0}));
  EXPECT_EQ(states(counts, kZone, Group::tag), (Counts{0, 0, 1, 0}));
  EXPECT_EQ(states(counts, kOther, Group::file), (Counts{0, 0, 1, 0}));
  EXPECT_EQ(counts.total(kDone), 6);
  expect_counts_match_rows(*store);

  EXPECT_EQ(tx(*store, [](Store& s) { return s.prune_step(1'000'000, 100); }), 1);
  counts = store->queue_counts();
  for (int state = 0; state < kStateCount; ++state) {
    EXPECT_EQ(counts.total(static_cast<TargetState>(state)), 0) << state;
  }
  expect_counts_match_rows(*store);
}

// --- take ---------------------------------------------------------------------------------------

TEST_P(StoreContract, TakeServesTheOldestUpToTheCapAndMarksThemInFlight) {
  auto store = open();
  add(*store, "a", files(3), 1000);
  add(*store, "b", {in(kZone, file("https://h/4")), in(kZone, file("https://h/5"))}, 1001);
  add(*store, "c", {in(kZone, tag("t1")), in(kZone, tag("t2")), in(kZone, tag("t3"))}, 1002);

  auto r = request(Group::file, 1);
  r.caps.max_urls = 3;
  const auto batch = take(*store, r);
  EXPECT_EQ(values(batch), (std::vector<std::string>{"https://h/1", "https://h/2", "https://h/3"}));
  const auto taken = ids(batch);
  EXPECT_TRUE(std::is_sorted(taken.begin(), taken.end()));
  EXPECT_EQ(batch.members[0].created_ms, 1000);
  EXPECT_EQ(batch.riders, 0);
  EXPECT_FALSE(batch.coverage_pending);
  EXPECT_FALSE(batch.ready_in_ms);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{2, 3, 0, 0}));
  EXPECT_EQ(status_of(*store, "a"), "in_flight");
  EXPECT_EQ(status_of(*store, "b"), "queued");

  r.flight = 2;
  EXPECT_EQ(values(take(*store, r)), (std::vector<std::string>{"https://h/4", "https://h/5"}))
      << "a partial head goes at once without linger";
  r.flight = 3;
  const auto empty = take(*store, r);
  EXPECT_TRUE(empty.members.empty());
  EXPECT_FALSE(empty.ready_in_ms) << "an empty queue does not linger";

  auto tags = request(Group::tag, 4);
  tags.caps.max_ops = 2;
  EXPECT_EQ(values(take(*store, tags)), (std::vector<std::string>{"t1", "t2"}));
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::tag), (Counts{1, 2, 0, 0}));

  auto unknown = request(Group::file, 5);
  unknown.zone_id = "ffff";
  EXPECT_TRUE(take(*store, unknown).members.empty());
}

TEST_P(StoreContract, PartialHeadLingersWhileAFullHeadGoesAtOnce) {
  auto store = open();
  add(*store, "a", files(2), 1000);
  auto r = request(Group::file, 1);
  r.caps.max_urls = 3;
  r.linger_ms = 500;
  r.now_ms = 1200;
  auto batch = take(*store, r);
  EXPECT_TRUE(batch.members.empty());
  EXPECT_EQ(batch.ready_in_ms, 300);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{2, 0, 0, 0}));
  r.now_ms = 1499;
  EXPECT_EQ(take(*store, r).ready_in_ms, 1);
  r.now_ms = 1500;
  batch = take(*store, r);
  EXPECT_EQ(batch.members.size(), 2U);
  EXPECT_FALSE(batch.ready_in_ms);

  add(*store, "b",
      {in(kZone, file("https://h/3")), in(kZone, file("https://h/4")),
       in(kZone, file("https://h/5"))},
      2000);
  r.flight = 2;
  r.now_ms = 2000;
  batch = take(*store, r);
  EXPECT_EQ(batch.members.size(), 3U) << "a full head does not wait";
  EXPECT_FALSE(batch.ready_in_ms);
}

TEST_P(StoreContract, BudgetCutsTheBatch) {
  auto store = open();
  add(*store, "a", files(5));
  auto r = request(Group::file, 1);
  r.budget = 2;
  EXPECT_EQ(values(take(*store, r)), (std::vector<std::string>{"https://h/1", "https://h/2"}));
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{3, 2, 0, 0}));
  r.flight = 2;
  r.budget = 3;
  EXPECT_EQ(values(take(*store, r)),
            (std::vector<std::string>{"https://h/3", "https://h/4", "https://h/5"}));
}

TEST_P(StoreContract, BodyBytesCapCutsTheBatch) {
  auto store = open();
  const std::string path(200, 'p');
  const auto a = file("https://h/a" + path);
  add(*store, "a",
      {in(kZone, a), in(kZone, file("https://h/b" + path)), in(kZone, file("https://h/c" + path))},
      1000);
  auto r = request(Group::file, 1);
  r.caps.max_body_bytes = 3 * body_bytes(a);  // two fit beside the body's overhead, three do not
  r.linger_ms = 60'000;
  r.now_ms = 1000;
  auto batch = take(*store, r);
  EXPECT_EQ(batch.members.size(), 2U) << "a batch that reaches the byte cap is full: no linger";
  EXPECT_FALSE(batch.ready_in_ms);

  r.flight = 2;
  r.caps.max_body_bytes = 1;
  r.linger_ms = 0;
  batch = take(*store, r);
  ASSERT_EQ(batch.members.size(), 1U) << "always at least one item";
  EXPECT_EQ(batch.members[0].item.value, "https://h/c" + path);
}

TEST_P(StoreContract, FilesWithHeadersAreASeparateQueue) {
  auto store = open();
  const auto with_headers =
      file("https://h/a", {{"CF-Device-Type", "mobile"}, {"Origin", "https://o"}});
  add(*store, "a",
      {in(kZone, file("https://h/a")), in(kZone, with_headers), in(kZone, file("https://h/b"))});
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{2, 0, 0, 0}));
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file_with_headers), (Counts{1, 0, 0, 0}));

  EXPECT_EQ(values(take(*store, Group::file, 1)),
            (std::vector<std::string>{"https://h/a", "https://h/b"}));
  const auto batch = take(*store, Group::file_with_headers, 2);
  ASSERT_EQ(batch.members.size(), 1U);
  EXPECT_EQ(batch.members[0].item, with_headers) << "headers round-trip";
  EXPECT_EQ(batch.riders, 0);
}

// A damaged header list in a stored row (say, a disk error) used to make recovery throw and the
// daemon refuse to start. The URL is still purged, without the cache-key variant.
TEST_P(StoreContract, ACorruptStoredHeaderListDoesNotStopTheQueue) {
  {
    auto store = open();
    add(*store, "a", {in(kZone, file("https://h/a", {{"Origin", "https://o"}}))});
  }
  Sql(path_).exec("UPDATE targets SET headers = '[[\"Origin\"' WHERE grp = 5");
  auto store = open();
  store->begin();
  EXPECT_EQ(store->recover_step(100), 0);
  store->commit();
  const auto batch = take(*store, Group::file_with_headers, 1);
  ASSERT_EQ(batch.members.size(), 1U);
  EXPECT_EQ(batch.members[0].item.value, "https://h/a");
  EXPECT_TRUE(batch.members[0].item.headers.empty());
}

TEST_P(StoreContract, PendingTwinsAreSentOnceAndRideAlong) {
  auto store = open();
  add(*store, "a", {in(kZone, file("https://h/x"))});
  const auto first = take(*store, Group::file, 1);
  add(*store, "b", {in(kZone, file("https://h/x"))}, 2000);
  settle(*store, 1, Settlement::released);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{2, 0, 0, 0}));

  const auto batch = take(*store, Group::file, 2);
  ASSERT_EQ(batch.members.size(), 1U) << "one body entry for both";
  EXPECT_EQ(batch.members[0].id, first.members[0].id) << "the older row is the member";
  EXPECT_EQ(batch.riders, 1);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{0, 2, 0, 0}));
  settle(*store, 2, Settlement::done);
  EXPECT_EQ(status_of(*store, "a"), "done");
  EXPECT_EQ(status_of(*store, "b"), "done");
}

TEST_P(StoreContract, PendingTwinBeyondTheHeadRidesWithItsMember) {
  auto store = open();
  add(*store, "a", {in(kZone, file("https://h/x"))});
  take(*store, Group::file, 1);
  add(*store, "b", files(3), 2000);
  add(*store, "c", {in(kZone, file("https://h/x"))}, 3000);  // newest: far behind the head
  settle(*store, 1, Settlement::released);

  auto r = request(Group::file, 2);
  r.caps.max_urls = 2;
  const auto batch = take(*store, r);
  EXPECT_EQ(values(batch), (std::vector<std::string>{"https://h/x", "https://h/1"}));
  EXPECT_EQ(batch.riders, 1);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{2, 3, 0, 0}));
  EXPECT_EQ(status_of(*store, "c"), "in_flight");
}

// --- coverage -----------------------------------------------------------------------------------

TEST_P(StoreContract, TakenHostCoversItsUrlsAndPrefixesOnly) {
  auto store = open();
  const std::vector<std::pair<std::string, Item>> covered{
      {"https", file("https://example.com/a")},
      {"http", file("http://example.com/b?q=1")},
      {"headers", file("https://example.com/c", {{"Origin", "https://o"}})},
      {"prefix", prefix("example.com/p")},
      {"bare-prefix", prefix("example.com")},
  };
  const std::vector<std::pair<std::string, Item>> uncovered{
      {"suffix-host", file("https://example.com.au/a")},
      {"port", file("https://example.com:8443/a")},
      {"suffix-prefix", prefix("example.com.au/p")},
      {"tag", tag("example.com")},
  };
  for (const auto& [id, item] : covered) add(*store, id, {in(kZone, item)});
  for (const auto& [id, item] : uncovered) add(*store, id, {in(kZone, item)});
  add(*store, "other-zone", {in(kOther, file("https://example.com/a"))});
  add(*store, "host", {in(kZone, host("example.com"))}, 2000);

  const auto batch = take(*store, Group::host, 1);
  EXPECT_EQ(values(batch), (std::vector<std::string>{"example.com"}));
  EXPECT_EQ(batch.riders, 5);
  EXPECT_FALSE(batch.coverage_pending);
  const auto counts = store->queue_counts();
  EXPECT_EQ(states(counts, kZone, Group::file), (Counts{2, 2, 0, 0}));
  EXPECT_EQ(states(counts, kZone, Group::file_with_headers), (Counts{0, 1, 0, 0}));
  EXPECT_EQ(states(counts, kZone, Group::prefix), (Counts{1, 2, 0, 0}));
  EXPECT_EQ(states(counts, kZone, Group::tag), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(states(counts, kOther, Group::file), (Counts{1, 0, 0, 0}));

  settle(*store, 1, Settlement::done);
  EXPECT_EQ(status_of(*store, "host"), "done");
  for (const auto& [id, item] : covered) EXPECT_EQ(status_of(*store, id), "done") << id;
  for (const auto& [id, item] : uncovered) EXPECT_EQ(status_of(*store, id), "queued") << id;
  EXPECT_EQ(status_of(*store, "other-zone"), "queued");
  expect_counts_match_rows(*store);
}

TEST_P(StoreContract, TakenPrefixCoversWhatStartsWithIt) {
  auto store = open();
  add(*store, "member", {in(kZone, prefix("h/foo"))});
  const std::vector<std::pair<std::string, Item>> covered{
      {"under", file("https://h/foo/x")},
      {"longer", file("https://h/foobar")},
      {"http", file("http://h/foo")},
      {"sub-prefix", prefix("h/foo/bar")},
  };
  const std::vector<std::pair<std::string, Item>> uncovered{
      {"shorter", file("https://h/fo")},
      {"case", file("https://h/FOO/x")},
      {"other-host", file("https://g/foo/x")},
      {"parent-prefix", prefix("h/fo")},
  };
  for (const auto& [id, item] : covered) add(*store, id, {in(kZone, item)});
  for (const auto& [id, item] : uncovered) add(*store, id, {in(kZone, item)});

  auto r = request(Group::prefix, 1);
  r.budget = 1;  // the parent prefix is in the same queue: only "h/foo" is the member
  const auto batch = take(*store, r);
  EXPECT_EQ(values(batch), (std::vector<std::string>{"h/foo"}));
  EXPECT_EQ(batch.riders, 4);
  settle(*store, 1, Settlement::done);
  for (const auto& [id, item] : covered) EXPECT_EQ(status_of(*store, id), "done") << id;
  for (const auto& [id, item] : uncovered) EXPECT_EQ(status_of(*store, id), "queued") << id;
}

TEST_P(StoreContract, PurgeEverythingCoversItsWholeZoneOnly) {
  auto store = open();
  add(*store, "zone",
      {in(kZone, file("https://h/a")), in(kZone, file("https://h/b", {{"Origin", "https://o"}})),
       in(kZone, tag("t")), in(kZone, host("h")), in(kZone, prefix("h/p"))});
  add(*store, "other", {in(kOther, file("https://h/a")), in(kOther, tag("t"))});
  EXPECT_EQ(add(*store, "all", {in(kZone, everything())}, 2000).created, 1U);
  EXPECT_EQ(add(*store, "all-again", {in(kZone, everything())}, 2001).created, 0U);

  const auto batch = take(*store, Group::everything, 1);
  ASSERT_EQ(batch.members.size(), 1U);
  EXPECT_EQ(batch.members[0].item.kind, Kind::everything);
  EXPECT_EQ(batch.riders, 5);
  EXPECT_FALSE(batch.coverage_pending);
  auto counts = store->queue_counts();
  EXPECT_EQ(counts.zone_total(kZone, kPending), 0);
  EXPECT_EQ(counts.zone_total(kZone, kInFlight), 6);
  EXPECT_EQ(counts.zone_total(kOther, kPending), 2);

  settle(*store, 1, Settlement::done);
  EXPECT_EQ(status_of(*store, "zone"), "done");
  EXPECT_EQ(status_of(*store, "all"), "done");
  EXPECT_EQ(status_of(*store, "all-again"), "done");
  EXPECT_EQ(status_of(*store, "other"), "queued");
}

TEST_P(StoreContract, CoverageBeyondTheLimitIsFinishedByCoverStepsAndSkipsLaterTargets) {
  auto store = open();
  add(*store, "host", {in(kZone, host("h"))});
  add(*store, "files", files(5));

  const auto batch = take(*store, request(Group::host, 1), /*cover_limit=*/2);
  ASSERT_EQ(batch.members.size(), 1U);
  EXPECT_TRUE(batch.coverage_pending);
  EXPECT_EQ(batch.riders, 2);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{3, 2, 0, 0}));

  add(*store, "late", {in(kZone, file("https://h/6"))}, 3000);  // accepted after the take
  const auto step = [&] {
    return tx(*store,
              [&](Store& s) { return s.cover_step(kZone, 1, batch.members, batch.watermark, 2); });
  };
  EXPECT_EQ(step(), 2);
  EXPECT_EQ(step(), 1);
  EXPECT_EQ(step(), 0);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{1, 5, 0, 0}));

  settle(*store, 1, Settlement::done);
  EXPECT_EQ(status_of(*store, "host"), "done");
  EXPECT_EQ(status_of(*store, "files"), "done");
  EXPECT_EQ(status_of(*store, "late"), "queued");
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{1, 0, 5, 0}));
}

TEST_P(StoreContract, PurgeEverythingCoverageInStepsSkipsLaterTargets) {
  auto store = open();
  add(*store, "files", files(5));
  add(*store, "all", {in(kZone, everything())}, 2000);

  const auto batch = take(*store, request(Group::everything, 1), /*cover_limit=*/3);
  EXPECT_TRUE(batch.coverage_pending);
  EXPECT_EQ(batch.riders, 3);
  add(*store, "late", {in(kZone, tag("t"))}, 3000);
  const auto step = [&] {
    return tx(*store,
              [&](Store& s) { return s.cover_step(kZone, 1, batch.members, batch.watermark, 3); });
  };
  EXPECT_EQ(step(), 2);
  EXPECT_EQ(step(), 0);
  settle(*store, 1, Settlement::done);
  EXPECT_EQ(status_of(*store, "files"), "done");
  EXPECT_EQ(status_of(*store, "late"), "queued");
  EXPECT_EQ(tx(*store, [&](Store& s) { return s.cover_step("ffff", 1, batch.members, 99, 3); }), 0)
      << "an unknown zone covers nothing";
}

// --- settle -------------------------------------------------------------------------------------

TEST_P(StoreContract, SettleWorksInStepsAndReportsKindsAndCreationTimes) {
  auto store = open();
  add(*store, "host", {in(kZone, host("h"))}, 1000);
  for (int i = 1; i <= 4; ++i) {
    add(*store, "f" + std::to_string(i), {in(kZone, file("https://h/" + std::to_string(i)))},
        1000 + 100 * i);
  }
  std::vector<std::int64_t> created_at{1000, 1100, 1200, 1300, 1400};
  std::int64_t flight = 0;
  // Each outcome in turn over the same five rows: a host and the four URLs it covers.
  for (const auto outcome :
       {Settlement::released, Settlement::retry, Settlement::failed, Settlement::done}) {
    SCOPED_TRACE(static_cast<int>(outcome));
    ++flight;
    ASSERT_EQ(take(*store, Group::host, flight).riders, 4);
    SettleRequest request;
    request.flight = flight;
    request.outcome = outcome;
    request.now_ms = 20'000;
    request.code = 1016;
    request.message = "refused";
    std::array<std::size_t, kKindCount> by_kind{};
    std::vector<std::int64_t> created;
    std::vector<std::size_t> rows;
    std::vector<bool> more;
    do {
      const auto settled = settle(*store, request, 2);
      rows.push_back(settled.rows);
      more.push_back(settled.more);
      EXPECT_EQ(settled.created_ms.size(), settled.rows);
      for (std::size_t k = 0; k < by_kind.size(); ++k) by_kind[k] += settled.by_kind[k];
      created.insert(created.end(), settled.created_ms.begin(), settled.created_ms.end());
      ASSERT_LE(rows.size(), 4U);
    } while (more.back());
    EXPECT_EQ(rows, (std::vector<std::size_t>{2, 2, 1}));
    EXPECT_EQ(more, (std::vector<bool>{true, true, false}));
    EXPECT_EQ(by_kind[static_cast<std::size_t>(Kind::host)], 1U);
    EXPECT_EQ(by_kind[static_cast<std::size_t>(Kind::file)], 4U);
    std::sort(created.begin(), created.end());
    EXPECT_EQ(created, created_at);
    EXPECT_EQ(settle(*store, request, 2).rows, 0U) << "nothing of the flight is left";
    EXPECT_EQ(store->queue_counts().total(kInFlight), 0);
    if (outcome == Settlement::failed) {
      EXPECT_EQ(store->queue_counts().total(kFailed), 5);
      EXPECT_EQ(store->intent_status("f1")->errors.at(0).code, 1016);
      EXPECT_EQ(tx(*store, [](Store& s) { return s.retry_failed_step(30'000, 100); }), 5);
      created_at.assign(5, 30'000);
    } else if (outcome != Settlement::done) {
      EXPECT_EQ(store->queue_counts().total(kPending), 5);
    }
  }
  EXPECT_EQ(store->queue_counts().total(kDone), 5);
  EXPECT_EQ(status_of(*store, "f4"), "done");
  EXPECT_EQ(status_of(*store, "host"), "done");
}

TEST_P(StoreContract, RetryCountsAnAttemptOnlyForMembersAndOnlyWhenAsked) {
  auto store = open();
  add(*store, "host", {in(kZone, host("h"))});
  add(*store, "files", files(2));
  const auto batch = take(*store, Group::host, 1);
  ASSERT_EQ(batch.members.size(), 1U);
  ASSERT_EQ(batch.riders, 2);
  const auto member = batch.members[0].id;
  const auto retry = [&](std::int64_t flight, bool count_attempt) {
    SettleRequest request;
    request.flight = flight;
    request.outcome = Settlement::retry;
    request.now_ms = 5000;
    request.message = "HTTP 503";
    request.count_attempt = count_attempt;
    request.member_ids = {member};
    return settle(*store, request);
  };
  EXPECT_EQ(retry(1, true).rows, 3U);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::host), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{2, 0, 0, 0}));
  EXPECT_EQ(attempts(member), 1);
  const auto file_attempts = Sql(path_).rows("SELECT attempts FROM targets WHERE kind = 0");
  EXPECT_EQ(file_attempts, (std::vector<std::vector<std::string>>{{"0"}, {"0"}}));

  take(*store, Group::host, 2);
  retry(2, false);
  EXPECT_EQ(attempts(member), 1) << "a 429 or an auth pause costs no attempt";
  take(*store, Group::host, 3);
  retry(3, true);
  EXPECT_EQ(attempts(member), 2);
}

TEST_P(StoreContract, ReleasedAndRetriedRowsReturnToTheHead) {
  auto store = open();
  add(*store, "a", files(4));
  auto r = request(Group::file, 1);
  r.caps.max_urls = 2;
  const auto first = take(*store, r);
  ASSERT_EQ(first.members.size(), 2U);
  add(*store, "late", {in(kZone, file("https://h/5"))}, 2000);

  EXPECT_EQ(settle(*store, 1, Settlement::released).rows, 2U);
  r.flight = 2;
  EXPECT_EQ(ids(take(*store, r)), ids(first)) << "released rows keep their place: the head";

  SettleRequest retry;
  retry.flight = 2;
  retry.outcome = Settlement::retry;
  retry.now_ms = 3000;
  retry.count_attempt = true;
  retry.member_ids = ids(first);
  EXPECT_EQ(settle(*store, retry).rows, 2U);
  r.flight = 3;
  EXPECT_EQ(ids(take(*store, r)), ids(first)) << "retried rows too";

  settle(*store, 3, Settlement::done);
  r.flight = 4;
  EXPECT_EQ(values(take(*store, r)), (std::vector<std::string>{"https://h/3", "https://h/4"}));
}

// A refused batch of prefixes is split: each half takes what its members cover (defect 5 of
// issue 19); a refused single member goes alone, and what it covered stays with the parent
// flight, which goes back to the queue.
TEST_P(StoreContract, SplittingAFlightTakesTwinsAndCoveredRowsAlong) {
  auto store = open();
  add(*store, "urls", {in(kZone, file("https://h/a/1")), in(kZone, file("https://h/b/1"))});
  add(*store, "p", {in(kZone, prefix("h/a/")), in(kZone, prefix("h/b/"))}, 2000);
  const auto batch = take(*store, Group::prefix, 1);
  ASSERT_EQ(batch.members.size(), 2U);
  const auto& a = batch.members[0];
  const auto& b = batch.members[1];
  ASSERT_EQ(a.item.value, "h/a/");
  tx(*store, [&](Store& s) { s.split_flight(1, std::vector<std::int64_t>{a.id}, 2, true); });
  tx(*store, [&](Store& s) { s.split_flight(1, std::vector<std::int64_t>{b.id}, 3, false); });
  // Flight 2: the prefix and the URL under it; flight 3: the refused prefix alone.
  EXPECT_EQ(settle(*store, 2, Settlement::done).rows, 2U);
  SettleRequest refused;
  refused.flight = 3;
  refused.outcome = Settlement::failed;
  refused.now_ms = 5000;
  refused.code = 1100;
  refused.message = "refused";
  EXPECT_EQ(settle(*store, refused).rows, 1U);
  // What is left of flight 1 (the URL the refused prefix covered) goes back to the queue.
  EXPECT_EQ(settle(*store, 1, Settlement::released).rows, 1U);
  const auto urls = store->intent_status("urls");
  EXPECT_EQ(urls->done, 1);
  EXPECT_EQ(urls->queued, 1);
  expect_counts_match_rows(*store);
}

TEST_P(StoreContract, MovedRowsSettleWithTheirNewFlightOnly) {
  auto store = open();
  add(*store, "a", files(4));
  const auto batch = take(*store, Group::file, 1);
  ASSERT_EQ(batch.members.size(), 4U);
  const std::vector<std::int64_t> half{batch.members[2].id, batch.members[3].id};
  tx(*store, [&](Store& s) { s.move_to_flight(half, 2); });

  SettleRequest failed;
  failed.flight = 2;
  failed.outcome = Settlement::failed;
  failed.now_ms = 5000;
  failed.code = 1016;
  failed.message = "Unable to purge";
  failed.member_ids = half;
  EXPECT_EQ(settle(*store, failed).rows, 2U);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{0, 2, 0, 2}));
  EXPECT_EQ(settle(*store, 1, Settlement::done).rows, 2U);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{0, 0, 2, 2}));

  const auto status = store->intent_status("a");
  EXPECT_EQ(status->status(), "partial");
  ASSERT_EQ(status->errors.size(), 2U);
  std::vector<std::string> failed_items;
  for (const auto& error : status->errors) {
    EXPECT_EQ(error.kind, Kind::file);
    EXPECT_EQ(error.code, 1016);
    EXPECT_EQ(error.message, "Unable to purge");
    failed_items.push_back(error.item);
  }
  std::sort(failed_items.begin(), failed_items.end());
  EXPECT_EQ(failed_items, (std::vector<std::string>{"https://h/3", "https://h/4"}));

  const auto listed = store->failed_targets(10);
  ASSERT_EQ(listed.size(), 2U);
  for (const auto& target : listed) {
    EXPECT_EQ(target.zone_id, kZone);
    EXPECT_EQ(target.code, 1016);
    EXPECT_EQ(target.failed_ms, 5000);
  }
  EXPECT_EQ(store->failed_targets(1).size(), 1U);
}

// --- recovery, give-up, retry, prune ------------------------------------------------------------

TEST_P(StoreContract, RecoverMakesInFlightRowsPendingAgainAfterReopenInSteps) {
  std::vector<std::int64_t> taken;
  {
    auto store = open();
    add(*store, "a", files(5));
    taken = ids(take(*store, Group::file, 1));
    ASSERT_EQ(taken.size(), 5U);
  }
  auto store = open();
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{0, 5, 0, 0}));
  const auto step = [&] { return tx(*store, [](Store& s) { return s.recover_step(2); }); };
  EXPECT_EQ(step(), 2);
  EXPECT_EQ(step(), 2);
  EXPECT_EQ(step(), 1);
  EXPECT_EQ(step(), 0);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{5, 0, 0, 0}));
  EXPECT_EQ(status_of(*store, "a"), "queued");
  EXPECT_EQ(ids(take(*store, Group::file, 1)), taken) << "sent again, in the same order";
  expect_counts_match_rows(*store);
}

TEST_P(StoreContract, GiveUpFailsOldPendingTargetsWithTheirLastErrorInSteps) {
  auto store = open();
  add(*store, "old",
      {in(kZone, file("https://h/1")), in(kZone, file("https://h/2")), in(kZone, tag("t"))}, 1000);
  add(*store, "new", {in(kZone, file("https://h/3"))}, 5000);
  auto one = request(Group::file, 1);
  one.budget = 1;
  const auto sent = take(*store, one);
  SettleRequest retry;
  retry.flight = 1;
  retry.outcome = Settlement::retry;
  retry.now_ms = 3000;
  retry.message = "HTTP 503";
  retry.count_attempt = true;
  retry.member_ids = ids(sent);
  settle(*store, retry);
  take(*store, Group::tag, 2);  // in flight: never given up

  const std::string prefix = "gave up after 1s without a successful purge (last error: ";
  const auto step = [&](std::int64_t cutoff) {
    return tx(*store, [&](Store& s) { return s.give_up_step(cutoff, 9000, prefix, 1); });
  };
  std::vector<std::int64_t> created;
  auto settled = step(2000);
  EXPECT_EQ(settled.rows, 1U);
  EXPECT_TRUE(settled.more);
  created.insert(created.end(), settled.created_ms.begin(), settled.created_ms.end());
  settled = step(2000);
  EXPECT_EQ(settled.rows, 1U);
  EXPECT_EQ(settled.by_kind[static_cast<std::size_t>(Kind::file)], 1U);
  created.insert(created.end(), settled.created_ms.begin(), settled.created_ms.end());
  settled = step(2000);
  EXPECT_EQ(settled.rows, 0U);
  EXPECT_FALSE(settled.more);
  EXPECT_EQ(created, (std::vector<std::int64_t>{1000, 1000}));
  EXPECT_EQ(step(5000).rows, 0U) << "created exactly at the cutoff is not older than it";

  const auto status = store->intent_status("old");
  EXPECT_EQ(status->failed, 2);
  EXPECT_EQ(status->in_flight, 1);
  std::map<std::string, std::string> messages;
  for (const auto& error : status->errors) {
    EXPECT_EQ(error.code, 0);
    messages[error.item] = error.message;
  }
  EXPECT_EQ(messages["https://h/1"], prefix + "HTTP 503)");
  EXPECT_EQ(messages["https://h/2"], prefix + "none; never sent)");
  EXPECT_EQ(status_of(*store, "new"), "queued");
  const auto counts = store->queue_counts();
  EXPECT_EQ(states(counts, kZone, Group::file), (Counts{1, 0, 0, 2}));
  EXPECT_EQ(states(counts, kZone, Group::tag), (Counts{0, 1, 0, 0}));
  ASSERT_FALSE(store->failed_targets(10).empty());
  EXPECT_EQ(store->failed_targets(10)[0].failed_ms, 9000);
}

TEST_P(StoreContract, RetryFailedRequeuesWithAFreshClockInSteps) {
  auto store = open();
  add(*store, "a", files(3), 1000);
  const auto batch = take(*store, Group::file, 1);
  SettleRequest failed;
  failed.flight = 1;
  failed.outcome = Settlement::failed;
  failed.now_ms = 2000;
  failed.code = 1015;
  failed.message = "refused";
  failed.count_attempt = true;
  failed.member_ids = ids(batch);
  settle(*store, failed);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{0, 0, 0, 3}));
  EXPECT_EQ(attempts(batch.members[0].id), 1);

  const auto step = [&] {
    return tx(*store, [](Store& s) { return s.retry_failed_step(50'000, 2); });
  };
  EXPECT_EQ(step(), 2);
  EXPECT_EQ(step(), 1);
  EXPECT_EQ(step(), 0);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{3, 0, 0, 0}));
  const auto status = store->intent_status("a");
  EXPECT_EQ(status->status(), "queued");
  EXPECT_TRUE(status->errors.empty());
  EXPECT_TRUE(store->failed_targets(10).empty());
  EXPECT_EQ(store->oldest_pending(kZone), (std::map<Group, std::int64_t>{{Group::file, 50'000}}));
  // Retried rows are queued again under new ids (RetriedRowsQueueAtTheTail...): found by value.
  EXPECT_EQ(Sql(path_).integer("SELECT attempts FROM targets WHERE value IS NULL AND key = '" +
                               batch.members[0].item.value + "'"),
            0);
  EXPECT_EQ(tx(*store, [](Store& s) { return s.give_up_step(40'000, 60'000, "x(", 100); }).rows, 0U)
      << "the give-up clock restarted";
}

// Defect 7 of issue 19: retried rows got a fresh creation time but kept their old ids, so the
// queue's head (by id) was younger than rows behind it and the oldest-age gauge read younger
// than the truth. A retried row is queued again at the tail, as a new submission would be.
TEST_P(StoreContract, RetriedRowsQueueAtTheTailSoTheHeadIsTheOldest) {
  auto store = open();
  add(*store, "old", {in(kZone, file("https://h/a"))}, 1000);
  add(*store, "mid", {in(kZone, file("https://h/b"))}, 5000);
  auto one = request(Group::file, 1);
  one.budget = 1;
  ASSERT_EQ(values(take(*store, one)), std::vector<std::string>{"https://h/a"});
  settle(*store, 1, Settlement::failed);
  EXPECT_EQ(tx(*store, [](Store& s) { return s.retry_failed_step(9000, 100); }), 1);
  EXPECT_EQ(store->oldest_pending(kZone), (std::map<Group, std::int64_t>{{Group::file, 5000}}))
      << "the oldest pending row is the one accepted at 5000";
  EXPECT_EQ(values(take(*store, Group::file, 2)),
            (std::vector<std::string>{"https://h/b", "https://h/a"}))
      << "the retried row goes behind what waited meanwhile";
  EXPECT_EQ(store->intent_status("old")->in_flight, 1) << "the intent still knows its item";
  expect_counts_match_rows(*store);
}

// Defect 3 of issue 19: an item acknowledged again while its twin was pending merged into the twin
// and inherited the twin's give-up clock: failed `give_up_after` from the first acknowledgement,
// not from its own.
TEST_P(StoreContract, AMergedDuplicateRestartsItsTwinsGiveUpClock) {
  auto store = open();
  add(*store, "first", {in(kZone, file("https://h/x"))}, 1000);
  EXPECT_EQ(add(*store, "again", {in(kZone, file("https://h/x"))}, 16'000).created, 0U);
  // give_up_after 20 s, at 21,001: the first acknowledgement is too old, the latest is not.
  EXPECT_EQ(tx(*store, [](Store& s) { return s.give_up_step(1001, 21'001, "x(", 100); }).rows, 0U);
  EXPECT_EQ(status_of(*store, "again"), "queued");
  EXPECT_EQ(tx(*store, [](Store& s) { return s.give_up_step(16'001, 36'001, "x(", 100); }).rows, 1U)
      << "20 s after the latest acknowledgement it is given up";
  EXPECT_EQ(status_of(*store, "again"), "failed");
}

// --- last_everything_ms -----------------------------------------------------------------------

TEST_P(StoreContract, LastEverythingIsWhenOneWasTakenAndSurvivesSettlePruneAndReopen) {
  {
    auto store = open();
    EXPECT_EQ(store->last_everything_ms(kZone), std::nullopt) << "a zone never seen";
    add(*store, "url", {in(kZone, file("https://h/a"))});
    add(*store, "all", {in(kZone, everything())}, 2000);
    EXPECT_EQ(store->last_everything_ms(kZone), std::nullopt) << "accepted is not sent";
    take(*store, Group::file, 1);
    EXPECT_EQ(store->last_everything_ms(kZone), std::nullopt) << "other kinds do not count";
    auto sent = request(Group::everything, 2);
    sent.now_ms = 12'345;
    take(*store, sent);
    EXPECT_EQ(store->last_everything_ms(kZone), 12'345);
    EXPECT_EQ(store->last_everything_ms(kOther), std::nullopt);
    settle(*store, 1, Settlement::done);
    settle(*store, 2, Settlement::done);
    EXPECT_EQ(tx(*store, [](Store& s) { return s.prune_step(100'000, 10); }), 2);
  }
  auto store = open();
  EXPECT_EQ(store->last_everything_ms(kZone), 12'345) << "after pruning and a restart";
  EXPECT_EQ(open(true)->last_everything_ms(kZone), 12'345) << "on a read-only connection";

  // A retry is a new send: the latest take counts.
  add(*store, "again", {in(kZone, everything())}, 20'000);
  auto first = request(Group::everything, 3);
  first.now_ms = 30'000;
  take(*store, first);
  settle(*store, 3, Settlement::released);
  auto retry = request(Group::everything, 4);
  retry.now_ms = 31'000;
  take(*store, retry);
  EXPECT_EQ(store->last_everything_ms(kZone), 31'000);
}

TEST_F(StoreTest, LastEverythingIsAddedToAnExistingDatabase) {
  {
    auto store = open();
    add(*store, "all", {in(kZone, everything())});
  }
  Sql(path_).exec("DROP TRIGGER targets_everything_sent; DROP TABLE everything_sent;");
  auto store = open();
  EXPECT_EQ(store->last_everything_ms(kZone), std::nullopt);
  take(*store, Group::everything, 1);
  EXPECT_EQ(store->last_everything_ms(kZone), 10'000);
  // A primary-key lookup, whatever the size of the targets table.
  const auto plan =
      Sql(path_).rows("EXPLAIN QUERY PLAN SELECT at_ms FROM everything_sent WHERE zone = 1");
  ASSERT_FALSE(plan.empty());
  EXPECT_NE(plan[0].back().find("INTEGER PRIMARY KEY"), std::string::npos) << plan[0].back();
}

TEST_P(StoreContract, PruneDeletesFinishedIntentsAndTheTargetsNoOneElseLinks) {
  auto store = open();
  add(*store, "old-done", {in(kZone, file("https://h/1")), in(kZone, file("https://h/2"))}, 1000);
  add(*store, "newer", {in(kZone, file("https://h/1"))}, 5000);  // shares the pending target
  add(*store, "old-open", {in(kZone, file("https://h/3")), in(kZone, tag("t"))}, 1000);
  add(*store, "old-failed", {in(kZone, file("https://h/4"))}, 1000);
  const auto batch = take(*store, Group::file, 1);
  ASSERT_EQ(batch.members.size(), 4U);
  tx(*store,
     [&](Store& s) { s.move_to_flight(std::vector<std::int64_t>{batch.members[3].id}, 2); });
  settle(*store, 2, Settlement::failed);
  settle(*store, 1, Settlement::done);
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{0, 0, 3, 1}));

  const auto prune = [&](std::int64_t before) {
    return tx(*store, [&](Store& s) { return s.prune_step(before, 10); });
  };
  EXPECT_EQ(prune(3000), 2) << "old-done and old-failed";
  EXPECT_EQ(prune(3000), 0);
  EXPECT_EQ(status_of(*store, "old-done"), "missing");
  EXPECT_EQ(status_of(*store, "old-failed"), "missing");
  EXPECT_EQ(status_of(*store, "newer"), "done") << "its shared target is kept";
  EXPECT_EQ(store->intent_status("old-open")->total, 2) << "a pending tag keeps it";
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{0, 0, 2, 0}));
  EXPECT_TRUE(store->failed_targets(10).empty());

  EXPECT_EQ(prune(10'000), 1) << "newer";
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::file), (Counts{0, 0, 1, 0}));
  EXPECT_EQ(states(store->queue_counts(), kZone, Group::tag), (Counts{1, 0, 0, 0}));
  expect_counts_match_rows(*store);
}

TEST_P(StoreContract, PruneWorksInSteps) {
  auto store = open();
  for (int i = 1; i <= 3; ++i) {
    add(*store, "i" + std::to_string(i), {in(kZone, tag("t" + std::to_string(i)))}, 1000 + i);
  }
  take(*store, Group::tag, 1);
  settle(*store, 1, Settlement::done);
  const auto step = [&] { return tx(*store, [](Store& s) { return s.prune_step(5000, 1); }); };
  EXPECT_EQ(step(), 1);
  EXPECT_EQ(status_of(*store, "i1"), "missing") << "oldest first";
  EXPECT_EQ(status_of(*store, "i2"), "done");
  EXPECT_EQ(step(), 1);
  EXPECT_EQ(step(), 1);
  EXPECT_EQ(step(), 0);
  EXPECT_EQ(store->queue_counts().total(kDone), 0);
}

// --- sends, probe, schema -----------------------------------------------------------------------

TEST_P(StoreContract, AnAccountsCutoffLeavesOtherAccountsSendsAlone) {
  // Each account's history is kept for its own global window; a shorter window of another
  // account must not delete it (a restart or a takeover paces from it).
  auto store = open();
  tx(*store, [](Store& s) {
    s.record_send(SendRecord{"long-window", Kind::file, 1000}, 0);
    s.record_send(SendRecord{"short-window", Kind::file, 5000}, 4000);
  });
  const auto sends = store->recent_sends(0);
  ASSERT_EQ(sends.size(), 2U);
  EXPECT_EQ(sends[0].account, "long-window");
  EXPECT_EQ(sends[0].at_ms, 1000);
}

TEST_P(StoreContract, RecentSendsKeepOnlyThoseAfterTheCutoff) {
  {
    auto store = open();
    tx(*store, [](Store& s) {
      s.record_send(SendRecord{"acct-a", Kind::file, 1000}, 0);
      s.record_send(SendRecord{"acct-b", Kind::tag, 2000}, 0);
      s.record_send(SendRecord{"acct-a", Kind::host, 3000}, 1500);  // drops the one at 1000
    });
  }
  auto store = open();
  const auto sends = store->recent_sends(0);
  ASSERT_EQ(sends.size(), 2U);
  EXPECT_EQ(sends[0].account, "acct-b");
  EXPECT_EQ(sends[0].kind, Kind::tag);
  EXPECT_EQ(sends[0].at_ms, 2000);
  EXPECT_EQ(sends[1].account, "acct-a");
  EXPECT_EQ(sends[1].kind, Kind::host);
  EXPECT_EQ(sends[1].at_ms, 3000);
  const auto later = store->recent_sends(2000);
  ASSERT_EQ(later.size(), 1U);
  EXPECT_EQ(later[0].at_ms, 3000);
}

TEST_P(StoreContract, TakeRecordsItsSendOnlyWhenItYieldsABatch) {
  auto store = open();
  add(*store, "a", files(2), 1000);
  auto r = request(Group::file, 1);
  r.account = "acct";
  r.caps.max_urls = 3;
  r.linger_ms = 500;
  r.now_ms = 1200;
  EXPECT_TRUE(take(*store, r).members.empty());
  EXPECT_TRUE(store->recent_sends(0).empty()) << "a lingering head sends nothing";
  r.now_ms = 1500;
  EXPECT_EQ(take(*store, r).members.size(), 2U);
  auto sends = store->recent_sends(0);
  ASSERT_EQ(sends.size(), 1U);
  EXPECT_EQ(sends[0].account, "acct");
  EXPECT_EQ(sends[0].kind, Kind::file);
  EXPECT_EQ(sends[0].at_ms, 1500);
  r.flight = 2;
  EXPECT_TRUE(take(*store, r).members.empty());
  EXPECT_EQ(store->recent_sends(0).size(), 1U) << "an empty queue sends nothing";

  add(*store, "b", {in(kZone, tag("t1")), in(kZone, tag("t2"))}, 2000);
  auto anonymous = request(Group::tag, 3);
  anonymous.budget = 1;
  take(*store, anonymous);
  EXPECT_EQ(store->recent_sends(0).size(), 1U) << "no account, no record";
  auto tags = request(Group::tag, 4);
  tags.account = "acct";
  tags.now_ms = 9000;
  tags.keep_sends_after_ms = 2000;
  take(*store, tags);
  sends = store->recent_sends(0);
  ASSERT_EQ(sends.size(), 1U) << "the send at 1500 is forgotten";
  EXPECT_EQ(sends[0].kind, Kind::tag);
  EXPECT_EQ(sends[0].at_ms, 9000);
}

TEST_P(StoreContract, ProbeWriteAndSize) {
  auto store = open();
  tx(*store, [](Store& s) { s.probe_write(1000); });
  tx(*store, [](Store& s) { s.probe_write(2000); });
  EXPECT_EQ(Sql(path_).integer("SELECT probed_ms FROM health"), 2000);
  EXPECT_GT(store->size_bytes(), 0);
}

TEST_F(StoreTest, RefusesANewerSchemaNamingThePath) {
  { auto store = open(); }
  EXPECT_EQ(Sql(path_).integer("PRAGMA user_version"), kSqliteSchemaVersion);
  Sql(path_).exec("PRAGMA user_version=" + std::to_string(kSqliteSchemaVersion + 1));
  try {
    auto store = open();
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path_), std::string::npos) << what;
    EXPECT_NE(what.find("newer"), std::string::npos) << what;
  }
}

TEST_F(StoreTest, UnopenablePathNamesTheSetting) {
  const auto missing = (dir_ / "missing-dir" / "q.db").string();
  try {
    auto store = open_sqlite_store(missing);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("storage.path"), std::string::npos) << what;
    EXPECT_NE(what.find(missing), std::string::npos) << what;
  }
}

TEST_P(StoreContract, ReadOnlyConnectionReadsBesideAnOpenWriteTransaction) {
  auto writer = open();
  add(*writer, "a", {in(kZone, file("https://h/1")), in(kZone, tag("t"))});
  auto reader = open(/*read_only=*/true);

  writer->begin();
  const std::vector<ZonedItem> more{in(kZone, file("https://h/2"))};
  writer->add_intent("b", 2000, kPeer, "test", more);

  const auto [status, counts] =
      tx(*reader, [](Store& s) { return std::make_pair(s.intent_status("a"), s.queue_counts()); });
  ASSERT_TRUE(status);
  EXPECT_EQ(status->total, 2);
  EXPECT_EQ(status->queued, 2);
  EXPECT_EQ(states(counts, kZone, Group::file), (Counts{1, 0, 0, 0})) << "the committed state";
  EXPECT_FALSE(reader->intent_status("b"));
  EXPECT_THROW(tx(*reader, [](Store& s) { s.probe_write(1); }), std::runtime_error);

  writer->commit();
  EXPECT_TRUE(reader->intent_status("b"));
  EXPECT_EQ(states(reader->queue_counts(), kZone, Group::file), (Counts{2, 0, 0, 0}));
}

// --- migration from version 1 -------------------------------------------------------------------

// The version-1 schema, as purgeqd created it before version 2 (daemon/store/store.cpp at commit
// 3c22ecf).
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS intents(
  id TEXT PRIMARY KEY,
  created_ms INTEGER NOT NULL,
  peer_uid INTEGER NOT NULL,
  peer_gid INTEGER NOT NULL,
  peer_pid INTEGER NOT NULL,
  source TEXT NOT NULL,
  item_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS targets(
  id INTEGER PRIMARY KEY,
  zone_id TEXT NOT NULL,
  kind INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  headers TEXT,
  state INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  not_before_ms INTEGER NOT NULL DEFAULT 0,
  error_code INTEGER,
  error_message TEXT
);
CREATE INDEX IF NOT EXISTS targets_pending_key ON targets(zone_id, kind, key) WHERE state = 0;
CREATE INDEX IF NOT EXISTS targets_state ON targets(state);
CREATE TABLE IF NOT EXISTS intent_targets(
  intent_id TEXT NOT NULL REFERENCES intents(id) ON DELETE CASCADE,
  target_id INTEGER NOT NULL REFERENCES targets(id),
  PRIMARY KEY(intent_id, target_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS intent_targets_target ON intent_targets(target_id);
CREATE TABLE IF NOT EXISTS health(id INTEGER PRIMARY KEY CHECK (id = 1), probed_ms INTEGER NOT NULL);
)sql";

TEST_F(StoreTest, MigratesAVersion1Database) {
  const auto with_headers = file("https://h/hdr", {{"Origin", "https://o"}});
  ASSERT_EQ(with_headers.key(), "https://h/hdr\norigin:https://o") << "the key row 5 stores";
  {
    Sql v1(path_);
    v1.exec("PRAGMA journal_mode=WAL");
    v1.exec(std::string(kSchemaV1));
    v1.exec("PRAGMA user_version=1");
    v1.exec(
        "INSERT INTO intents VALUES ('v1-a', 100, 1000, 1000, 7, 'v1', 2), "
        "('v1-b', 200, 1000, 1000, 7, 'v1', 1), ('v1-c', 300, 1000, 1000, 7, 'v1', 1), "
        "('v1-d', 400, 1000, 1000, 7, 'v1', 3)");
    // Ids do not follow the keys' order. ZONE and OTHER stand for kZone and kOther.
    std::string targets = R"sql(
INSERT INTO targets(id, zone_id, kind, key, value, headers, state, created_ms, updated_ms,
                    attempts, error_code, error_message) VALUES
  (1, 'ZONE', 0, 'https://h/z', 'https://h/z', NULL, 0, 100, 100, 0, NULL, NULL),
  (2, 'ZONE', 1, 'blog', 'Blog', NULL, 1, 100, 150, 1, NULL, NULL),
  (3, 'ZONE', 0, 'https://h/done', 'https://h/done', NULL, 2, 200, 250, 1, NULL, NULL),
  (4, 'ZONE', 1, 'bad', 'bad', NULL, 3, 300, 350, 1, 1100, 'tag too long'),
  (5, 'ZONE', 0, 'https://h/hdr' || char(10) || 'origin:https://o', 'https://h/hdr',
   '[["Origin","https://o"]]', 0, 400, 400, 0, NULL, NULL),
  (6, 'ZONE', 0, 'https://h/a', 'https://h/a', NULL, 0, 400, 400, 0, NULL, NULL),
  (7, 'OTHER', 0, 'https://h/z', 'https://h/z', NULL, 0, 400, 400, 0, NULL, NULL);
)sql";
    for (const auto& [token, zone] : {std::pair{"'ZONE'", kZone}, std::pair{"'OTHER'", kOther}}) {
      const std::string quoted = "'" + std::string(zone) + "'";
      for (auto at = targets.find(token); at != std::string::npos; at = targets.find(token, at)) {
        targets.replace(at, std::string_view(token).size(), quoted);
      }
    }
    v1.exec(targets);
    v1.exec(
        "INSERT INTO intent_targets VALUES ('v1-a', 1), ('v1-a', 2), ('v1-b', 3), ('v1-c', 4), "
        "('v1-d', 5), ('v1-d', 6), ('v1-d', 7)");
  }

  auto store = open();
  EXPECT_EQ(Sql(path_).integer("PRAGMA user_version"), kSqliteSchemaVersion);
  const auto a = store->intent_status("v1-a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->total, 2);
  EXPECT_EQ(a->queued, 2) << "in flight in the old process: pending again";
  EXPECT_EQ(a->created_ms, 100);
  EXPECT_EQ(a->peer.pid, 7);
  EXPECT_EQ(status_of(*store, "v1-b"), "done");
  const auto c = store->intent_status("v1-c");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status(), "failed");
  ASSERT_EQ(c->errors.size(), 1U);
  EXPECT_EQ(c->errors[0].kind, Kind::tag);
  EXPECT_EQ(c->errors[0].item, "bad");
  EXPECT_EQ(c->errors[0].code, 1100);
  EXPECT_EQ(c->errors[0].message, "tag too long");
  EXPECT_EQ(store->intent_status("v1-d")->queued, 3);

  const auto counts = store->queue_counts();
  EXPECT_EQ(states(counts, kZone, Group::file), (Counts{2, 0, 1, 0}));
  EXPECT_EQ(states(counts, kZone, Group::tag), (Counts{1, 0, 0, 1}));
  EXPECT_EQ(states(counts, kZone, Group::file_with_headers), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(states(counts, kOther, Group::file), (Counts{1, 0, 0, 0}));
  EXPECT_EQ(counts.total(kInFlight), 0);
  expect_counts_match_rows(*store);

  // New intents merge into migrated pending rows; the counts triggers run on them.
  EXPECT_EQ(
      add(*store, "new", {in(kZone, file("https://h/a")), in(kZone, tag("BLOG"))}, 500).created,
      0U);
  EXPECT_EQ(add(*store, "new2", {in(kZone, file("https://h/new"))}, 500).created, 1U);

  EXPECT_EQ(ids(take(*store, Group::file, 1)), (std::vector<std::int64_t>{1, 6, 8}))
      << "served in id order";
  const auto tags = take(*store, Group::tag, 2);
  ASSERT_EQ(tags.members.size(), 1U);
  EXPECT_EQ(tags.members[0].id, 2);
  EXPECT_EQ(tags.members[0].item.value, "Blog");
  const auto headers = take(*store, Group::file_with_headers, 3);
  ASSERT_EQ(headers.members.size(), 1U);
  EXPECT_EQ(headers.members[0].id, 5);
  EXPECT_EQ(headers.members[0].item, with_headers);
  EXPECT_EQ(ids(take(*store, Group::file, 4)), std::vector<std::int64_t>{})
      << "nothing else pending in the zone";

  const auto failed = store->failed_targets(10);
  ASSERT_EQ(failed.size(), 1U);
  EXPECT_EQ(failed[0].id, 4);
  EXPECT_EQ(failed[0].zone_id, kZone);
  EXPECT_EQ(failed[0].failed_ms, 350);

  // Migrated links cascade when an intent is pruned.
  EXPECT_EQ(tx(*store, [](Store& s) { return s.prune_step(250, 10); }), 1);
  EXPECT_EQ(status_of(*store, "v1-b"), "missing");
  EXPECT_EQ(Sql(path_).integer("SELECT count(*) FROM links"), 9) << "7 migrated + 3 new - 1";
  expect_counts_match_rows(*store);

  // Reopening does not migrate again.
  store.reset();
  store = open();
  EXPECT_EQ(status_of(*store, "v1-c"), "failed");
  EXPECT_EQ(store->intent_status("v1-d")->in_flight, 2);
}

// --- priority lanes (schema version 3)
// ------------------------------------------------------------

TEST_P(StoreContract, EachLaneIsAQueueOfItsOwnCountedWithoutScanning) {
  auto store = open();
  add_in(*store, Lane::normal, "n", files(5));
  add_in(*store, Lane::high, "h",
         {in(kZone, file("https://h/hi-1")), in(kZone, file("https://h/hi-2"))}, 2000);
  add_in(*store, Lane::bulk, "b", {in(kZone, file("https://h/bulk"))}, 3000);
  const auto counts = store->queue_counts();
  EXPECT_EQ(counts.pending_in(kZone, Group::file, Lane::normal), 5);
  EXPECT_EQ(counts.pending_in(kZone, Group::file, Lane::high), 2);
  EXPECT_EQ(counts.pending_in(kZone, Group::file, Lane::bulk), 1);
  EXPECT_EQ(counts.of(kZone, Group::file, kPending), 8) << "zones sums the lanes";
  EXPECT_EQ(counts.lane_total(Lane::high), 2);
  expect_counts_match_rows(*store);

  // The high queue's head is its own, though its items came after the normal ones.
  EXPECT_EQ(values(take_lane(*store, Group::file, Lane::high, 1)),
            (std::vector<std::string>{"https://h/hi-1", "https://h/hi-2"}));
  EXPECT_EQ(values(take_lane(*store, Group::file, Lane::bulk, 2)),
            (std::vector<std::string>{"https://h/bulk"}));
  EXPECT_EQ(take_lane(*store, Group::file, Lane::normal, 3).members.size(), 5U);
  EXPECT_EQ(store->queue_counts().total(kPending), 0);
  expect_counts_match_rows(*store);
  // The lane survives a retry: the row goes back to its own queue.
  settle(*store, 1, Settlement::retry);
  EXPECT_EQ(store->queue_counts().pending_in(kZone, Group::file, Lane::high), 2);
  expect_counts_match_rows(*store);
}

TEST_P(StoreContract, APendingTwinInALowerLaneIsRaisedNotDuplicated) {
  auto store = open();
  add_in(*store, Lane::bulk, "crawl", files(3));
  // A deploy asks for one of them: it must not wait behind the bulk backlog.
  const auto result = add_in(*store, Lane::high, "deploy", {in(kZone, file("https://h/2"))}, 2000);
  EXPECT_EQ(result.created, 0U) << "merged into the twin";
  auto counts = store->queue_counts();
  EXPECT_EQ(counts.pending_in(kZone, Group::file, Lane::bulk), 2);
  EXPECT_EQ(counts.pending_in(kZone, Group::file, Lane::high), 1);
  EXPECT_EQ(counts.of(kZone, Group::file, kPending), 3);
  expect_counts_match_rows(*store);

  // A lower intent never lowers a twin.
  EXPECT_EQ(add_in(*store, Lane::bulk, "later", {in(kZone, file("https://h/2"))}, 3000).created,
            0U);
  EXPECT_EQ(store->queue_counts().pending_in(kZone, Group::file, Lane::high), 1);

  const auto high = take_lane(*store, Group::file, Lane::high, 1);
  EXPECT_EQ(values(high), (std::vector<std::string>{"https://h/2"}));
  EXPECT_EQ(store->intent_status("deploy")->in_flight, 1);
  EXPECT_EQ(store->intent_status("crawl")->in_flight, 1) << "the crawl's item rides along";
  settle(*store, 1, Settlement::done);
  EXPECT_EQ(status_of(*store, "deploy"), "done");
  EXPECT_EQ(status_of(*store, "later"), "done");
  expect_counts_match_rows(*store);
  EXPECT_EQ(values(take_lane(*store, Group::file, Lane::bulk, 2)),
            (std::vector<std::string>{"https://h/1", "https://h/3"}));
}

TEST_P(StoreContract, IntentStatusReportsItsLane) {
  auto store = open();
  add_in(*store, Lane::bulk, "b", files(1));
  add(*store, "n", {in(kZone, tag("t"))});
  EXPECT_EQ(store->intent_status("b")->lane, Lane::bulk);
  EXPECT_EQ(store->intent_status("n")->lane, Lane::normal);
}

TEST_P(StoreContract, OldestPendingLooksAtEveryLane) {
  auto store = open();
  add_in(*store, Lane::high, "h", {in(kZone, file("https://h/new"))}, 5000);
  add_in(*store, Lane::bulk, "b", {in(kZone, file("https://h/old"))}, 2000);
  const auto oldest = store->oldest_pending(kZone);
  ASSERT_TRUE(oldest.contains(Group::file));
  EXPECT_EQ(oldest.at(Group::file), 2000);
}

// The version-2 schema and count triggers, as purgeqd created them before lanes (schema 3).
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE zones(id INTEGER PRIMARY KEY, zone_id TEXT NOT NULL UNIQUE);
CREATE TABLE intents(
  ref INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL,
  peer_uid INTEGER NOT NULL, peer_gid INTEGER NOT NULL, peer_pid INTEGER NOT NULL,
  source TEXT NOT NULL, item_count INTEGER NOT NULL);
CREATE INDEX intents_created ON intents(created_ms);
CREATE TABLE targets(
  id INTEGER PRIMARY KEY, zone INTEGER NOT NULL, grp INTEGER NOT NULL, kind INTEGER NOT NULL,
  key TEXT NOT NULL, value TEXT, headers TEXT, state INTEGER NOT NULL, flight INTEGER,
  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  error_code INTEGER, error_message TEXT);
CREATE INDEX targets_twin ON targets(zone, kind, key) WHERE state = 0;
CREATE INDEX targets_queue ON targets(zone, grp) WHERE state = 0;
CREATE INDEX targets_flight ON targets(flight) WHERE state = 1;
CREATE INDEX targets_age ON targets(state, created_ms);
CREATE TABLE links(
  intent INTEGER NOT NULL REFERENCES intents(ref) ON DELETE CASCADE,
  target INTEGER NOT NULL, PRIMARY KEY(intent, target)) WITHOUT ROWID;
CREATE INDEX links_target ON links(target);
CREATE TABLE queue_counts(
  zone INTEGER NOT NULL, grp INTEGER NOT NULL, state INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY(zone, grp, state)) WITHOUT ROWID;
CREATE TABLE sends(account TEXT NOT NULL, kind INTEGER NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX sends_at ON sends(at_ms);
CREATE TABLE IF NOT EXISTS health(id INTEGER PRIMARY KEY CHECK (id = 1), probed_ms INTEGER NOT NULL);
CREATE TRIGGER targets_counted_update AFTER UPDATE OF state ON targets
  WHEN OLD.state != NEW.state BEGIN
  UPDATE queue_counts SET n = n - 1 WHERE zone = OLD.zone AND grp = OLD.grp AND state = OLD.state;
  INSERT INTO queue_counts(zone, grp, state, n) VALUES (NEW.zone, NEW.grp, NEW.state, 1)
    ON CONFLICT(zone, grp, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER targets_counted_delete AFTER DELETE ON targets BEGIN
  UPDATE queue_counts SET n = n - 1 WHERE zone = OLD.zone AND grp = OLD.grp AND state = OLD.state;
END;
)sql";

TEST_F(StoreTest, MigratesAVersion2DatabaseKeepingEveryRowInTheNormalLane) {
  {
    Sql v2(path_);
    v2.exec("PRAGMA journal_mode=WAL");
    v2.exec(std::string(kSchemaV2));
    v2.exec("PRAGMA user_version=2");
    v2.exec("INSERT INTO zones(id, zone_id) VALUES (1, '" + std::string(kZone) + "')");
    v2.exec(
        "INSERT INTO intents(ref, id, created_ms, peer_uid, peer_gid, peer_pid, source, "
        "item_count) VALUES (1, 'v2-a', 100, 1000, 1000, 7, 'v2', 3), "
        "(2, 'v2-b', 200, 1000, 1000, 7, 'v2', 1)");
    // Two pending URLs, one done, one pending tag.
    v2.exec(
        "INSERT INTO targets(id, zone, grp, kind, key, value, headers, state, flight, "
        "created_ms, updated_ms) VALUES "
        "(1, 1, 0, 0, 'https://h/1', NULL, NULL, 0, NULL, 100, 100), "
        "(2, 1, 0, 0, 'https://h/2', NULL, NULL, 0, NULL, 100, 100), "
        "(3, 1, 0, 0, 'https://h/3', NULL, NULL, 2, NULL, 100, 150), "
        "(4, 1, 1, 1, 'blog', 'Blog', NULL, 0, NULL, 200, 200)");
    v2.exec("INSERT INTO links(intent, target) VALUES (1, 1), (1, 2), (1, 3), (2, 4)");
    v2.exec(
        "INSERT INTO queue_counts(zone, grp, state, n) VALUES (1, 0, 0, 2), (1, 0, 2, 1), "
        "(1, 1, 0, 1), (1, 1, 1, 0)");
  }
  auto store = open();
  // Migrated to the current version (3 when this test was written; 4 adds acked_ms).
  EXPECT_EQ(Sql(path_).integer("PRAGMA user_version"), kSqliteSchemaVersion);
  const auto counts = store->queue_counts();
  EXPECT_EQ(states(counts, kZone, Group::file), (Counts{2, 0, 1, 0}));
  EXPECT_EQ(counts.pending_in(kZone, Group::file, Lane::normal), 2);
  EXPECT_EQ(counts.pending_in(kZone, Group::tag, Lane::normal), 1);
  EXPECT_EQ(counts.lane_total(Lane::high), 0);
  expect_counts_match_rows(*store);
  const auto a = store->intent_status("v2-a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->lane, Lane::normal);
  EXPECT_EQ(a->queued, 2);
  EXPECT_EQ(a->done, 1);

  // The migrated queue works as any: a high twin raises a migrated row, and takes see lanes.
  EXPECT_EQ(add_in(*store, Lane::high, "h", {in(kZone, file("https://h/2"))}, 500).created, 0U);
  expect_counts_match_rows(*store);
  EXPECT_EQ(values(take_lane(*store, Group::file, Lane::high, 1)),
            (std::vector<std::string>{"https://h/2"}));
  EXPECT_EQ(values(take_lane(*store, Group::file, Lane::normal, 2)),
            (std::vector<std::string>{"https://h/1"}));
  const auto tags = take_lane(*store, Group::tag, Lane::normal, 3);
  ASSERT_EQ(tags.members.size(), 1U);
  EXPECT_EQ(tags.members[0].item.value, "Blog");
  settle(*store, 1, Settlement::done);
  settle(*store, 2, Settlement::done);
  expect_counts_match_rows(*store);
  EXPECT_EQ(status_of(*store, "v2-a"), "done");

  // Reopening does not migrate again.
  store.reset();
  store = open();
  EXPECT_EQ(status_of(*store, "v2-a"), "done");
  EXPECT_EQ(store->intent_status("h")->lane, Lane::high);
}

// --- store worker -------------------------------------------------------------------------------

// The first job holds the store thread until every other job is queued behind it, so they share
// the next commit whatever the scheduling.
class Gate {
 public:
  std::function<int(Store&)> job() {
    return [opened = opened_](Store&) {
      opened.wait();
      return 0;
    };
  }
  void open() { promise_.set_value(); }

 private:
  std::promise<void> promise_;
  std::shared_future<void> opened_ = promise_.get_future().share();
};

TEST_P(StoreContract, WorkerGroupsConcurrentJobsIntoFewerCommits) {
  boost::asio::io_context io;
  StoreWorker worker(open(), io.get_executor());
  constexpr int kJobs = 100;
  int acknowledged = 0;
  Gate gate;
  worker.run(gate.job(), std::function<void(std::exception_ptr, int)>(
                             [&](const std::exception_ptr& error, int) {
                               EXPECT_FALSE(error);
                               ++acknowledged;
                             }));
  for (int i = 0; i < kJobs; ++i) {
    worker.run(
        [i](Store& store) {
          const std::vector<ZonedItem> items{in(kZone, tag("t" + std::to_string(i)))};
          return store.add_intent("i" + std::to_string(i), 1000, kPeer, "test", items).created;
        },
        std::function<void(std::exception_ptr, std::size_t)>(
            [&](const std::exception_ptr& error, std::size_t created) {
              EXPECT_FALSE(error);
              EXPECT_EQ(created, 1U);
              ++acknowledged;
            }));
  }
  gate.open();
  worker.stop();
  io.run();
  EXPECT_EQ(acknowledged, kJobs + 1);
  const auto stats = worker.stats();
  EXPECT_EQ(stats.jobs, static_cast<std::uint64_t>(kJobs + 1));
  EXPECT_LE(stats.commits, 2U);
  EXPECT_EQ(stats.failed_commits, 0U);
  auto check = open(/*read_only=*/true);
  EXPECT_EQ(states(check->queue_counts(), kZone, Group::tag), (Counts{kJobs, 0, 0, 0}));
  EXPECT_TRUE(check->intent_status("i99"));
}

TEST_P(StoreContract, WorkerFailingJobDoesNotUndoItsNeighbours) {
  boost::asio::io_context io;
  StoreWorker worker(open(), io.get_executor());
  Gate gate;
  std::vector<int> failed(4, -1);
  const auto record = [&failed](std::size_t job) {
    return std::function<void(std::exception_ptr, int)>(
        [&failed, job](const std::exception_ptr& error, int) { failed[job] = error ? 1 : 0; });
  };
  const auto add_job = [](std::vector<std::string> intents, std::string tag_value) {
    return [intents = std::move(intents), tag_value = std::move(tag_value)](Store& store) {
      const std::vector<ZonedItem> items{in(kZone, tag(tag_value))};
      for (const auto& id : intents) store.add_intent(id, 1000, kPeer, "test", items);
      return 0;
    };
  };
  worker.run(gate.job(), record(0));
  worker.run(add_job({"a"}, "ta"), record(1));
  // Adds "b", then repeats "a": a constraint violation that must take "b" with it, and only it.
  worker.run(add_job({"b", "a"}, "tb"), record(2));
  worker.run(add_job({"c"}, "tc"), record(3));
  gate.open();
  worker.stop();
  io.run();
  EXPECT_EQ(failed, (std::vector<int>{0, 0, 1, 0}));
  EXPECT_EQ(worker.stats().failed_commits, 0U);
  auto check = open(/*read_only=*/true);
  EXPECT_TRUE(check->intent_status("a"));
  EXPECT_FALSE(check->intent_status("b"));
  EXPECT_TRUE(check->intent_status("c"));
  EXPECT_EQ(states(check->queue_counts(), kZone, Group::tag), (Counts{2, 0, 0, 0}));
}

TEST_P(StoreContract, WorkerSnapshotShowsAJobsEffectsByItsCompletion) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  StoreWorker worker(open(), io.get_executor());
  ASSERT_TRUE(worker.snapshot());
  EXPECT_EQ(worker.snapshot()->counts.total(kPending), 0);

  constexpr int kJobs = 50;
  int completed = 0;
  for (int i = 0; i < kJobs; ++i) {
    worker.run(
        [i](Store& store) {
          const std::vector<ZonedItem> items{in(kZone, tag("t" + std::to_string(i)))};
          store.add_intent("i" + std::to_string(i), 1000, kPeer, "test", items);
          return store.queue_counts().total(kPending);  // what this job's transaction sees
        },
        std::function<void(std::exception_ptr, std::int64_t)>(
            [&](const std::exception_ptr& error, std::int64_t seen) {
              EXPECT_FALSE(error);
              EXPECT_GE(worker.snapshot()->counts.total(kPending), seen);
              if (++completed == kJobs) guard.reset();
            }));
  }
  io.run();
  EXPECT_EQ(worker.snapshot()->counts.of(kZone, Group::tag, kPending), kJobs);
  EXPECT_GT(worker.snapshot()->size_bytes, 0);

  io.restart();
  auto again = boost::asio::make_work_guard(io);
  TakeRequest r = request(Group::tag, 1);
  r.caps.max_ops = 20;
  worker.run([r](Store& store) { return store.take(r, 1000); },
             std::function<void(std::exception_ptr, TakeResult)>(
                 [&](const std::exception_ptr& error, const TakeResult& batch) {
                   EXPECT_FALSE(error);
                   EXPECT_EQ(batch.members.size(), 20U);
                   EXPECT_EQ(states(worker.snapshot()->counts, kZone, Group::tag),
                             (Counts{kJobs - 20, 20, 0, 0}));
                   again.reset();
                 }));
  io.run();
  worker.stop();
}

// Regression (was a bug in take()): the head was read as the first cap_of() rows and twins folded
// afterwards, so a head holding twins looked partial and lingered although enough distinct items
// waited right behind it.
TEST_P(StoreContract, TwinsInTheHeadDoNotMakeAFullBatchLinger) {
  auto store = open();
  add(*store, "a", {in(kZone, file("https://h/a"))}, 1000);
  take(*store, Group::file, 1);
  add(*store, "b", {in(kZone, file("https://h/a")), in(kZone, file("https://h/b"))}, 1100);
  settle(*store, 1, Settlement::released);  // pending: a (1000), a (1100), b (1100)

  auto r = request(Group::file, 2);
  r.caps.max_urls = 2;
  r.linger_ms = 500;
  r.now_ms = 1200;
  const auto batch = take(*store, r);
  EXPECT_EQ(values(batch), (std::vector<std::string>{"https://h/a", "https://h/b"}))
      << "two distinct items fill the batch: it goes at once";
  EXPECT_EQ(batch.riders, 1);
  EXPECT_FALSE(batch.ready_in_ms);
}
}  // namespace
}  // namespace purgeq
