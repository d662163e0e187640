// SQLite persistence of the purge queue. Every call is a few prepared statements over indexes;
// transactions are the caller's (StoreWorker's) so that many submissions share one fsync.
//
// Layout (schema version 3):
// - targets: one row per distinct pending purge; (`zone`, `grp`, `lane`) is its queue, `key` its
//   identity.
//   Partial indexes hold only pending rows, so the queue heads, twins and coverage ranges are
//   found by index range scans whose cost does not depend on the backlog.
// - queue_counts: per (zone, group, lane, state), maintained as rows change state or lane, so
//   counts are never scans: by triggers for updates (of state or lane) and deletes, and by
//   add_intent for inserts (one upsert per queue and intent rather than one per row: a trigger
//   per inserted row cost a third of the bulk intake rate).
// - links: which intent asked for which target (integer keys keep it small).
// The hot statements name their index (INDEXED BY): without statistics SQLite's planner picked
// targets_age for some of them and scanned every pending row, turning O(cap · log n) into O(n).
#include "store/sqlite_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <stdexcept>
#include <unordered_set>

#include "planner/coverage.h"
#include "store/row_text.h"

namespace purgeq {
namespace {

constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE zones(
  id INTEGER PRIMARY KEY,
  zone_id TEXT NOT NULL UNIQUE
);
CREATE TABLE intents(
  ref INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL,
  peer_uid INTEGER NOT NULL,
  peer_gid INTEGER NOT NULL,
  peer_pid INTEGER NOT NULL,
  source TEXT NOT NULL,
  item_count INTEGER NOT NULL
);
CREATE INDEX intents_created ON intents(created_ms);
CREATE TABLE targets(
  id INTEGER PRIMARY KEY,
  zone INTEGER NOT NULL,
  grp INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT,                 -- NULL when equal to key (most URLs)
  headers TEXT,
  state INTEGER NOT NULL,
  flight INTEGER,             -- the request that took it while in_flight
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  error_code INTEGER,
  error_message TEXT
);
CREATE INDEX targets_twin ON targets(zone, kind, key) WHERE state = 0;
CREATE INDEX targets_queue ON targets(zone, grp) WHERE state = 0;
CREATE INDEX targets_flight ON targets(flight) WHERE state = 1;
CREATE INDEX targets_age ON targets(state, created_ms);
CREATE TABLE links(
  intent INTEGER NOT NULL REFERENCES intents(ref) ON DELETE CASCADE,
  target INTEGER NOT NULL,
  PRIMARY KEY(intent, target)
) WITHOUT ROWID;
CREATE INDEX links_target ON links(target);
CREATE TABLE queue_counts(
  zone INTEGER NOT NULL,
  grp INTEGER NOT NULL,
  state INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY(zone, grp, state)
) WITHOUT ROWID;
CREATE TABLE sends(account TEXT NOT NULL, kind INTEGER NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX sends_at ON sends(at_ms);
CREATE TABLE IF NOT EXISTS health(id INTEGER PRIMARY KEY CHECK (id = 1), probed_ms INTEGER NOT NULL);
)sql";

// Version 3: priority lanes (docs/delivery.md, "Priority lanes"). A queue is (zone, group, lane):
// the queue index and the counts gain the lane, and a target's lane can change (a pending twin is
// raised when a higher intent asks for it), so the count trigger follows lane changes too.
// Existing rows are normal (1), the lane everything was sent in before.
constexpr std::string_view kMigrateV3 = R"sql(
DROP TRIGGER IF EXISTS targets_counted_insert;
DROP TRIGGER IF EXISTS targets_counted_update;
DROP TRIGGER IF EXISTS targets_counted_delete;
ALTER TABLE targets ADD COLUMN lane INTEGER NOT NULL DEFAULT 1;
ALTER TABLE intents ADD COLUMN lane INTEGER NOT NULL DEFAULT 1;
DROP INDEX IF EXISTS targets_queue;
CREATE INDEX targets_queue ON targets(zone, grp, lane) WHERE state = 0;
ALTER TABLE queue_counts RENAME TO queue_counts_v2;
CREATE TABLE queue_counts(
  zone INTEGER NOT NULL,
  grp INTEGER NOT NULL,
  lane INTEGER NOT NULL,
  state INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY(zone, grp, lane, state)
) WITHOUT ROWID;
INSERT INTO queue_counts(zone, grp, lane, state, n)
  SELECT zone, grp, 1, state, n FROM queue_counts_v2 WHERE n != 0;
DROP TABLE queue_counts_v2;
CREATE TRIGGER targets_counted_update AFTER UPDATE OF state, lane ON targets
  WHEN OLD.state != NEW.state OR OLD.lane != NEW.lane BEGIN
  UPDATE queue_counts SET n = n - 1
    WHERE zone = OLD.zone AND grp = OLD.grp AND lane = OLD.lane AND state = OLD.state;
  INSERT INTO queue_counts(zone, grp, lane, state, n)
    VALUES (NEW.zone, NEW.grp, NEW.lane, NEW.state, 1)
    ON CONFLICT(zone, grp, lane, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER targets_counted_delete AFTER DELETE ON targets BEGIN
  UPDATE queue_counts SET n = n - 1
    WHERE zone = OLD.zone AND grp = OLD.grp AND lane = OLD.lane AND state = OLD.state;
END;
)sql";
static_assert(static_cast<int>(Lane::normal) == 1, "kMigrateV3 names the normal lane by number");

// When each zone last had a purge-everything taken into a request (docs/delivery.md,
// "Purge-everything guardrails"). Its own tiny table, because finished targets are pruned and no
// index serves "latest everything of a zone" in any state. Kept by a trigger so that every path
// that puts a row in flight (take, cover_step) counts. Idempotent, and no schema version: an
// older purgeqd opening the file keeps it up to date without knowing it.
constexpr std::string_view kEverythingSent = R"sql(
CREATE TABLE IF NOT EXISTS everything_sent(zone INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS targets_everything_sent AFTER UPDATE OF state ON targets
  WHEN NEW.state = 1 AND NEW.kind = 4 BEGIN
  INSERT INTO everything_sent(zone, at_ms) VALUES (NEW.zone, NEW.updated_ms)
    ON CONFLICT(zone) DO UPDATE SET at_ms = max(at_ms, excluded.at_ms);
END;
)sql";
static_assert(static_cast<int>(Kind::everything) == 4, "kEverythingSent names the kind by number");

// Cost-based escalation and receipts that name their coverer (docs/delivery.md), added like
// kEverythingSent: idempotently on every open, without a schema version.
// - escalations: one row per escalation; `target` is the prefix target it added.
// - targets.coverer (added by add_extras): the broad target whose request completed a covered
//   row, set when the row is covered and cleared when a request of its own takes it.
// - targets.known (added by add_extras): 1 while state != 0, NULL while pending; every
//   statement that moves a row out of or back to pending sets it.
// - targets_known_rows: finished and in-flight rows by key, so that an escalation can count a
//   prefix's known URLs with a bounded range scan. Partial on `known`, not on state: SQLite
//   rewrites a partial index on every UPDATE that sets a column of its WHERE clause, so on
//   state != 0 each settled row cost a delete and an insert of an unchanged entry (a drain's
//   take + settle: +35 % CPU, docs/benchmarks.md); settle does not set `known`. Intake (which
//   only inserts pending rows) does not pay for it either; a row enters it when it is taken.
//   Even so it costs every take, so it exists only while some zone's escalation asks for a
//   share (index_known_urls, kKnownIndex).
constexpr std::string_view kEscalations = R"sql(
CREATE TABLE IF NOT EXISTS escalations(
  id INTEGER PRIMARY KEY,
  zone INTEGER NOT NULL,
  prefix TEXT NOT NULL,
  target INTEGER NOT NULL,
  urls INTEGER NOT NULL,
  known INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS escalations_target ON escalations(target);
CREATE INDEX IF NOT EXISTS escalations_prefix ON escalations(zone, prefix);
CREATE INDEX IF NOT EXISTS escalations_created ON escalations(created_ms);
)sql";
// Only while some zone's escalation asks for a share (index_known_urls).
constexpr std::string_view kKnownIndex =
    "CREATE INDEX IF NOT EXISTS targets_known_rows ON targets(zone, kind, key) "
    "WHERE known IS NOT NULL";

// Completion hooks (docs/delivery.md). Idempotent and outside the schema version, like
// kEverythingSent. hook_waits keeps, per intent that has hooks, how many of its linked targets
// are unfinished and failed, so "the intent became terminal" is seen by the trigger of the
// target that finished it, at a cost of the intents linked to that target (links_target), never
// by counting the intent's items. A pending twin shared by several intents counts in each of
// them; a failed target retried (failed -> pending) counts as unfinished again, and the hooks
// run again when the intent is terminal again. hook_open counts the intents still waiting, so
// while none is, a target's state change costs one primary-key lookup more (a partial index on
// remaining > 0 did the same but doubled the cost of each settled row when hooks were in use;
// UPDATE ... FROM instead of IN (subquery) saves building a temporary table per row).
// hook_runs: one per intent and hook (HookState); hook_counts: runs by hook and state.
// Reopened (a failed item retried), an intent's due and running runs wait again: a retry due
// must not run while items are pending, and a run still going reports the old round, which
// finish_hook_run then drops (it only records a run still marked running), so the fresh round
// runs once the intent is terminal again. hook_waits_turned is dropped and created on each
// open because earlier builds created it without the reopening half.
constexpr std::string_view kHooks = R"sql(
CREATE TABLE IF NOT EXISTS hook_waits(
  intent INTEGER PRIMARY KEY REFERENCES intents(ref) ON DELETE CASCADE,
  zones TEXT NOT NULL,
  total INTEGER NOT NULL,
  remaining INTEGER NOT NULL,
  failed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hook_open(id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT OR IGNORE INTO hook_open(id, n) SELECT 1, count(*) FROM hook_waits WHERE remaining > 0;
CREATE TABLE IF NOT EXISTS hook_runs(
  intent INTEGER NOT NULL REFERENCES hook_waits(intent) ON DELETE CASCADE,
  hook TEXT NOT NULL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_ms INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY(intent, hook)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hook_runs_due ON hook_runs(hook, next_ms) WHERE state = 1;
CREATE INDEX IF NOT EXISTS hook_runs_running ON hook_runs(intent) WHERE state = 2;
CREATE TABLE IF NOT EXISTS hook_counts(
  hook TEXT NOT NULL,
  state INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY(hook, state)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS targets_hook_finished AFTER UPDATE OF state ON targets
  WHEN OLD.state IN (0, 1) AND NEW.state IN (2, 3)
   AND (SELECT n FROM hook_open WHERE id = 1) > 0 BEGIN
  UPDATE hook_waits SET remaining = remaining - 1, failed = failed + (NEW.state = 3)
    FROM (SELECT intent FROM links WHERE target = NEW.id) AS l
    WHERE hook_waits.intent = l.intent;
END;
CREATE TRIGGER IF NOT EXISTS targets_hook_reopened AFTER UPDATE OF state ON targets
  WHEN OLD.state IN (2, 3) AND NEW.state IN (0, 1) AND EXISTS (SELECT 1 FROM hook_waits) BEGIN
  UPDATE hook_waits SET remaining = remaining + 1, failed = failed - (OLD.state = 3)
    FROM (SELECT intent FROM links WHERE target = NEW.id) AS l
    WHERE hook_waits.intent = l.intent;
END;
CREATE TRIGGER IF NOT EXISTS hook_waits_opened AFTER INSERT ON hook_waits
  WHEN NEW.remaining > 0 BEGIN
  UPDATE hook_open SET n = n + 1 WHERE id = 1;
END;
DROP TRIGGER IF EXISTS hook_waits_turned;
CREATE TRIGGER hook_waits_turned AFTER UPDATE OF remaining ON hook_waits
  WHEN (NEW.remaining = 0) != (OLD.remaining = 0) BEGIN
  UPDATE hook_open SET n = n + (CASE WHEN NEW.remaining = 0 THEN -1 ELSE 1 END) WHERE id = 1;
  UPDATE hook_runs SET state = 1, attempts = 0, next_ms = 0, last_error = NULL
    WHERE intent = NEW.intent AND state != 2 AND NEW.remaining = 0;
  UPDATE hook_runs SET state = 0
    WHERE intent = NEW.intent AND state IN (1, 2) AND NEW.remaining != 0;
END;
CREATE TRIGGER IF NOT EXISTS hook_waits_dropped AFTER DELETE ON hook_waits
  WHEN OLD.remaining > 0 BEGIN
  UPDATE hook_open SET n = n - 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS hook_runs_counted_insert AFTER INSERT ON hook_runs BEGIN
  INSERT INTO hook_counts(hook, state, n) VALUES (NEW.hook, NEW.state, 1)
    ON CONFLICT(hook, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS hook_runs_counted_update AFTER UPDATE OF state ON hook_runs
  WHEN OLD.state != NEW.state BEGIN
  UPDATE hook_counts SET n = n - 1 WHERE hook = OLD.hook AND state = OLD.state;
  INSERT INTO hook_counts(hook, state, n) VALUES (NEW.hook, NEW.state, 1)
    ON CONFLICT(hook, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS hook_runs_counted_delete AFTER DELETE ON hook_runs BEGIN
  UPDATE hook_counts SET n = n - 1 WHERE hook = OLD.hook AND state = OLD.state;
END;
)sql";

// Version 1 kept zone ids and intent ids as text in every row and no counts. The rows move over
// as they are (in_flight ones become pending: no request of the old process is still open).
constexpr std::string_view kMigrateV1 = R"sql(
ALTER TABLE intents RENAME TO intents_v1;
ALTER TABLE targets RENAME TO targets_v1;
DROP INDEX IF EXISTS targets_pending_key;
DROP INDEX IF EXISTS targets_state;
DROP INDEX IF EXISTS intent_targets_target;
)sql";

constexpr std::string_view kCopyV1 = R"sql(
INSERT INTO zones(zone_id) SELECT DISTINCT zone_id FROM targets_v1;
INSERT INTO intents(id, created_ms, peer_uid, peer_gid, peer_pid, source, item_count)
  SELECT id, created_ms, peer_uid, peer_gid, peer_pid, source, item_count FROM intents_v1
  ORDER BY created_ms, id;
INSERT INTO targets(id, zone, grp, kind, key, value, headers, state, flight, created_ms,
                    updated_ms, attempts, error_code, error_message)
  SELECT t.id, z.id,
         CASE WHEN t.kind = 0 AND t.headers IS NOT NULL AND t.headers != '' THEN 5 ELSE t.kind END,
         t.kind, t.key, CASE WHEN t.value = t.key THEN NULL ELSE t.value END, t.headers,
         CASE WHEN t.state = 1 THEN 0 ELSE t.state END, NULL, t.created_ms, t.updated_ms,
         t.attempts, t.error_code, t.error_message
  FROM targets_v1 t JOIN zones z ON z.zone_id = t.zone_id;
INSERT INTO links(intent, target)
  SELECT i.rowid, it.target_id FROM intent_targets it JOIN intents i ON i.id = it.intent_id;
DROP TABLE intent_targets;
DROP TABLE targets_v1;
DROP TABLE intents_v1;
INSERT INTO queue_counts(zone, grp, state, n)
  SELECT zone, grp, state, count(*) FROM targets GROUP BY zone, grp, state;
)sql";

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
void bind_null(sqlite3_stmt* stmt, int index) {
  sqlite3_bind_null(stmt, index);
}

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, bool read_only);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void begin() override { exec(read_only_ ? "BEGIN" : "BEGIN IMMEDIATE"); }
  void commit() override { exec("COMMIT"); }
  // A rollback may undo zones inserted in it: forget the cached refs (they are re-read).
  void rollback() override {
    zone_refs_.clear();
    if (sqlite3_get_autocommit(db_) == 0) exec("ROLLBACK");
  }
  void savepoint() override { exec("SAVEPOINT job"); }
  void release_savepoint() override { exec("RELEASE job"); }
  void rollback_to_savepoint() override {
    zone_refs_.clear();
    exec("ROLLBACK TO job; RELEASE job");
  }

  SubmitResult add_intent(std::string_view intent_id, std::int64_t now_ms, const Peer& peer,
                          std::string_view source, std::span<const ZonedItem> items,
                          Lane lane = Lane::normal) override;
  std::int64_t recover_step(std::int64_t limit) override;
  TakeResult take(const TakeRequest& request, std::int64_t cover_limit) override;
  std::int64_t cover_step(std::string_view zone_id, std::int64_t flight,
                          std::span<const QueuedTarget> members, std::int64_t watermark,
                          std::int64_t limit) override;
  void move_to_flight(std::span<const std::int64_t> ids, std::int64_t flight) override;
  Settled settle(const SettleRequest& request, std::int64_t limit) override;
  Settled give_up_step(std::int64_t created_before_ms, std::int64_t now_ms,
                       std::string_view reason_prefix, std::int64_t limit) override;
  std::int64_t retry_failed_step(std::int64_t now_ms, std::int64_t limit) override;
  std::int64_t prune_step(std::int64_t before_ms, std::int64_t limit) override;
  void record_send(const SendRecord& send, std::int64_t keep_after_ms) override;
  std::vector<SendRecord> recent_sends(std::int64_t after_ms) override;
  std::optional<IntentStatus> intent_status(std::string_view intent_id) override;
  std::vector<FailedTarget> failed_targets(std::size_t limit) override;
  QueueCounts queue_counts() override;
  std::map<Group, std::int64_t> oldest_pending(std::string_view zone_id) override;
  std::optional<std::int64_t> last_everything_ms(std::string_view zone_id) override;
  std::int64_t size_bytes() override;
  void probe_write(std::int64_t now_ms) override;
  void relieve_full_disk() override;
  bool restore_reserve() override;
  [[nodiscard]] bool disk_full() const override { return full_; }
  void index_known_urls(bool wanted) override;
  std::vector<Escalation> escalate(const EscalationRequest& request) override;
  void attach_hooks(std::string_view intent_id, std::span<const std::string> zone_ids,
                    std::span<const std::string> hooks, std::int64_t now_ms) override;
  std::int64_t recover_hook_runs_step(std::int64_t limit) override;
  HookClaim claim_hook_runs(std::string_view hook, std::int64_t now_ms,
                            std::int64_t limit) override;
  void finish_hook_run(std::int64_t intent_ref, std::string_view hook, HookState outcome,
                       std::int64_t next_attempt_ms, std::string_view error,
                       std::int64_t now_ms) override;
  std::vector<HookItem> hook_items(std::int64_t intent_ref, std::int64_t after_target,
                                   std::int64_t limit) override;
  std::vector<HookRun> intent_hook_runs(std::string_view intent_id) override;
  std::vector<HookCount> hook_counts() override;
  // A SQLite file belongs to one daemon, which sends for every account.
  [[nodiscard]] bool shared() const override { return false; }
  [[nodiscard]] std::int64_t host_id() const override { return 0; }
  SenderClaims claim_senders(const SenderRequest& request, std::int64_t /*limit*/) override {
    SenderClaims claims;
    claims.sending = request.accounts;
    return claims;
  }

 private:
  [[noreturn]] void fail(int rc, std::string_view what);
  void configure();  // pragmas, schema, reserve: everything after the open
  void close() noexcept;
  [[nodiscard]] std::string reserve_path() const { return path_ + ".reserve"; }
  // A tenth of the volume holding the database, within the bounds in the header.
  [[nodiscard]] std::int64_t reserve_bytes() const;
  sqlite3_stmt* prepare(std::string_view sql);
  void exec(std::string_view sql);
  void step_done(sqlite3_stmt* stmt);
  bool step_row(sqlite3_stmt* stmt);
  std::int64_t scalar(std::string_view sql);
  void migrate();
  // Tables, columns and indexes added without a schema version (kEscalations).
  void add_extras();
  // The integer a zone id is stored as; created on first use unless `create` is false.
  std::optional<std::int64_t> zone_ref(std::string_view zone_id, bool create);
  // Marks up to `limit` pending rows that `members` cover (ids <= watermark) as in flight.
  std::int64_t cover(std::int64_t zone, std::int64_t flight, std::span<const QueuedTarget> members,
                     std::int64_t watermark, std::int64_t limit);
  // What completed an intent's covered done rows (IntentStatus::covered_by).
  std::vector<CoveredBy> covered_by(std::int64_t intent_ref);
  // Pending URLs (up to `cap`) or finished and in-flight ones (`finished`) under `prefix`.
  // Deletes up to `limit` escalations created before `before_ms` whose target is finished, and
  // that target; returns how many.
  std::int64_t prune_escalations(std::int64_t before_ms, std::int64_t limit);
  std::int64_t count_under(std::int64_t zone, const Item& prefix, bool finished, std::int64_t cap);
  bool known_indexed_ = false;  // targets_known_rows exists (index_known_urls)
  // Runs an UPDATE ... RETURNING kind, created_ms and sums what it returned.
  Settled collect(sqlite3_stmt* stmt, std::int64_t limit);

  std::string path_;
  bool read_only_;
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*, std::less<>> statements_;
  std::map<std::string, std::int64_t, std::less<>> zone_refs_;
  bool full_ = false;
};

SqliteStore::SqliteStore(const std::string& path, bool read_only)
    : path_(path), read_only_(read_only) {
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

void SqliteStore::close() noexcept {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  statements_.clear();
  if (db_ != nullptr) sqlite3_close(db_);
  db_ = nullptr;
}

void SqliteStore::configure() {
  sqlite3_extended_result_codes(db_, 1);
  exec("PRAGMA busy_timeout=5000");
  if (read_only_) {
    exec("PRAGMA query_only=ON");
    return;
  }
  // WAL lets the reader connection and the writer overlap; synchronous=FULL syncs the WAL on
  // every commit, so an acknowledged intent survives power loss, not only a process crash. Group
  // commit (StoreWorker) amortises that fsync over every submission waiting at the time.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=FULL");
  exec("PRAGMA foreign_keys=ON");
  exec(fmt::format("PRAGMA journal_size_limit={}", kJournalSizeLimit));
  // Checkpoint before the log outgrows the reserve, so that the space the reserve frees always
  // holds a checkpoint (SQLite's default of 1,000 pages on volumes of 40 MiB and more).
  const auto page_size = std::max<std::int64_t>(scalar("PRAGMA page_size"), 512);
  exec(fmt::format("PRAGMA wal_autocheckpoint={}",
                   std::clamp<std::int64_t>(reserve_bytes() / page_size, 16, 1000)));
  migrate();
  add_extras();
  // Without room for the reserve the disk is already full: start relieved, refusing intents
  // until space returns, rather than refusing to start with acknowledged intents waiting.
  if (!restore_reserve()) full_ = true;
}

SqliteStore::~SqliteStore() {
  close();
}

void SqliteStore::fail(int rc, std::string_view what) {
  const std::string message = fmt::format("storage {}: {}", path_, what);
  if ((rc & 0xff) == SQLITE_FULL) throw StorageFullError(message);
  throw std::runtime_error(message);
}

void SqliteStore::exec(std::string_view sql) {
  char* error = nullptr;
  const std::string text(sql);
  if (const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error); rc != SQLITE_OK) {
    std::string reason = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    fail(rc, reason);
  }
}

sqlite3_stmt* SqliteStore::prepare(std::string_view sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    throw std::runtime_error(fmt::format("storage {}: {}", path_, sqlite3_errmsg(db_)));
  }
  statements_.emplace(std::string(sql), stmt);
  return stmt;
}

void SqliteStore::step_done(sqlite3_stmt* stmt) {
  for (;;) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return;
    if (rc != SQLITE_ROW) fail(rc, sqlite3_errmsg(db_));
  }
}

bool SqliteStore::step_row(sqlite3_stmt* stmt) {
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(rc, sqlite3_errmsg(db_));
}

void SqliteStore::relieve_full_disk() {
  if (read_only_) return;
  full_ = true;
  ::unlink(reserve_path().c_str());
  // Copy what the log holds into the database and cut the log back, now that the reserve's space
  // is there for it; a reader holding old pages may keep part of it until it leaves.
  sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

std::int64_t SqliteStore::reserve_bytes() const {
  struct statvfs volume {};
  const auto slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
  if (::statvfs(dir.c_str(), &volume) != 0) return kMaxReserveBytes;
  const auto total =
      static_cast<std::int64_t>(volume.f_blocks) * static_cast<std::int64_t>(volume.f_frsize);
  return std::clamp(total / 10, kMinReserveBytes, kMaxReserveBytes);
}

bool SqliteStore::restore_reserve() {
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

std::int64_t SqliteStore::scalar(std::string_view sql) {
  auto* stmt = prepare(sql);
  Reset reset(stmt);
  return step_row(stmt) ? sqlite3_column_int64(stmt, 0) : 0;
}

void SqliteStore::migrate() {
  const auto version = scalar("PRAGMA user_version");
  if (version > kSqliteSchemaVersion) {
    throw std::runtime_error(fmt::format(
        "storage.path: \"{}\" has schema version {}, newer than this purgeqd ({}); refusing to "
        "touch it",
        path_, version, kSqliteSchemaVersion));
  }
  if (version == kSqliteSchemaVersion) {
    // Development builds of version 2 counted inserts with a trigger; add_intent counts them now.
    exec("DROP TRIGGER IF EXISTS targets_counted_insert");
    exec(kEverythingSent);
    exec(kHooks);
    return;
  }
  exec("BEGIN IMMEDIATE");
  try {
    // A new database is built as version 2 and migrated like an old one, so the migration is
    // the path every database takes.
    if (version < 2) {
      if (version == 1) exec(kMigrateV1);
      exec(kSchemaV2);
      if (version == 1) exec(kCopyV1);
    }
    exec(kMigrateV3);
    exec(kEverythingSent);
    exec(kHooks);
    exec(fmt::format("PRAGMA user_version={}", kSqliteSchemaVersion));
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
}

void SqliteStore::add_extras() {
  bool has_coverer = false, has_known = false;
  {
    auto* stmt = prepare("SELECT name FROM pragma_table_info('targets')");
    Reset reset(stmt);
    while (step_row(stmt)) {
      const auto name = column_text(stmt, 0);
      has_coverer = has_coverer || name == "coverer";
      has_known = has_known || name == "known";
    }
  }
  // targets_known (on state != 0) is what a purgeqd before targets.known indexed; it is there
  // again if such a purgeqd opened the file since, having moved rows without setting `known`.
  const bool old_index = scalar(
                             "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                             "name = 'targets_known'") != 0;
  if (!has_coverer || !has_known || old_index) {
    exec("BEGIN IMMEDIATE");
    try {
      if (!has_coverer) exec("ALTER TABLE targets ADD COLUMN coverer INTEGER");
      if (!has_known) exec("ALTER TABLE targets ADD COLUMN known INTEGER");
      // One pass over the non-pending rows (and, after an older purgeqd, the pending ones). IN,
      // not !=, so that it reads them through targets_age instead of scanning the backlog.
      exec("UPDATE targets SET known = 1 WHERE state IN (1, 2, 3) AND known IS NULL");
      if (has_known) exec("UPDATE targets SET known = NULL WHERE state = 0 AND known IS NOT NULL");
      exec("DROP INDEX IF EXISTS targets_known");
      exec("COMMIT");
    } catch (...) {
      exec("ROLLBACK");
      throw;
    }
  }
  exec(kEscalations);
}

std::optional<std::int64_t> SqliteStore::zone_ref(std::string_view zone_id, bool create) {
  if (auto it = zone_refs_.find(zone_id); it != zone_refs_.end()) return it->second;
  {
    auto* find = prepare("SELECT id FROM zones WHERE zone_id = ?1");
    Reset reset(find);
    bind_value(find, 1, zone_id);
    if (step_row(find)) {
      const auto ref = sqlite3_column_int64(find, 0);
      zone_refs_.emplace(std::string(zone_id), ref);
      return ref;
    }
  }
  if (!create) return std::nullopt;
  auto* insert = prepare("INSERT INTO zones(zone_id) VALUES (?1)");
  Reset reset(insert);
  bind_value(insert, 1, zone_id);
  step_done(insert);
  // Not cached: the insert may still be rolled back with its transaction.
  return sqlite3_last_insert_rowid(db_);
}

SubmitResult SqliteStore::add_intent(std::string_view intent_id, std::int64_t now_ms,
                                     const Peer& peer, std::string_view source,
                                     std::span<const ZonedItem> items, Lane lane) {
  if (full_) {
    // The reserve is spent on outcomes and checkpoints: nothing new until space returns.
    throw StorageFullError(fmt::format(
        "storage {}: the disk is full; new intents are refused until space is freed", path_));
  }
  SubmitResult result;
  result.items = items.size();
  std::int64_t intent_ref = 0;
  {
    auto* stmt = prepare(
        "INSERT INTO intents(id, created_ms, peer_uid, peer_gid, peer_pid, source, item_count, "
        "lane) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    Reset reset(stmt);
    bind_value(stmt, 1, intent_id);
    bind_value(stmt, 2, now_ms);
    bind_value(stmt, 3, static_cast<std::int64_t>(peer.uid));
    bind_value(stmt, 4, static_cast<std::int64_t>(peer.gid));
    bind_value(stmt, 5, static_cast<std::int64_t>(peer.pid));
    bind_value(stmt, 6, source);
    bind_value(stmt, 7, static_cast<std::int64_t>(items.size()));
    bind_value(stmt, 8, static_cast<std::int64_t>(lane));
    step_done(stmt);
    intent_ref = sqlite3_last_insert_rowid(db_);
  }
  auto* find = prepare(
      "SELECT id, lane FROM targets INDEXED BY targets_twin "
      "WHERE zone = ?1 AND kind = ?2 AND key = ?3 AND state = 0 LIMIT 1");
  auto* insert = prepare(
      "INSERT INTO targets(zone, grp, kind, key, value, headers, state, created_ms, updated_ms, "
      "lane) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7, ?8)");
  // A twin waiting in a lower lane moves up (the count trigger follows); rare, so per row.
  auto* raise = prepare("UPDATE targets SET lane = ?1 WHERE id = ?2 AND lane > ?1");
  auto* link = prepare("INSERT OR IGNORE INTO links(intent, target) VALUES (?1, ?2)");
  std::string_view last_zone;
  std::int64_t zone = 0;
  std::map<std::pair<std::int64_t, Group>, std::int64_t> inserted;
  const auto lane_number = static_cast<std::int64_t>(lane);
  for (const auto& [zone_id, item] : items) {
    if (zone_id != last_zone) {
      zone = *zone_ref(zone_id, true);
      last_zone = zone_id;
    }
    const std::string key = item.key();
    const auto kind = static_cast<std::int64_t>(item.kind);
    std::int64_t target = 0;
    {
      Reset reset(find);
      bind_value(find, 1, zone);
      bind_value(find, 2, kind);
      bind_value(find, 3, key);
      if (step_row(find)) {
        target = sqlite3_column_int64(find, 0);
        if (sqlite3_column_int64(find, 1) > lane_number) {
          Reset raising(raise);
          bind_value(raise, 1, lane_number);
          bind_value(raise, 2, target);
          step_done(raise);
        }
      }
    }
    if (target == 0) {
      Reset reset(insert);
      bind_value(insert, 1, zone);
      bind_value(insert, 2, static_cast<std::int64_t>(group_of(item)));
      bind_value(insert, 3, kind);
      bind_value(insert, 4, key);
      if (item.value == key) {
        bind_null(insert, 5);
      } else {
        bind_value(insert, 5, item.value);
      }
      if (const std::string headers = encode_headers(item.headers); headers.empty()) {
        bind_null(insert, 6);
      } else {
        bind_value(insert, 6, headers);
      }
      bind_value(insert, 7, now_ms);
      bind_value(insert, 8, lane_number);
      step_done(insert);
      target = sqlite3_last_insert_rowid(db_);
      ++result.created;
      ++inserted[{zone, group_of(item)}];
    }
    Reset reset(link);
    bind_value(link, 1, intent_ref);
    bind_value(link, 2, target);
    step_done(link);
  }
  auto* count = prepare(
      "INSERT INTO queue_counts(zone, grp, lane, state, n) VALUES (?1, ?2, ?4, 0, ?3) "
      "ON CONFLICT(zone, grp, lane, state) DO UPDATE SET n = n + ?3");
  for (const auto& [queue, n] : inserted) {
    Reset reset(count);
    bind_value(count, 1, queue.first);
    bind_value(count, 2, static_cast<std::int64_t>(queue.second));
    bind_value(count, 3, n);
    bind_value(count, 4, lane_number);
    step_done(count);
  }
  return result;
}

std::int64_t SqliteStore::recover_step(std::int64_t limit) {
  auto* stmt = prepare(
      "UPDATE targets SET state = 0, flight = NULL, known = NULL WHERE id IN "
      "(SELECT id FROM targets WHERE state = 1 LIMIT ?1)");
  Reset reset(stmt);
  bind_value(stmt, 1, limit);
  step_done(stmt);
  return sqlite3_changes64(db_);
}

TakeResult SqliteStore::take(const TakeRequest& request, std::int64_t cover_limit) {
  TakeResult result;
  const auto zone = zone_ref(request.zone_id, false);
  if (!zone) return result;
  const std::size_t cap = cap_of(request.group, request.caps);
  // The head: the first `cap` distinct keys, oldest first. Twins (left when a requeued target met
  // one accepted meanwhile) ride along with the first of them instead of appearing twice in a
  // body, and do not count towards the cap, so reading goes on past them.
  std::vector<QueuedTarget> head;
  std::vector<std::string> keys;
  std::vector<std::size_t> distinct_rows;
  {
    std::unordered_set<std::string> seen;
    auto* stmt = prepare(
        "SELECT id, kind, key, coalesce(value, key), headers, created_ms FROM targets "
        "INDEXED BY targets_queue WHERE zone = ?1 AND grp = ?2 AND lane = ?5 AND state = 0 "
        "AND id > ?3 ORDER BY id LIMIT ?4");
    std::int64_t after = 0;
    for (bool more = true; more && distinct_rows.size() < cap;) {
      Reset reset(stmt);
      bind_value(stmt, 1, *zone);
      bind_value(stmt, 2, static_cast<std::int64_t>(request.group));
      bind_value(stmt, 3, after);
      const std::size_t want = cap - distinct_rows.size();
      bind_value(stmt, 4, static_cast<std::int64_t>(want));
      bind_value(stmt, 5, static_cast<std::int64_t>(request.lane));
      std::size_t rows = 0;
      while (step_row(stmt)) {
        ++rows;
        QueuedTarget target;
        target.id = sqlite3_column_int64(stmt, 0);
        target.item.kind = static_cast<Kind>(sqlite3_column_int(stmt, 1));
        std::string key = column_text(stmt, 2);
        target.item.value = column_text(stmt, 3);
        target.item.headers = decode_headers(column_text(stmt, 4));
        target.created_ms = sqlite3_column_int64(stmt, 5);
        after = target.id;
        if (seen.insert(key).second) distinct_rows.push_back(head.size());
        keys.push_back(std::move(key));
        head.push_back(std::move(target));
      }
      more = rows == want;
    }
  }
  if (head.empty()) return result;
  std::vector<const Item*> distinct;
  distinct.reserve(distinct_rows.size());
  for (const auto row : distinct_rows) distinct.push_back(&head[row].item);
  Cut cut = cut_batch(request.group, distinct, head.front().created_ms, request.caps,
                      request.linger_ms, request.now_ms);
  cut.take = std::min(cut.take, std::max<std::size_t>(request.budget, 1));
  if (cut.take == 0) {
    if (cut.ready_at_ms)
      result.ready_in_ms = std::max<std::int64_t>(0, *cut.ready_at_ms - request.now_ms);
    return result;
  }
  // Everything up to the last member by id is taken: members and the twins among them.
  const std::size_t last_row =
      cut.take < distinct_rows.size() ? distinct_rows[cut.take] - 1 : head.size() - 1;
  const std::int64_t last_id = head[last_row].id;
  result.watermark = scalar("SELECT coalesce(max(id), 0) FROM targets");
  {
    auto* stmt = prepare(
        "UPDATE targets INDEXED BY targets_queue SET state = 1, flight = ?1, updated_ms = ?2, "
        "coverer = NULL, known = 1 WHERE zone = ?3 AND grp = ?4 AND lane = ?6 AND state = 0 AND id "
        "<= ?5");
    Reset reset(stmt);
    bind_value(stmt, 1, request.flight);
    bind_value(stmt, 2, request.now_ms);
    bind_value(stmt, 3, *zone);
    bind_value(stmt, 4, static_cast<std::int64_t>(request.group));
    bind_value(stmt, 5, last_id);
    bind_value(stmt, 6, static_cast<std::int64_t>(request.lane));
    step_done(stmt);
  }
  result.members.reserve(cut.take);
  for (std::size_t k = 0; k < cut.take; ++k) {
    result.members.push_back(std::move(head[distinct_rows[k]]));
  }
  result.riders = static_cast<std::int64_t>(last_row + 1 - cut.take);
  {
    // Pending twins elsewhere in the queue go with their member.
    auto* stmt = prepare(
        // INDEXED BY: without statistics SQLite 3.40 plans this on targets_age (state = 0) and
        // scans every pending row, which made each take cost O(backlog).
        "UPDATE targets INDEXED BY targets_twin SET state = 1, flight = ?1, updated_ms = ?2, "
        "coverer = NULL, known = 1 WHERE zone = ?3 AND kind = ?4 AND state = 0 AND key IN "
        "(SELECT key FROM targets WHERE flight = ?1 AND state = 1)");
    Reset reset(stmt);
    bind_value(stmt, 1, request.flight);
    bind_value(stmt, 2, request.now_ms);
    bind_value(stmt, 3, *zone);
    bind_value(stmt, 4, static_cast<std::int64_t>(kind_of(request.group)));
    step_done(stmt);
    result.riders += sqlite3_changes64(db_);
  }
  const Kind kind = kind_of(request.group);
  if (!request.account.empty()) {
    record_send(SendRecord{request.account, kind, request.now_ms}, request.keep_sends_after_ms);
  }
  if (kind == Kind::host || kind == Kind::prefix || kind == Kind::everything) {
    const auto covered =
        cover(*zone, request.flight, result.members, result.watermark, cover_limit);
    result.riders += covered;
    result.coverage_pending = covered >= cover_limit;
  }
  return result;
}

std::int64_t SqliteStore::cover(std::int64_t zone, std::int64_t flight,
                                std::span<const QueuedTarget> members, std::int64_t watermark,
                                std::int64_t limit) {
  std::int64_t covered = 0;
  if (!members.empty() && members.front().item.kind == Kind::everything) {
    auto* stmt = prepare(
        "UPDATE targets SET state = 1, flight = ?1, coverer = ?5, known = 1 WHERE id IN (SELECT id "
        "FROM "
        "targets INDEXED BY targets_queue WHERE zone = ?2 AND state = 0 AND id <= ?3 LIMIT ?4)");
    Reset reset(stmt);
    bind_value(stmt, 1, flight);
    bind_value(stmt, 2, zone);
    bind_value(stmt, 3, watermark);
    bind_value(stmt, 4, limit);
    bind_value(stmt, 5, members.front().id);
    step_done(stmt);
    return sqlite3_changes64(db_);
  }
  auto* within = prepare(
      "UPDATE targets SET state = 1, flight = ?1, coverer = ?8, known = 1 WHERE id IN (SELECT id "
      "FROM "
      "targets INDEXED BY targets_twin WHERE zone = ?2 AND kind = ?3 AND key >= ?4 AND key < ?5 "
      "AND state = 0 AND id <= ?6 LIMIT ?7)");
  auto* exact = prepare(
      "UPDATE targets SET state = 1, flight = ?1, coverer = ?8, known = 1 WHERE id IN (SELECT id "
      "FROM "
      "targets INDEXED BY targets_twin WHERE zone = ?2 AND kind = ?3 AND key = ?4 AND state = 0 "
      "AND id <= ?6 LIMIT ?7)");
  for (const auto& member : members) {
    for (const auto& range : coverage_ranges(member.item)) {
      if (covered >= limit) return covered;
      auto* stmt = range.exact ? exact : within;
      Reset reset(stmt);
      bind_value(stmt, 1, flight);
      bind_value(stmt, 2, zone);
      bind_value(stmt, 3, static_cast<std::int64_t>(range.kind));
      bind_value(stmt, 4, range.low);
      if (!range.exact) bind_value(stmt, 5, range.high);
      bind_value(stmt, 6, watermark);
      bind_value(stmt, 7, limit - covered);
      bind_value(stmt, 8, member.id);
      step_done(stmt);
      covered += sqlite3_changes64(db_);
    }
  }
  return covered;
}

std::int64_t SqliteStore::cover_step(std::string_view zone_id, std::int64_t flight,
                                     std::span<const QueuedTarget> members, std::int64_t watermark,
                                     std::int64_t limit) {
  const auto zone = zone_ref(zone_id, false);
  return zone ? cover(*zone, flight, members, watermark, limit) : 0;
}

void SqliteStore::move_to_flight(std::span<const std::int64_t> ids, std::int64_t flight) {
  auto* stmt = prepare("UPDATE targets SET flight = ?1 WHERE id = ?2 AND state = 1");
  for (const auto id : ids) {
    Reset reset(stmt);
    bind_value(stmt, 1, flight);
    bind_value(stmt, 2, id);
    step_done(stmt);
  }
}

Settled SqliteStore::collect(sqlite3_stmt* stmt, std::int64_t limit) {
  Settled settled;
  while (step_row(stmt)) {
    const auto kind = static_cast<std::size_t>(sqlite3_column_int(stmt, 0));
    if (kind < settled.by_kind.size()) ++settled.by_kind[kind];
    settled.created_ms.push_back(sqlite3_column_int64(stmt, 1));
    ++settled.rows;
  }
  settled.more = static_cast<std::int64_t>(settled.rows) >= limit;
  return settled;
}

Settled SqliteStore::settle(const SettleRequest& request, std::int64_t limit) {
  if (!request.member_ids.empty() &&
      (request.outcome == Settlement::retry || request.outcome == Settlement::failed)) {
    auto* stmt = prepare(
        "UPDATE targets SET attempts = attempts + ?1, error_message = ?2 "
        "WHERE id = ?3 AND flight = ?4 AND state = 1");
    for (const auto id : request.member_ids) {
      Reset reset(stmt);
      bind_value(stmt, 1, static_cast<std::int64_t>(request.count_attempt ? 1 : 0));
      bind_value(stmt, 2, request.message);
      bind_value(stmt, 3, id);
      bind_value(stmt, 4, request.flight);
      step_done(stmt);
    }
  }
  sqlite3_stmt* stmt = nullptr;
  switch (request.outcome) {
    case Settlement::done:
      stmt = prepare(
          "UPDATE targets SET state = 2, flight = NULL, updated_ms = ?2, error_code = NULL, "
          "error_message = NULL WHERE id IN (SELECT id FROM targets INDEXED BY targets_flight "
          "WHERE flight = ?1 AND state = 1 LIMIT ?3) RETURNING kind, created_ms");
      break;
    case Settlement::failed:
      stmt = prepare(
          "UPDATE targets SET state = 3, flight = NULL, updated_ms = ?2, error_code = ?4, "
          "error_message = ?5 WHERE id IN (SELECT id FROM targets INDEXED BY targets_flight "
          "WHERE flight = ?1 AND state = 1 LIMIT ?3) RETURNING kind, created_ms");
      break;
    case Settlement::retry:
    case Settlement::released:
      stmt = prepare(
          "UPDATE targets SET state = 0, flight = NULL, known = NULL, updated_ms = ?2 WHERE id IN "
          "(SELECT id FROM targets INDEXED BY targets_flight WHERE flight = ?1 AND state = 1 "
          "LIMIT ?3) "
          "RETURNING kind, created_ms");
      break;
  }
  Reset reset(stmt);
  bind_value(stmt, 1, request.flight);
  bind_value(stmt, 2, request.now_ms);
  bind_value(stmt, 3, limit);
  if (request.outcome == Settlement::failed) {
    bind_value(stmt, 4, static_cast<std::int64_t>(request.code));
    bind_value(stmt, 5, request.message);
  }
  return collect(stmt, limit);
}

Settled SqliteStore::give_up_step(std::int64_t created_before_ms, std::int64_t now_ms,
                                  std::string_view reason_prefix, std::int64_t limit) {
  auto* stmt = prepare(
      "UPDATE targets SET state = 3, known = 1, updated_ms = ?2, error_code = 0, "
      "error_message = ?3 || coalesce(nullif(error_message, ''), 'none; never sent') || ')' "
      "WHERE id IN (SELECT id FROM targets WHERE state = 0 AND created_ms < ?1 LIMIT ?4) "
      "RETURNING kind, created_ms");
  Reset reset(stmt);
  bind_value(stmt, 1, created_before_ms);
  bind_value(stmt, 2, now_ms);
  bind_value(stmt, 3, reason_prefix);
  bind_value(stmt, 4, limit);
  return collect(stmt, limit);
}

std::int64_t SqliteStore::retry_failed_step(std::int64_t now_ms, std::int64_t limit) {
  // Only targets some intent asked for: a refused escalation prefix belongs to no intent (its
  // URLs went out as URLs), and sending it again would repeat what Cloudflare refused.
  auto* stmt = prepare(
      "UPDATE targets SET state = 0, known = NULL, attempts = 0, created_ms = ?1, updated_ms = ?1, "
      "error_code = NULL, error_message = NULL "
      "WHERE id IN (SELECT t.id FROM targets t WHERE t.state = 3 AND EXISTS "
      "(SELECT 1 FROM links l WHERE l.target = t.id) LIMIT ?2)");
  Reset reset(stmt);
  bind_value(stmt, 1, now_ms);
  bind_value(stmt, 2, limit);
  step_done(stmt);
  return sqlite3_changes64(db_);
}

std::int64_t SqliteStore::prune_step(std::int64_t before_ms, std::int64_t limit) {
  // The oldest finished intents, then the finished targets nobody refers to any more. Intents
  // still waiting for a target are skipped by the NOT EXISTS, in index order of age.
  std::vector<std::int64_t> intents;
  {
    auto* stmt = prepare(
        "SELECT i.rowid FROM intents i WHERE i.created_ms < ?1 AND NOT EXISTS (SELECT 1 FROM "
        "links l JOIN targets t ON t.id = l.target WHERE l.intent = i.rowid AND t.state IN "
        "(0, 1)) ORDER BY i.created_ms LIMIT ?2");
    Reset reset(stmt);
    bind_value(stmt, 1, before_ms);
    bind_value(stmt, 2, limit);
    while (step_row(stmt)) intents.push_back(sqlite3_column_int64(stmt, 0));
  }
  auto* targets_of = prepare("SELECT target FROM links WHERE intent = ?1");
  auto* drop_intent = prepare("DELETE FROM intents WHERE rowid = ?1");
  auto* drop_target = prepare(
      "DELETE FROM targets WHERE id = ?1 AND state IN (2, 3) AND NOT EXISTS "
      "(SELECT 1 FROM links WHERE target = ?1)");
  // Escalations as old as the intents pruned, with their prefix targets once finished (no intent
  // links them, so nothing else would ever delete them).
  const auto escalations = prune_escalations(before_ms, limit);
  for (const auto intent : intents) {
    std::vector<std::int64_t> targets;
    {
      Reset reset(targets_of);
      bind_value(targets_of, 1, intent);
      while (step_row(targets_of)) targets.push_back(sqlite3_column_int64(targets_of, 0));
    }
    {
      Reset reset(drop_intent);  // links go with it (ON DELETE CASCADE)
      bind_value(drop_intent, 1, intent);
      step_done(drop_intent);
    }
    for (const auto target : targets) {
      Reset reset(drop_target);
      bind_value(drop_target, 1, target);
      step_done(drop_target);
    }
  }
  return std::max(static_cast<std::int64_t>(intents.size()), escalations);
}

void SqliteStore::record_send(const SendRecord& send, std::int64_t keep_after_ms) {
  {
    auto* stmt = prepare("INSERT INTO sends(account, kind, at_ms) VALUES (?1, ?2, ?3)");
    Reset reset(stmt);
    bind_value(stmt, 1, send.account);
    bind_value(stmt, 2, static_cast<std::int64_t>(send.kind));
    bind_value(stmt, 3, send.at_ms);
    step_done(stmt);
  }
  // Only this account's: another account's global window may be longer.
  auto* stmt = prepare("DELETE FROM sends WHERE at_ms <= ?1 AND account = ?2");
  Reset reset(stmt);
  bind_value(stmt, 1, keep_after_ms);
  bind_value(stmt, 2, send.account);
  step_done(stmt);
}

std::vector<SendRecord> SqliteStore::recent_sends(std::int64_t after_ms) {
  auto* stmt =
      prepare("SELECT account, kind, at_ms FROM sends WHERE at_ms > ?1 ORDER BY at_ms, rowid");
  Reset reset(stmt);
  bind_value(stmt, 1, after_ms);
  std::vector<SendRecord> sends;
  while (step_row(stmt)) {
    sends.push_back(SendRecord{column_text(stmt, 0), static_cast<Kind>(sqlite3_column_int(stmt, 1)),
                               sqlite3_column_int64(stmt, 2)});
  }
  return sends;
}

std::optional<IntentStatus> SqliteStore::intent_status(std::string_view intent_id) {
  IntentStatus status;
  std::int64_t ref = 0;
  {
    auto* stmt = prepare(
        "SELECT rowid, created_ms, peer_uid, peer_gid, peer_pid, lane FROM intents WHERE id = ?1");
    Reset reset(stmt);
    bind_value(stmt, 1, intent_id);
    if (!step_row(stmt)) return std::nullopt;
    status.id = std::string(intent_id);
    ref = sqlite3_column_int64(stmt, 0);
    status.created_ms = sqlite3_column_int64(stmt, 1);
    status.peer = Peer{static_cast<long>(sqlite3_column_int64(stmt, 2)),
                       static_cast<long>(sqlite3_column_int64(stmt, 3)),
                       static_cast<long>(sqlite3_column_int64(stmt, 4))};
    if (const auto lane = sqlite3_column_int(stmt, 5); lane >= 0 && lane < kLaneCount) {
      status.lane = static_cast<Lane>(lane);
    }
  }
  std::set<std::int64_t> waiting_zones;
  {
    auto* stmt = prepare(
        "SELECT t.state, t.kind, coalesce(t.value, t.key), t.error_code, t.error_message, t.zone "
        "FROM links l JOIN targets t ON t.id = l.target WHERE l.intent = ?1");
    Reset reset(stmt);
    bind_value(stmt, 1, ref);
    while (step_row(stmt)) {
      ++status.total;
      switch (static_cast<TargetState>(sqlite3_column_int(stmt, 0))) {
        case TargetState::pending:
          ++status.queued;
          waiting_zones.insert(sqlite3_column_int64(stmt, 5));
          break;
        case TargetState::in_flight:
          ++status.in_flight;
          waiting_zones.insert(sqlite3_column_int64(stmt, 5));
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
  }
  auto* zone_stmt = prepare("SELECT zone_id FROM zones WHERE id = ?1");
  for (const auto zone : waiting_zones) {
    Reset reset(zone_stmt);
    bind_value(zone_stmt, 1, zone);
    if (step_row(zone_stmt)) status.waiting_zones.push_back(column_text(zone_stmt, 0));
  }
  if (status.done > 0) status.covered_by = covered_by(ref);
  return status;
}

std::vector<CoveredBy> SqliteStore::covered_by(std::int64_t intent_ref) {
  // The same rows as the status above (the intent's links), grouped by what covered them; then
  // one primary-key lookup per coverer. A coverer pruned meanwhile is left out.
  std::vector<std::pair<std::int64_t, std::int64_t>> coverers;
  {
    auto* stmt = prepare(
        "SELECT t.coverer, count(*) AS n FROM links l JOIN targets t ON t.id = l.target "
        "WHERE l.intent = ?1 AND t.state = 2 AND t.coverer IS NOT NULL "
        "GROUP BY t.coverer ORDER BY n DESC, t.coverer LIMIT ?2");
    Reset reset(stmt);
    bind_value(stmt, 1, intent_ref);
    bind_value(stmt, 2, static_cast<std::int64_t>(kCoveredByShown));
    while (step_row(stmt)) {
      coverers.emplace_back(sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1));
    }
  }
  std::vector<CoveredBy> out;
  auto* stmt = prepare(
      "SELECT t.kind, coalesce(t.value, t.key), (SELECT e.id FROM escalations e "
      "WHERE e.target = t.id ORDER BY e.id DESC LIMIT 1) FROM targets t WHERE t.id = ?1");
  for (const auto& [coverer, items] : coverers) {
    Reset reset(stmt);
    bind_value(stmt, 1, coverer);
    if (!step_row(stmt)) continue;
    CoveredBy entry;
    entry.kind = static_cast<Kind>(sqlite3_column_int(stmt, 0));
    entry.value = entry.kind == Kind::everything ? std::string() : column_text(stmt, 1);
    entry.items = items;
    if (sqlite3_column_type(stmt, 2) != SQLITE_NULL)
      entry.escalation = sqlite3_column_int64(stmt, 2);
    out.push_back(std::move(entry));
  }
  return out;
}

std::vector<FailedTarget> SqliteStore::failed_targets(std::size_t limit) {
  auto* stmt = prepare(
      "SELECT t.id, z.zone_id, t.kind, coalesce(t.value, t.key), t.error_code, t.error_message, "
      "t.updated_ms FROM targets t JOIN zones z ON z.id = t.zone WHERE t.state = 3 "
      "ORDER BY t.updated_ms DESC, t.id DESC LIMIT ?1");
  Reset reset(stmt);
  bind_value(stmt, 1, static_cast<std::int64_t>(limit));
  std::vector<FailedTarget> failed;
  while (step_row(stmt)) {
    failed.push_back(FailedTarget{sqlite3_column_int64(stmt, 0), column_text(stmt, 1),
                                  static_cast<Kind>(sqlite3_column_int(stmt, 2)),
                                  column_text(stmt, 3), sqlite3_column_int(stmt, 4),
                                  column_text(stmt, 5), sqlite3_column_int64(stmt, 6)});
  }
  return failed;
}

QueueCounts SqliteStore::queue_counts() {
  auto* stmt = prepare(
      "SELECT z.zone_id, c.grp, c.state, c.n, c.lane FROM queue_counts c "
      "JOIN zones z ON z.id = c.zone WHERE c.n != 0");
  Reset reset(stmt);
  QueueCounts counts;
  while (step_row(stmt)) {
    const auto group = sqlite3_column_int(stmt, 1);
    const auto state = sqlite3_column_int(stmt, 2);
    const auto lane = sqlite3_column_int(stmt, 4);
    if (group < 0 || group >= kGroupCount || state < 0 || state >= kStateCount || lane < 0 ||
        lane >= kLaneCount) {
      continue;
    }
    const auto n = sqlite3_column_int64(stmt, 3);
    auto [it, inserted] = counts.zones.try_emplace(column_text(stmt, 0));
    if (inserted) it->second = {};
    it->second[static_cast<std::size_t>(group)][static_cast<std::size_t>(state)] += n;
    if (state == static_cast<int>(TargetState::pending)) {
      auto [by_lane, added] = counts.lanes.try_emplace(it->first);
      if (added) by_lane->second = {};
      by_lane->second[static_cast<std::size_t>(group)][static_cast<std::size_t>(lane)] = n;
    }
  }
  return counts;
}

std::map<Group, std::int64_t> SqliteStore::oldest_pending(std::string_view zone_id) {
  std::map<Group, std::int64_t> oldest;
  const auto zone = zone_ref(zone_id, false);
  if (!zone) return oldest;
  // One index lookup per queue (zone, group, lane): each queue's head is its oldest.
  auto* stmt = prepare(
      "SELECT created_ms FROM targets INDEXED BY targets_queue "
      "WHERE zone = ?1 AND grp = ?2 AND lane = ?3 AND state = 0 ORDER BY id LIMIT 1");
  for (int g = 0; g < kGroupCount; ++g) {
    for (const Lane lane : kLanes) {
      Reset reset(stmt);
      bind_value(stmt, 1, *zone);
      bind_value(stmt, 2, static_cast<std::int64_t>(g));
      bind_value(stmt, 3, static_cast<std::int64_t>(lane));
      if (!step_row(stmt)) continue;
      const std::int64_t created = sqlite3_column_int64(stmt, 0);
      auto [it, inserted] = oldest.try_emplace(static_cast<Group>(g), created);
      it->second = std::min(it->second, created);
    }
  }
  return oldest;
}

std::optional<std::int64_t> SqliteStore::last_everything_ms(std::string_view zone_id) {
  const auto zone = zone_ref(zone_id, false);
  if (!zone) return std::nullopt;
  auto* stmt = prepare("SELECT at_ms FROM everything_sent WHERE zone = ?1");
  Reset reset(stmt);
  bind_value(stmt, 1, *zone);
  if (!step_row(stmt)) return std::nullopt;
  return sqlite3_column_int64(stmt, 0);
}

std::int64_t SqliteStore::size_bytes() {
  const auto pages = scalar("PRAGMA page_count");
  const auto page_size = scalar("PRAGMA page_size");
  std::int64_t bytes = pages * page_size;
  struct stat info {};
  if (::stat((path_ + "-wal").c_str(), &info) == 0) bytes += info.st_size;
  return bytes;
}

void SqliteStore::probe_write(std::int64_t now_ms) {
  auto* stmt = prepare("INSERT OR REPLACE INTO health(id, probed_ms) VALUES (1, ?1)");
  Reset reset(stmt);
  bind_value(stmt, 1, now_ms);
  step_done(stmt);
}

std::int64_t SqliteStore::prune_escalations(std::int64_t before_ms, std::int64_t limit) {
  std::vector<std::pair<std::int64_t, std::int64_t>> rows;  // escalation, target
  {
    auto* stmt = prepare(
        "SELECT e.id, e.target FROM escalations e INDEXED BY escalations_created "
        "LEFT JOIN targets t ON t.id = e.target WHERE e.created_ms < ?1 "
        "AND (t.id IS NULL OR t.state IN (2, 3)) ORDER BY e.created_ms LIMIT ?2");
    Reset reset(stmt);
    bind_value(stmt, 1, before_ms);
    bind_value(stmt, 2, limit);
    while (step_row(stmt))
      rows.emplace_back(sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1));
  }
  auto* drop_escalation = prepare("DELETE FROM escalations WHERE id = ?1");
  auto* drop_target = prepare(
      "DELETE FROM targets WHERE id = ?1 AND state IN (2, 3) AND NOT EXISTS "
      "(SELECT 1 FROM links WHERE target = ?1)");
  for (const auto& [escalation, target] : rows) {
    {
      Reset reset(drop_escalation);
      bind_value(drop_escalation, 1, escalation);
      step_done(drop_escalation);
    }
    Reset reset(drop_target);
    bind_value(drop_target, 1, target);
    step_done(drop_target);
  }
  return static_cast<std::int64_t>(rows.size());
}

std::int64_t SqliteStore::count_under(std::int64_t zone, const Item& prefix, bool finished,
                                      std::int64_t cap) {
  // Both statements name their index: the pending rows by key (targets_twin) and the others by
  // key (targets_known_rows: state != 0); each reads at most `cap` entries of one key range.
  auto* stmt =
      prepare(finished ? "SELECT count(*) FROM (SELECT 1 FROM targets INDEXED BY "
                         "targets_known_rows WHERE zone = ?1 AND kind = ?2 AND key >= ?3 AND "
                         "key < ?4 AND known IS NOT NULL LIMIT ?5)"
                       : "SELECT count(*) FROM (SELECT 1 FROM targets INDEXED BY targets_twin "
                         "WHERE zone = ?1 AND kind = ?2 AND key >= ?3 AND key < ?4 AND state = 0 "
                         "LIMIT ?5)");
  std::int64_t count = 0;
  for (const auto& range : coverage_ranges(prefix)) {
    if (range.kind != Kind::file || range.exact || count >= cap) continue;
    Reset reset(stmt);
    bind_value(stmt, 1, zone);
    bind_value(stmt, 2, static_cast<std::int64_t>(Kind::file));
    bind_value(stmt, 3, range.low);
    bind_value(stmt, 4, range.high);
    bind_value(stmt, 5, cap - count);
    if (step_row(stmt)) count += sqlite3_column_int64(stmt, 0);
  }
  return count;
}

void SqliteStore::index_known_urls(bool wanted) {
  if (wanted) {
    exec(kKnownIndex);
  } else {
    exec("DROP INDEX IF EXISTS targets_known_rows");
  }
  known_indexed_ = wanted;
}

std::vector<Escalation> SqliteStore::escalate(const EscalationRequest& request) {
  std::vector<Escalation> out;
  const auto zone = zone_ref(request.zone_id, false);
  if (!zone || !request.rule.enabled()) return out;
  std::vector<Item> head;
  {
    // The head of the acting queue (zone, group, lane) only: the queue index orders by id within
    // a lane, and the prefix goes in the lane of the URLs it replaces.
    auto* stmt = prepare(
        "SELECT coalesce(value, key) FROM targets INDEXED BY targets_queue "
        "WHERE zone = ?1 AND grp = ?2 AND lane = ?4 AND state = 0 ORDER BY id LIMIT ?3");
    Reset reset(stmt);
    bind_value(stmt, 1, *zone);
    bind_value(stmt, 2, static_cast<std::int64_t>(request.group));
    bind_value(stmt, 3, static_cast<std::int64_t>(kEscalationHeadRows));
    bind_value(stmt, 4, static_cast<std::int64_t>(request.lane));
    while (step_row(stmt)) head.push_back(Item{Kind::file, column_text(stmt, 0), {}});
  }
  const auto prefix_lane = static_cast<std::int64_t>(request.lane);
  std::vector<const Item*> items;
  items.reserve(head.size());
  for (const auto& item : head) items.push_back(&item);
  auto* last = prepare(
      "SELECT t.state FROM escalations e INDEXED BY escalations_prefix "
      "LEFT JOIN targets t ON t.id = e.target WHERE e.zone = ?1 AND e.prefix = ?2 "
      "ORDER BY e.id DESC LIMIT 1");
  auto* find = prepare(
      "SELECT id FROM targets INDEXED BY targets_twin "
      "WHERE zone = ?1 AND kind = ?2 AND key = ?3 AND state = 0 LIMIT 1");
  auto* insert = prepare(
      "INSERT INTO targets(zone, grp, kind, key, value, headers, state, created_ms, updated_ms, "
      "lane) VALUES (?1, ?2, ?3, ?4, NULL, NULL, 0, ?5, ?5, ?6)");
  auto* count = prepare(
      "INSERT INTO queue_counts(zone, grp, lane, state, n) VALUES (?1, ?2, ?3, 0, 1) "
      "ON CONFLICT(zone, grp, lane, state) DO UPDATE SET n = n + 1");
  auto* record = prepare(
      "INSERT INTO escalations(zone, prefix, target, urls, known, created_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  for (auto& candidate : escalation_candidates(items, request.rule, kEscalationCandidates)) {
    const Item prefix{Kind::prefix, std::move(candidate), {}};
    if (std::any_of(out.begin(), out.end(), [&](const Escalation& done) {
          return covers(Item{Kind::prefix, done.prefix, {}}, prefix);
        })) {
      continue;
    }
    {
      Reset reset(last);
      bind_value(last, 1, *zone);
      bind_value(last, 2, prefix.value);
      if (step_row(last) && sqlite3_column_type(last, 0) != SQLITE_NULL &&
          sqlite3_column_int(last, 0) != static_cast<int>(TargetState::done)) {
        continue;  // still on its way, or refused: escalating again would not help
      }
    }
    // The share cannot be told without the index: no escalation rather than a blind one.
    if (request.rule.min_share > 0 && !known_indexed_) break;
    const auto pending = count_under(*zone, prefix, false, kEscalationPendingCap);
    if (pending < request.rule.min_urls) continue;
    const auto finished =
        request.rule.min_share > 0
            ? count_under(*zone, prefix, true, finished_count_cap(pending, request.rule.min_share))
            : 0;
    if (!worth_escalating(pending, finished, request.rule)) continue;
    const std::string key = prefix.key();
    std::int64_t target = 0;
    {
      Reset reset(find);
      bind_value(find, 1, *zone);
      bind_value(find, 2, static_cast<std::int64_t>(Kind::prefix));
      bind_value(find, 3, key);
      if (step_row(find)) target = sqlite3_column_int64(find, 0);
    }
    if (target == 0) {
      {
        Reset reset(insert);
        bind_value(insert, 1, *zone);
        bind_value(insert, 2, static_cast<std::int64_t>(Group::prefix));
        bind_value(insert, 3, static_cast<std::int64_t>(Kind::prefix));
        bind_value(insert, 4, key);
        bind_value(insert, 5, request.now_ms);
        bind_value(insert, 6, prefix_lane);
        step_done(insert);
        target = sqlite3_last_insert_rowid(db_);
      }
      Reset reset(count);  // inserts are counted by their writer, not by a trigger
      bind_value(count, 1, *zone);
      bind_value(count, 2, static_cast<std::int64_t>(Group::prefix));
      bind_value(count, 3, prefix_lane);
      step_done(count);
    }
    Reset reset(record);
    bind_value(record, 1, *zone);
    bind_value(record, 2, prefix.value);
    bind_value(record, 3, target);
    bind_value(record, 4, pending);
    bind_value(record, 5, pending + finished);
    bind_value(record, 6, request.now_ms);
    step_done(record);
    out.push_back(
        Escalation{sqlite3_last_insert_rowid(db_), prefix.value, pending, pending + finished});
  }
  return out;
}

void SqliteStore::attach_hooks(std::string_view intent_id, std::span<const std::string> zone_ids,
                               std::span<const std::string> hooks, std::int64_t now_ms) {
  if (hooks.empty()) return;
  std::int64_t ref = 0;
  {
    auto* stmt = prepare("SELECT ref FROM intents WHERE id = ?1");
    Reset reset(stmt);
    bind_value(stmt, 1, intent_id);
    if (!step_row(stmt)) {
      throw std::runtime_error(fmt::format("attach_hooks: no intent {}", intent_id));
    }
    ref = sqlite3_column_int64(stmt, 0);
  }
  // Once per intent and O(its items), like add_intent: afterwards the triggers keep the counts.
  std::int64_t total = 0, remaining = 0, failed = 0;
  {
    auto* stmt = prepare(
        "SELECT count(*), coalesce(sum(t.state IN (0, 1)), 0), coalesce(sum(t.state = 3), 0) "
        "FROM links l JOIN targets t ON t.id = l.target WHERE l.intent = ?1");
    Reset reset(stmt);
    bind_value(stmt, 1, ref);
    if (step_row(stmt)) {
      total = sqlite3_column_int64(stmt, 0);
      remaining = sqlite3_column_int64(stmt, 1);
      failed = sqlite3_column_int64(stmt, 2);
    }
  }
  const std::string zones = join_zones(zone_ids);
  {
    auto* stmt = prepare(
        "INSERT INTO hook_waits(intent, zones, total, remaining, failed) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(intent) DO NOTHING");
    Reset reset(stmt);
    bind_value(stmt, 1, ref);
    bind_value(stmt, 2, zones);
    bind_value(stmt, 3, total);
    bind_value(stmt, 4, remaining);
    bind_value(stmt, 5, failed);
    step_done(stmt);
  }
  auto* stmt = prepare(
      "INSERT INTO hook_runs(intent, hook, state, updated_ms) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT(intent, hook) DO NOTHING");
  for (const auto& hook : hooks) {
    Reset reset(stmt);
    bind_value(stmt, 1, ref);
    bind_value(stmt, 2, hook);
    bind_value(stmt, 3,
               static_cast<std::int64_t>(remaining == 0 ? HookState::due : HookState::waiting));
    bind_value(stmt, 4, now_ms);
    step_done(stmt);
  }
}

std::int64_t SqliteStore::recover_hook_runs_step(std::int64_t limit) {
  auto* stmt = prepare(
      "UPDATE hook_runs SET state = 1 WHERE (intent, hook) IN (SELECT intent, hook FROM "
      "hook_runs INDEXED BY hook_runs_running WHERE state = 2 LIMIT ?1)");
  Reset reset(stmt);
  bind_value(stmt, 1, limit);
  step_done(stmt);
  return sqlite3_changes64(db_);
}

HookClaim SqliteStore::claim_hook_runs(std::string_view hook, std::int64_t now_ms,
                                       std::int64_t limit) {
  HookClaim claim;
  if (limit > 0) {
    auto* stmt = prepare(
        "UPDATE hook_runs SET state = 2, attempts = attempts + 1, updated_ms = ?3 "
        "WHERE (intent, hook) IN (SELECT intent, hook FROM hook_runs INDEXED BY "
        "hook_runs_due WHERE state = 1 AND hook = ?1 AND next_ms <= ?2 ORDER BY next_ms "
        "LIMIT ?4) RETURNING intent, attempts, next_ms, last_error");
    Reset reset(stmt);
    bind_value(stmt, 1, hook);
    bind_value(stmt, 2, now_ms);
    bind_value(stmt, 3, now_ms);
    bind_value(stmt, 4, limit);
    while (step_row(stmt)) {
      HookRun run;
      run.intent_ref = sqlite3_column_int64(stmt, 0);
      run.hook = std::string(hook);
      run.state = HookState::running;
      run.attempts = sqlite3_column_int(stmt, 1);
      run.next_attempt_ms = sqlite3_column_int64(stmt, 2);
      run.last_error = column_text(stmt, 3);
      run.updated_ms = now_ms;
      claim.runs.push_back(std::move(run));
    }
  }
  auto* about = prepare(
      "SELECT i.id, w.zones, w.total, w.failed, i.lane FROM hook_waits w JOIN intents i "
      "ON i.ref = w.intent WHERE w.intent = ?1");
  for (auto& run : claim.runs) {
    Reset reset(about);
    bind_value(about, 1, run.intent_ref);
    if (!step_row(about)) continue;
    run.intent_id = column_text(about, 0);
    run.zone_ids = split_zones(column_text(about, 1));
    run.total = sqlite3_column_int64(about, 2);
    run.failed = sqlite3_column_int64(about, 3);
    if (const auto lane = sqlite3_column_int(about, 4); lane >= 0 && lane < kLaneCount) {
      run.lane = static_cast<Lane>(lane);
    }
  }
  auto* next = prepare(
      "SELECT min(next_ms) FROM hook_runs INDEXED BY hook_runs_due WHERE state = 1 AND "
      "hook = ?1");
  Reset reset(next);
  bind_value(next, 1, hook);
  if (step_row(next) && sqlite3_column_type(next, 0) != SQLITE_NULL) {
    claim.next_due_ms = sqlite3_column_int64(next, 0);
  }
  return claim;
}

void SqliteStore::finish_hook_run(std::int64_t intent_ref, std::string_view hook, HookState outcome,
                                  std::int64_t next_attempt_ms, std::string_view error,
                                  std::int64_t now_ms) {
  // Only a run still marked running: if the intent was reopened and finished again meanwhile,
  // the run is due afresh and this outcome belongs to the old round.
  auto* stmt = prepare(
      "UPDATE hook_runs SET state = ?3, next_ms = ?4, last_error = ?5, updated_ms = ?6 "
      "WHERE intent = ?1 AND hook = ?2 AND state = 2");
  Reset reset(stmt);
  bind_value(stmt, 1, intent_ref);
  bind_value(stmt, 2, hook);
  bind_value(stmt, 3, static_cast<std::int64_t>(outcome));
  bind_value(stmt, 4, next_attempt_ms);
  if (error.empty()) {
    bind_null(stmt, 5);
  } else {
    bind_value(stmt, 5, error);
  }
  bind_value(stmt, 6, now_ms);
  step_done(stmt);
}

std::vector<HookItem> SqliteStore::hook_items(std::int64_t intent_ref, std::int64_t after_target,
                                              std::int64_t limit) {
  auto* stmt = prepare(
      "SELECT t.id, z.zone_id, t.kind, coalesce(t.value, t.key), t.state, t.headers FROM links l "
      "JOIN targets t ON t.id = l.target JOIN zones z ON z.id = t.zone "
      "WHERE l.intent = ?1 AND l.target > ?2 ORDER BY l.target LIMIT ?3");
  Reset reset(stmt);
  bind_value(stmt, 1, intent_ref);
  bind_value(stmt, 2, after_target);
  bind_value(stmt, 3, limit);
  std::vector<HookItem> items;
  while (step_row(stmt)) {
    items.push_back(HookItem{sqlite3_column_int64(stmt, 0), column_text(stmt, 1),
                             static_cast<Kind>(sqlite3_column_int(stmt, 2)), column_text(stmt, 3),
                             decode_headers(column_text(stmt, 5)), sqlite3_column_int(stmt, 4)});
  }
  return items;
}

std::vector<HookRun> SqliteStore::intent_hook_runs(std::string_view intent_id) {
  auto* stmt = prepare(
      "SELECT w.intent, r.hook, r.state, r.attempts, r.next_ms, r.last_error, r.updated_ms, "
      "w.zones, w.total, w.failed FROM intents i JOIN hook_waits w ON w.intent = i.ref "
      "JOIN hook_runs r ON r.intent = w.intent WHERE i.id = ?1 ORDER BY r.hook LIMIT 256");
  Reset reset(stmt);
  bind_value(stmt, 1, intent_id);
  std::vector<HookRun> runs;
  while (step_row(stmt)) {
    HookRun run;
    run.intent_ref = sqlite3_column_int64(stmt, 0);
    run.intent_id = std::string(intent_id);
    run.hook = column_text(stmt, 1);
    run.state = static_cast<HookState>(sqlite3_column_int(stmt, 2));
    run.attempts = sqlite3_column_int(stmt, 3);
    run.next_attempt_ms = sqlite3_column_int64(stmt, 4);
    run.last_error = column_text(stmt, 5);
    run.updated_ms = sqlite3_column_int64(stmt, 6);
    run.zone_ids = split_zones(column_text(stmt, 7));
    run.total = sqlite3_column_int64(stmt, 8);
    run.failed = sqlite3_column_int64(stmt, 9);
    runs.push_back(std::move(run));
  }
  return runs;
}

std::vector<HookCount> SqliteStore::hook_counts() {
  // One row per hook name and state: as many as hooks ever configured (32 at a time), times five.
  auto* stmt = prepare(
      "SELECT hook, state, n FROM hook_counts WHERE n != 0 ORDER BY hook, state LIMIT 1000");
  Reset reset(stmt);
  std::vector<HookCount> counts;
  while (step_row(stmt)) {
    const auto state = sqlite3_column_int(stmt, 1);
    if (state < 0 || state >= kHookStateCount) continue;
    counts.push_back(HookCount{column_text(stmt, 0), static_cast<HookState>(state),
                               sqlite3_column_int64(stmt, 2)});
  }
  return counts;
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
  return std::make_unique<SqliteStore>(path, read_only);
}

}  // namespace purgeq
