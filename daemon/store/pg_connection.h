// Opening a libpq session the way every part of the PostgreSQL backend does (store, queue
// watcher): the same timeouts, password and errors. libpq's type is only forward-declared, so that
// no header outside store/*.cpp pulls libpq in.
#pragma once

#include "store/pg_store.h"

struct pg_conn;

namespace purgeq {

// Connects; throws std::runtime_error naming storage.dsn. `read_only` sessions refuse writes
// server-side too. The caller owns the session (PQfinish).
pg_conn* pg_connect(const PgConnection& connection, bool read_only);

}  // namespace purgeq
