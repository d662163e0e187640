// Wakes this daemon when another daemon sharing the PostgreSQL store queued work (LISTEN on
// kPgQueueChannel), so that an account's sender looks at the shared queue at once instead of at
// its next claim round. Its own thread and session; while the server is away it tries again every
// second. It never reads or changes the queue.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "store/pg_store.h"
#include "store/queue_watch.h"

namespace purgeq {

class PgQueueWatch final : public QueueWatch {
 public:
  // `on_news` runs on the watch's thread (post to the io context from it), once per batch of
  // notifications from daemons other than `own_host` (whose writer sees its own commits), and
  // once after each reconnect with everything set (what happened meanwhile went unnoticed).
  PgQueueWatch(PgConnection connection, std::int64_t own_host,
               std::function<void(QueueNews)> on_news);
  ~PgQueueWatch() override;
  PgQueueWatch(const PgQueueWatch&) = delete;
  PgQueueWatch& operator=(const PgQueueWatch&) = delete;

 private:
  void loop();

  PgConnection connection_;
  std::string own_host_;
  std::function<void(QueueNews)> on_news_;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace purgeq
