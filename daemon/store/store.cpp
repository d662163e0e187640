// SQLite persistence of the purge queue. Every public call is one or a few prepared statements;
// transactions are the caller's (StoreWorker's) so that many submissions share one fsync.
#include "store/store.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <stdexcept>

namespace purgeq {
namespace {

constexpr std::string_view kSchema = R"sql(
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

std::string encode_headers(const std::vector<Header>& headers) {
  if (headers.empty()) return {};
  boost::json::array array;
  for (const auto& [name, value] : headers) array.push_back(boost::json::array{name, value});
  return boost::json::serialize(array);
}

std::vector<Header> decode_headers(const unsigned char* text) {
  std::vector<Header> headers;
  if (text == nullptr || *text == '\0') return headers;
  const auto value = boost::json::parse(reinterpret_cast<const char*>(text));
  for (const auto& pair : value.as_array()) {
    const auto& entry = pair.as_array();
    headers.emplace_back(std::string(entry.at(0).as_string()),
                         std::string(entry.at(1).as_string()));
  }
  return headers;
}

std::string column_text(sqlite3_stmt* stmt, int column) {
  const auto* text = sqlite3_column_text(stmt, column);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text));
}

// Resets a cached statement however the scope is left, so it never holds a read lock.
class Reset {
 public:
  explicit Reset(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Reset(const Reset&) = delete;
  Reset& operator=(const Reset&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

void bind_value(sqlite3_stmt* stmt, int index, std::string_view text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}
void bind_value(sqlite3_stmt* stmt, int index, std::int64_t value) {
  sqlite3_bind_int64(stmt, index, value);
}

}  // namespace

std::string_view IntentStatus::status() const {
  if (total > 0 && done + failed == total) {
    if (failed == 0) return "done";
    return done == 0 ? "failed" : "partial";
  }
  if (in_flight > 0 || done > 0 || failed > 0) return "in_flight";
  return "queued";
}

Store::Store(const std::string& path) : path_(path) {
  const int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string reason = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error(fmt::format("storage.path: cannot open \"{}\": {}", path, reason));
  }
  sqlite3_extended_result_codes(db_, 1);
  // WAL lets readers (status queries) and the writer overlap; synchronous=FULL syncs the WAL on
  // every commit, so an acknowledged intent survives power loss, not only a process crash. Group
  // commit (StoreWorker) amortises that fsync over every submission waiting at the time.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=FULL");
  exec("PRAGMA foreign_keys=ON");
  exec("PRAGMA busy_timeout=5000");
  migrate();
}

Store::~Store() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  if (db_ != nullptr) sqlite3_close(db_);
}

void Store::exec(std::string_view sql) {
  char* error = nullptr;
  const std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string reason = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error(fmt::format("storage {}: {}", path_, reason));
  }
}

sqlite3_stmt* Store::prepare(std::string_view sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    throw std::runtime_error(fmt::format("storage {}: {}", path_, sqlite3_errmsg(db_)));
  }
  statements_.emplace(std::string(sql), stmt);
  return stmt;
}

namespace {
// Runs a statement to completion; throws on error.
void step_done(sqlite3* db, sqlite3_stmt* stmt) {
  const int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw std::runtime_error(fmt::format("storage: {}", sqlite3_errmsg(db)));
  }
}
bool step_row(sqlite3* db, sqlite3_stmt* stmt) {
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw std::runtime_error(fmt::format("storage: {}", sqlite3_errmsg(db)));
}
// Runs a prepared "UPDATE ... WHERE id = ?1" once per id; `bind_rest` binds ?2 and on.
template <class BindRest>
void update_each(sqlite3* db, sqlite3_stmt* stmt, std::span<const std::int64_t> ids,
                 BindRest bind_rest) {
  for (const auto id : ids) {
    Reset reset(stmt);
    bind_value(stmt, 1, id);
    bind_rest(stmt);
    step_done(db, stmt);
  }
}
}  // namespace

void Store::migrate() {
  sqlite3_stmt* stmt = prepare("PRAGMA user_version");
  int version = 0;
  {
    Reset reset(stmt);
    if (step_row(db_, stmt)) version = sqlite3_column_int(stmt, 0);
  }
  if (version > kSchemaVersion) {
    throw std::runtime_error(fmt::format(
        "storage.path: \"{}\" has schema version {}, newer than this purgeqd ({}); refusing to "
        "touch it",
        path_, version, kSchemaVersion));
  }
  if (version == kSchemaVersion) return;
  exec("BEGIN IMMEDIATE");
  try {
    exec(kSchema);
    exec(fmt::format("PRAGMA user_version={}", kSchemaVersion));
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
}

void Store::begin() {
  exec("BEGIN IMMEDIATE");
}
void Store::commit() {
  exec("COMMIT");
}
void Store::rollback() {
  if (sqlite3_get_autocommit(db_) == 0) exec("ROLLBACK");
}
void Store::savepoint() {
  exec("SAVEPOINT job");
}
void Store::release_savepoint() {
  exec("RELEASE job");
}
void Store::rollback_to_savepoint() {
  exec("ROLLBACK TO job; RELEASE job");
}

SubmitResult Store::add_intent(std::string_view intent_id, std::int64_t now_ms, const Peer& peer,
                               std::string_view source, std::span<const ZonedItem> items) {
  SubmitResult result;
  result.items = items.size();
  {
    auto* stmt = prepare(
        "INSERT INTO intents(id, created_ms, peer_uid, peer_gid, peer_pid, source, item_count) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    Reset reset(stmt);
    bind_value(stmt, 1, intent_id);
    bind_value(stmt, 2, now_ms);
    bind_value(stmt, 3, static_cast<std::int64_t>(peer.uid));
    bind_value(stmt, 4, static_cast<std::int64_t>(peer.gid));
    bind_value(stmt, 5, static_cast<std::int64_t>(peer.pid));
    bind_value(stmt, 6, source);
    bind_value(stmt, 7, static_cast<std::int64_t>(items.size()));
    step_done(db_, stmt);
  }
  auto* find = prepare(
      "SELECT id FROM targets WHERE zone_id = ?1 AND kind = ?2 AND key = ?3 AND state = 0 LIMIT 1");
  auto* insert = prepare(
      "INSERT INTO targets(zone_id, kind, key, value, headers, state, created_ms, updated_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6)");
  auto* link =
      prepare("INSERT OR IGNORE INTO intent_targets(intent_id, target_id) VALUES (?1, ?2)");
  for (const auto& [zone_id, item] : items) {
    const std::string key = item.key();
    std::int64_t target_id = 0;
    {
      Reset reset(find);
      bind_value(find, 1, zone_id);
      bind_value(find, 2, static_cast<std::int64_t>(item.kind));
      bind_value(find, 3, key);
      if (step_row(db_, find)) target_id = sqlite3_column_int64(find, 0);
    }
    if (target_id == 0) {
      Reset reset(insert);
      bind_value(insert, 1, zone_id);
      bind_value(insert, 2, static_cast<std::int64_t>(item.kind));
      bind_value(insert, 3, key);
      bind_value(insert, 4, item.value);
      const std::string headers = encode_headers(item.headers);
      if (headers.empty()) {
        sqlite3_bind_null(insert, 5);
      } else {
        bind_value(insert, 5, headers);
      }
      bind_value(insert, 6, now_ms);
      step_done(db_, insert);
      target_id = sqlite3_last_insert_rowid(db_);
      result.created.push_back(StoredTarget{target_id, zone_id, item, now_ms, 0, 0});
    }
    Reset reset(link);
    bind_value(link, 1, intent_id);
    bind_value(link, 2, target_id);
    step_done(db_, link);
  }
  return result;
}

std::vector<StoredTarget> Store::recover() {
  exec("UPDATE targets SET state = 0 WHERE state = 1");
  auto* stmt = prepare(
      "SELECT id, zone_id, kind, value, headers, created_ms, attempts, not_before_ms "
      "FROM targets WHERE state = 0 ORDER BY id");
  Reset reset(stmt);
  std::vector<StoredTarget> pending;
  while (step_row(db_, stmt)) {
    StoredTarget target;
    target.id = sqlite3_column_int64(stmt, 0);
    target.zone_id = column_text(stmt, 1);
    target.item.kind = static_cast<Kind>(sqlite3_column_int(stmt, 2));
    target.item.value = column_text(stmt, 3);
    target.item.headers = decode_headers(sqlite3_column_text(stmt, 4));
    target.created_ms = sqlite3_column_int64(stmt, 5);
    target.attempts = sqlite3_column_int(stmt, 6);
    target.not_before_ms = sqlite3_column_int64(stmt, 7);
    pending.push_back(std::move(target));
  }
  return pending;
}

void Store::set_state(std::span<const std::int64_t> ids, TargetState state, std::int64_t now_ms) {
  update_each(db_, prepare("UPDATE targets SET state = ?2, updated_ms = ?3 WHERE id = ?1"), ids,
              [&](sqlite3_stmt* stmt) {
                bind_value(stmt, 2, static_cast<std::int64_t>(state));
                bind_value(stmt, 3, now_ms);
              });
}

void Store::mark_in_flight(std::span<const std::int64_t> ids) {
  update_each(db_, prepare("UPDATE targets SET state = 1 WHERE id = ?1"), ids,
              [](sqlite3_stmt*) {});
}

void Store::mark_done(std::span<const std::int64_t> ids, std::int64_t now_ms) {
  set_state(ids, TargetState::done, now_ms);
}

void Store::mark_failed(std::span<const std::int64_t> ids, std::int64_t now_ms, int code,
                        std::string_view message) {
  update_each(db_,
              prepare("UPDATE targets SET state = 3, updated_ms = ?2, error_code = ?3, "
                      "error_message = ?4 WHERE id = ?1"),
              ids, [&](sqlite3_stmt* stmt) {
                bind_value(stmt, 2, now_ms);
                bind_value(stmt, 3, static_cast<std::int64_t>(code));
                bind_value(stmt, 4, message);
              });
}

void Store::mark_retry(std::span<const std::int64_t> ids, std::int64_t now_ms,
                       std::int64_t not_before_ms, bool count_attempt,
                       std::string_view last_error) {
  update_each(db_,
              prepare("UPDATE targets SET state = 0, updated_ms = ?2, not_before_ms = ?3, "
                      "attempts = attempts + ?4, error_message = ?5 WHERE id = ?1"),
              ids, [&](sqlite3_stmt* stmt) {
                bind_value(stmt, 2, now_ms);
                bind_value(stmt, 3, not_before_ms);
                bind_value(stmt, 4, static_cast<std::int64_t>(count_attempt ? 1 : 0));
                bind_value(stmt, 5, last_error);
              });
}

std::optional<IntentStatus> Store::intent_status(std::string_view intent_id) {
  IntentStatus status;
  {
    auto* stmt =
        prepare("SELECT created_ms, peer_uid, peer_gid, peer_pid FROM intents WHERE id = ?1");
    Reset reset(stmt);
    bind_value(stmt, 1, intent_id);
    if (!step_row(db_, stmt)) return std::nullopt;
    status.id = std::string(intent_id);
    status.created_ms = sqlite3_column_int64(stmt, 0);
    status.peer = Peer{static_cast<long>(sqlite3_column_int64(stmt, 1)),
                       static_cast<long>(sqlite3_column_int64(stmt, 2)),
                       static_cast<long>(sqlite3_column_int64(stmt, 3))};
  }
  auto* stmt = prepare(
      "SELECT t.state, t.kind, t.value, t.error_code, t.error_message FROM intent_targets it "
      "JOIN targets t ON t.id = it.target_id WHERE it.intent_id = ?1");
  Reset reset(stmt);
  bind_value(stmt, 1, intent_id);
  while (step_row(db_, stmt)) {
    ++status.total;
    switch (static_cast<TargetState>(sqlite3_column_int(stmt, 0))) {
      case TargetState::pending:
        ++status.queued;
        break;
      case TargetState::in_flight:
        ++status.in_flight;
        break;
      case TargetState::done:
        ++status.done;
        break;
      case TargetState::failed:
        ++status.failed;
        status.errors.push_back(ItemError{static_cast<Kind>(sqlite3_column_int(stmt, 1)),
                                          column_text(stmt, 2), sqlite3_column_int(stmt, 3),
                                          column_text(stmt, 4)});
        break;
    }
  }
  return status;
}

std::vector<FailedTarget> Store::failed_targets(std::size_t limit) {
  auto* stmt = prepare(
      "SELECT id, zone_id, kind, value, error_code, error_message, updated_ms FROM targets "
      "WHERE state = 3 ORDER BY updated_ms DESC, id DESC LIMIT ?1");
  Reset reset(stmt);
  bind_value(stmt, 1, static_cast<std::int64_t>(limit));
  std::vector<FailedTarget> failed;
  while (step_row(db_, stmt)) {
    failed.push_back(FailedTarget{sqlite3_column_int64(stmt, 0), column_text(stmt, 1),
                                  static_cast<Kind>(sqlite3_column_int(stmt, 2)),
                                  column_text(stmt, 3), sqlite3_column_int(stmt, 4),
                                  column_text(stmt, 5), sqlite3_column_int64(stmt, 6)});
  }
  return failed;
}

std::int64_t Store::failed_count() {
  auto* stmt = prepare("SELECT count(*) FROM targets WHERE state = 3");
  Reset reset(stmt);
  return step_row(db_, stmt) ? sqlite3_column_int64(stmt, 0) : 0;
}

std::vector<StoredTarget> Store::retry_failed(std::int64_t now_ms) {
  std::vector<std::int64_t> ids;
  {
    auto* stmt = prepare("SELECT id FROM targets WHERE state = 3");
    Reset reset(stmt);
    while (step_row(db_, stmt)) ids.push_back(sqlite3_column_int64(stmt, 0));
  }
  auto* update = prepare(
      "UPDATE targets SET state = 0, attempts = 0, not_before_ms = 0, created_ms = ?2, "
      "updated_ms = ?2, error_code = NULL, error_message = NULL WHERE id = ?1 "
      "RETURNING zone_id, kind, value, headers");
  std::vector<StoredTarget> requeued;
  for (const auto id : ids) {
    Reset reset(update);
    bind_value(update, 1, id);
    bind_value(update, 2, now_ms);
    if (!step_row(db_, update)) continue;
    StoredTarget target;
    target.id = id;
    target.zone_id = column_text(update, 0);
    target.item.kind = static_cast<Kind>(sqlite3_column_int(update, 1));
    target.item.value = column_text(update, 2);
    target.item.headers = decode_headers(sqlite3_column_text(update, 3));
    target.created_ms = now_ms;
    requeued.push_back(std::move(target));
    // RETURNING rows must be stepped to completion before the next bind.
    while (step_row(db_, update)) {
    }
  }
  return requeued;
}

QueueCounts Store::queue_counts() {
  auto* stmt = prepare(
      "SELECT zone_id, kind, count(*), min(created_ms) FROM targets WHERE state IN (0, 1) "
      "GROUP BY zone_id, kind");
  Reset reset(stmt);
  QueueCounts counts;
  while (step_row(db_, stmt)) {
    counts[column_text(stmt, 0)][static_cast<Kind>(sqlite3_column_int(stmt, 1))] =
        QueueDepth{sqlite3_column_int64(stmt, 2), sqlite3_column_int64(stmt, 3)};
  }
  return counts;
}

std::int64_t Store::prune(std::int64_t before_ms) {
  auto* intents = prepare(
      "DELETE FROM intents WHERE created_ms < ?1 AND NOT EXISTS (SELECT 1 FROM intent_targets it "
      "JOIN targets t ON t.id = it.target_id WHERE it.intent_id = intents.id AND t.state IN (0, "
      "1))");
  std::int64_t deleted = 0;
  {
    Reset reset(intents);
    bind_value(intents, 1, before_ms);
    step_done(db_, intents);
    deleted = sqlite3_changes(db_);
  }
  auto* targets = prepare(
      "DELETE FROM targets WHERE state IN (2, 3) AND updated_ms < ?1 AND NOT EXISTS "
      "(SELECT 1 FROM intent_targets it WHERE it.target_id = targets.id)");
  Reset reset(targets);
  bind_value(targets, 1, before_ms);
  step_done(db_, targets);
  return deleted;
}

void Store::probe_write(std::int64_t now_ms) {
  auto* stmt = prepare("INSERT OR REPLACE INTO health(id, probed_ms) VALUES (1, ?1)");
  Reset reset(stmt);
  bind_value(stmt, 1, now_ms);
  step_done(db_, stmt);
}

}  // namespace purgeq
