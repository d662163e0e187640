// What the store's contract tests share: the backends they run on, a scratch place per test and
// the instantiation over both backends (tests/unit/store_test.cpp, hook_store_test.cpp,
// store_escalation_test.cpp).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "support/pg_cluster.h"

namespace purgeq::test {

enum class Backend { sqlite, postgres };

// A directory of its own for the running test: on tmpfs when there is one, where SQLite's fsync
// per commit costs nothing, so the suite stays fast. Emptied first.
inline std::filesystem::path scratch_dir(std::string_view prefix) {
  std::error_code ec;
  const bool shm = std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0;
  auto dir = std::filesystem::path(shm ? "/dev/shm/" : ::testing::TempDir()) /
             (std::string(prefix) + "-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Where the test's store lives: `dir`'s queue.db, or a fresh database of the shared PostgreSQL
// test cluster; nullopt when PostgreSQL is not installed (the test then skips, saying
// PgTestCluster::missing()).
inline std::optional<std::string> scratch_store(Backend backend, const std::filesystem::path& dir) {
  if (backend == Backend::sqlite) return (dir / "queue.db").string();
  auto* cluster = PgTestCluster::get();
  if (cluster == nullptr) return std::nullopt;
  return cluster->create_database();
}

inline std::unique_ptr<Store> open_backend(Backend backend, const std::string& where,
                                           bool read_only = false) {
  if (backend == Backend::postgres) return open_pg_store(PgConnection{where, ""}, read_only);
  return open_sqlite_store(where, read_only);
}

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& param) {
  return param.param == Backend::postgres ? "Postgres" : "Sqlite";
}

}  // namespace purgeq::test

// Runs the TEST_Ps of `Contract` (a fixture parameterized by Backend) on both backends.
#define PURGEQ_ON_BOTH_BACKENDS(Contract)                                                    \
  INSTANTIATE_TEST_SUITE_P(                                                                  \
      Backends, Contract,                                                                    \
      ::testing::Values(::purgeq::test::Backend::sqlite, ::purgeq::test::Backend::postgres), \
      ::purgeq::test::backend_name)
