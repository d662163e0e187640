// Opens the store backend the configuration names. store/ may not see config/, so the composition
// root fills this plain description from Config::Storage.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "store/queue_watch.h"
#include "store/store.h"

namespace purgeq {

struct StoreLocation {
  enum class Backend { sqlite, postgres } backend = Backend::sqlite;
  std::string path;      // sqlite: the database file
  std::string dsn;       // postgres: the connection string, without a password
  std::string password;  // postgres: read from storage.password_file or the credential
};

// The writer (creates and migrates the schema) or a read-only connection beside it.
std::unique_ptr<Store> open_store(const StoreLocation& location, bool read_only = false);

// For a store that daemons share: calls `on_news` (on its own thread) when another daemon's
// commit queued or finished work. nullptr for a store of its own. `own_host`: this daemon's
// Store::host_id (its own commits are not news).
std::unique_ptr<QueueWatch> watch_queue(const StoreLocation& location, std::int64_t own_host,
                                        std::function<void(QueueNews)> on_news);

}  // namespace purgeq
