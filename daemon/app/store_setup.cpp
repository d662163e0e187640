#include "app/store_setup.h"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "store/pg_store.h"

namespace purgeq {
namespace {

// The whole file but a trailing line break (editors add one; a password never ends in one).
std::string read_secret(const std::string& path, std::string_view key) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read \"{}\"", key, path));
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) throw std::runtime_error(fmt::format("{}: \"{}\" is empty", key, path));
  return secret;
}

}  // namespace

StoreLocation store_location(const Config::Storage& storage) {
  StoreLocation location;
  location.path = storage.path;
  if (storage.backend != Config::Storage::Backend::postgres) return location;
  location.backend = StoreLocation::Backend::postgres;
  location.dsn = storage.dsn;
  if (!storage.password_file.empty()) {
    location.password = read_secret(storage.password_file, "storage.password_file");
  } else if (!storage.password_credential.empty()) {
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (dir == nullptr || *dir == '\0') {
      throw std::runtime_error(fmt::format(
          "storage.password_credential: CREDENTIALS_DIRECTORY is not set (run under systemd "
          "with LoadCredential={}:...)",
          storage.password_credential));
    }
    location.password = read_secret(fmt::format("{}/{}", dir, storage.password_credential),
                                    "storage.password_credential");
  }
  return location;
}

StorageCheck check_storage(const Config::Storage& storage) {
  StorageCheck check;
  if (storage.backend != Config::Storage::Backend::postgres) return check;
  StoreLocation location;
  try {
    location = store_location(storage);
  } catch (const std::exception& e) {
    // Outside systemd the credential cannot be had: say so.
    if (storage.password_credential.empty() || std::getenv("CREDENTIALS_DIRECTORY") != nullptr) {
      check.problems.emplace_back(e.what());
      return check;
    }
    // Without the password a refused login would be a false alarm: the check waits for the start.
    check.notes.push_back(
        fmt::format("storage.password_credential: resolved at start from systemd credential \"{}\" "
                    "(CREDENTIALS_DIRECTORY is not set here); the connection is checked at start",
                    storage.password_credential));
    return check;
  }
  try {
    const auto version = pg_schema_version(PgConnection{location.dsn, location.password});
    if (!version) {
      check.notes.emplace_back(
          "storage.dsn: connected; the purgeq schema is not there yet and is created at start");
    } else if (*version > kPgSchemaVersion) {
      check.problems.push_back(fmt::format(
          "storage.dsn: the database has purgeq schema version {}, newer than this purgeqd ({})",
          *version, kPgSchemaVersion));
    } else {
      check.notes.push_back(fmt::format("storage.dsn: connected; purgeq schema version {}{}",
                                        *version,
                                        *version < kPgSchemaVersion ? " (migrated at start)" : ""));
    }
  } catch (const std::exception& e) {
    check.problems.emplace_back(e.what());
  }
  return check;
}

}  // namespace purgeq
