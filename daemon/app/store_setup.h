// From Config::Storage to an open store, and the storage part of --check-config.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "store/open_store.h"

namespace purgeq {

// Where the store is, with the PostgreSQL password read from storage.password_file or the systemd
// credential storage.password_credential. Throws std::runtime_error naming the key.
StoreLocation store_location(const Config::Storage& storage);

struct StorageCheck {
  std::vector<std::string> problems;
  std::vector<std::string> notes;
};

// For --check-config with storage.backend postgres: connects and reads the schema version (too
// new is a problem; absent a note: the daemon creates it at start). Nothing for sqlite.
StorageCheck check_storage(const Config::Storage& storage);

}  // namespace purgeq
