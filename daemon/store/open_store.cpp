#include "store/open_store.h"

#include "store/pg_queue_watch.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"

namespace purgeq {

std::unique_ptr<Store> open_store(const StoreLocation& location, bool read_only) {
  if (location.backend == StoreLocation::Backend::postgres) {
    return open_pg_store(PgConnection{location.dsn, location.password}, read_only);
  }
  return open_sqlite_store(location.path, read_only);
}

std::unique_ptr<QueueWatch> watch_queue(const StoreLocation& location, std::int64_t own_host,
                                        std::function<void(QueueNews)> on_news) {
  if (location.backend != StoreLocation::Backend::postgres) return nullptr;
  return std::make_unique<PgQueueWatch>(PgConnection{location.dsn, location.password}, own_host,
                                        std::move(on_news));
}

}  // namespace purgeq
