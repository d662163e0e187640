// PostgreSQL persistence of the purge queue: the statements of sqlite_store.cpp, translated. The
// layout is the same (targets, links, queue_counts, sends, everything_sent), with these
// differences:
// - `key` is COLLATE "C", so the coverage ranges (key >= low AND key < high, planner/coverage.h)
//   compare bytes as on SQLite and are served by the btree indexes.
// - queue_counts and everything_sent are kept by statement-level triggers over transition tables:
//   one aggregate upsert per statement instead of one per row.
// - Transactions are the caller's (StoreWorker: group commit). COMMIT returns after the server's
//   own durability rule (synchronous_commit), which this backend never lowers, so an intent is
//   acknowledged only once the server has made it durable.
// - A lost connection throws (the intake answers 503, never a false ack) and is re-established by
//   the next begin(); the transaction it was in is lost with it, which is what the caller expects
//   of a failed commit.
#include "store/pg_store.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <set>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <unordered_set>

#include "planner/coverage.h"
#include "store/pg_connection.h"
#include "store/row_text.h"

namespace purgeq {
namespace {

// One advisory lock key for schema changes, so that daemons starting together migrate one at a
// time (the others wait, then find the schema current). "purgeq" in ASCII.
constexpr std::int64_t kSchemaLock = 0x707572676571;
// Session advisory locks in two spaces (first key), the second key an id: a daemon holds
// (kHostSpace, its host id) for as long as its writer is connected, which is its lease on the rows
// it takes; and (kAccountSpace, an account's id) while it sends for that account. A lock goes with
// its session, so the server releases both the moment a daemon's connection ends (kill -9, a lost
// host: once TCP keepalive gives up).
constexpr std::int64_t kHostSpace = 0x70710001;
// What a purgeqd of schema 1 held while connected (one daemon per database then).
constexpr std::int64_t kSchema1WriterLock = kSchemaLock + 1;
constexpr std::int64_t kAccountSpace = 0x70710002;

// An account's lock key: FNV-1a of its name, in 31 bits (a non-negative int4, as pg_locks shows
// it back). From the name alone, so that every daemon derives the same key with no shared row to
// create first (a rolled-back round could otherwise leave two daemons with two keys). Keep it
// stable: daemons of different versions on one database must agree on it.
std::int64_t account_key(std::string_view account) {
  std::uint32_t hash = 2166136261U;
  for (const unsigned char c : account) {
    hash ^= c;
    hash *= 16777619U;
  }
  return static_cast<std::int64_t>(hash & 0x7fffffffU);
}
// Rows added between two ANALYZEs of a growing queue at least (PgStore::commit).
constexpr std::int64_t kAnalyzeEvery = 10'000;
// Transaction locks, second key a zone's id: see PgStore::lock_everything.
constexpr std::int64_t kEverythingSpace = 0x70710003;

// Version 2: several daemons on one database. A row taken into a request is leased to the daemon
// that took it (lease_host, its host id) for as long as that daemon's host lock is held; hosts
// are numbered by a sequence; account_senders records who sends for each account (its id is the
// account's lock key).
constexpr std::string_view kSchemaV2 = R"sql(
ALTER TABLE targets DROP COLUMN lease_host, DROP COLUMN lease_until_ms;
ALTER TABLE targets ADD COLUMN lease_host BIGINT;
CREATE INDEX targets_lease ON targets(lease_host) WHERE state = 1;
ALTER TABLE hook_runs ADD COLUMN lease_host BIGINT;
CREATE SEQUENCE purgeq_hosts AS INTEGER;
DROP TABLE account_leases;
CREATE TABLE account_senders(
  account TEXT PRIMARY KEY,
  host BIGINT NOT NULL,
  node TEXT NOT NULL,
  since_ms BIGINT NOT NULL
);
-- Queue counts in one shard per daemon (host; 0 for counts from before schema 2): each daemon
-- adds its changes to its own rows, so that intake on one host and takes on another never wait
-- for each other's count rows (they deadlocked, crossing zones in opposite orders). Readers sum
-- the shards; the shards of departed daemons are folded into a live one's.
ALTER TABLE queue_counts ADD COLUMN host BIGINT NOT NULL DEFAULT 0;
ALTER TABLE queue_counts DROP CONSTRAINT queue_counts_pkey;
ALTER TABLE queue_counts ADD PRIMARY KEY (zone, grp, lane, state, host);
CREATE FUNCTION purgeq_host() RETURNS BIGINT LANGUAGE sql STABLE AS
  $$ SELECT coalesce(nullif(current_setting('purgeq.host', true), '')::bigint, 0) $$;
-- Also without joining the transition tables: the planner, estimating one row for each, joined
-- a 500-row take's old and new rows by nested loop (250,000 comparisons, 60% of a drain's server
-- time). A row's change is its new version counted +1 and its old one -1; unchanged rows cancel.
CREATE OR REPLACE FUNCTION purgeq_targets_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO queue_counts(zone, grp, lane, state, host, n)
    SELECT zone, grp, lane, state, purgeq_host(), sum(d) FROM (
      SELECT zone, grp, lane, state, -1 AS d FROM old_rows
      UNION ALL
      SELECT zone, grp, lane, state, 1 FROM new_rows) AS changes
    GROUP BY zone, grp, lane, state HAVING sum(d) != 0
    ON CONFLICT (zone, grp, lane, state, host) DO UPDATE SET n = queue_counts.n + excluded.n;
  -- When each zone last had a purge-everything taken into a request (kind 4 now in state 1, not
  -- before): purge-everything rows are few, so each looks up its old version.
  INSERT INTO everything_sent(zone, at_ms)
    SELECT n.zone, max(n.updated_ms) FROM new_rows n
      WHERE n.kind = 4 AND n.state = 1
        AND NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id AND o.state = 1)
      GROUP BY n.zone
    ON CONFLICT (zone) DO UPDATE SET at_ms = greatest(everything_sent.at_ms, excluded.at_ms);
  -- Intents waiting for their hooks: finished (and failed) versions counted the same way, by
  -- intent through the links of only the versions that count.
  IF EXISTS (SELECT 1 FROM hook_waits) THEN
    UPDATE hook_waits w
      SET remaining = w.remaining - d.finished, failed = w.failed + d.failed
      FROM (SELECT l.intent, sum(c.finished) AS finished, sum(c.failed) AS failed
            FROM (SELECT id, 1 AS finished, (state = 3)::int AS failed FROM new_rows
                    WHERE state IN (2, 3)
                  UNION ALL
                  SELECT id, -1, -(state = 3)::int FROM old_rows WHERE state IN (2, 3)) AS c
            JOIN links l ON l.target = c.id
            GROUP BY l.intent HAVING sum(c.finished) != 0 OR sum(c.failed) != 0) AS d
      WHERE w.intent = d.intent;
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION purgeq_targets_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO queue_counts(zone, grp, lane, state, host, n)
    SELECT zone, grp, lane, state, purgeq_host(), -count(*) FROM old_rows
      GROUP BY zone, grp, lane, state
    ON CONFLICT (zone, grp, lane, state, host) DO UPDATE SET n = queue_counts.n + excluded.n;
  RETURN NULL;
END $$;
)sql";

constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE zones(
  id BIGSERIAL PRIMARY KEY,
  zone_id TEXT NOT NULL UNIQUE
);
CREATE TABLE intents(
  ref BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  created_ms BIGINT NOT NULL,
  peer_uid BIGINT NOT NULL,
  peer_gid BIGINT NOT NULL,
  peer_pid BIGINT NOT NULL,
  source TEXT NOT NULL,
  item_count BIGINT NOT NULL,
  lane INTEGER NOT NULL
);
CREATE INDEX intents_created ON intents(created_ms);
-- lease_host and lease_until_ms: reserved for the multi-host slice (docs/scale-out.md), where a
-- batch is leased by the host that sends it and taken over when the lease runs out. NULL here.
CREATE TABLE targets(
  id BIGSERIAL PRIMARY KEY,
  zone BIGINT NOT NULL,
  grp INTEGER NOT NULL,
  lane INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  key TEXT COLLATE "C" NOT NULL,
  value TEXT,
  headers TEXT,
  state INTEGER NOT NULL,
  flight BIGINT,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  error_code INTEGER,
  error_message TEXT,
  coverer BIGINT,
  lease_host TEXT,
  lease_until_ms BIGINT
);
CREATE INDEX targets_twin ON targets(zone, kind, key) WHERE state = 0;
-- (grp, zone, ...), not (zone, grp, ...): every query of a queue names its group, and a query
-- that names only the zone (coverage ranges, counts under a prefix) must not be able to use this
-- index as "the zone's pending rows" and filter them: without statistics the planner did, which
-- made those O(backlog). They use targets_twin.
CREATE INDEX targets_queue ON targets(grp, zone, lane, id) WHERE state = 0;
CREATE INDEX targets_flight ON targets(flight) WHERE state = 1;
CREATE INDEX targets_age ON targets(state, created_ms);
CREATE INDEX targets_known ON targets(zone, kind, key) WHERE state != 0;
-- No foreign key to intents (SQLite has one): its per-row check cost a third of the intake
-- statement, and links are only ever added with their intent and deleted before it (prune_step).
CREATE TABLE links(
  intent BIGINT NOT NULL,
  target BIGINT NOT NULL,
  PRIMARY KEY(intent, target)
);
CREATE INDEX links_target ON links(target);
CREATE TABLE queue_counts(
  zone BIGINT NOT NULL,
  grp INTEGER NOT NULL,
  lane INTEGER NOT NULL,
  state INTEGER NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY(zone, grp, lane, state)
);
CREATE TABLE sends(
  id BIGSERIAL PRIMARY KEY,
  account TEXT NOT NULL,
  kind INTEGER NOT NULL,
  at_ms BIGINT NOT NULL
);
CREATE INDEX sends_at ON sends(at_ms);
CREATE TABLE health(id INTEGER PRIMARY KEY CHECK (id = 1), probed_ms BIGINT NOT NULL);
CREATE TABLE everything_sent(zone BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL);
CREATE TABLE escalations(
  id BIGSERIAL PRIMARY KEY,
  zone BIGINT NOT NULL,
  prefix TEXT NOT NULL,
  target BIGINT NOT NULL,
  urls BIGINT NOT NULL,
  known BIGINT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE INDEX escalations_target ON escalations(target);
CREATE INDEX escalations_prefix ON escalations(zone, prefix);
CREATE INDEX escalations_created ON escalations(created_ms);
-- Reserved for the multi-host slice: which host sends for an account, until when.
CREATE TABLE account_leases(
  account TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  until_ms BIGINT NOT NULL
);

-- Completion hooks, as on SQLite (sqlite_store.cpp, kHooks): hook_waits keeps per intent with
-- hooks how many of its targets are unfinished and failed, kept by the targets trigger below;
-- hook_open counts the intents still waiting; hook_counts the runs by hook and state.
CREATE TABLE hook_waits(
  intent BIGINT PRIMARY KEY REFERENCES intents(ref) ON DELETE CASCADE,
  zones TEXT NOT NULL,
  total BIGINT NOT NULL,
  remaining BIGINT NOT NULL,
  failed BIGINT NOT NULL
);
CREATE TABLE hook_open(id INTEGER PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL);
INSERT INTO hook_open(id, n) VALUES (1, 0);
CREATE TABLE hook_runs(
  intent BIGINT NOT NULL REFERENCES hook_waits(intent) ON DELETE CASCADE,
  hook TEXT NOT NULL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_ms BIGINT NOT NULL DEFAULT 0,
  last_error TEXT,
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY(intent, hook)
);
CREATE INDEX hook_runs_due ON hook_runs(hook, next_ms) WHERE state = 1;
CREATE INDEX hook_runs_running ON hook_runs(intent) WHERE state = 2;
CREATE TABLE hook_counts(
  hook TEXT NOT NULL,
  state INTEGER NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY(hook, state)
);
CREATE FUNCTION purgeq_hook_waits_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.remaining > 0 THEN UPDATE hook_open SET n = n + 1 WHERE id = 1; END IF;
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN
    IF OLD.remaining > 0 THEN UPDATE hook_open SET n = n - 1 WHERE id = 1; END IF;
    RETURN NULL;
  END IF;
  IF (NEW.remaining = 0) != (OLD.remaining = 0) THEN
    UPDATE hook_open SET n = n + (CASE WHEN NEW.remaining = 0 THEN -1 ELSE 1 END) WHERE id = 1;
    IF NEW.remaining = 0 THEN
      UPDATE hook_runs SET state = 1, attempts = 0, next_ms = 0, last_error = NULL
        WHERE intent = NEW.intent AND state != 2;
    ELSE
      -- Reopened (a failed item retried): due and running runs wait again, as on SQLite.
      UPDATE hook_runs SET state = 0 WHERE intent = NEW.intent AND state IN (1, 2);
    END IF;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER hook_waits_changed AFTER INSERT OR UPDATE OR DELETE ON hook_waits
  FOR EACH ROW EXECUTE FUNCTION purgeq_hook_waits_changed();
CREATE FUNCTION purgeq_hook_runs_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    IF TG_OP = 'UPDATE' AND OLD.state = NEW.state THEN RETURN NULL; END IF;
    UPDATE hook_counts SET n = n - 1 WHERE hook = OLD.hook AND state = OLD.state;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO hook_counts(hook, state, n) VALUES (NEW.hook, NEW.state, 1)
      ON CONFLICT (hook, state) DO UPDATE SET n = hook_counts.n + 1;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER hook_runs_counted AFTER INSERT OR UPDATE OR DELETE ON hook_runs
  FOR EACH ROW EXECUTE FUNCTION purgeq_hook_runs_counted();

-- Inserts are counted by add_intent (one upsert per queue and intent); state and lane changes
-- and deletes by these triggers, one aggregate per statement.
CREATE FUNCTION purgeq_targets_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO queue_counts(zone, grp, lane, state, n)
    SELECT zone, grp, lane, state, sum(d) FROM (
      SELECT o.zone, o.grp, o.lane, o.state, -1 AS d FROM old_rows o JOIN new_rows n USING (id)
        WHERE o.state != n.state OR o.lane != n.lane
      UNION ALL
      SELECT n.zone, n.grp, n.lane, n.state, 1 FROM old_rows o JOIN new_rows n USING (id)
        WHERE o.state != n.state OR o.lane != n.lane) AS changes
    GROUP BY zone, grp, lane, state
    ON CONFLICT (zone, grp, lane, state) DO UPDATE SET n = queue_counts.n + excluded.n;
  -- When each zone last had a purge-everything taken into a request (kind 4, state 1).
  INSERT INTO everything_sent(zone, at_ms)
    SELECT n.zone, max(n.updated_ms) FROM old_rows o JOIN new_rows n USING (id)
      WHERE n.state = 1 AND o.state != 1 AND n.kind = 4 GROUP BY n.zone
    ON CONFLICT (zone) DO UPDATE SET at_ms = greatest(everything_sent.at_ms, excluded.at_ms);
  -- Intents waiting for their hooks: a target that finished counts down every intent linked to
  -- it, one that is pending again (a retried failure) counts back up. One aggregate per
  -- statement, at a cost of the changed targets' links, and nothing while no intent has hooks.
  IF EXISTS (SELECT 1 FROM hook_waits) THEN
    UPDATE hook_waits w
      SET remaining = w.remaining - d.finished + d.reopened, failed = w.failed + d.failed
      FROM (SELECT l.intent,
                   count(*) FILTER (WHERE o.state IN (0, 1) AND n.state IN (2, 3)) AS finished,
                   count(*) FILTER (WHERE o.state IN (2, 3) AND n.state IN (0, 1)) AS reopened,
                   count(*) FILTER (WHERE o.state IN (0, 1) AND n.state = 3)
                     - count(*) FILTER (WHERE o.state = 3 AND n.state IN (0, 1)) AS failed
            FROM old_rows o JOIN new_rows n USING (id) JOIN links l ON l.target = n.id
            WHERE (o.state IN (0, 1)) != (n.state IN (0, 1))
            GROUP BY l.intent) AS d
      WHERE w.intent = d.intent;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER targets_counted_update AFTER UPDATE ON targets
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION purgeq_targets_updated();
CREATE FUNCTION purgeq_targets_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE queue_counts c SET n = c.n - d.n
    FROM (SELECT zone, grp, lane, state, count(*) AS n FROM old_rows
          GROUP BY zone, grp, lane, state) AS d
    WHERE c.zone = d.zone AND c.grp = d.grp AND c.lane = d.lane AND c.state = d.state;
  RETURN NULL;
END $$;
CREATE TRIGGER targets_counted_delete AFTER DELETE ON targets
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION purgeq_targets_deleted();
)sql";
static_assert(static_cast<int>(Kind::everything) == 4, "kSchemaV1 names the kind by number");

// A statement parameter in text form; nullopt is SQL NULL.
using Param = std::optional<std::string>;
Param p(std::int64_t value) {
  return std::to_string(value);
}
Param p(std::string_view text) {
  return std::string(text);
}

// A bigint[] literal.
Param id_array(std::span<const std::int64_t> ids) {
  std::string text = "{";
  for (const auto id : ids) {
    if (text.size() > 1) text += ',';
    text += std::to_string(id);
  }
  return text + "}";
}

class Result {
 public:
  explicit Result(PGresult* result) : result_(result) {}
  ~Result() { PQclear(result_); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  Result(Result&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  Result& operator=(Result&&) = delete;

  [[nodiscard]] int rows() const { return PQntuples(result_); }
  [[nodiscard]] bool null(int row, int column) const {
    return PQgetisnull(result_, row, column) != 0;
  }
  [[nodiscard]] std::string text(int row, int column) const {
    return {PQgetvalue(result_, row, column),
            static_cast<std::size_t>(PQgetlength(result_, row, column))};
  }
  [[nodiscard]] std::int64_t integer(int row, int column) const {
    return null(row, column) ? 0 : std::stoll(PQgetvalue(result_, row, column));
  }
  // Rows an INSERT, UPDATE or DELETE changed.
  [[nodiscard]] std::int64_t changed() const {
    const char* text = PQcmdTuples(result_);
    return text == nullptr || *text == '\0' ? 0 : std::stoll(text);
  }

 private:
  PGresult* result_;
};

// A text[] literal: every element quoted (backslash before `"` and `\\`), NULL for nullopt.
std::string array_literal(const std::vector<Param>& elements);

class PgStore final : public Store {
 public:
  PgStore(PgConnection connection, bool read_only)
      : connection_(std::move(connection)), read_only_(read_only) {
    conn_ = pg_connect(connection_, read_only_);
    try {
      if (!read_only_) {
        // Before migrating: a schema 1 daemon must not find its tables changed under it.
        exclude_schema1();
        migrate();
        join_hosts();
        // Statistics now rather than when autovacuum first gets to it: the planner's choices
        // for the queue's statements depend on them.
        exec("ANALYZE");
      }
    } catch (...) {
      PQfinish(conn_);
      throw;
    }
  }
  ~PgStore() override {
    // A daemon that stops lets go of its accounts and leases now, not when its server process
    // notices the closed socket: another daemon's next claim round takes over at once.
    if (!read_only_ && PQstatus(conn_) == CONNECTION_OK) {
      PQclear(PQexec(conn_, "SELECT pg_advisory_unlock_all()"));
    }
    PQfinish(conn_);
  }
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  void begin() override {
    ensure_connected();
    // The reader sees one snapshot per round, as a SQLite read transaction does: an intent's
    // status is read by several statements and must not mix two commits.
    exec(read_only_ ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN");
  }
  void commit() override {
    // Wakes the other daemons' senders for what this round queued (delivered at COMMIT, once
    // however many intents the round holds).
    if (queued_) exec(fmt::format("NOTIFY {}, '{}'", kPgQueueChannel, host_id_));
    if (progressed_) exec(fmt::format("NOTIFY {}, '{}'", kPgProgressChannel, host_id_));
    queued_ = false;
    progressed_ = false;
    exec("COMMIT");
    inserted_since_analyze_ += inserted_in_round_;
    inserted_in_round_ = 0;
    // The planner's statistics of a young queue go stale as it grows (autovacuum analyses a
    // minute later at best): plans made for a near-empty table pass over the whole backlog.
    // Analysed again each time this daemon has added as many rows as there were (at least
    // kAnalyzeEvery): a few times between empty and millions.
    if (!read_only_ && inserted_since_analyze_ >= std::max(kAnalyzeEvery, analyzed_rows_)) {
      inserted_since_analyze_ = 0;
      try {
        // Never behind another daemon's ANALYZE or a long (anti-wraparound) vacuum: the writer
        // would stall intake meanwhile. Skipped then; the next threshold tries again.
        exec("SET lock_timeout = '100ms'");
        exec("ANALYZE targets, links");
        exec("RESET lock_timeout");
        analyzed_rows_ = run("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = "
                             "'targets'::regclass",
                             {})
                             .integer(0, 0);
      } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch)
        // The round is committed and must be reported so; the statistics wait for the next
        // threshold (and a lost connection shows on the next round).
        if (PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "RESET lock_timeout"));
      }
    }
  }
  void rollback() override {
    queued_ = false;
    progressed_ = false;
    inserted_in_round_ = 0;
    zone_refs_.clear();
    if (PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      exec("ROLLBACK");
    }
  }
  void savepoint() override { exec("SAVEPOINT job"); }
  void release_savepoint() override { exec("RELEASE SAVEPOINT job"); }
  void rollback_to_savepoint() override {
    zone_refs_.clear();
    exec("ROLLBACK TO SAVEPOINT job");
    exec("RELEASE SAVEPOINT job");
  }

  SubmitResult add_intent(std::string_view intent_id, std::int64_t now_ms, const Peer& peer,
                          std::string_view source, std::span<const ZonedItem> items,
                          Lane lane = Lane::normal) override;
  // Only the rows of daemons that are gone: the others' batches are still theirs to settle.
  std::int64_t recover_step(std::int64_t limit) override { return reclaim(limit, live_hosts()); }
  TakeResult take(const TakeRequest& request, std::int64_t cover_limit) override;
  std::int64_t cover_step(std::string_view zone_id, std::int64_t flight,
                          std::span<const QueuedTarget> members, std::int64_t watermark,
                          std::int64_t limit) override {
    const auto zone = zone_ref(zone_id, false);
    return zone ? cover(*zone, flight, members, watermark, limit) : 0;
  }
  void move_to_flight(std::span<const std::int64_t> ids, std::int64_t flight) override {
    // The lease stays: the rows stay with the daemon that took them.
    // Only rows still leased to this daemon: after a lost connection another daemon may have
    // reclaimed and taken them again, and its flight must keep them.
    run("UPDATE targets SET flight = $1 WHERE id = ANY($2::bigint[]) AND state = 1 AND "
        "lease_host = $3",
        {p(flight), id_array(ids), p(host_id_)});
  }
  Settled settle(const SettleRequest& request, std::int64_t limit) override;
  Settled give_up_step(std::int64_t created_before_ms, std::int64_t now_ms,
                       std::string_view reason_prefix, std::int64_t limit) override {
    progressed_ = true;
    // The state again in the outer WHERE, here and in every such UPDATE: it is what PostgreSQL
    // checks again on a row another daemon's transaction changed meanwhile (the subquery's
    // snapshot is not), so a row another daemon took is not failed as "never sent".
    return collect(
        run("UPDATE targets SET state = 3, updated_ms = $2, error_code = 0, "
            "error_message = $3 || coalesce(nullif(error_message, ''), 'none; never sent') || ')' "
            "WHERE id IN (SELECT id FROM targets WHERE state = 0 AND created_ms < $1 LIMIT $4) "
            "AND state = 0 RETURNING kind, created_ms",
            {p(created_before_ms), p(now_ms), p(reason_prefix), p(limit)}),
        limit);
  }
  // PostgreSQL keeps its index of finished URLs: its cost per taken row was not measured apart,
  // and the schema is created once for every host of the database.
  void index_known_urls(bool /*wanted*/) override {}
  std::int64_t retry_failed_step(std::int64_t now_ms, std::int64_t limit) override {
    const auto moved =
        run("UPDATE targets SET state = 0, attempts = 0, created_ms = $1, updated_ms = $1, "
            "error_code = NULL, error_message = NULL "
            "WHERE id IN (SELECT t.id FROM targets t WHERE t.state = 3 AND EXISTS "
            "(SELECT 1 FROM links l WHERE l.target = t.id) LIMIT $2) AND state = 3",
            {p(now_ms), p(limit)})
            .changed();
    queued_ = queued_ || moved > 0;
    return moved;
  }
  std::int64_t prune_step(std::int64_t before_ms, std::int64_t limit) override;
  void record_send(const SendRecord& send, std::int64_t keep_after_ms) override {
    run("INSERT INTO sends(account, kind, at_ms) VALUES ($1, $2, $3)",
        {p(send.account), p(static_cast<std::int64_t>(send.kind)), p(send.at_ms)});
    // Only this account's: another account's global window may be longer.
    run("DELETE FROM sends WHERE at_ms <= $1 AND account = $2",
        {p(keep_after_ms), p(send.account)});
  }
  std::vector<SendRecord> recent_sends(std::int64_t after_ms) override {
    const auto r = run("SELECT account, kind, at_ms FROM sends WHERE at_ms > $1 ORDER BY at_ms, id",
                       {p(after_ms)});
    std::vector<SendRecord> sends;
    for (int i = 0; i < r.rows(); ++i) {
      sends.push_back(
          SendRecord{r.text(i, 0), static_cast<Kind>(r.integer(i, 1)), r.integer(i, 2)});
    }
    return sends;
  }
  std::optional<IntentStatus> intent_status(std::string_view intent_id) override;
  std::vector<FailedTarget> failed_targets(std::size_t limit) override;
  QueueCounts queue_counts() override;
  std::map<Group, std::int64_t> oldest_pending(std::string_view zone_id) override;
  std::optional<std::int64_t> last_everything_ms(std::string_view zone_id) override {
    const auto zone = zone_ref(zone_id, false);
    if (!zone) return std::nullopt;
    // The purge-everything guard reads this and accepts the intent in one transaction; another
    // daemon's take of a purge-everything must not slip in between (see take()).
    if (!read_only_) lock_everything(*zone);
    const auto r = run("SELECT at_ms FROM everything_sent WHERE zone = $1", {p(*zone)});
    if (r.rows() == 0) return std::nullopt;
    return r.integer(0, 0);
  }
  // pg_database_size() stats every file of the database: asked after each commit round (the
  // intake's snapshot), so it is re-read at most every few seconds.
  std::int64_t size_bytes() override {
    const auto now = std::chrono::steady_clock::now();
    if (!size_read_ || now - *size_read_ > std::chrono::seconds(5)) {
      size_ = run("SELECT pg_database_size(current_database())", {}).integer(0, 0);
      size_read_ = now;
    }
    return size_;
  }
  void probe_write(std::int64_t now_ms) override {
    run("INSERT INTO health(id, probed_ms) VALUES (1, $1) "
        "ON CONFLICT (id) DO UPDATE SET probed_ms = excluded.probed_ms",
        {p(now_ms)});
  }
  // The server manages its own disk: a full one makes writes fail, which throws like any storage
  // error (503, nothing acknowledged), and there is no local reserve to hand back.
  void relieve_full_disk() override {}
  bool restore_reserve() override { return true; }
  [[nodiscard]] bool disk_full() const override { return false; }

  std::vector<Escalation> escalate(const EscalationRequest& request) override;
  void attach_hooks(std::string_view intent_id, std::span<const std::string> zone_ids,
                    std::span<const std::string> hooks, std::int64_t now_ms) override;
  // Only the runs of daemons that are gone: another daemon may be running the rest right now.
  std::int64_t recover_hook_runs_step(std::int64_t limit) override {
    return recover_hook_runs(limit, live_hosts());
  }
  std::int64_t recover_hook_runs(std::int64_t limit, const std::vector<std::int64_t>& hosts) {
    std::vector<Param> live;
    for (const auto host : hosts) live.push_back(p(host));
    return run("UPDATE hook_runs SET state = 1, lease_host = NULL WHERE (intent, hook) IN (SELECT "
               "intent, hook FROM hook_runs WHERE state = 2 AND (lease_host IS NULL OR NOT "
               "lease_host = ANY($2::bigint[])) LIMIT $1) AND state = 2",
               {p(limit), array_literal(live)})
        .changed();
  }
  HookClaim claim_hook_runs(std::string_view hook, std::int64_t now_ms,
                            std::int64_t limit) override;
  void finish_hook_run(std::int64_t intent_ref, std::string_view hook, HookState outcome,
                       std::int64_t next_attempt_ms, std::string_view error,
                       std::int64_t now_ms) override {
    // Only a run still marked running, as on SQLite, and by this daemon: one that was reclaimed
    // meanwhile (a lost connection) is another daemon's now.
    run("UPDATE hook_runs SET state = $3, next_ms = $4, last_error = $5, updated_ms = $6 "
        "WHERE intent = $1 AND hook = $2 AND state = 2 AND lease_host = $7",
        {p(intent_ref), p(hook), p(static_cast<std::int64_t>(outcome)), p(next_attempt_ms),
         error.empty() ? Param() : p(error), p(now_ms), p(host_id_)});
  }
  std::vector<HookItem> hook_items(std::int64_t intent_ref, std::int64_t after_target,
                                   std::int64_t limit) override {
    const auto r =
        run("SELECT t.id, z.zone_id, t.kind, coalesce(t.value, t.key), t.state, "
            "coalesce(t.headers, '') FROM links l "
            "JOIN targets t ON t.id = l.target JOIN zones z ON z.id = t.zone "
            "WHERE l.intent = $1 AND l.target > $2 ORDER BY l.target LIMIT $3",
            {p(intent_ref), p(after_target), p(limit)});
    std::vector<HookItem> items;
    for (int i = 0; i < r.rows(); ++i) {
      items.push_back(HookItem{r.integer(i, 0), r.text(i, 1), static_cast<Kind>(r.integer(i, 2)),
                               r.text(i, 3), decode_headers(r.text(i, 5)),
                               static_cast<int>(r.integer(i, 4))});
    }
    return items;
  }
  std::vector<HookRun> intent_hook_runs(std::string_view intent_id) override;
  [[nodiscard]] bool shared() const override { return true; }
  [[nodiscard]] std::int64_t host_id() const override { return host_id_; }
  SenderClaims claim_senders(const SenderRequest& request, std::int64_t reclaim_limit) override;
  std::vector<HookCount> hook_counts() override {
    const auto r = run(
        "SELECT hook, state, n FROM hook_counts WHERE n != 0 ORDER BY hook, state LIMIT 1000", {});
    std::vector<HookCount> counts;
    for (int i = 0; i < r.rows(); ++i) {
      const auto state = r.integer(i, 1);
      if (state < 0 || state >= kHookStateCount) continue;
      counts.push_back(HookCount{r.text(i, 0), static_cast<HookState>(state), r.integer(i, 2)});
    }
    return counts;
  }

 private:
  void ensure_connected();
  // A writer joins the daemons of the database: a new host id, whose lock it holds from now on.
  void join_hosts();
  // Takes this daemon's host lock again on a new session (after a reconnect).
  void lock_host();
  // Refuses to share the database with a purgeqd of schema 1 (kSchema1WriterLock).
  void exclude_schema1();
  // Until the transaction ends: the zone's purge-everything guard and its takes of a
  // purge-everything, which may run on different daemons, one at a time.
  void lock_everything(std::int64_t zone) {
    run("SELECT pg_advisory_xact_lock($1::int, $2::int)", {p(kEverythingSpace), p(zone)});
  }
  // The second keys of the advisory locks in `space` that sessions of this database hold.
  std::vector<std::int64_t> held_keys(std::int64_t space);
  // The host ids whose lock is held: the daemons still connected.
  std::vector<std::int64_t> live_hosts() { return held_keys(kHostSpace); }
  // In-flight rows whose daemon is gone (not in `live`, the live_hosts() of this round) or unknown
  // (taken before schema 2) are pending again; at most `limit`. Returns how many.
  std::int64_t reclaim(std::int64_t limit, const std::vector<std::int64_t>& live);
  // Joins the session to the daemons of the database: refuses schema 1 daemons, takes the host
  // lock and names the host for the count triggers. On a new session (start, reconnect).
  void prepare_session();
  // Moves the queue-count shards of departed daemons into this one's (bounded: a few rows per
  // queue and departed daemon).
  void fold_counts(const std::vector<std::int64_t>& live);
  [[noreturn]] void fail(const PGresult* result, std::string_view sql);
  Result run(std::string_view sql, std::initializer_list<Param> params) {
    return run(sql, std::vector<Param>(params));
  }
  Result run(std::string_view sql, const std::vector<Param>& params);
  void exec(std::string_view sql);
  void migrate();
  std::optional<std::int64_t> zone_ref(std::string_view zone_id, bool create);
  std::int64_t cover(std::int64_t zone, std::int64_t flight, std::span<const QueuedTarget> members,
                     std::int64_t watermark, std::int64_t limit);
  std::vector<CoveredBy> covered_by(std::int64_t intent_ref);
  // As on SQLite: pending URLs (up to `cap`) or finished and in-flight ones (`finished`) under
  // `prefix`; escalations older than `before_ms` whose prefix target is finished, pruned.
  std::int64_t count_under(std::int64_t zone, const Item& prefix, bool finished, std::int64_t cap);
  std::int64_t prune_escalations(std::int64_t before_ms, std::int64_t limit);
  static Settled collect(const Result& result, std::int64_t limit);

  PgConnection connection_;
  bool read_only_;
  std::int64_t host_id_ = 0;
  // Accounts whose lock this session holds; claimed_: claim_senders ran, so takes are checked.
  std::set<std::string, std::less<>> sending_;
  bool claimed_ = false;
  bool session_ready_ = false;  // prepare_session() succeeded on the current session
  bool queued_ = false;         // this round added pending rows: NOTIFY at commit
  bool progressed_ = false;     // ... finished some: NOTIFY the progress channel
  // Targets this daemon added: this round, and since it last analysed (commit()), when the table
  // held analyzed_rows_.
  std::int64_t inserted_in_round_ = 0;
  std::int64_t inserted_since_analyze_ = 0;
  std::int64_t analyzed_rows_ = 0;
  PGconn* conn_ = nullptr;
  std::map<std::string, std::int64_t, std::less<>> zone_refs_;
  std::int64_t size_ = 0;
  std::optional<std::chrono::steady_clock::time_point> size_read_;
};

void PgStore::ensure_connected() {
  if (PQstatus(conn_) == CONNECTION_OK && (read_only_ || session_ready_)) return;
  // The server went away (restart, failover, network), or the last session could not be
  // prepared: a fresh connection for this round. If it is not back yet this throws, and the
  // round fails like any storage error.
  zone_refs_.clear();
  // The old session's locks went with it: its accounts may have another sender by now (the next
  // claim round tries again).
  sending_.clear();
  session_ready_ = false;
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string reason = PQerrorMessage(conn_);
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    throw std::runtime_error(
        fmt::format("storage.dsn: cannot reconnect to PostgreSQL: {}", reason));
  }
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
  // Its leases are taken again under the same host id, so its own batches in the air stay its
  // own unless another daemon reclaimed them meanwhile. Until that succeeds the session is not
  // used: a session without the host lock would have its batches reclaimed while it sends them.
  if (!read_only_) prepare_session();
}

void PgStore::prepare_session() {
  exclude_schema1();
  lock_host();
  run("SELECT set_config('purgeq.host', $1, false)", {p(host_id_)});
  session_ready_ = true;
}

void PgStore::join_hosts() {
  host_id_ = run("SELECT nextval('purgeq_hosts')", {}).integer(0, 0);
  prepare_session();
}

void PgStore::exclude_schema1() {
  // A purgeqd of schema 1 held kSchema1WriterLock alone on its writer's session and sends without
  // claiming accounts. Held shared here (daemons of this version share it), it keeps the two
  // apart both ways, before anything is migrated (docs/scale-out.md, "Upgrading").
  if (run("SELECT pg_try_advisory_lock_shared($1)", {p(kSchema1WriterLock)}).text(0, 0) != "t") {
    throw std::runtime_error(
        "storage.dsn: an older purgeqd (PostgreSQL schema 1) is using this database; stop it "
        "before starting this version, which shares the database with daemons of its own "
        "version only");
  }
}

void PgStore::lock_host() {
  // The id is this daemon's alone (a sequence), so the lock is free unless the server still
  // holds an earlier session of this same daemon: one it has not seen close yet, or one cut off
  // by a partition that the server's keepalive has not dropped. That session is ours and must
  // not keep our accounts either, so it is ended (a role may end its own sessions).
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (run("SELECT pg_try_advisory_lock($1::int, $2::int)", {p(kHostSpace), p(host_id_)})
            .text(0, 0) == "t") {
      return;
    }
    run("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND objsubid = 2 AND classid = $1::oid AND objid = $2::oid AND pid != pg_backend_pid() "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        {p(kHostSpace), p(host_id_)});
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error(
      fmt::format("storage.dsn: the lock of host id {} is held by another session", host_id_));
}

std::vector<std::int64_t> PgStore::held_keys(std::int64_t space) {
  const auto r =
      run("SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
          "objsubid = 2 AND classid = $1::oid AND database = "
          "(SELECT oid FROM pg_database WHERE datname = current_database())",
          {p(space)});
  std::vector<std::int64_t> keys;
  for (int i = 0; i < r.rows(); ++i) keys.push_back(r.integer(i, 0));
  return keys;
}

std::int64_t PgStore::reclaim(std::int64_t limit, const std::vector<std::int64_t>& live) {
  // The distinct hosts with rows in flight, one index probe each (targets_lease), rather than a
  // pass over every row in flight (a purge-everything puts a whole backlog there).
  std::vector<Param> gone;
  std::int64_t after = -1;
  for (int probe = 0; probe < 1000; ++probe) {
    const auto r = run(
        "SELECT lease_host FROM targets WHERE state = 1 AND lease_host > $1 ORDER BY lease_host "
        "LIMIT 1",
        {p(after)});
    if (r.rows() == 0) break;
    after = r.integer(0, 0);
    if (after != host_id_ && std::find(live.begin(), live.end(), after) == live.end()) {
      gone.push_back(p(after));
    }
  }
  std::int64_t moved =
      run("UPDATE targets SET state = 0, flight = NULL, coverer = NULL WHERE id IN (SELECT id "
          "FROM targets WHERE state = 1 AND lease_host IS NULL LIMIT $1) AND state = 1 AND "
          "lease_host IS NULL",
          {p(limit)})
          .changed();
  if (!gone.empty() && moved < limit) {
    moved += run("UPDATE targets SET state = 0, flight = NULL, coverer = NULL, lease_host = NULL "
                 "WHERE id IN (SELECT id FROM targets WHERE state = 1 AND "
                 "lease_host = ANY($1::bigint[]) LIMIT $2) AND state = 1 AND "
                 "lease_host = ANY($1::bigint[])",
                 {array_literal(gone), p(limit - moved)})
                 .changed();
  }
  queued_ = queued_ || moved > 0;
  return moved;
}

void PgStore::fold_counts(const std::vector<std::int64_t>& live) {
  std::vector<Param> hosts;
  for (const auto host : live) hosts.push_back(p(host));
  run("WITH gone AS (DELETE FROM queue_counts WHERE host != 0 AND NOT host = ANY($1::bigint[]) "
      "RETURNING zone, grp, lane, state, n) "
      "INSERT INTO queue_counts(zone, grp, lane, state, host, n) SELECT zone, grp, lane, state, "
      "$2, sum(n) FROM gone GROUP BY zone, grp, lane, state "
      "ON CONFLICT (zone, grp, lane, state, host) DO UPDATE SET n = queue_counts.n + excluded.n",
      {array_literal(hosts), p(host_id_)});
}

SenderClaims PgStore::claim_senders(const SenderRequest& request, std::int64_t reclaim_limit) {
  claimed_ = true;
  SenderClaims claims;
  // Session locks outlive a rolled-back round, so what this session holds is the truth, whatever
  // happens to this transaction; the rows below only tell status who that is.
  for (auto it = sending_.begin(); it != sending_.end();) {
    // Accounts dropped by a reload are let go, so that a daemon still configured with them sends.
    if (std::find(request.accounts.begin(), request.accounts.end(), *it) !=
        request.accounts.end()) {
      ++it;
      continue;
    }
    run("SELECT pg_advisory_unlock($1::int, $2::int)", {p(kAccountSpace), p(account_key(*it))});
    it = sending_.erase(it);
  }
  // Two configured accounts with one lock key would share one sender (a 31-bit hash: about n²
  // in 4 billion): said plainly rather than leaving one of them unsent.
  for (std::size_t i = 0; i < request.accounts.size(); ++i) {
    for (std::size_t j = i + 1; j < request.accounts.size(); ++j) {
      if (account_key(request.accounts[i]) == account_key(request.accounts[j])) {
        throw std::runtime_error(fmt::format(
            "accounts {} and {} have the same lock key on a shared store; rename one of them",
            request.accounts[i], request.accounts[j]));
      }
    }
  }
  for (const auto& account : request.accounts) {
    if (!sending_.contains(account) && run("SELECT pg_try_advisory_lock($1::int, $2::int)",
                                           {p(kAccountSpace), p(account_key(account))})
                                               .text(0, 0) == "t") {
      sending_.insert(account);
    }
    if (!sending_.contains(account)) continue;
    claims.sending.push_back(account);
    // Written again on every round until it says this daemon: a round that recorded it may have
    // been rolled back. An unchanged row is not rewritten.
    run("INSERT INTO account_senders(account, host, node, since_ms) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (account) DO UPDATE SET host = excluded.host, node = excluded.node, "
        "since_ms = excluded.since_ms WHERE account_senders.host != excluded.host",
        {p(account), p(host_id_), p(request.node), p(request.now_ms)});
  }
  const auto live = live_hosts();
  claims.reclaimed = reclaim(reclaim_limit, live);
  fold_counts(live);
  // Hook runs a departed daemon was running are due again, like its batches (at least once).
  recover_hook_runs(reclaim_limit, live);
  const auto held = held_keys(kAccountSpace);
  const std::set<std::int64_t> held_accounts(held.begin(), held.end());
  const auto r = run(
      "SELECT account, host, node, since_ms FROM account_senders ORDER BY account LIMIT 1000", {});
  for (int i = 0; i < r.rows(); ++i) {
    const auto account = r.text(i, 0);
    const bool live_sender = held_accounts.contains(account_key(account));
    claims.senders.push_back(
        AccountSender{account, r.integer(i, 1), r.text(i, 2), r.integer(i, 3), live_sender});
  }
  return claims;
}

void PgStore::fail(const PGresult* result, std::string_view sql) {
  std::string reason = result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn_);
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
  if (reason.empty()) reason = "connection lost";
  const auto first_line = sql.substr(0, std::min<std::size_t>(sql.find('\n'), 60));
  auto message = fmt::format("storage postgres: {} (in: {})", reason, first_line);
  // deadlock_detected and serialization_failure: another daemon's transaction won; run again.
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (state != nullptr &&
      (std::string_view(state) == "40P01" || std::string_view(state) == "40001")) {
    throw StoreConflictError(message);
  }
  throw std::runtime_error(message);
}

Result PgStore::run(std::string_view sql, const std::vector<Param>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param ? param->c_str() : nullptr);
  const std::string text(sql);
  PGresult* raw = PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  const auto status = PQresultStatus(raw);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    const Result guard(raw);
    fail(raw, sql);
  }
  return Result(raw);
}

void PgStore::exec(std::string_view sql) {
  const std::string text(sql);
  PGresult* result = PQexec(conn_, text.c_str());
  const auto status = PQresultStatus(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    try {
      fail(result, sql);
    } catch (...) {
      PQclear(result);
      throw;
    }
  }
  PQclear(result);
}

void PgStore::migrate() {
  exec("BEGIN");
  try {
    exec(fmt::format("SELECT pg_advisory_xact_lock({})", kSchemaLock));
    exec("CREATE TABLE IF NOT EXISTS purgeq_schema(version INTEGER NOT NULL)");
    const auto r = run("SELECT max(version) FROM purgeq_schema", {});
    const auto version = r.null(0, 0) ? 0 : r.integer(0, 0);
    if (version > kPgSchemaVersion) {
      throw std::runtime_error(fmt::format(
          "storage.dsn: the database has purgeq schema version {}, newer than this purgeqd ({}); "
          "refusing to touch it",
          version, kPgSchemaVersion));
    }
    if (version < 1) {
      exec(kSchemaV1);
      exec("INSERT INTO purgeq_schema(version) VALUES (1)");
    }
    if (version < 2) {
      exec(kSchemaV2);
      exec("INSERT INTO purgeq_schema(version) VALUES (2)");
    }
    exec("COMMIT");
  } catch (...) {
    if (PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
    throw;
  }
}

std::optional<std::int64_t> PgStore::zone_ref(std::string_view zone_id, bool create) {
  if (auto it = zone_refs_.find(zone_id); it != zone_refs_.end()) return it->second;
  if (const auto r = run("SELECT id FROM zones WHERE zone_id = $1", {p(zone_id)}); r.rows() > 0) {
    const auto ref = r.integer(0, 0);
    zone_refs_.emplace(std::string(zone_id), ref);
    return ref;
  }
  if (!create) return std::nullopt;
  // Not cached: the insert may still be rolled back with its transaction. ON CONFLICT: another
  // host may add the same zone at the same time.
  const auto r =
      run("INSERT INTO zones(zone_id) VALUES ($1) ON CONFLICT (zone_id) DO UPDATE "
          "SET zone_id = excluded.zone_id RETURNING id",
          {p(zone_id)});
  return r.integer(0, 0);
}

// A text[] literal: every element quoted (backslash before `"` and `\\`), NULL for nullopt.
std::string array_literal(const std::vector<Param>& elements) {
  std::string text = "{";
  for (const auto& element : elements) {
    if (text.size() > 1) text += ',';
    if (!element) {
      text += "NULL";
      continue;
    }
    text += '"';
    for (const char c : *element) {
      if (c == '"' || c == '\\') text += '\\';
      text += c;
    }
    text += '"';
  }
  return text + "}";
}

SubmitResult PgStore::add_intent(std::string_view intent_id, std::int64_t now_ms, const Peer& peer,
                                 std::string_view source, std::span<const ZonedItem> items,
                                 Lane lane) {
  queued_ = true;
  SubmitResult result;
  result.items = items.size();
  const auto lane_number = static_cast<std::int64_t>(lane);
  const std::int64_t intent_ref =
      run("INSERT INTO intents(id, created_ms, peer_uid, peer_gid, peer_pid, source, item_count, "
          "lane) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ref",
          {p(intent_id), p(now_ms), p(static_cast<std::int64_t>(peer.uid)),
           p(static_cast<std::int64_t>(peer.gid)), p(static_cast<std::int64_t>(peer.pid)),
           p(source), p(static_cast<std::int64_t>(items.size())), p(lane_number)})
          .integer(0, 0);
  if (items.empty()) return result;
  // Set-based, a few statements per intent whatever its size: a round trip per item made intake
  // a hundred times slower than on SQLite. Every lookup passes its keys as a constant array, so
  // that the planner can only use the twin index (a join on the keys was planned, on a young
  // table without statistics, as a pass over the zone's pending rows per item).
  struct Row {
    std::int64_t zone = 0;
    Group group = Group::file;
    std::int64_t kind = 0;
    std::string key;
    std::int64_t target = 0;
  };
  std::vector<Row> rows;
  rows.reserve(items.size());
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<Param>> keys_by_queue;
  std::string_view last_zone;
  std::int64_t zone = 0;
  for (const auto& [zone_id, item] : items) {
    if (zone_id != last_zone) {
      zone = *zone_ref(zone_id, true);
      last_zone = zone_id;
    }
    Row row{zone, group_of(item), static_cast<std::int64_t>(item.kind), item.key(), 0};
    keys_by_queue[{zone, row.kind}].push_back(row.key);
    rows.push_back(std::move(row));
  }
  // Pending twins, and those to raise to this lane.
  std::map<std::tuple<std::int64_t, std::int64_t, std::string>, std::int64_t> twins;
  std::vector<std::int64_t> raise;
  struct Twin {
    std::tuple<std::int64_t, std::int64_t, std::string> identity;
    std::int64_t id;
    bool raise;
  };
  std::vector<Twin> found;
  for (const auto& [queue, keys] : keys_by_queue) {
    const auto r =
        // One index probe per key (a LATERAL with LIMIT is not flattened): as `key = ANY(...)`,
        // on a table that grew since it was last analysed, the planner used only (zone, kind)
        // of the twin index and filtered the keys, a pass over the zone's pending rows (24-31
        // ms per intent at 100k pending, bench/run_backends.py).
        run("SELECT k.key, t.id, t.lane FROM unnest($3::text[]) AS k(key) CROSS JOIN LATERAL "
            "(SELECT id, lane FROM targets WHERE zone = $1 AND kind = $2 AND state = 0 AND "
            "key = k.key ORDER BY id LIMIT 1) AS t",
            {p(queue.first), p(queue.second), array_literal(keys)});
    std::map<std::string, std::size_t, std::less<>> oldest;  // key -> index in found
    for (int i = 0; i < r.rows(); ++i) {
      Twin twin{std::tuple{queue.first, queue.second, r.text(i, 0)}, r.integer(i, 1),
                r.integer(i, 2) > lane_number};
      const auto [it, fresh] = oldest.try_emplace(std::get<2>(twin.identity), found.size());
      if (fresh) {
        found.push_back(std::move(twin));
      } else if (twin.id < found[it->second].id) {
        found[it->second] = std::move(twin);
      }
    }
  }
  if (!found.empty()) {
    // Locked until this intent commits: another daemon's take must not take and settle a twin
    // before this intent's link to it exists (that settle would not count this intent's item
    // down, and its hooks would wait forever); its take skips locked rows and its twin riders
    // wait. Intake itself never waits for a row (SKIP LOCKED): two intakes holding one twin and
    // each raising it, or an intake and another daemon's cover, deadlocked. A twin skipped, or
    // taken since the read above, is no twin: the item gets a target of its own (taken along with
    // the twin as its rider).
    std::vector<std::int64_t> shared_ids, raised_ids;
    for (const auto& twin : found) (twin.raise ? raised_ids : shared_ids).push_back(twin.id);
    std::unordered_set<std::int64_t> still;
    for (const auto& [ids, lock] :
         {std::pair{&shared_ids, "SHARE"}, std::pair{&raised_ids, "NO KEY UPDATE"}}) {
      if (ids->empty()) continue;
      const auto locked =
          run(fmt::format("SELECT id FROM targets WHERE id = ANY($1::bigint[]) AND state = 0 "
                          "ORDER BY id FOR {} SKIP LOCKED",
                          lock),
              {id_array(*ids)});
      for (int i = 0; i < locked.rows(); ++i) still.insert(locked.integer(i, 0));
    }
    for (const auto& twin : found) {
      if (!still.contains(twin.id)) continue;
      twins.emplace(twin.identity, twin.id);
      if (twin.raise) raise.push_back(twin.id);
    }
  }
  if (!raise.empty()) {
    run("UPDATE targets SET lane = $1 WHERE id = ANY($2::bigint[]) AND lane > $1",
        {p(lane_number), id_array(raise)});
  }
  // New targets, in item order (the queue's order), one per key not pending yet.
  std::vector<Param> zones, groups, kinds, keys, values, headers;
  std::vector<std::size_t> fresh;  // rows that got a new target, in insert order
  std::map<std::tuple<std::int64_t, std::int64_t, std::string>, std::size_t> first_of;
  std::map<std::pair<std::int64_t, Group>, std::int64_t> inserted;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto& row = rows[i];
    const std::tuple identity{row.zone, row.kind, row.key};
    if (const auto it = twins.find(identity); it != twins.end()) {
      row.target = it->second;
      continue;
    }
    if (first_of.contains(identity)) continue;  // a second item of this intent with the key
    first_of.emplace(identity, i);
    fresh.push_back(i);
    const auto& item = items[i].item;
    zones.push_back(p(row.zone));
    groups.push_back(p(static_cast<std::int64_t>(row.group)));
    kinds.push_back(p(row.kind));
    keys.push_back(row.key);
    values.push_back(item.value == row.key ? Param() : p(item.value));
    const std::string encoded = encode_headers(item.headers);
    headers.push_back(encoded.empty() ? Param() : p(encoded));
    ++inserted[{row.zone, row.group}];
  }
  if (!fresh.empty()) {
    const auto r = run(
        "INSERT INTO targets(zone, grp, kind, key, value, headers, state, created_ms, updated_ms, "
        "lane) SELECT zone, grp, kind, key, value, headers, 0, $7, $7, $8 FROM "
        "unnest($1::bigint[], "
        "$2::int[], $3::int[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS "
        "i(zone, grp, kind, key, value, headers, ord) ORDER BY ord RETURNING id",
        {array_literal(zones), array_literal(groups), array_literal(kinds), array_literal(keys),
         array_literal(values), array_literal(headers), p(now_ms), p(lane_number)});
    // RETURNING gives no order: the ids were drawn in `ord` order, so sorted they match.
    std::vector<std::int64_t> ids;
    ids.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) ids.push_back(r.integer(i, 0));
    std::sort(ids.begin(), ids.end());
    for (std::size_t k = 0; k < fresh.size() && k < ids.size(); ++k) rows[fresh[k]].target = ids[k];
    for (auto& row : rows) {
      if (row.target == 0) row.target = rows[first_of.at({row.zone, row.kind, row.key})].target;
    }
    result.created = fresh.size();
    inserted_in_round_ += static_cast<std::int64_t>(fresh.size());
  }
  std::vector<std::int64_t> targets;
  targets.reserve(rows.size());
  for (const auto& row : rows) targets.push_back(row.target);
  run("INSERT INTO links(intent, target) SELECT $1, t FROM unnest($2::bigint[]) AS t "
      "ON CONFLICT DO NOTHING",
      {p(intent_ref), id_array(targets)});
  for (const auto& [queue, n] : inserted) {
    run("INSERT INTO queue_counts(zone, grp, lane, state, host, n) VALUES ($1, $2, $4, 0, $5, $3) "
        "ON CONFLICT (zone, grp, lane, state, host) DO UPDATE SET n = queue_counts.n + excluded.n",
        {p(queue.first), p(static_cast<std::int64_t>(queue.second)), p(n), p(lane_number),
         p(host_id_)});
  }
  return result;
}

TakeResult PgStore::take(const TakeRequest& request, std::int64_t cover_limit) {
  TakeResult result;
  // Only the account's sender takes (the account lock is on this session, so a lost connection
  // cannot leave two senders); before any claim, a lone user of the store (tests, tools) may.
  if (claimed_ && !request.account.empty() && !sending_.contains(request.account)) {
    throw NotSenderError(
        fmt::format("this purgeqd does not send for account {} now (another "
                    "host holds its lock, or the connection was lost)",
                    request.account));
  }
  const auto zone = zone_ref(request.zone_id, false);
  if (!zone) return result;
  if (request.group == Group::everything) lock_everything(*zone);
  const std::size_t cap = cap_of(request.group, request.caps);
  // As on SQLite: the first `cap` distinct keys, oldest first; twins in the head ride along and
  // do not count towards the cap.
  std::vector<QueuedTarget> head;
  std::vector<std::string> keys;  // of each head row
  std::vector<std::size_t> distinct_rows;
  {
    std::unordered_set<std::string> seen;
    std::int64_t after = 0;
    for (bool more = true; more && distinct_rows.size() < cap;) {
      const std::size_t want = cap - distinct_rows.size();
      const auto r =
          run("SELECT id, kind, key, coalesce(value, key), coalesce(headers, ''), created_ms "
              "FROM targets WHERE zone = $1 AND grp = $2 AND lane = $5 AND state = 0 AND id > $3 "
              "ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED",
              {p(*zone), p(static_cast<std::int64_t>(request.group)), p(after),
               p(static_cast<std::int64_t>(want)), p(static_cast<std::int64_t>(request.lane))});
      for (int i = 0; i < r.rows(); ++i) {
        QueuedTarget target;
        target.id = r.integer(i, 0);
        target.item.kind = static_cast<Kind>(r.integer(i, 1));
        std::string key = r.text(i, 2);
        target.item.value = r.text(i, 3);
        target.item.headers = decode_headers(r.text(i, 4));
        target.created_ms = r.integer(i, 5);
        after = target.id;
        if (seen.insert(key).second) distinct_rows.push_back(head.size());
        keys.push_back(std::move(key));
        head.push_back(std::move(target));
      }
      more = static_cast<std::size_t>(r.rows()) == want;
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
  const std::size_t last_row =
      cut.take < distinct_rows.size() ? distinct_rows[cut.take] - 1 : head.size() - 1;
  result.watermark = run("SELECT coalesce(max(id), 0) FROM targets", {}).integer(0, 0);
  // The rows read (and locked) above, by id: a row that another transaction held (SKIP LOCKED:
  // an intake raising its lane) is not in the head, so it must not ride along unseen.
  std::vector<std::int64_t> head_ids;
  head_ids.reserve(last_row + 1);
  for (std::size_t row = 0; row <= last_row; ++row) head_ids.push_back(head[row].id);
  run("UPDATE targets SET state = 1, flight = $1, updated_ms = $2, coverer = NULL, "
      "lease_host = $4 WHERE id = ANY($3::bigint[]) AND state = 0",
      {p(request.flight), p(request.now_ms), id_array(head_ids), p(host_id_)});
  result.members.reserve(cut.take);
  for (std::size_t k = 0; k < cut.take; ++k) {
    result.members.push_back(std::move(head[distinct_rows[k]]));
  }
  result.riders = static_cast<std::int64_t>(last_row + 1 - cut.take);
  // Pending twins elsewhere in the queue go with their member. The members' keys are passed as an
  // array, so that the planner can only look them up in the twin index: `key IN (SELECT ...)`
  // and a LATERAL join were both planned (without statistics on a young table) as a pass over
  // the zone's pending rows, which made each take O(backlog).
  std::vector<Param> member_keys;
  member_keys.reserve(cut.take);
  for (std::size_t k = 0; k < cut.take; ++k) member_keys.push_back(keys[distinct_rows[k]]);
  result.riders +=
      run("UPDATE targets SET state = 1, flight = $1, updated_ms = $2, coverer = NULL, "
          "lease_host = $6 WHERE zone = $3 AND kind = $4 AND state = 0 AND key = ANY($5::text[])",
          {p(request.flight), p(request.now_ms), p(*zone),
           p(static_cast<std::int64_t>(kind_of(request.group))), array_literal(member_keys),
           p(host_id_)})
          .changed();
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

std::int64_t PgStore::cover(std::int64_t zone, std::int64_t flight,
                            std::span<const QueuedTarget> members, std::int64_t watermark,
                            std::int64_t limit) {
  if (!members.empty() && members.front().item.kind == Kind::everything) {
    return run("UPDATE targets SET state = 1, flight = $1, coverer = $5, lease_host = $6 WHERE id "
               "IN (SELECT id FROM targets WHERE zone = $2 AND state = 0 AND id <= $3 LIMIT $4) "
               "AND state = 0",
               {p(flight), p(zone), p(watermark), p(limit), p(members.front().id), p(host_id_)})
        .changed();
  }
  std::int64_t covered = 0;
  for (const auto& member : members) {
    for (const auto& range : coverage_ranges(member.item)) {
      if (covered >= limit) return covered;
      const auto kind = static_cast<std::int64_t>(range.kind);
      if (range.exact) {
        covered += run("UPDATE targets SET state = 1, flight = $1, coverer = $6, lease_host = $8 "
                       "WHERE id IN (SELECT id FROM targets WHERE zone = $2 AND kind = $3 AND "
                       "key = $4 AND state = 0 AND id <= $5 LIMIT $7) AND state = 0",
                       {p(flight), p(zone), p(kind), p(range.low), p(watermark), p(member.id),
                        p(limit - covered), p(host_id_)})
                       .changed();
      } else {
        covered += run("UPDATE targets SET state = 1, flight = $1, coverer = $7, lease_host = $9 "
                       "WHERE id IN (SELECT id FROM targets WHERE zone = $2 AND kind = $3 AND "
                       "key >= $4 AND key < $5 AND state = 0 AND id <= $6 LIMIT $8) AND state = 0",
                       {p(flight), p(zone), p(kind), p(range.low), p(range.high), p(watermark),
                        p(member.id), p(limit - covered), p(host_id_)})
                       .changed();
      }
    }
  }
  return covered;
}

Settled PgStore::collect(const Result& result, std::int64_t limit) {
  Settled settled;
  for (int i = 0; i < result.rows(); ++i) {
    const auto kind = static_cast<std::size_t>(result.integer(i, 0));
    if (kind < settled.by_kind.size()) ++settled.by_kind[kind];
    settled.created_ms.push_back(result.integer(i, 1));
    ++settled.rows;
  }
  settled.more = static_cast<std::int64_t>(settled.rows) >= limit;
  return settled;
}

Settled PgStore::settle(const SettleRequest& request, std::int64_t limit) {
  progressed_ =
      progressed_ || request.outcome == Settlement::done || request.outcome == Settlement::failed;
  if (!request.member_ids.empty() &&
      (request.outcome == Settlement::retry || request.outcome == Settlement::failed)) {
    // One statement for the body's rows (a round trip per member cost more than the settle).
    run("UPDATE targets SET attempts = attempts + $1, error_message = $2 "
        "WHERE id = ANY($3::bigint[]) AND flight = $4 AND state = 1",
        {p(static_cast<std::int64_t>(request.count_attempt ? 1 : 0)), p(request.message),
         id_array(request.member_ids), p(request.flight)});
  }
  switch (request.outcome) {
    case Settlement::done:
      return collect(
          run("UPDATE targets SET state = 2, flight = NULL, lease_host = NULL, updated_ms = $2, "
              "error_code = NULL, error_message = NULL WHERE id IN (SELECT id FROM targets WHERE "
              "flight = $1 AND state = 1 LIMIT $3) AND flight = $1 AND state = 1 "
              "RETURNING kind, created_ms",
              {p(request.flight), p(request.now_ms), p(limit)}),
          limit);
    case Settlement::failed:
      return collect(
          run("UPDATE targets SET state = 3, flight = NULL, lease_host = NULL, updated_ms = $2, "
              "error_code = $4, error_message = $5 WHERE id IN (SELECT id FROM targets WHERE "
              "flight = $1 AND state = 1 LIMIT $3) AND flight = $1 AND state = 1 "
              "RETURNING kind, created_ms",
              {p(request.flight), p(request.now_ms), p(limit),
               p(static_cast<std::int64_t>(request.code)), p(request.message)}),
          limit);
    case Settlement::retry:
    case Settlement::released:
      break;
  }
  // Pending again: the account's sender, maybe on another daemon by now, should look.
  queued_ = true;
  return collect(run("UPDATE targets SET state = 0, flight = NULL, lease_host = NULL, "
                     "updated_ms = $2 WHERE id IN "
                     "(SELECT id FROM targets WHERE flight = $1 AND state = 1 LIMIT $3) "
                     "AND flight = $1 AND state = 1 RETURNING kind, created_ms",
                     {p(request.flight), p(request.now_ms), p(limit)}),
                 limit);
}

std::int64_t PgStore::prune_step(std::int64_t before_ms, std::int64_t limit) {
  // The oldest intents in index order, each checked by its own links, each link by a primary-key
  // lookup of its target. Written so that the planner has no other choice (OFFSET 0 keeps the
  // check a per-intent subplan, the scalar subquery a lookup per link): as joins it hashed every
  // link, or every pending target, per step.
  const auto intents = run(
      "SELECT i.ref FROM intents i WHERE i.created_ms < $1 AND NOT EXISTS (SELECT 1 FROM links l "
      "WHERE l.intent = i.ref AND (SELECT t.state FROM targets t WHERE t.id = l.target) IN (0, 1) "
      "OFFSET 0) ORDER BY i.created_ms LIMIT $2",
      {p(before_ms), p(limit)});
  // Escalations as old as the intents pruned, with their prefix targets once finished (no intent
  // links them, so nothing else would ever delete them).
  const auto escalations = prune_escalations(before_ms, limit);
  for (int i = 0; i < intents.rows(); ++i) {
    // Its links and the finished targets no other intent links (the statement sees the links as
    // they were before it, hence `!= $1`), then the intent.
    const auto ref = p(intents.integer(i, 0));
    run("WITH dropped AS (DELETE FROM links WHERE intent = $1 RETURNING target) "
        "DELETE FROM targets t WHERE t.id IN (SELECT target FROM dropped) AND t.state IN (2, 3) "
        "AND NOT EXISTS (SELECT 1 FROM links l WHERE l.target = t.id AND l.intent != $1)",
        {ref});
    run("DELETE FROM intents WHERE ref = $1", {ref});
  }
  return std::max<std::int64_t>(intents.rows(), escalations);
}

std::optional<IntentStatus> PgStore::intent_status(std::string_view intent_id) {
  IntentStatus status;
  const auto head =
      run("SELECT ref, created_ms, peer_uid, peer_gid, peer_pid, lane FROM intents WHERE id = $1",
          {p(intent_id)});
  if (head.rows() == 0) return std::nullopt;
  status.id = std::string(intent_id);
  const auto ref = head.integer(0, 0);
  status.created_ms = head.integer(0, 1);
  status.peer = Peer{static_cast<long>(head.integer(0, 2)), static_cast<long>(head.integer(0, 3)),
                     static_cast<long>(head.integer(0, 4))};
  if (const auto lane = head.integer(0, 5); lane >= 0 && lane < kLaneCount) {
    status.lane = static_cast<Lane>(lane);
  }
  std::set<std::string> waiting_zones;
  const auto r =
      run("SELECT t.state, t.kind, coalesce(t.value, t.key), t.error_code, t.error_message, "
          "z.zone_id FROM links l JOIN targets t ON t.id = l.target JOIN zones z ON z.id = t.zone "
          "WHERE l.intent = $1",
          {p(ref)});
  for (int i = 0; i < r.rows(); ++i) {
    ++status.total;
    switch (static_cast<TargetState>(r.integer(i, 0))) {
      case TargetState::pending:
        ++status.queued;
        waiting_zones.insert(r.text(i, 5));
        break;
      case TargetState::in_flight:
        ++status.in_flight;
        waiting_zones.insert(r.text(i, 5));
        break;
      case TargetState::done:
        ++status.done;
        break;
      case TargetState::failed:
        ++status.failed;
        status.errors.push_back(ItemError{static_cast<Kind>(r.integer(i, 1)), r.text(i, 2),
                                          static_cast<int>(r.integer(i, 3)), r.text(i, 4)});
        break;
    }
  }
  status.waiting_zones.assign(waiting_zones.begin(), waiting_zones.end());
  if (status.done > 0) status.covered_by = covered_by(ref);
  return status;
}

std::vector<CoveredBy> PgStore::covered_by(std::int64_t intent_ref) {
  const auto r =
      run("SELECT c.kind, coalesce(c.value, c.key), (SELECT e.id FROM escalations e "
          "WHERE e.target = c.id ORDER BY e.id DESC LIMIT 1), g.n FROM (SELECT t.coverer, "
          "count(*) AS n FROM links l JOIN targets t ON t.id = l.target WHERE l.intent = $1 "
          "AND t.state = 2 AND t.coverer IS NOT NULL GROUP BY t.coverer ORDER BY n DESC, t.coverer "
          "LIMIT $2) AS g JOIN targets c ON c.id = g.coverer ORDER BY g.n DESC, g.coverer",
          {p(intent_ref), p(static_cast<std::int64_t>(kCoveredByShown))});
  std::vector<CoveredBy> out;
  for (int i = 0; i < r.rows(); ++i) {
    CoveredBy entry;
    entry.kind = static_cast<Kind>(r.integer(i, 0));
    entry.value = entry.kind == Kind::everything ? std::string() : r.text(i, 1);
    entry.items = r.integer(i, 3);
    if (!r.null(i, 2)) entry.escalation = r.integer(i, 2);
    out.push_back(std::move(entry));
  }
  return out;
}

std::vector<FailedTarget> PgStore::failed_targets(std::size_t limit) {
  const auto r = run(
      "SELECT t.id, z.zone_id, t.kind, coalesce(t.value, t.key), t.error_code, t.error_message, "
      "t.updated_ms FROM targets t JOIN zones z ON z.id = t.zone WHERE t.state = 3 "
      "ORDER BY t.updated_ms DESC, t.id DESC LIMIT $1",
      {p(static_cast<std::int64_t>(limit))});
  std::vector<FailedTarget> failed;
  for (int i = 0; i < r.rows(); ++i) {
    failed.push_back(FailedTarget{r.integer(i, 0), r.text(i, 1), static_cast<Kind>(r.integer(i, 2)),
                                  r.text(i, 3), static_cast<int>(r.integer(i, 4)), r.text(i, 5),
                                  r.integer(i, 6)});
  }
  return failed;
}

QueueCounts PgStore::queue_counts() {
  const auto r =
      run("SELECT z.zone_id, c.grp, c.state, c.n, c.lane FROM (SELECT zone, grp, state, lane, "
          "sum(n)::bigint AS n FROM queue_counts GROUP BY zone, grp, state, lane) c "
          "JOIN zones z ON z.id = c.zone WHERE c.n != 0",
          {});
  QueueCounts counts;
  for (int i = 0; i < r.rows(); ++i) {
    const auto group = r.integer(i, 1);
    const auto state = r.integer(i, 2);
    const auto lane = r.integer(i, 4);
    if (group < 0 || group >= kGroupCount || state < 0 || state >= kStateCount || lane < 0 ||
        lane >= kLaneCount) {
      continue;
    }
    const auto n = r.integer(i, 3);
    auto [it, inserted] = counts.zones.try_emplace(r.text(i, 0));
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

std::map<Group, std::int64_t> PgStore::oldest_pending(std::string_view zone_id) {
  std::map<Group, std::int64_t> oldest;
  const auto zone = zone_ref(zone_id, false);
  if (!zone) return oldest;
  // One index lookup per queue (zone, group, lane), in one round trip.
  const auto r =
      run("SELECT g, (SELECT min(h.created_ms) FROM generate_series(0, $3) AS l, LATERAL "
          "(SELECT created_ms FROM targets WHERE zone = $1 AND grp = g AND lane = l AND state = 0 "
          "ORDER BY id LIMIT 1) AS h) FROM generate_series(0, $2) AS g",
          {p(*zone), p(static_cast<std::int64_t>(kGroupCount - 1)),
           p(static_cast<std::int64_t>(kLaneCount - 1))});
  for (int i = 0; i < r.rows(); ++i) {
    if (!r.null(i, 1)) oldest.emplace(static_cast<Group>(r.integer(i, 0)), r.integer(i, 1));
  }
  return oldest;
}

std::int64_t PgStore::prune_escalations(std::int64_t before_ms, std::int64_t limit) {
  const auto rows =
      run("SELECT e.id, e.target FROM escalations e LEFT JOIN targets t ON t.id = e.target "
          "WHERE e.created_ms < $1 AND (t.id IS NULL OR t.state IN (2, 3)) "
          "ORDER BY e.created_ms LIMIT $2",
          {p(before_ms), p(limit)});
  for (int i = 0; i < rows.rows(); ++i) {
    run("DELETE FROM escalations WHERE id = $1", {p(rows.integer(i, 0))});
    run("DELETE FROM targets WHERE id = $1 AND state IN (2, 3) AND NOT EXISTS "
        "(SELECT 1 FROM links WHERE target = $1)",
        {p(rows.integer(i, 1))});
  }
  return rows.rows();
}

std::int64_t PgStore::count_under(std::int64_t zone, const Item& prefix, bool finished,
                                  std::int64_t cap) {
  // Each reads at most `cap` entries of one key range of a partial index (targets_twin for
  // pending rows, targets_known for the others).
  const char* sql = finished
                        ? "SELECT count(*) FROM (SELECT 1 FROM targets WHERE zone = $1 AND kind = "
                          "$2 AND key >= $3 AND key < $4 AND state != 0 LIMIT $5) AS known"
                        : "SELECT count(*) FROM (SELECT 1 FROM targets WHERE zone = $1 AND kind = "
                          "$2 AND key >= $3 AND key < $4 AND state = 0 LIMIT $5) AS pending";
  std::int64_t count = 0;
  for (const auto& range : coverage_ranges(prefix)) {
    if (range.kind != Kind::file || range.exact || count >= cap) continue;
    count += run(sql, {p(zone), p(static_cast<std::int64_t>(Kind::file)), p(range.low),
                       p(range.high), p(cap - count)})
                 .integer(0, 0);
  }
  return count;
}

std::vector<Escalation> PgStore::escalate(const EscalationRequest& request) {
  std::vector<Escalation> out;
  const auto zone = zone_ref(request.zone_id, false);
  if (!zone || !request.rule.enabled()) return out;
  // The head of the acting queue (zone, group, lane) only, as on SQLite: the prefix goes in the
  // lane of the URLs it replaces.
  std::vector<Item> head;
  {
    const auto r =
        run("SELECT coalesce(value, key) FROM targets WHERE zone = $1 AND grp = $2 AND lane = $4 "
            "AND state = 0 ORDER BY id LIMIT $3",
            {p(*zone), p(static_cast<std::int64_t>(request.group)),
             p(static_cast<std::int64_t>(kEscalationHeadRows)),
             p(static_cast<std::int64_t>(request.lane))});
    for (int i = 0; i < r.rows(); ++i) head.push_back(Item{Kind::file, r.text(i, 0), {}});
  }
  const auto prefix_lane = static_cast<std::int64_t>(request.lane);
  std::vector<const Item*> items;
  items.reserve(head.size());
  for (const auto& item : head) items.push_back(&item);
  for (auto& candidate : escalation_candidates(items, request.rule, kEscalationCandidates)) {
    const Item prefix{Kind::prefix, std::move(candidate), {}};
    if (std::any_of(out.begin(), out.end(), [&](const Escalation& done) {
          return covers(Item{Kind::prefix, done.prefix, {}}, prefix);
        })) {
      continue;
    }
    if (const auto last =
            run("SELECT t.state FROM escalations e LEFT JOIN targets t ON t.id = e.target "
                "WHERE e.zone = $1 AND e.prefix = $2 ORDER BY e.id DESC LIMIT 1",
                {p(*zone), p(prefix.value)});
        last.rows() > 0 && !last.null(0, 0) &&
        last.integer(0, 0) != static_cast<int>(TargetState::done)) {
      continue;  // still on its way, or refused: escalating again would not help
    }
    const auto pending = count_under(*zone, prefix, false, kEscalationPendingCap);
    if (pending < request.rule.min_urls) continue;
    const auto finished =
        request.rule.min_share > 0
            ? count_under(*zone, prefix, true, finished_count_cap(pending, request.rule.min_share))
            : 0;
    if (!worth_escalating(pending, finished, request.rule)) continue;
    const std::string key = prefix.key();
    std::int64_t target = 0;
    if (const auto twin = run("SELECT id FROM targets WHERE zone = $1 AND kind = $2 AND key = $3 "
                              "AND state = 0 LIMIT 1",
                              {p(*zone), p(static_cast<std::int64_t>(Kind::prefix)), p(key)});
        twin.rows() > 0) {
      target = twin.integer(0, 0);
    } else {
      target = run("INSERT INTO targets(zone, grp, kind, key, value, headers, state, created_ms, "
                   "updated_ms, lane) VALUES ($1, $2, $3, $4, NULL, NULL, 0, $5, $5, $6) "
                   "RETURNING id",
                   {p(*zone), p(static_cast<std::int64_t>(Group::prefix)),
                    p(static_cast<std::int64_t>(Kind::prefix)), p(key), p(request.now_ms),
                    p(prefix_lane)})
                   .integer(0, 0);
      // Inserts are counted by their writer, not by a trigger.
      run("INSERT INTO queue_counts(zone, grp, lane, state, host, n) VALUES ($1, $2, $3, 0, $4, 1) "
          "ON CONFLICT (zone, grp, lane, state, host) DO UPDATE SET n = queue_counts.n + 1",
          {p(*zone), p(static_cast<std::int64_t>(Group::prefix)), p(prefix_lane), p(host_id_)});
    }
    const auto id = run("INSERT INTO escalations(zone, prefix, target, urls, known, created_ms) "
                        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                        {p(*zone), p(prefix.value), p(target), p(pending), p(pending + finished),
                         p(request.now_ms)})
                        .integer(0, 0);
    out.push_back(Escalation{id, prefix.value, pending, pending + finished});
  }
  return out;
}

void PgStore::attach_hooks(std::string_view intent_id, std::span<const std::string> zone_ids,
                           std::span<const std::string> hooks, std::int64_t now_ms) {
  if (hooks.empty()) return;
  const auto found = run("SELECT ref FROM intents WHERE id = $1", {p(intent_id)});
  if (found.rows() == 0) {
    throw std::runtime_error(fmt::format("attach_hooks: no intent {}", intent_id));
  }
  const auto ref = found.integer(0, 0);
  // Once per intent and O(its items), like add_intent: afterwards the triggers keep the counts.
  const auto counted =
      run("SELECT count(*), count(*) FILTER (WHERE t.state IN (0, 1)), "
          "count(*) FILTER (WHERE t.state = 3) FROM links l JOIN targets t ON t.id = l.target "
          "WHERE l.intent = $1",
          {p(ref)});
  const auto remaining = counted.integer(0, 1);
  const std::string zones = join_zones(zone_ids);
  run("INSERT INTO hook_waits(intent, zones, total, remaining, failed) "
      "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (intent) DO NOTHING",
      {p(ref), p(zones), p(counted.integer(0, 0)), p(remaining), p(counted.integer(0, 2))});
  for (const auto& hook : hooks) {
    run("INSERT INTO hook_runs(intent, hook, state, updated_ms) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (intent, hook) DO NOTHING",
        {p(ref), p(hook),
         p(static_cast<std::int64_t>(remaining == 0 ? HookState::due : HookState::waiting)),
         p(now_ms)});
  }
}

HookClaim PgStore::claim_hook_runs(std::string_view hook, std::int64_t now_ms, std::int64_t limit) {
  HookClaim claim;
  if (limit > 0) {
    const auto r =
        // SKIP LOCKED and the state check again: daemons sharing the database claim the same
        // hook's runs at the same time, and each run must go to one of them.
        run("UPDATE hook_runs SET state = 2, attempts = attempts + 1, updated_ms = $3, "
            "lease_host = $5 "
            "WHERE state = 1 AND (intent, hook) IN (SELECT intent, hook FROM hook_runs WHERE "
            "state = 1 AND hook = $1 AND next_ms <= $2 ORDER BY next_ms LIMIT $4 "
            "FOR UPDATE SKIP LOCKED) "
            "RETURNING intent, attempts, next_ms, coalesce(last_error, '')",
            {p(hook), p(now_ms), p(now_ms), p(limit), p(host_id_)});
    for (int i = 0; i < r.rows(); ++i) {
      HookRun run_row;
      run_row.intent_ref = r.integer(i, 0);
      run_row.hook = std::string(hook);
      run_row.state = HookState::running;
      run_row.attempts = static_cast<int>(r.integer(i, 1));
      run_row.next_attempt_ms = r.integer(i, 2);
      run_row.last_error = r.text(i, 3);
      run_row.updated_ms = now_ms;
      claim.runs.push_back(std::move(run_row));
    }
  }
  for (auto& claimed : claim.runs) {
    const auto about =
        run("SELECT i.id, w.zones, w.total, w.failed, i.lane FROM hook_waits w JOIN intents i "
            "ON i.ref = w.intent WHERE w.intent = $1",
            {p(claimed.intent_ref)});
    if (about.rows() == 0) continue;
    claimed.intent_id = about.text(0, 0);
    claimed.zone_ids = split_zones(about.text(0, 1));
    claimed.total = about.integer(0, 2);
    claimed.failed = about.integer(0, 3);
    if (const auto lane = about.integer(0, 4); lane >= 0 && lane < kLaneCount) {
      claimed.lane = static_cast<Lane>(lane);
    }
  }
  const auto next =
      run("SELECT min(next_ms) FROM hook_runs WHERE state = 1 AND hook = $1", {p(hook)});
  if (!next.null(0, 0)) claim.next_due_ms = next.integer(0, 0);
  return claim;
}

std::vector<HookRun> PgStore::intent_hook_runs(std::string_view intent_id) {
  const auto r =
      run("SELECT w.intent, r.hook, r.state, r.attempts, r.next_ms, coalesce(r.last_error, ''), "
          "r.updated_ms, w.zones, w.total, w.failed FROM intents i JOIN hook_waits w ON "
          "w.intent = i.ref JOIN hook_runs r ON r.intent = w.intent WHERE i.id = $1 "
          "ORDER BY r.hook LIMIT 256",
          {p(intent_id)});
  std::vector<HookRun> runs;
  for (int i = 0; i < r.rows(); ++i) {
    HookRun one;
    one.intent_ref = r.integer(i, 0);
    one.intent_id = std::string(intent_id);
    one.hook = r.text(i, 1);
    one.state = static_cast<HookState>(r.integer(i, 2));
    one.attempts = static_cast<int>(r.integer(i, 3));
    one.next_attempt_ms = r.integer(i, 4);
    one.last_error = r.text(i, 5);
    one.updated_ms = r.integer(i, 6);
    one.zone_ids = split_zones(r.text(i, 7));
    one.total = r.integer(i, 8);
    one.failed = r.integer(i, 9);
    runs.push_back(std::move(one));
  }
  return runs;
}

}  // namespace

std::unique_ptr<Store> open_pg_store(const PgConnection& connection, bool read_only) {
  return std::make_unique<PgStore>(connection, read_only);
}

std::optional<int> pg_schema_version(const PgConnection& connection) {
  PGconn* conn = pg_connect(connection, true);
  std::optional<int> version;
  std::string reason;
  auto query = [&](const char* sql) -> std::optional<std::string> {
    PGresult* result = PQexec(conn, sql);
    std::optional<std::string> value;
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
      reason = PQresultErrorMessage(result);
    } else if (PQntuples(result) > 0 && PQgetisnull(result, 0, 0) == 0) {
      value = PQgetvalue(result, 0, 0);
    }
    PQclear(result);
    return value;
  };
  if (query("SELECT to_regclass('purgeq_schema') IS NOT NULL") == "t") {
    if (const auto text = query("SELECT max(version) FROM purgeq_schema")) {
      version = std::stoi(*text);
    }
  }
  PQfinish(conn);
  if (!reason.empty()) {
    while (!reason.empty() && reason.back() == '\n') reason.pop_back();
    throw std::runtime_error(
        fmt::format("storage.dsn: cannot read the schema version: {}", reason));
  }
  return version;
}

}  // namespace purgeq
