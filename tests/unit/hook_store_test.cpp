// Completion hooks in the SQLite store: runs become due exactly when their intent is terminal
// (twins shared by intents, retried failures), are claimed, retried, recovered after a crash and
// counted without scans.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "support/pg_cluster.h"
#include "support/store_backends.h"

namespace purgeq {
namespace {

using test::Backend;

constexpr std::string_view kZone = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a";
const Peer kPeer{1000, 1000, 42};

ZonedItem file(int n) {
  return ZonedItem{std::string(kZone), Item{Kind::file, "https://h/" + std::to_string(n), {}}};
}

class HookStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("purgeq-hooks");
    const auto where = test::scratch_store(backend(), dir_);
    if (!where) GTEST_SKIP() << test::PgTestCluster::missing();
    where_ = *where;
    store_ = open();
  }
  // SQLite here; both for HookStoreContract.
  [[nodiscard]] virtual Backend backend() const { return Backend::sqlite; }
  [[nodiscard]] std::unique_ptr<Store> open(bool read_only = false) const {
    return test::open_backend(backend(), where_, read_only);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  template <class F>
  auto tx(F fn) {
    store_->begin();
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<F, Store&>>) {
        fn(*store_);
        store_->commit();
      } else {
        auto result = fn(*store_);
        store_->commit();
        return result;
      }
    } catch (...) {
      store_->rollback();
      throw;
    }
  }

  void add(std::string_view id, std::vector<ZonedItem> items,
           std::vector<std::string> hooks = {"warm"}) {
    tx([&](Store& s) {
      s.add_intent(id, 1000, kPeer, "test", items);
      const std::vector<std::string> zones{std::string(kZone)};
      s.attach_hooks(id, zones, hooks, 1000);
    });
  }
  // Takes up to `budget` file targets of kZone's `lane` into `flight` and settles them with
  // `outcome`.
  void purge(std::int64_t flight, std::size_t budget, Settlement outcome,
             Lane lane = Lane::normal) {
    TakeRequest request;
    request.zone_id = std::string(kZone);
    request.group = Group::file;
    request.lane = lane;
    request.flight = flight;
    request.budget = budget;
    request.now_ms = 10'000;
    tx([&](Store& s) { return s.take(request, 1000); });
    SettleRequest settle;
    settle.flight = flight;
    settle.outcome = outcome;
    settle.now_ms = 20'000;
    settle.code = 1234;
    settle.message = "refused";
    tx([&](Store& s) { return s.settle(settle, 1000); });
  }
  HookClaim claim(std::int64_t now_ms, std::int64_t limit = 10, std::string_view hook = "warm") {
    return tx([&](Store& s) { return s.claim_hook_runs(hook, now_ms, limit); });
  }
  std::map<std::string, std::string> states(std::string_view intent) {
    std::map<std::string, std::string> out;
    for (const auto& run : store_->intent_hook_runs(intent)) {
      out[run.hook] = std::string(hook_state_name(run.state));
    }
    return out;
  }
  std::int64_t count(std::string_view hook, HookState state) {
    for (const auto& c : store_->hook_counts()) {
      if (c.hook == hook && c.state == state) return c.n;
    }
    return 0;
  }

  // The store's count of intents still waiting for their hooks (the triggers' gate), and the
  // same by a scan.
  std::pair<std::int64_t, std::int64_t> open_intents() const {
    if (backend() == Backend::postgres) {
      test::PgSql sql(where_);
      return {
          std::stoll(sql.rows("SELECT n FROM hook_open").at(0).at(0)),
          std::stoll(sql.rows("SELECT count(*) FROM hook_waits WHERE remaining > 0").at(0).at(0))};
    }
    sqlite3* db = nullptr;
    sqlite3_open((dir_ / "queue.db").string().c_str(), &db);
    std::pair<std::int64_t, std::int64_t> counts{-1, -1};
    for (auto [sql, out] :
         {std::pair{"SELECT n FROM hook_open", &counts.first},
          std::pair{"SELECT count(*) FROM hook_waits WHERE remaining > 0", &counts.second}}) {
      sqlite3_stmt* stmt = nullptr;
      sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
      if (sqlite3_step(stmt) == SQLITE_ROW) *out = sqlite3_column_int64(stmt, 0);
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return counts;
  }

  std::filesystem::path dir_;
  std::string where_;  // the SQLite file or the PostgreSQL test database's connection string
  std::unique_ptr<Store> store_;
};

// The hook store tests are the Store contract: run on every backend.
class HookStoreContract : public HookStoreTest, public ::testing::WithParamInterface<Backend> {
 protected:
  [[nodiscard]] Backend backend() const override { return GetParam(); }
};
PURGEQ_ON_BOTH_BACKENDS(HookStoreContract);

TEST_P(HookStoreContract, RunsBecomeDueOnlyWhenEveryItemOfTheirIntentIsFinished) {
  // Item 2 is a pending twin shared by both intents: its purge counts in each.
  add("a", {file(1), file(2), file(3)});
  add("b", {file(2), file(4)}, {"warm", "notify"});
  EXPECT_EQ(states("a"), (std::map<std::string, std::string>{{"warm", "waiting"}}));
  EXPECT_EQ(count("warm", HookState::waiting), 2);
  EXPECT_EQ(count("notify", HookState::waiting), 1);

  purge(1, 2, Settlement::done);  // items 1 and 2 (and the twin of 2)
  EXPECT_TRUE(claim(50'000).runs.empty());
  EXPECT_FALSE(claim(50'000).next_due_ms.has_value()) << "nothing is due, nothing to wake for";
  EXPECT_EQ(states("a")["warm"], "waiting");

  purge(2, 1, Settlement::failed);  // item 3: intent a is terminal (partial), b is not
  EXPECT_EQ(states("a")["warm"], "pending");
  EXPECT_EQ(states("b")["warm"], "waiting");
  const auto first = claim(50'000);
  ASSERT_EQ(first.runs.size(), 1U);
  EXPECT_EQ(first.runs[0].intent_id, "a");
  EXPECT_EQ(first.runs[0].attempts, 1);
  EXPECT_EQ(first.runs[0].total, 3);
  EXPECT_EQ(first.runs[0].failed, 1);
  EXPECT_EQ(first.runs[0].intent_status(), "partial");
  EXPECT_EQ(first.runs[0].zone_ids, std::vector<std::string>{std::string(kZone)});
  EXPECT_EQ(states("a")["warm"], "running");

  purge(3, 1, Settlement::done);  // item 4: b is terminal, both of its hooks are due
  EXPECT_EQ(claim(50'000).runs.size(), 1U);
  const auto notify = claim(50'000, 10, "notify");
  ASSERT_EQ(notify.runs.size(), 1U);
  EXPECT_EQ(notify.runs[0].intent_status(), "done");
  EXPECT_EQ(count("warm", HookState::running), 2);
  EXPECT_EQ(count("warm", HookState::waiting), 0);
}

TEST_P(HookStoreContract, RetriesWaitForTheirTimeThenSucceedOrFail) {
  add("a", {file(1)});
  purge(1, 1, Settlement::done);
  auto run = claim(50'000).runs.at(0);
  tx([&](Store& s) {
    s.finish_hook_run(run.intent_ref, "warm", HookState::due, 60'000, "exit status 1", 50'100);
  });
  auto early = claim(59'999);
  EXPECT_TRUE(early.runs.empty());
  EXPECT_EQ(early.next_due_ms, 60'000) << "the runner sleeps until then";
  auto runs = store_->intent_hook_runs("a");
  EXPECT_EQ(runs.at(0).last_error, "exit status 1");
  EXPECT_EQ(runs.at(0).attempts, 1);
  run = claim(60'000).runs.at(0);
  EXPECT_EQ(run.attempts, 2);
  EXPECT_EQ(run.last_error, "exit status 1");
  tx([&](Store& s) { s.finish_hook_run(run.intent_ref, "warm", HookState::succeeded, 0, "", 1); });
  runs = store_->intent_hook_runs("a");
  EXPECT_EQ(hook_state_name(runs.at(0).state), "succeeded");
  EXPECT_EQ(runs.at(0).attempts, 2);
  EXPECT_EQ(runs.at(0).last_error, "");
  EXPECT_EQ(count("warm", HookState::succeeded), 1);
  EXPECT_EQ(count("warm", HookState::running), 0);

  add("b", {file(2)});
  purge(2, 1, Settlement::done);
  run = claim(70'000).runs.at(0);
  tx([&](Store& s) {
    s.finish_hook_run(run.intent_ref, "warm", HookState::failed, 0, "timed out after 1s", 1);
  });
  EXPECT_EQ(count("warm", HookState::failed), 1);
  EXPECT_EQ(store_->intent_hook_runs("b").at(0).last_error, "timed out after 1s");
}

TEST_P(HookStoreContract, ARetriedFailureReopensTheIntentAndItsHooksRunAgain) {
  add("a", {file(1), file(2)});
  purge(1, 2, Settlement::failed);
  auto run = claim(50'000).runs.at(0);
  EXPECT_EQ(run.intent_status(), "failed");
  tx([&](Store& s) { s.finish_hook_run(run.intent_ref, "warm", HookState::succeeded, 0, "", 1); });

  EXPECT_EQ(tx([](Store& s) { return s.retry_failed_step(30'000, 100); }), 2);
  EXPECT_EQ(states("a")["warm"], "succeeded") << "no new run before the intent is terminal again";
  purge(2, 1, Settlement::done);
  EXPECT_TRUE(claim(50'000).runs.empty());
  purge(3, 1, Settlement::done);
  run = claim(50'000).runs.at(0);
  EXPECT_EQ(run.attempts, 1) << "a new round of attempts";
  EXPECT_EQ(run.intent_status(), "done") << "the failed count followed the retry";
}

TEST_P(HookStoreContract, ARunGoingWhenItsIntentReopensDoesNotEndTheFreshRound) {
  add("a", {file(1)});
  purge(1, 1, Settlement::failed);
  const auto old_round = claim(50'000).runs.at(0);
  EXPECT_EQ(old_round.intent_status(), "failed");
  EXPECT_EQ(tx([](Store& s) { return s.retry_failed_step(30'000, 100); }), 1);
  EXPECT_EQ(states("a")["warm"], "waiting") << "the intent has a pending item again";
  purge(2, 1, Settlement::done);
  EXPECT_EQ(states("a")["warm"], "pending") << "terminal again: a fresh round is due";
  // The old run ends only now: its outcome is about the failed round and is dropped.
  tx([&](Store& s) {
    s.finish_hook_run(old_round.intent_ref, "warm", HookState::succeeded, 0, "", 60'000);
  });
  EXPECT_EQ(states("a")["warm"], "pending");
  const auto fresh = claim(60'000).runs;
  ASSERT_EQ(fresh.size(), 1U) << "the hook runs again for the intent's new outcome";
  EXPECT_EQ(fresh[0].intent_status(), "done");
  EXPECT_EQ(fresh[0].attempts, 1);
  EXPECT_EQ(count("warm", HookState::running), 1);
}

TEST_P(HookStoreContract, ARetryDueWhileItsIntentIsReopenedWaitsForItToFinishAgain) {
  add("a", {file(1)});
  purge(1, 1, Settlement::failed);
  const auto run = claim(50'000).runs.at(0);
  tx([&](Store& s) {
    s.finish_hook_run(run.intent_ref, "warm", HookState::due, 60'000, "exit status 1", 50'100);
  });
  EXPECT_EQ(tx([](Store& s) { return s.retry_failed_step(55'000, 100); }), 1);
  const auto early = claim(70'000);
  EXPECT_TRUE(early.runs.empty()) << "an item of the intent is pending again";
  EXPECT_FALSE(early.next_due_ms.has_value());
  EXPECT_EQ(states("a")["warm"], "waiting");
  purge(2, 1, Settlement::done);
  const auto fresh = claim(70'000).runs;
  ASSERT_EQ(fresh.size(), 1U);
  EXPECT_EQ(fresh[0].intent_status(), "done");
  EXPECT_EQ(fresh[0].attempts, 1);
  EXPECT_EQ(count("warm", HookState::waiting), 0);
}

TEST_F(HookStoreTest, ADatabaseWithTheEarlierReopenTriggerGetsTheCurrentOneOnOpen) {
  add("a", {file(1)});
  store_.reset();
  {
    // The trigger as the first builds with hooks created it: nothing happened on a reopen.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "queue.db").string().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, R"sql(
DROP TRIGGER hook_waits_turned;
CREATE TRIGGER hook_waits_turned AFTER UPDATE OF remaining ON hook_waits
  WHEN (NEW.remaining = 0) != (OLD.remaining = 0) BEGIN
  UPDATE hook_open SET n = n + (CASE WHEN NEW.remaining = 0 THEN -1 ELSE 1 END) WHERE id = 1;
  UPDATE hook_runs SET state = 1, attempts = 0, next_ms = 0, last_error = NULL
    WHERE intent = NEW.intent AND state != 2 AND NEW.remaining = 0;
END;)sql",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  store_ = open_sqlite_store((dir_ / "queue.db").string());
  purge(1, 1, Settlement::failed);
  ASSERT_EQ(claim(50'000).runs.size(), 1U);
  EXPECT_EQ(tx([](Store& s) { return s.retry_failed_step(30'000, 100); }), 1);
  EXPECT_EQ(states("a")["warm"], "waiting");
}

TEST_P(HookStoreContract, AClaimedRunCarriesTheLaneItsIntentWasAcceptedIn) {
  tx([&](Store& s) {
    s.add_intent("hi", 1000, kPeer, "test", std::vector<ZonedItem>{file(1)}, Lane::high);
    s.add_intent("lo", 1000, kPeer, "test", std::vector<ZonedItem>{file(1), file(2)}, Lane::bulk);
    const std::vector<std::string> zones{std::string(kZone)};
    const std::vector<std::string> hooks{"warm"};
    s.attach_hooks("hi", zones, hooks, 1000);
    s.attach_hooks("lo", zones, hooks, 1000);
  });
  purge(1, 10, Settlement::done, Lane::high);
  purge(2, 10, Settlement::done, Lane::bulk);
  std::map<std::string, Lane> lanes;
  for (const auto& run : claim(50'000).runs) lanes[run.intent_id] = run.lane;
  EXPECT_EQ(lanes, (std::map<std::string, Lane>{{"hi", Lane::high}, {"lo", Lane::bulk}}))
      << "the bulk intent's twin was raised to high, the intent stays bulk";
}

TEST_P(HookStoreContract, TheCountOfWaitingIntentsFollowsEveryChange) {
  using Counts = std::pair<std::int64_t, std::int64_t>;
  EXPECT_EQ(open_intents(), (Counts{0, 0}));
  add("a", {file(1), file(2)});
  add("b", {file(2)});
  EXPECT_EQ(open_intents(), (Counts{2, 2}));
  purge(1, 1, Settlement::failed);  // item 1
  EXPECT_EQ(open_intents(), (Counts{2, 2}));
  purge(2, 1, Settlement::done);  // item 2: both terminal
  EXPECT_EQ(open_intents(), (Counts{0, 0}));
  EXPECT_EQ(tx([](Store& s) { return s.retry_failed_step(30'000, 100); }), 1);
  EXPECT_EQ(open_intents(), (Counts{1, 1})) << "a waits for its retried item again";
  purge(3, 1, Settlement::done);
  EXPECT_EQ(open_intents(), (Counts{0, 0}));
  add("c", {file(3)});
  EXPECT_EQ(tx([](Store& s) { return s.prune_step(5000, 100); }), 2);
  EXPECT_EQ(open_intents(), (Counts{1, 1}));
}

TEST_P(HookStoreContract, RunningRunsAreDueAgainAfterACrash) {
  add("a", {file(1)});
  purge(1, 1, Settlement::done);
  ASSERT_EQ(claim(50'000).runs.size(), 1U);
  EXPECT_TRUE(claim(50'000).runs.empty());
  if (backend() == Backend::postgres) {
    // Daemons sharing the database: another one may be running it right now.
    EXPECT_EQ(tx([](Store& s) { return s.recover_hook_runs_step(100); }), 0)
        << "a run is not taken from a daemon that is still connected";
  }
  store_ = open();  // the crash: a new process, and the old one's runs are orphans
  EXPECT_EQ(tx([](Store& s) { return s.recover_hook_runs_step(100); }), 1);
  const auto again = claim(50'000);
  ASSERT_EQ(again.runs.size(), 1U);
  EXPECT_EQ(again.runs[0].attempts, 2);
}

TEST_P(HookStoreContract, ItemsCarryTheirCacheKeyHeaders) {
  // Two variants of one URL: a warmer must see which copy each line is.
  ZonedItem mobile = file(1);
  mobile.item.headers = {{"CF-Device-Type", "mobile"}};
  ZonedItem tablet = file(1);
  tablet.item.headers = {{"CF-Device-Type", "tablet"}};
  add("a", {mobile, tablet});
  const auto ref = store_->intent_hook_runs("a").at(0).intent_ref;
  const auto items = store_->hook_items(ref, 0, 10);
  ASSERT_EQ(items.size(), 2U);
  EXPECT_EQ(items[0].value, "https://h/1");
  EXPECT_EQ(items[0].headers, (std::vector<Header>{{"CF-Device-Type", "mobile"}}));
  EXPECT_EQ(items[1].headers, (std::vector<Header>{{"CF-Device-Type", "tablet"}}));
}

TEST_P(HookStoreContract, ItemsAreReadInPagesAndAnIntentWithNoItemsLeftIsDueAtOnce) {
  add("a", {file(1), file(2), file(3)});
  const auto ref = store_->intent_hook_runs("a").at(0).intent_ref;
  auto page = store_->hook_items(ref, 0, 2);
  ASSERT_EQ(page.size(), 2U);
  EXPECT_EQ(page[0].value, "https://h/1");
  EXPECT_EQ(page[0].zone_id, kZone);
  page = store_->hook_items(ref, page.back().target, 2);
  ASSERT_EQ(page.size(), 1U);
  EXPECT_EQ(page[0].value, "https://h/3");

  // Hooks attached after the items finished (nothing waits): due at once.
  tx([&](Store& s) { s.add_intent("b", 1000, kPeer, "test", std::vector<ZonedItem>{file(9)}); });
  purge(1, 10, Settlement::done);
  tx([&](Store& s) {
    const std::vector<std::string> hooks{"late"};
    s.attach_hooks("b", {}, hooks, 1);
  });
  EXPECT_EQ(claim(1, 10, "late").runs.size(), 1U);
}

TEST_P(HookStoreContract, PruningAnIntentDropsItsRunsAndTheirCounts) {
  add("a", {file(1)});
  purge(1, 1, Settlement::done);
  auto run = claim(50'000).runs.at(0);
  tx([&](Store& s) { s.finish_hook_run(run.intent_ref, "warm", HookState::succeeded, 0, "", 1); });
  EXPECT_EQ(count("warm", HookState::succeeded), 1);
  EXPECT_EQ(tx([](Store& s) { return s.prune_step(5000, 100); }), 1);
  EXPECT_TRUE(store_->intent_hook_runs("a").empty());
  EXPECT_EQ(count("warm", HookState::succeeded), 0);
}

TEST_P(HookStoreContract, SchemaIsAddedIdempotentlyOnEveryOpen) {
  add("a", {file(1)});
  store_.reset();
  store_ = open();
  EXPECT_EQ(states("a")["warm"], "waiting");
  auto reader = open(/*read_only=*/true);
  EXPECT_EQ(reader->intent_hook_runs("a").size(), 1U);
}

}  // namespace
}  // namespace purgeq
