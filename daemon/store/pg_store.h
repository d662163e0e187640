// The PostgreSQL store backend (docs/scale-out.md): the same contract as the SQLite one, on a
// server that several hosts can share. Single-threaded like the SQLite backend: a StoreWorker owns
// each connection (one writer, one reader).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/store.h"

namespace purgeq {

// The version in `purgeq_schema`; a database with a newer one is refused.
inline constexpr int kPgSchemaVersion = 3;

// The channel a writer NOTIFYs when its commit queued something, so that the senders of the other
// daemons look at the shared queue now rather than at their next claim round. The payload is the
// writer's host id, so that a daemon ignores its own.
inline constexpr std::string_view kPgQueueChannel = "purgeq_queue";
// ... and the one it NOTIFYs when its commit purged or failed items (same payload), so that the
// other daemons' intent waiters look again.
inline constexpr std::string_view kPgProgressChannel = "purgeq_progress";

struct PgConnection {
  std::string dsn;       // a libpq connection string or URI, without a password
  std::string password;  // from storage.password_file or a credential; empty: libpq's own sources
};

// Connects and creates or migrates the schema (under an advisory lock, so that daemons starting
// together do not race). A read-only connection never writes and never migrates. Throws
// std::runtime_error naming storage.dsn.
std::unique_ptr<Store> open_pg_store(const PgConnection& connection, bool read_only = false);

// For --check-config: connects and reads the schema version without changing anything. Returns
// the version, nullopt when the schema is not created yet; throws std::runtime_error when the
// server cannot be reached.
std::optional<int> pg_schema_version(const PgConnection& connection);

}  // namespace purgeq
