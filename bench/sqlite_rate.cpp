// purgeq_sqlite_rate: the raw baseline for purgeqd's intake. Opens a fresh SQLite database in a
// directory (put it on the same disk as the daemon's database), sets journal_mode=WAL and
// synchronous=FULL like purgeqd, and commits one small row per transaction for S seconds.
// Prints one JSON line: {"commits_per_second":...,"commits":...,"seconds":...,...}.
//
//   purgeq_sqlite_rate --dir DIR [--seconds 5] [--keep]
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

[[noreturn]] void usage(const std::string& problem) {
  if (!problem.empty()) std::fprintf(stderr, "purgeq_sqlite_rate: %s\n", problem.c_str());
  std::fprintf(stderr, "usage: purgeq_sqlite_rate --dir DIR [--seconds S] [--keep]\n");
  std::exit(2);
}

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  std::fprintf(stderr, "purgeq_sqlite_rate: %s: %s\n", what.c_str(),
               db ? sqlite3_errmsg(db) : "out of memory");
  std::exit(1);
}

void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message ? message : "?";
    sqlite3_free(message);
    std::fprintf(stderr, "purgeq_sqlite_rate: %s: %s\n", sql, text.c_str());
    std::exit(1);
  }
}

std::string query_text(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) fail(db, sql);
  std::string out;
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(stmt, 0);
    if (text) out = reinterpret_cast<const char*>(text);
  }
  sqlite3_finalize(stmt);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  double seconds = 5;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") usage("");
    if (flag == "--keep") {
      keep = true;
      continue;
    }
    if (i + 1 >= argc) usage(flag + ": missing value");
    const std::string value = argv[++i];
    if (flag == "--dir") {
      dir = value;
    } else if (flag == "--seconds") {
      char* end = nullptr;
      errno = 0;
      seconds = std::strtod(value.c_str(), &end);
      if (value.empty() || errno != 0 || *end != '\0' || !(seconds > 0)) {
        usage("--seconds: not a positive number: " + value);
      }
    } else {
      usage("unknown option: " + flag);
    }
  }
  if (dir.empty()) usage("--dir is required");

  const std::string path = dir + "/sqlite_rate-" + std::to_string(::getpid()) + ".db";
  const std::vector<std::string> files = {path, path + "-wal", path + "-shm", path + "-journal"};
  for (const auto& f : files) ::unlink(f.c_str());

  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    fail(db, "open " + path);
  }
  const std::string journal = query_text(db, "PRAGMA journal_mode=WAL");
  exec(db, "PRAGMA synchronous=FULL");
  const std::string synchronous = query_text(db, "PRAGMA synchronous");
  exec(db,
       "CREATE TABLE rows (id INTEGER PRIMARY KEY, created_ms INTEGER NOT NULL, "
       "item TEXT NOT NULL)");

  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db, "INSERT INTO rows (created_ms, item) VALUES (?1, ?2)", -1, &insert,
                         nullptr) != SQLITE_OK) {
    fail(db, "prepare insert");
  }
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  if (sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr) != SQLITE_OK) {
    fail(db, "prepare begin/commit");
  }

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<double> latencies_ms;
  latencies_ms.reserve(1 << 16);
  long long commits = 0;
  while (Clock::now() < deadline) {
    const auto t0 = Clock::now();
    if (sqlite3_step(begin) != SQLITE_DONE) fail(db, "BEGIN");
    sqlite3_reset(begin);
    const std::string item = "https://www.example.com/rate/" + std::to_string(commits);
    sqlite3_bind_int64(insert, 1,
                       std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
    sqlite3_bind_text(insert, 2, item.data(), static_cast<int>(item.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(insert) != SQLITE_DONE) fail(db, "INSERT");
    sqlite3_reset(insert);
    if (sqlite3_step(commit) != SQLITE_DONE) fail(db, "COMMIT");
    sqlite3_reset(commit);
    latencies_ms.push_back(std::chrono::duration<double>(Clock::now() - t0).count() * 1000.0);
    ++commits;
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  sqlite3_finalize(insert);
  sqlite3_finalize(begin);
  sqlite3_finalize(commit);
  sqlite3_close(db);
  if (!keep) {
    for (const auto& f : files) ::unlink(f.c_str());
  }

  std::sort(latencies_ms.begin(), latencies_ms.end());
  const auto pct = [&](double q) {
    if (latencies_ms.empty()) return 0.0;
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(latencies_ms.size())));
    rank = std::max<std::size_t>(1, std::min(rank, latencies_ms.size()));
    return latencies_ms[rank - 1];
  };
  std::printf(
      "{\"commits_per_second\":%.1f,\"commits\":%lld,\"seconds\":%.3f,\"p50_ms\":%.3f,"
      "\"p99_ms\":%.3f,\"journal_mode\":\"%s\",\"synchronous\":%s,\"sqlite_version\":\"%s\"}\n",
      static_cast<double>(commits) / wall, commits, wall, pct(0.5), pct(0.99), journal.c_str(),
      synchronous.empty() ? "null" : synchronous.c_str(), sqlite3_libversion());
  return 0;
}
