// What only the PostgreSQL backend has: the schema version table and its advisory lock, lost
// connections, and errors that name storage.dsn. The Store contract itself is in store_test.cpp
// (StoreContract), run on both backends.
#include "store/pg_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/pg_cluster.h"

namespace purgeq {
namespace {

const Peer kPeer{1000, 1000, 42};
constexpr std::string_view kZone = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a";

class PostgresStore : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = test::PgTestCluster::get();
    if (cluster_ == nullptr) GTEST_SKIP() << test::PgTestCluster::missing();
    dsn_ = cluster_->create_database();
  }
  std::unique_ptr<Store> open(bool read_only = false) const {
    return open_pg_store(PgConnection{dsn_, ""}, read_only);
  }
  static void add(Store& store, std::string_view id) {
    const std::vector<ZonedItem> items{
        ZonedItem{std::string(kZone), Item{Kind::file, "https://h/" + std::string(id), {}}}};
    store.begin();
    store.add_intent(id, 1000, kPeer, "test", items);
    store.commit();
  }

  test::PgTestCluster* cluster_ = nullptr;
  std::string dsn_;
};

TEST_F(PostgresStore, DaemonsStartingTogetherCreateTheSchemaOnce) {
  // Without the advisory lock, concurrent CREATE TABLEs fail on the catalog's unique indexes.
  // Each writer holds the database while open; the others may find it taken, which is the only
  // error allowed.
  std::vector<std::future<void>> opens;
  for (int i = 0; i < 6; ++i) {
    opens.push_back(std::async(std::launch::async, [this] {
      try {
        (void)open_pg_store(PgConnection{dsn_, ""});
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()).find("another purgeqd") == std::string::npos) throw;
      }
    }));
  }
  for (auto& opened : opens) EXPECT_NO_THROW(opened.get());
  EXPECT_EQ(test::PgSql(dsn_).rows("SELECT version FROM purgeq_schema"),
            (std::vector<std::vector<std::string>>{{std::to_string(kPgSchemaVersion)}}));
  EXPECT_EQ(pg_schema_version(PgConnection{dsn_, ""}), kPgSchemaVersion);
}

TEST_F(PostgresStore, OneWriterPerDatabaseUntilSharingIsBuilt) {
  auto first = open();
  auto reader = open(/*read_only=*/true);  // readers do not count
  const auto started = std::chrono::steady_clock::now();
  try {
    auto second = open();
    FAIL() << "a second writer on the same database was let in";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("storage.dsn: another purgeqd is using this database"),
              std::string::npos)
        << e.what();
  }
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::seconds(9))
      << "it waited for a session that might be ending";
  first.reset();
  EXPECT_NO_THROW((void)open()) << "the lock goes with the session";
}

TEST_F(PostgresStore, AnEmptyDatabaseHasNoSchemaVersionUntilTheDaemonStarts) {
  EXPECT_EQ(pg_schema_version(PgConnection{dsn_, ""}), std::nullopt);
  { auto store = open(/*read_only=*/true); }
  EXPECT_EQ(pg_schema_version(PgConnection{dsn_, ""}), std::nullopt) << "a reader never migrates";
}

TEST_F(PostgresStore, RefusesANewerSchemaNamingTheSetting) {
  { auto store = open(); }
  test::PgSql(dsn_).rows("UPDATE purgeq_schema SET version = " +
                         std::to_string(kPgSchemaVersion + 1));
  try {
    auto store = open();
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("storage.dsn"), std::string::npos) << what;
    EXPECT_NE(what.find("newer"), std::string::npos) << what;
  }
}

TEST_F(PostgresStore, AnUnreachableServerNamesTheSetting) {
  try {
    auto store = open_pg_store(PgConnection{"host=/nonexistent dbname=x", ""});
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("storage.dsn: cannot connect"), std::string::npos)
        << e.what();
  }
}

TEST_F(PostgresStore, ALostConnectionFailsTheRoundAndTheNextOneReconnects) {
  auto store = open();
  add(*store, "before");
  // What a server restart does to the session: the next statement finds it gone.
  test::PgSql(dsn_).rows(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
      "AND pid != pg_backend_pid()");
  EXPECT_THROW(add(*store, "lost"), std::runtime_error) << "an error, never a silent success";
  store->rollback();
  add(*store, "after");
  EXPECT_TRUE(store->intent_status("before"));
  EXPECT_FALSE(store->intent_status("lost")) << "nothing of the failed round was kept";
  EXPECT_TRUE(store->intent_status("after"));
}

TEST_F(PostgresStore, AReadOnlyConnectionRefusesWrites) {
  { auto writer = open(); }
  auto reader = open(/*read_only=*/true);
  reader->begin();
  EXPECT_THROW(reader->probe_write(1), std::runtime_error);
  reader->rollback();
}

TEST_F(PostgresStore, TheServerManagesItsDisk) {
  auto store = open();
  EXPECT_FALSE(store->disk_full());
  store->relieve_full_disk();  // nothing of its own to give back
  EXPECT_TRUE(store->restore_reserve());
  EXPECT_FALSE(store->disk_full());
}

}  // namespace
}  // namespace purgeq
