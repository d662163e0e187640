#include "store/open_store.h"

#include "store/pg_store.h"
#include "store/sqlite_store.h"

namespace purgeq {

std::unique_ptr<Store> open_store(const StoreLocation& location, bool read_only) {
  if (location.backend == StoreLocation::Backend::postgres) {
    return open_pg_store(PgConnection{location.dsn, location.password}, read_only);
  }
  return open_sqlite_store(location.path, read_only);
}

}  // namespace purgeq
