// The embedded store backend: SQLite in WAL mode with synchronous=FULL. Single-threaded by design;
// a StoreWorker owns each connection and its thread (one writer, one reader).
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace purgeq {

inline constexpr int kSqliteSchemaVersion = 4;

// Space kept beside the database (`<path>.reserve`) and given up when the disk fills, so that
// outcomes, checkpoints and the journal's truncation can still be written: a tenth of the
// volume, between 64 KiB and 4 MiB. The log is checkpointed before it outgrows the reserve
// (every 1,000 pages, SQLite's default, on volumes of 40 MiB and more), so a checkpoint always
// fits in the space the reserve frees.
inline constexpr std::int64_t kMaxReserveBytes = 4 * 1024 * 1024;
inline constexpr std::int64_t kMinReserveBytes = 64 * 1024;
// The write-ahead log is truncated to this size once checkpointed (it may grow past it while a
// reader holds old pages, and shrinks back after the reader leaves).
inline constexpr std::int64_t kJournalSizeLimit = 4 * 1024 * 1024;

// Opens (creating and migrating the schema if needed) the database at `path`. A read-only
// connection never writes, so status and intent queries run beside the writer (WAL). Throws
// std::runtime_error naming the path.
std::unique_ptr<Store> open_sqlite_store(const std::string& path, bool read_only = false);

}  // namespace purgeq
