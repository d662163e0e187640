// Store: de-duplication, the in-flight rule, recovery, intent status, failures and group commit.
#include "store/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <thread>

#include "store/store_worker.h"

namespace purgeq {
namespace {

Item file(std::string url) {
  return Item{Kind::file, std::move(url), {}};
}
Item tag(std::string value) {
  return Item{Kind::tag, std::move(value), {}};
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "queue.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  SubmitResult add(Store& store, const std::string& id, std::vector<ZonedItem> items) {
    store.begin();
    auto result = store.add_intent(id, 1000, Peer{1, 2, 3}, "v1", items);
    store.commit();
    return result;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(StoreTest, PendingTwinsMergeButEveryIntentKeepsItsItems) {
  Store store(path_);
  auto first = add(store, "i1", {{"z1", file("https://a/x")}, {"z1", tag("Blog")}});
  auto second = add(store, "i2", {{"z1", file("https://a/x")}, {"z1", tag("blog")}});
  auto other_zone = add(store, "i3", {{"z2", file("https://a/x")}});
  EXPECT_EQ(first.created.size(), 2U);
  EXPECT_EQ(second.created.size(), 0U) << "same zone, kind and key merge (tags case-insensitive)";
  EXPECT_EQ(other_zone.created.size(), 1U) << "another zone never merges";
  auto status = store.intent_status("i2");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->total, 2);
  EXPECT_EQ(status->queued, 2);
  EXPECT_EQ(status->status(), "queued");
}

TEST_F(StoreTest, InFlightTwinIsNotReusedSoLateItemsArePurgedAgain) {
  Store store(path_);
  auto first = add(store, "i1", {{"z1", file("https://a/x")}});
  const std::int64_t id = first.created.at(0).id;
  store.begin();
  store.mark_in_flight(std::vector<std::int64_t>{id});
  store.commit();
  auto late = add(store, "i2", {{"z1", file("https://a/x")}});
  ASSERT_EQ(late.created.size(), 1U);
  EXPECT_NE(late.created[0].id, id);
}

TEST_F(StoreTest, RecoverTurnsInFlightBackToPendingAcrossReopen) {
  std::int64_t id = 0;
  {
    Store store(path_);
    id = add(store, "i1", {{"z1", file("https://a/x")}, {"z1", tag("t")}}).created.at(0).id;
    store.begin();
    store.mark_in_flight(std::vector<std::int64_t>{id});
    store.commit();
  }
  Store reopened(path_);
  reopened.begin();
  auto pending = reopened.recover();
  reopened.commit();
  ASSERT_EQ(pending.size(), 2U);
  EXPECT_EQ(pending[0].id, id);
  EXPECT_EQ(pending[0].item.value, "https://a/x");
  EXPECT_EQ(reopened.intent_status("i1")->queued, 2);
}

TEST_F(StoreTest, HeadersRoundTrip) {
  Store store(path_);
  Item item{Kind::file, "https://a/x", {{"CF-Device-Type", "mobile"}, {"Origin", "https://a"}}};
  add(store, "i1", {{"z1", item}});
  store.begin();
  auto pending = store.recover();
  store.commit();
  ASSERT_EQ(pending.size(), 1U);
  EXPECT_EQ(pending[0].item, item);
}

TEST_F(StoreTest, IntentStatusMovesToDonePartialAndFailed) {
  Store store(path_);
  auto result = add(store, "i1", {{"z1", file("https://a/1")}, {"z1", file("https://a/2")}});
  const auto a = result.created[0].id;
  const auto b = result.created[1].id;
  store.begin();
  store.mark_in_flight(std::vector<std::int64_t>{a, b});
  store.commit();
  EXPECT_EQ(store.intent_status("i1")->status(), "in_flight");
  store.begin();
  store.mark_done(std::vector<std::int64_t>{a}, 2000);
  store.mark_failed(std::vector<std::int64_t>{b}, 2000, 1015, "Unable to purge https://a/2");
  store.commit();
  auto status = store.intent_status("i1");
  EXPECT_EQ(status->status(), "partial");
  ASSERT_EQ(status->errors.size(), 1U);
  EXPECT_EQ(status->errors[0].code, 1015);
  EXPECT_EQ(status->errors[0].item, "https://a/2");
  EXPECT_FALSE(store.intent_status("nope"));
}

TEST_F(StoreTest, RetryFailedRequeuesWithFreshClock) {
  Store store(path_);
  const auto id = add(store, "i1", {{"z1", tag("t")}}).created[0].id;
  store.begin();
  store.mark_failed(std::vector<std::int64_t>{id}, 2000, 1100, "too long");
  store.commit();
  EXPECT_EQ(store.failed_count(), 1);
  ASSERT_EQ(store.failed_targets(10).size(), 1U);
  store.begin();
  auto requeued = store.retry_failed(5000);
  store.commit();
  ASSERT_EQ(requeued.size(), 1U);
  EXPECT_EQ(requeued[0].created_ms, 5000);
  EXPECT_EQ(store.failed_count(), 0);
  EXPECT_EQ(store.intent_status("i1")->status(), "queued");
}

TEST_F(StoreTest, RetryCountsAttemptsOnlyWhenAsked) {
  Store store(path_);
  const auto id = add(store, "i1", {{"z1", tag("t")}}).created[0].id;
  store.begin();
  store.mark_retry(std::vector<std::int64_t>{id}, 2000, 3000, true, "HTTP 503");
  store.mark_retry(std::vector<std::int64_t>{id}, 2000, 4000, false, "HTTP 429");
  auto pending = store.recover();
  store.commit();
  ASSERT_EQ(pending.size(), 1U);
  EXPECT_EQ(pending[0].attempts, 1);
  EXPECT_EQ(pending[0].not_before_ms, 4000);
}

TEST_F(StoreTest, PruneKeepsUnfinishedIntents) {
  Store store(path_);
  const auto done = add(store, "old-done", {{"z1", tag("a")}}).created[0].id;
  add(store, "old-pending", {{"z1", tag("b")}});
  store.begin();
  store.mark_done(std::vector<std::int64_t>{done}, 1500);
  EXPECT_EQ(store.prune(999999), 1);
  store.commit();
  EXPECT_FALSE(store.intent_status("old-done"));
  EXPECT_TRUE(store.intent_status("old-pending"));
}

TEST_F(StoreTest, RefusesANewerSchema) {
  { Store store(path_); }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  EXPECT_THROW(Store store(path_), std::runtime_error);
}

TEST_F(StoreTest, UnopenablePathNamesTheKey) {
  try {
    Store store((dir_ / "missing-dir" / "q.db").string());
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("storage.path"), std::string::npos) << e.what();
  }
}

// Many concurrent jobs share commits: that is what lets durability not cap intake at one fsync
// per client.
TEST_F(StoreTest, WorkerGroupsConcurrentJobsIntoFewerCommits) {
  boost::asio::io_context io;
  StoreWorker worker(path_, io.get_executor());
  constexpr int kJobs = 400;
  std::atomic<int> acknowledged{0};
  for (int i = 0; i < kJobs; ++i) {
    worker.run(
        [i](Store& store) {
          std::vector<ZonedItem> items{{"z1", Item{Kind::tag, "t" + std::to_string(i), {}}}};
          return store.add_intent("i" + std::to_string(i), 1, Peer{}, "v1", items).items;
        },
        std::function<void(std::exception_ptr, std::size_t)>(
            [&](const std::exception_ptr& error, std::size_t items) {
              EXPECT_FALSE(error);
              EXPECT_EQ(items, 1U);
              ++acknowledged;
            }));
  }
  worker.stop();
  io.run();
  EXPECT_EQ(acknowledged.load(), kJobs);
  const auto stats = worker.stats();
  EXPECT_EQ(stats.jobs, static_cast<std::uint64_t>(kJobs));
  EXPECT_LT(stats.commits, static_cast<std::uint64_t>(kJobs));
  Store check(path_);
  EXPECT_TRUE(check.intent_status("i399"));
}

// A failing job is rolled back alone; its neighbours in the same transaction still commit.
TEST_F(StoreTest, WorkerIsolatesAFailingJob) {
  boost::asio::io_context io;
  StoreWorker worker(path_, io.get_executor());
  std::vector<bool> failed(3, false);
  for (int i = 0; i < 3; ++i) {
    worker.run(
        [i](Store& store) {
          std::vector<ZonedItem> items{{"z1", Item{Kind::tag, "t", {}}}};
          // Job 1 reuses job 0's intent id: a primary-key violation.
          store.add_intent(i == 1 ? "i0" : "i" + std::to_string(i), 1, Peer{}, "v1", items);
          return true;
        },
        std::function<void(std::exception_ptr, bool)>(
            [&failed, i](const std::exception_ptr& error, bool) { failed[i] = error != nullptr; }));
  }
  worker.stop();
  io.run();
  EXPECT_FALSE(failed[0]);
  EXPECT_TRUE(failed[1]);
  EXPECT_FALSE(failed[2]);
  Store check(path_);
  EXPECT_TRUE(check.intent_status("i2"));
}

}  // namespace
}  // namespace purgeq
