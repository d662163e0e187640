// A throwaway PostgreSQL cluster for the store's contract tests: started on first use with
// initdb/pg_ctl in a temp dir, listening only on a Unix socket there, stopped when the test binary
// exits. initdb refuses root, so as root the server runs as `nobody`. Each test gets a database of
// its own. The binaries come from /usr/lib/postgresql/15/bin (PURGEQ_PG_BIN overrides it).
#pragma once

#include <libpq-fe.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace purgeq::test {

class PgTestCluster {
 public:
  // The cluster, started on the first call; nullptr when PostgreSQL is not installed (then
  // `missing()` says what to install).
  static PgTestCluster* get() {
    if (!std::filesystem::exists(bin() + "/initdb")) return nullptr;
    static const std::unique_ptr<PgTestCluster> cluster(new PgTestCluster());
    return cluster.get();
  }
  static std::string missing() {
    return "PostgreSQL binaries not found in " + bin() +
           " (install postgresql-15 or set PURGEQ_PG_BIN)";
  }

  ~PgTestCluster() {
    if (admin_ != nullptr) PQfinish(admin_);
    run(server("pg_ctl") + " -D " + data() + " -m immediate -w stop > /dev/null 2>&1");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  PgTestCluster(const PgTestCluster&) = delete;
  PgTestCluster& operator=(const PgTestCluster&) = delete;

  // A fresh, empty database; returns its connection string.
  std::string create_database() {
    static std::atomic<int> next{0};
    const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(next++);
    PGresult* result = PQexec(admin_, ("CREATE DATABASE " + name).c_str());
    const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    const std::string error = PQresultErrorMessage(result);
    PQclear(result);
    if (!ok) throw std::runtime_error("CREATE DATABASE " + name + ": " + error);
    return dsn(name);
  }
  [[nodiscard]] std::string dsn(const std::string& db) const {
    return "host=" + dir_ + " dbname=" + db + " user=postgres";
  }

 private:
  PgTestCluster() {
    std::string pattern = std::filesystem::temp_directory_path() / "purgeq-pgunit-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    if (::geteuid() == 0) {
      const passwd* nobody = ::getpwnam("nobody");
      if (nobody == nullptr) throw std::runtime_error("running as root and no user nobody");
      if (::chown(dir_.c_str(), nobody->pw_uid, nobody->pw_gid) != 0) {
        throw std::runtime_error("chown " + dir_ + " failed");
      }
      as_ = "runuser -u nobody -- ";
    }
    ::chmod(dir_.c_str(), 0755);
    const std::string log = dir_ + "/setup.log";
    // fsync off: the contract is what the store does, not what the disk promises; it keeps the
    // suite fast. synchronous_commit stays at its default.
    if (!run(server("initdb") + " -D " + data() +
             " -A trust -U postgres --no-sync -E UTF8 --locale C > " + log + " 2>&1") ||
        !run(server("pg_ctl") + " -D " + data() + " -l " + dir_ + "/server.log -w -o \"-k " + dir_ +
             " -c listen_addresses='' -c fsync=off -c max_connections=200\" start >> " + log +
             " 2>&1")) {
      throw std::runtime_error("could not start a PostgreSQL cluster; see " + log);
    }
    admin_ = PQconnectdb(dsn("postgres").c_str());
    if (PQstatus(admin_) != CONNECTION_OK) {
      throw std::runtime_error(std::string("connecting to the test cluster: ") +
                               PQerrorMessage(admin_));
    }
  }

  static std::string bin() {
    const char* env = std::getenv("PURGEQ_PG_BIN");
    return env != nullptr && *env != '\0' ? env : "/usr/lib/postgresql/15/bin";
  }
  [[nodiscard]] std::string server(const std::string& tool) const {
    return as_ + bin() + "/" + tool;
  }
  [[nodiscard]] std::string data() const { return dir_ + "/data"; }
  static bool run(const std::string& command) { return std::system(command.c_str()) == 0; }

  std::string dir_;
  std::string as_;  // the command prefix that runs a tool as the cluster's owner
  PGconn* admin_ = nullptr;
};

// Raw SQL on a test database, for what the interface does not show.
class PgSql {
 public:
  explicit PgSql(const std::string& dsn) : conn_(PQconnectdb(dsn.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      const std::string error = PQerrorMessage(conn_);
      PQfinish(conn_);
      throw std::runtime_error(error);
    }
  }
  ~PgSql() { PQfinish(conn_); }
  PgSql(const PgSql&) = delete;
  PgSql& operator=(const PgSql&) = delete;

  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    PGresult* result = PQexec(conn_, sql.c_str());
    const auto status = PQresultStatus(result);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      const std::string error = PQresultErrorMessage(result);
      PQclear(result);
      throw std::runtime_error(error + " in: " + sql);
    }
    std::vector<std::vector<std::string>> out;
    for (int r = 0; r < PQntuples(result); ++r) {
      auto& row = out.emplace_back();
      for (int c = 0; c < PQnfields(result); ++c) {
        // "NULL" for null, as the SQLite side of the tests reads it.
        row.emplace_back(PQgetisnull(result, r, c) != 0 ? "NULL" : PQgetvalue(result, r, c));
      }
    }
    PQclear(result);
    return out;
  }

 private:
  PGconn* conn_;
};

}  // namespace purgeq::test
