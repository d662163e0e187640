// The PostgreSQL backend: one session, its schema and migrations (store/sql/postgres/*.sql), the
// statements of queries.sql run as the queue's algorithms ask (queue_store.cpp), and what only a
// database that several daemons share has (docs/scale-out.md): host ids and leases, the election
// of one sender per account, reclaiming the rows of departed daemons, count shards, NOTIFY at
// commit, and the purge-everything lock across daemons.
// - Transactions are the caller's (StoreWorker: group commit). COMMIT returns after the server's
//   own durability rule (synchronous_commit), which this backend never lowers, so an intent is
//   acknowledged only once the server has made it durable.
// - A lost connection throws (the intake answers 503, never a false ack) and is re-established by
//   the next begin(); the transaction it was in is lost with it, which is what the caller expects
//   of a failed commit.
#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <stdexcept>
#include <thread>

#include "store/backend.h"
#include "store/pg_connection.h"
#include "store/pg_store.h"
#include "store/queue_store.h"

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
// Transaction locks, second key a zone's id: see PgBackend::lock_everything.
constexpr std::int64_t kEverythingSpace = 0x70710003;
// Rows added between two ANALYZEs of a growing queue at least (PgBackend::commit).
constexpr std::int64_t kAnalyzeEvery = 10'000;

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

// The types the statements' parameters are declared with (pg_type.h's stable OIDs): declared, a
// parameter a backend's text does not need may be left out of it, as on SQLite.
constexpr Oid kInt8 = 20;
constexpr Oid kText = 25;
constexpr Oid kInt8Array = 1016;
constexpr Oid kTextArray = 1009;

// An array literal: `{1,2}`, or every element quoted (backslash before `"` and `\`), NULL for
// nullopt.
std::string array_literal(const IdList& ids) {
  std::string text = "{";
  for (const auto id : ids) {
    if (text.size() > 1) text += ',';
    text += std::to_string(id);
  }
  return text + "}";
}
std::string array_literal(const TextList& elements) {
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

// A finished result, read row by row.
class Result final : public RowCursor {
 public:
  explicit Result(PGresult* result) : result_(result) {}
  ~Result() override { PQclear(result_); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  bool next() override { return ++row_ < PQntuples(result_); }
  [[nodiscard]] bool null(int column) const override {
    return PQgetisnull(result_, row_, column) != 0;
  }
  [[nodiscard]] std::int64_t integer(int column) const override {
    return null(column) ? 0 : std::stoll(PQgetvalue(result_, row_, column));
  }
  [[nodiscard]] std::string text(int column) const override {
    return {PQgetvalue(result_, row_, column),
            static_cast<std::size_t>(PQgetlength(result_, row_, column))};
  }
  [[nodiscard]] std::int64_t changed() const override {
    const char* text = PQcmdTuples(result_);
    return text == nullptr || *text == '\0' ? 0 : std::stoll(text);
  }
  // The first row's first column, for the backend's own statements.
  [[nodiscard]] std::string first() const {
    return PQntuples(result_) > 0 ? PQgetvalue(result_, 0, 0) : std::string();
  }
  [[nodiscard]] int rows() const { return PQntuples(result_); }
  [[nodiscard]] std::int64_t at(int row, int column) const {
    return PQgetisnull(result_, row, column) != 0 ? 0
                                                  : std::stoll(PQgetvalue(result_, row, column));
  }
  [[nodiscard]] std::string text_at(int row, int column) const {
    return PQgetvalue(result_, row, column);
  }

 private:
  PGresult* result_;
  int row_ = -1;
};

class PgBackend final : public StoreBackend {
 public:
  PgBackend(PgConnection connection, bool read_only);
  ~PgBackend() override {
    // A daemon that stops lets go of its accounts and leases now, not when its server process
    // notices the closed socket: another daemon's next claim round takes over at once.
    if (!read_only_ && PQstatus(conn_) == CONNECTION_OK) {
      PQclear(PQexec(conn_, "SELECT pg_advisory_unlock_all()"));
    }
    PQfinish(conn_);
  }
  PgBackend(const PgBackend&) = delete;
  PgBackend& operator=(const PgBackend&) = delete;

  Rows query(Stmt statement, Params params) override;

  void begin() override {
    ensure_connected();
    // The reader sees one snapshot per round, as a SQLite read transaction does: an intent's
    // status is read by several statements and must not mix two commits.
    exec(read_only_ ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN");
  }
  void commit() override;
  void rollback() override {
    queued_ = false;
    progressed_ = false;
    inserted_in_round_ = 0;
    if (PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      exec("ROLLBACK");
    }
  }
  void savepoint() override { exec("SAVEPOINT job"); }
  void release_savepoint() override { exec("RELEASE SAVEPOINT job"); }
  void rollback_to_savepoint() override {
    exec("ROLLBACK TO SAVEPOINT job");
    exec("RELEASE SAVEPOINT job");
  }

  void note(QueueChange change) override {
    (change == QueueChange::queued ? queued_ : progressed_) = true;
  }
  void note_inserted(std::int64_t targets) override { inserted_in_round_ += targets; }

  void check_sender(std::string_view account) override {
    // Only the account's sender takes (the account lock is on this session, so a lost connection
    // cannot leave two senders); before any claim, a lone user of the store (tests, tools) may.
    if (claimed_ && !sending_.contains(account)) {
      throw NotSenderError(
          fmt::format("this purgeqd does not send for account {} now (another "
                      "host holds its lock, or the connection was lost)",
                      account));
    }
  }
  void lock_everything(std::int64_t zone) override {
    if (!read_only_) {
      run("SELECT pg_advisory_xact_lock($1::int, $2::int)", {p(kEverythingSpace), p(zone)});
    }
  }

  // Only the rows of daemons that are gone: the others' batches are still theirs to settle.
  std::int64_t recover_step(std::int64_t limit) override { return reclaim(limit, live_hosts()); }
  // Only the runs of daemons that are gone: another daemon may be running the rest right now.
  std::int64_t recover_hook_runs_step(std::int64_t limit) override {
    return recover_hook_runs(limit, live_hosts());
  }

  // pg_database_size() stats every file of the database: asked after each commit round (the
  // intake's snapshot), so it is re-read at most every few seconds.
  std::int64_t size_bytes() override {
    const auto now = std::chrono::steady_clock::now();
    if (!size_read_ || now - *size_read_ > std::chrono::seconds(5)) {
      size_ = std::stoll(run("SELECT pg_database_size(current_database())", {}).first());
      size_read_ = now;
    }
    return size_;
  }
  // The server manages its own disk: a full one makes writes fail, which throws like any storage
  // error (503, nothing acknowledged), and there is no local reserve to hand back. It keeps its
  // index of finished URLs: its cost per taken row was not measured apart, and the schema is
  // created once for every host of the database.

  [[nodiscard]] bool shared() const override { return true; }
  [[nodiscard]] std::int64_t host_id() const override { return host_id_; }
  SenderClaims claim_senders(const SenderRequest& request, std::int64_t reclaim_limit) override;

 private:
  using Param = std::optional<std::string>;  // a parameter of the backend's own statements
  static Param p(std::int64_t value) { return std::to_string(value); }
  static Param p(std::string_view text) { return std::string(text); }
  static Param p(const IdList& ids) { return array_literal(ids); }

  void ensure_connected();
  // A writer joins the daemons of the database: a new host id, whose lock it holds from now on.
  void join_hosts();
  // Takes this daemon's host lock again on a new session (after a reconnect).
  void lock_host();
  // Refuses to share the database with a purgeqd of schema 1 (kSchema1WriterLock).
  void exclude_schema1();
  // The second keys of the advisory locks in `space` that sessions of this database hold.
  IdList held_keys(std::int64_t space);
  // The host ids whose lock is held: the daemons still connected.
  IdList live_hosts() { return held_keys(kHostSpace); }
  // In-flight rows whose daemon is gone (not in `live`, the live_hosts() of this round) or unknown
  // (taken before schema 2) are pending again; at most `limit`. Returns how many.
  std::int64_t reclaim(std::int64_t limit, const IdList& live);
  std::int64_t recover_hook_runs(std::int64_t limit, const IdList& live) {
    return run("UPDATE hook_runs SET state = 1, lease_host = NULL WHERE (intent, hook) IN (SELECT "
               "intent, hook FROM hook_runs WHERE state = 2 AND (lease_host IS NULL OR NOT "
               "lease_host = ANY($2::bigint[])) LIMIT $1) AND state = 2",
               {p(limit), p(live)})
        .changed();
  }
  // Joins the session to the daemons of the database: refuses schema 1 daemons, takes the host
  // lock and names the host for the count triggers. On a new session (start, reconnect).
  void prepare_session();
  // Moves the queue-count shards of departed daemons into this one's (bounded: a few rows per
  // queue and departed daemon).
  void fold_counts(const IdList& live);
  [[noreturn]] void fail(const PGresult* result, std::string_view sql);
  // The backend's own statements (untyped parameters, inferred by the server).
  Result run(std::string_view sql, std::initializer_list<Param> params);
  PGresult* checked(PGresult* raw, std::string_view sql);
  void exec(std::string_view sql);
  void migrate();

  PgConnection connection_;
  bool read_only_;
  StatementTexts texts_;
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
  std::int64_t size_ = 0;
  std::optional<std::chrono::steady_clock::time_point> size_read_;
};

std::string_view queries_file() {
  const auto text = embedded_sql("postgres/queries.sql");
  if (text.empty()) throw std::logic_error("no embedded postgres/queries.sql");
  return text;
}

PgBackend::PgBackend(PgConnection connection, bool read_only)
    : connection_(std::move(connection)),
      read_only_(read_only),
      texts_("postgres", queries_file()) {
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

void PgBackend::commit() {
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
  if (read_only_ || inserted_since_analyze_ < std::max(kAnalyzeEvery, analyzed_rows_)) return;
  inserted_since_analyze_ = 0;
  try {
    // Never behind another daemon's ANALYZE or a long (anti-wraparound) vacuum: the writer would
    // stall intake meanwhile. Skipped then; the next threshold tries again.
    exec("SET lock_timeout = '100ms'");
    exec("ANALYZE targets, links");
    exec("RESET lock_timeout");
    analyzed_rows_ = std::stoll(
        run("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'targets'::regclass",
            {})
            .first());
  } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch)
    // The round is committed and must be reported so; the statistics wait for the next
    // threshold (and a lost connection shows on the next round).
    if (PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "RESET lock_timeout"));
  }
}

Rows PgBackend::query(Stmt statement, Params params) {
  const auto& values = params.values();
  std::vector<std::string> texts(values.size());
  std::vector<const char*> pointers(values.size(), nullptr);
  std::vector<Oid> types(values.size(), kText);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto& value = values[i];
    if (const auto* integer = std::get_if<std::int64_t>(&value)) {
      texts[i] = std::to_string(*integer);
      types[i] = kInt8;
    } else if (const auto* text = std::get_if<std::string>(&value)) {
      texts[i] = *text;
    } else if (const auto* ids = std::get_if<IdList>(&value)) {
      texts[i] = array_literal(*ids);
      types[i] = kInt8Array;
    } else if (const auto* list = std::get_if<TextList>(&value)) {
      texts[i] = array_literal(*list);
      types[i] = kTextArray;
    } else {
      continue;  // NULL
    }
    pointers[i] = texts[i].c_str();
  }
  const auto& sql = texts_.of(statement);
  PGresult* raw = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), types.data(),
                               pointers.data(), nullptr, nullptr, 0);
  return Rows(std::make_unique<Result>(checked(raw, sql)));
}

PGresult* PgBackend::checked(PGresult* raw, std::string_view sql) {
  const auto status = PQresultStatus(raw);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    const Result guard(raw);
    fail(raw, sql);
  }
  return raw;
}

Result PgBackend::run(std::string_view sql, std::initializer_list<Param> params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param ? param->c_str() : nullptr);
  const std::string text(sql);
  return Result(checked(PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                                     values.data(), nullptr, nullptr, 0),
                        sql));
}

void PgBackend::exec(std::string_view sql) {
  const std::string text(sql);
  PQclear(checked(PQexec(conn_, text.c_str()), sql));
}

void PgBackend::fail(const PGresult* result, std::string_view sql) {
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

void PgBackend::ensure_connected() {
  if (PQstatus(conn_) == CONNECTION_OK && (read_only_ || session_ready_)) return;
  // The server went away (restart, failover, network), or the last session could not be
  // prepared: a fresh connection for this round. If it is not back yet this throws, and the
  // round fails like any storage error.
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

void PgBackend::prepare_session() {
  exclude_schema1();
  lock_host();
  run("SELECT set_config('purgeq.host', $1, false)", {p(host_id_)});
  session_ready_ = true;
}

void PgBackend::join_hosts() {
  host_id_ = std::stoll(run("SELECT nextval('purgeq_hosts')", {}).first());
  prepare_session();
}

void PgBackend::exclude_schema1() {
  // A purgeqd of schema 1 held kSchema1WriterLock alone on its writer's session and sends without
  // claiming accounts. Held shared here (daemons of this version share it), it keeps the two
  // apart both ways, before anything is migrated (docs/scale-out.md, "Upgrading").
  if (run("SELECT pg_try_advisory_lock_shared($1)", {p(kSchema1WriterLock)}).first() != "t") {
    throw std::runtime_error(
        "storage.dsn: an older purgeqd (PostgreSQL schema 1) is using this database; stop it "
        "before starting this version, which shares the database with daemons of its own "
        "version only");
  }
}

void PgBackend::lock_host() {
  // The id is this daemon's alone (a sequence), so the lock is free unless the server still
  // holds an earlier session of this same daemon: one it has not seen close yet, or one cut off
  // by a partition that the server's keepalive has not dropped. That session is ours and must
  // not keep our accounts either, so it is ended (a role may end its own sessions).
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (run("SELECT pg_try_advisory_lock($1::int, $2::int)", {p(kHostSpace), p(host_id_)})
            .first() == "t") {
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

IdList PgBackend::held_keys(std::int64_t space) {
  const auto r =
      run("SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
          "objsubid = 2 AND classid = $1::oid AND database = "
          "(SELECT oid FROM pg_database WHERE datname = current_database())",
          {p(space)});
  IdList keys;
  for (int i = 0; i < r.rows(); ++i) keys.push_back(r.at(i, 0));
  return keys;
}

std::int64_t PgBackend::reclaim(std::int64_t limit, const IdList& live) {
  // The distinct hosts with rows in flight, one index probe each (targets_lease), rather than a
  // pass over every row in flight (a purge-everything puts a whole backlog there).
  IdList gone;
  std::int64_t after = -1;
  for (int probe = 0; probe < 1000; ++probe) {
    const auto r = run(
        "SELECT lease_host FROM targets WHERE state = 1 AND lease_host > $1 ORDER BY lease_host "
        "LIMIT 1",
        {p(after)});
    if (r.rows() == 0) break;
    after = r.at(0, 0);
    if (after != host_id_ && std::find(live.begin(), live.end(), after) == live.end()) {
      gone.push_back(after);
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
                 {p(gone), p(limit - moved)})
                 .changed();
  }
  queued_ = queued_ || moved > 0;
  return moved;
}

void PgBackend::fold_counts(const IdList& live) {
  run("WITH gone AS (DELETE FROM queue_counts WHERE host != 0 AND NOT host = ANY($1::bigint[]) "
      "RETURNING zone, grp, lane, state, n) "
      "INSERT INTO queue_counts(zone, grp, lane, state, host, n) SELECT zone, grp, lane, state, "
      "$2, sum(n) FROM gone GROUP BY zone, grp, lane, state "
      "ON CONFLICT (zone, grp, lane, state, host) DO UPDATE SET n = queue_counts.n + excluded.n",
      {p(live), p(host_id_)});
}

SenderClaims PgBackend::claim_senders(const SenderRequest& request, std::int64_t reclaim_limit) {
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
                                               .first() == "t") {
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
    const auto account = r.text_at(i, 0);
    const bool live_sender = held_accounts.contains(account_key(account));
    claims.senders.push_back(
        AccountSender{account, r.at(i, 1), r.text_at(i, 2), r.at(i, 3), live_sender});
  }
  return claims;
}

void PgBackend::migrate() {
  exec("BEGIN");
  try {
    exec(fmt::format("SELECT pg_advisory_xact_lock({})", kSchemaLock));
    exec("CREATE TABLE IF NOT EXISTS purgeq_schema(version INTEGER NOT NULL)");
    const auto r = run("SELECT max(version) FROM purgeq_schema", {});
    const auto version = r.at(0, 0);
    if (version > kPgSchemaVersion) {
      throw std::runtime_error(fmt::format(
          "storage.dsn: the database has purgeq schema version {}, newer than this purgeqd ({}); "
          "refusing to touch it",
          version, kPgSchemaVersion));
    }
    for (int step = static_cast<int>(version) + 1; step <= kPgSchemaVersion; ++step) {
      const auto script = embedded_sql(fmt::format("postgres/schema_v{}.sql", step));
      if (script.empty()) throw std::logic_error(fmt::format("no postgres/schema_v{}.sql", step));
      exec(script);
      exec(fmt::format("INSERT INTO purgeq_schema(version) VALUES ({})", step));
    }
    // Not a schema version (another daemon's next versions are the queue's): idempotent, every
    // open, under the schema lock so that daemons starting together do not race on it.
    const auto zone_records = embedded_sql("postgres/zone_records.sql");
    if (zone_records.empty()) throw std::logic_error("no postgres/zone_records.sql");
    exec(zone_records);
    exec("COMMIT");
  } catch (...) {
    if (PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
    throw;
  }
}

}  // namespace

std::unique_ptr<Store> open_pg_store(const PgConnection& connection, bool read_only) {
  return make_queue_store(std::make_unique<PgBackend>(connection, read_only));
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
