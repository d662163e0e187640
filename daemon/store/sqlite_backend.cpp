// The SQLite backend: one connection, its schema and migrations (store/sql/sqlite/*.sql), the
// statements of queries.sql run as the queue's algorithms ask (queue_store.cpp), and what only a
// database file of its own has: the disk reserve and the optional index of finished URLs.
// Transactions are the caller's (StoreWorker's), so that many submissions share one fsync.
#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <functional>
#include <map>
#include <stdexcept>

#include "store/backend.h"
#include "store/queue_store.h"
#include "store/sqlite_store.h"

namespace purgeq {
namespace {

// Only while some zone's escalation asks for a share (SqliteBackend::index_known_urls).
constexpr std::string_view kKnownIndex =
    "CREATE INDEX IF NOT EXISTS targets_known_rows ON targets(zone, kind, key) "
    "WHERE known IS NOT NULL";

std::string_view schema_file(std::string_view name) {
  const auto text = embedded_sql(fmt::format("sqlite/{}.sql", name));
  if (text.empty()) throw std::logic_error(fmt::format("no embedded sqlite/{}.sql", name));
  return text;
}

// A prepared statement of the vocabulary, with what its text does with each parameter.
struct Prepared {
  sqlite3_stmt* stmt = nullptr;
  enum class Use : std::uint8_t { unused, plain, json };
  std::vector<Use> uses;         // by parameter index - 1
  const void* reader = nullptr;  // the cursor reading it now, if any
};

// Which parameters `sql` names, and how: `json_each(?N)` reads an array whole, a plain `?N` one
// element (or the scalar) per run.
std::vector<Prepared::Use> parameter_uses(std::string_view sql, int count) {
  std::vector<Prepared::Use> uses(static_cast<std::size_t>(std::max(count, 0)),
                                  Prepared::Use::unused);
  for (std::size_t at = sql.find('?'); at != std::string_view::npos; at = sql.find('?', at + 1)) {
    std::size_t end = at + 1;
    int number = 0;
    while (end < sql.size() && sql[end] >= '0' && sql[end] <= '9') {
      number = number * 10 + (sql[end] - '0');
      ++end;
    }
    if (number < 1 || number > count) continue;
    const bool whole = at >= 10 && sql.substr(at - 10, 10) == "json_each(";
    auto& use = uses[static_cast<std::size_t>(number - 1)];
    use = whole ? Prepared::Use::json : (use == Prepared::Use::json ? use : Prepared::Use::plain);
  }
  return uses;
}

std::size_t array_size(const Param& param) {
  if (const auto* ids = std::get_if<IdList>(&param)) return ids->size();
  if (const auto* texts = std::get_if<TextList>(&param)) return texts->size();
  return 0;
}

std::string json_array(const Param& param) {
  boost::json::array array;
  if (const auto* ids = std::get_if<IdList>(&param)) {
    for (const auto id : *ids) array.emplace_back(id);
  } else if (const auto* texts = std::get_if<TextList>(&param)) {
    for (const auto& text : *texts) {
      if (text) {
        array.emplace_back(boost::json::string(*text));
      } else {
        array.emplace_back(nullptr);
      }
    }
  }
  return boost::json::serialize(array);
}

class SqliteBackend;

// Steps a statement through its runs: one, or one per element of the arrays its text names
// plainly. Texts it binds are its own (the Params it holds), so they are bound without copies.
class SqliteCursor final : public RowCursor {
 public:
  SqliteCursor(SqliteBackend& db, Stmt statement, Prepared& prepared, Params params);
  ~SqliteCursor() override { release(); }
  SqliteCursor(const SqliteCursor&) = delete;
  SqliteCursor& operator=(const SqliteCursor&) = delete;

  bool next() override;
  [[nodiscard]] bool null(int column) const override {
    return sqlite3_column_type(prepared_.stmt, column) == SQLITE_NULL;
  }
  [[nodiscard]] std::int64_t integer(int column) const override {
    return sqlite3_column_int64(prepared_.stmt, column);
  }
  [[nodiscard]] std::string text(int column) const override {
    const auto* text = sqlite3_column_text(prepared_.stmt, column);
    if (text == nullptr) return {};
    return {reinterpret_cast<const char*>(text),
            static_cast<std::size_t>(sqlite3_column_bytes(prepared_.stmt, column))};
  }
  [[nodiscard]] std::int64_t changed() const override { return changed_; }

 private:
  void bind(std::size_t element);
  // Resets the statement (so that it holds no read lock) if this cursor still reads it.
  void release();

  SqliteBackend& db_;
  Stmt statement_;
  Prepared& prepared_;
  Params params_;
  std::vector<std::string> json_;  // by parameter: the arrays bound whole, as JSON
  std::size_t runs_ = 1;
  std::size_t run_ = 0;
  bool bound_ = false;
  std::int64_t changed_ = 0;
};

class SqliteBackend final : public StoreBackend {
 public:
  SqliteBackend(const std::string& path, bool read_only);
  ~SqliteBackend() override { close(); }
  SqliteBackend(const SqliteBackend&) = delete;
  SqliteBackend& operator=(const SqliteBackend&) = delete;

  Rows query(Stmt statement, Params params) override;

  void begin() override { exec_script(read_only_ ? "BEGIN" : "BEGIN IMMEDIATE"); }
  void commit() override { exec_script("COMMIT"); }
  void rollback() override {
    if (sqlite3_get_autocommit(db_) == 0) exec_script("ROLLBACK");
  }
  void savepoint() override { exec_script("SAVEPOINT job"); }
  void release_savepoint() override { exec_script("RELEASE job"); }
  void rollback_to_savepoint() override { exec_script("ROLLBACK TO job; RELEASE job"); }

  void check_accepting() override {
    // The reserve is spent on outcomes and checkpoints: nothing new until space returns.
    if (full_) {
      throw StorageFullError(fmt::format(
          "storage {}: the disk is full; new intents are refused until space is freed", path_));
    }
  }
  [[nodiscard]] bool knows_finished() const override { return known_indexed_; }

  std::int64_t recover_step(std::int64_t limit) override {
    return run_private(
        "UPDATE targets SET state = 0, flight = NULL, known = NULL WHERE id IN "
        "(SELECT id FROM targets WHERE state = 1 LIMIT ?1)",
        limit);
  }
  std::int64_t recover_hook_runs_step(std::int64_t limit) override {
    return run_private(
        "UPDATE hook_runs SET state = 1 WHERE (intent, hook) IN (SELECT intent, hook FROM "
        "hook_runs INDEXED BY hook_runs_running WHERE state = 2 LIMIT ?1)",
        limit);
  }

  [[nodiscard]] std::int64_t size_bytes() override;
  void relieve_full_disk() override;
  bool restore_reserve() override;
  [[nodiscard]] bool disk_full() const override { return full_; }
  void index_known_urls(bool wanted) override {
    exec_script(wanted ? kKnownIndex : "DROP INDEX IF EXISTS targets_known_rows");
    known_indexed_ = wanted;
  }

  // A SQLite file belongs to one daemon, which sends for every account.
  [[nodiscard]] bool shared() const override { return false; }
  [[nodiscard]] std::int64_t host_id() const override { return 0; }
  SenderClaims claim_senders(const SenderRequest& request, std::int64_t /*limit*/) override {
    SenderClaims claims;
    claims.sending = request.accounts;
    return claims;
  }

  [[noreturn]] void fail(int rc, std::string_view what) const;
  [[nodiscard]] sqlite3* handle() const { return db_; }

 private:
  void configure();  // pragmas, schema, reserve: everything after the open
  void close() noexcept;
  [[nodiscard]] std::string reserve_path() const { return path_ + ".reserve"; }
  // A tenth of the volume holding the database, within the bounds in sqlite_store.h.
  [[nodiscard]] std::int64_t reserve_bytes() const;
  void exec_script(std::string_view sql);
  std::int64_t pragma(std::string_view name);
  // One statement of this backend's own (not of the vocabulary) with one integer parameter.
  std::int64_t run_private(std::string_view sql, std::int64_t value);
  void migrate();
  // Columns and indexes added without a schema version (escalations.sql).
  void add_extras();
  void in_transaction(const std::function<void()>& work);

  std::string path_;
  bool read_only_;
  sqlite3* db_ = nullptr;
  StatementTexts texts_;
  std::map<Stmt, Prepared> prepared_;
  bool known_indexed_ = false;  // targets_known_rows exists (index_known_urls)
  bool full_ = false;
};

SqliteCursor::SqliteCursor(SqliteBackend& db, Stmt statement, Prepared& prepared, Params params)
    : db_(db), statement_(statement), prepared_(prepared), params_(std::move(params)) {
  if (prepared_.reader != nullptr) {
    throw std::logic_error(fmt::format("statement {} ran again before its rows were read",
                                       kStatementNames[static_cast<std::size_t>(statement)]));
  }
  prepared_.reader = this;
  std::optional<std::size_t> runs;
  const auto& values = params_.values();
  json_.resize(values.size());
  for (std::size_t i = 0; i < values.size() && i < prepared_.uses.size(); ++i) {
    const bool array =
        std::holds_alternative<IdList>(values[i]) || std::holds_alternative<TextList>(values[i]);
    if (!array) continue;
    if (prepared_.uses[i] == Prepared::Use::json) {
      json_[i] = json_array(values[i]);
      continue;
    }
    if (prepared_.uses[i] != Prepared::Use::plain) continue;
    const auto size = array_size(values[i]);
    if (runs && *runs != size) {
      release();
      throw std::logic_error(fmt::format("statement {}: arrays of different lengths",
                                         kStatementNames[static_cast<std::size_t>(statement)]));
    }
    runs = size;
  }
  runs_ = runs.value_or(1);
  if (runs_ == 0) release();
}

void SqliteCursor::release() {
  if (prepared_.reader != this) return;
  sqlite3_reset(prepared_.stmt);
  sqlite3_clear_bindings(prepared_.stmt);
  prepared_.reader = nullptr;
}

void SqliteCursor::bind(std::size_t element) {
  auto* stmt = prepared_.stmt;
  const auto& values = params_.values();
  for (std::size_t i = 0; i < values.size() && i < prepared_.uses.size(); ++i) {
    const auto use = prepared_.uses[i];
    if (use == Prepared::Use::unused) continue;
    const int index = static_cast<int>(i) + 1;
    const auto bind_text = [&](const std::string& text) {
      sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    };
    const auto& value = values[i];
    if (std::holds_alternative<std::monostate>(value)) {
      sqlite3_bind_null(stmt, index);
    } else if (const auto* integer = std::get_if<std::int64_t>(&value)) {
      sqlite3_bind_int64(stmt, index, *integer);
    } else if (const auto* text = std::get_if<std::string>(&value)) {
      bind_text(*text);
    } else if (use == Prepared::Use::json) {
      bind_text(json_[i]);
    } else if (const auto* ids = std::get_if<IdList>(&value)) {
      sqlite3_bind_int64(stmt, index, (*ids)[element]);
    } else if (const auto& texts = std::get<TextList>(value); texts[element]) {
      bind_text(*texts[element]);
    } else {
      sqlite3_bind_null(stmt, index);
    }
  }
}

bool SqliteCursor::next() {
  while (prepared_.reader == this && run_ < runs_) {
    if (!bound_) {
      bind(run_);
      bound_ = true;
    }
    const int rc = sqlite3_step(prepared_.stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) {
      const std::string reason = sqlite3_errmsg(db_.handle());
      release();
      db_.fail(rc, fmt::format("{} ({})", reason,
                               kStatementNames[static_cast<std::size_t>(statement_)]));
    }
    // sqlite3_changes64 is the last write's count, which a SELECT leaves as it was.
    if (sqlite3_stmt_readonly(prepared_.stmt) == 0) changed_ += sqlite3_changes64(db_.handle());
    sqlite3_reset(prepared_.stmt);
    bound_ = false;
    if (++run_ == runs_) release();
  }
  return false;
}

SqliteBackend::SqliteBackend(const std::string& path, bool read_only)
    : path_(path), read_only_(read_only), texts_("sqlite", schema_file("queries")) {
  const int flags =
      (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string reason = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error(fmt::format("storage.path: cannot open \"{}\": {}", path, reason));
  }
  try {
    configure();
  } catch (...) {
    // A constructor that throws runs no destructor: close what is open here (found leaking by
    // the sanitized suite when a newer schema is refused).
    close();
    throw;
  }
}

void SqliteBackend::close() noexcept {
  for (auto& [statement, prepared] : prepared_) sqlite3_finalize(prepared.stmt);
  prepared_.clear();
  if (db_ != nullptr) sqlite3_close(db_);
  db_ = nullptr;
}

void SqliteBackend::configure() {
  sqlite3_extended_result_codes(db_, 1);
  exec_script("PRAGMA busy_timeout=5000");
  if (read_only_) {
    exec_script("PRAGMA query_only=ON");
    return;
  }
  // WAL lets the reader connection and the writer overlap; synchronous=FULL syncs the WAL on
  // every commit, so an acknowledged intent survives power loss, not only a process crash. Group
  // commit (StoreWorker) amortises that fsync over every submission waiting at the time.
  exec_script("PRAGMA journal_mode=WAL");
  exec_script("PRAGMA synchronous=FULL");
  exec_script("PRAGMA foreign_keys=ON");
  exec_script(fmt::format("PRAGMA journal_size_limit={}", kJournalSizeLimit));
  // Checkpoint before the log outgrows the reserve, so that the space the reserve frees always
  // holds a checkpoint (SQLite's default of 1,000 pages on volumes of 40 MiB and more).
  const auto page_size = std::max<std::int64_t>(pragma("page_size"), 512);
  exec_script(fmt::format("PRAGMA wal_autocheckpoint={}",
                          std::clamp<std::int64_t>(reserve_bytes() / page_size, 16, 1000)));
  migrate();
  add_extras();
  // Without room for the reserve the disk is already full: start relieved, refusing intents
  // until space returns, rather than refusing to start with acknowledged intents waiting.
  if (!restore_reserve()) full_ = true;
}

void SqliteBackend::fail(int rc, std::string_view what) const {
  const std::string message = fmt::format("storage {}: {}", path_, what);
  if ((rc & 0xff) == SQLITE_FULL) throw StorageFullError(message);
  throw std::runtime_error(message);
}

void SqliteBackend::exec_script(std::string_view sql) {
  char* error = nullptr;
  const std::string text(sql);
  if (const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error); rc != SQLITE_OK) {
    std::string reason = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    fail(rc, reason);
  }
}

Rows SqliteBackend::query(Stmt statement, Params params) {
  auto [it, fresh] = prepared_.try_emplace(statement);
  if (fresh) {
    const auto& sql = texts_.of(statement);
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &it->second.stmt, nullptr) != SQLITE_OK) {
      const std::string reason = sqlite3_errmsg(db_);
      prepared_.erase(it);
      throw std::runtime_error(fmt::format("storage {}: {} ({})", path_, reason,
                                           kStatementNames[static_cast<std::size_t>(statement)]));
    }
    it->second.uses = parameter_uses(sql, sqlite3_bind_parameter_count(it->second.stmt));
  }
  return Rows(std::make_unique<SqliteCursor>(*this, statement, it->second, std::move(params)));
}

std::int64_t SqliteBackend::run_private(std::string_view sql, std::int64_t value) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    const std::string reason = sqlite3_errmsg(db_);
    sqlite3_finalize(stmt);
    fail(SQLITE_ERROR, reason);
  }
  sqlite3_bind_int64(stmt, 1, value);
  int rc = SQLITE_ROW;
  while (rc == SQLITE_ROW) rc = sqlite3_step(stmt);
  const std::string reason = sqlite3_errmsg(db_);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) fail(rc, reason);
  return sqlite3_changes64(db_);
}

std::int64_t SqliteBackend::pragma(std::string_view name) {
  sqlite3_stmt* stmt = nullptr;
  const auto sql = fmt::format("PRAGMA {}", name);
  std::int64_t value = 0;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    value = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  return value;
}

void SqliteBackend::relieve_full_disk() {
  if (read_only_) return;
  full_ = true;
  ::unlink(reserve_path().c_str());
  // Copy what the log holds into the database and cut the log back, now that the reserve's space
  // is there for it; a reader holding old pages may keep part of it until it leaves.
  sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

std::int64_t SqliteBackend::reserve_bytes() const {
  struct statvfs volume {};
  const auto slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
  if (::statvfs(dir.c_str(), &volume) != 0) return kMaxReserveBytes;
  const auto total =
      static_cast<std::int64_t>(volume.f_blocks) * static_cast<std::int64_t>(volume.f_frsize);
  return std::clamp(total / 10, kMinReserveBytes, kMaxReserveBytes);
}

bool SqliteBackend::restore_reserve() {
  if (read_only_) return true;
  const int fd = ::open(reserve_path().c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  // Allocated blocks, not a sparse file: the space must really be held.
  const int rc = ::posix_fallocate(fd, 0, reserve_bytes());
  ::close(fd);
  if (rc != 0) {
    ::unlink(reserve_path().c_str());
    return false;
  }
  full_ = false;
  return true;
}

std::int64_t SqliteBackend::size_bytes() {
  std::int64_t bytes = pragma("page_count") * pragma("page_size");
  struct stat info {};
  if (::stat((path_ + "-wal").c_str(), &info) == 0) bytes += info.st_size;
  return bytes;
}

void SqliteBackend::in_transaction(const std::function<void()>& work) {
  exec_script("BEGIN IMMEDIATE");
  try {
    work();
    exec_script("COMMIT");
  } catch (...) {
    exec_script("ROLLBACK");
    throw;
  }
}

void SqliteBackend::migrate() {
  const auto version = pragma("user_version");
  if (version > kSqliteSchemaVersion) {
    throw std::runtime_error(fmt::format(
        "storage.path: \"{}\" has schema version {}, newer than this purgeqd ({}); refusing to "
        "touch it",
        path_, version, kSqliteSchemaVersion));
  }
  if (version == kSqliteSchemaVersion) {
    // Development builds of version 2 counted inserts with a trigger; add_intent counts them now.
    exec_script("DROP TRIGGER IF EXISTS targets_counted_insert");
    exec_script(schema_file("everything_sent"));
    exec_script(schema_file("hooks"));
    return;
  }
  in_transaction([&] {
    // A new database is built as version 2 and migrated like an old one, so the migration is
    // the path every database takes.
    if (version < 2) {
      if (version == 1) exec_script(schema_file("migrate_v1"));
      exec_script(schema_file("schema_v2"));
      if (version == 1) exec_script(schema_file("copy_v1"));
    }
    if (version < 3) exec_script(schema_file("migrate_v3"));
    exec_script(schema_file("migrate_v4"));
    exec_script(schema_file("everything_sent"));
    exec_script(schema_file("hooks"));
    exec_script(fmt::format("PRAGMA user_version={}", kSqliteSchemaVersion));
  });
}

void SqliteBackend::add_extras() {
  bool has_coverer = false, has_known = false;
  {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db_, "SELECT name FROM pragma_table_info('targets')", -1, &stmt, nullptr);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const std::string_view name = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      has_coverer = has_coverer || name == "coverer";
      has_known = has_known || name == "known";
    }
    sqlite3_finalize(stmt);
  }
  // targets_known (on state != 0) is what a purgeqd before targets.known indexed; it is there
  // again if such a purgeqd opened the file since, having moved rows without setting `known`.
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db_,
                     "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                     "name = 'targets_known'",
                     -1, &stmt, nullptr);
  const bool old_index = sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) != 0;
  sqlite3_finalize(stmt);
  if (!has_coverer || !has_known || old_index) {
    in_transaction([&] {
      if (!has_coverer) exec_script("ALTER TABLE targets ADD COLUMN coverer INTEGER");
      if (!has_known) exec_script("ALTER TABLE targets ADD COLUMN known INTEGER");
      // One pass over the non-pending rows (and, after an older purgeqd, the pending ones). IN,
      // not !=, so that it reads them through targets_age instead of scanning the backlog.
      exec_script("UPDATE targets SET known = 1 WHERE state IN (1, 2, 3) AND known IS NULL");
      if (has_known) {
        exec_script("UPDATE targets SET known = NULL WHERE state = 0 AND known IS NOT NULL");
      }
      exec_script("DROP INDEX IF EXISTS targets_known");
    });
  }
  exec_script(schema_file("escalations"));
  exec_script(schema_file("zone_records"));
}

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path, bool read_only) {
  // Once, before SQLite initialises: its memory statistics take a global mutex on every
  // allocation (6 % of the store thread in bulk intake), and nothing reads them.
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
  return make_queue_store(std::make_unique<SqliteBackend>(path, read_only));
}

}  // namespace purgeq
