// The durable queue: intents, their purge targets and each target's life, in SQLite (WAL).
// Synchronous and single-threaded by design; StoreWorker owns the one instance and its thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/item.h"

namespace purgeq {

// Target states as stored; never renumber.
enum class TargetState : int {
  pending = 0,    // accepted, waiting for a request
  in_flight = 1,  // in a request whose answer has not been recorded (pending again after restart)
  done = 2,       // a request naming or covering it succeeded
  failed = 3,     // refused by Cloudflare or given up; see error_code/error_message
};

// Who submitted an intent, from SO_PEERCRED on the Unix socket (-1 when unknown).
struct Peer {
  long uid = -1;
  long gid = -1;
  long pid = -1;
};

struct ZonedItem {
  std::string zone_id;
  Item item;
};

// A target as the dispatcher needs it: enough to plan, send and retry it.
struct StoredTarget {
  std::int64_t id = 0;
  std::string zone_id;
  Item item;
  std::int64_t created_ms = 0;     // unix ms of the first acceptance; drives give_up_after
  int attempts = 0;                // failed sends so far (429s and auth pauses do not count)
  std::int64_t not_before_ms = 0;  // unix ms; not sent before this (backoff)
};

struct SubmitResult {
  std::size_t items = 0;              // items in the intent after in-intent de-duplication
  std::vector<StoredTarget> created;  // targets that did not merge into a pending twin
};

struct ItemError {
  Kind kind = Kind::file;
  std::string item;
  int code = 0;
  std::string message;
};

struct IntentStatus {
  std::string id;
  std::int64_t created_ms = 0;
  Peer peer;
  int total = 0, queued = 0, in_flight = 0, done = 0, failed = 0;
  std::vector<ItemError> errors;
  // queued | in_flight | done | failed | partial
  [[nodiscard]] std::string_view status() const;
  [[nodiscard]] bool terminal() const { return done + failed == total; }
};

struct FailedTarget {
  std::int64_t id = 0;
  std::string zone_id;
  Kind kind = Kind::file;
  std::string item;
  int code = 0;
  std::string message;
  std::int64_t failed_ms = 0;
};

// Queue depth: zone id -> kind -> number of pending or in-flight targets, and oldest creation.
struct QueueDepth {
  std::int64_t count = 0;
  std::int64_t oldest_ms = 0;
};
using QueueCounts = std::map<std::string, std::map<Kind, QueueDepth>>;

class Store {
 public:
  // Opens (creating if needed) and migrates the schema. Throws std::runtime_error naming the path.
  explicit Store(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  static constexpr int kSchemaVersion = 1;

  // Transactions; StoreWorker wraps each group of jobs in one and each job in a savepoint.
  void begin();
  void commit();
  void rollback();
  void savepoint();
  void release_savepoint();
  void rollback_to_savepoint();

  // Records an intent and links each item to a pending twin (same zone, kind and key) or a new
  // target. In-flight twins are not reused: an item accepted after its request left is purged
  // again.
  SubmitResult add_intent(std::string_view intent_id, std::int64_t now_ms, const Peer& peer,
                          std::string_view source, std::span<const ZonedItem> items);

  // After a crash: whatever was in flight is pending again (sent at least once more). Returns every
  // pending target.
  std::vector<StoredTarget> recover();

  void mark_in_flight(std::span<const std::int64_t> ids);
  void mark_done(std::span<const std::int64_t> ids, std::int64_t now_ms);
  void mark_failed(std::span<const std::int64_t> ids, std::int64_t now_ms, int code,
                   std::string_view message);
  // Back to pending. count_attempt: false for 429s, auth pauses and requeues after a split.
  void mark_retry(std::span<const std::int64_t> ids, std::int64_t now_ms,
                  std::int64_t not_before_ms, bool count_attempt, std::string_view last_error);

  [[nodiscard]] std::optional<IntentStatus> intent_status(std::string_view intent_id);
  [[nodiscard]] std::vector<FailedTarget> failed_targets(std::size_t limit);
  [[nodiscard]] std::int64_t failed_count();
  // failed -> pending with a fresh give-up clock; returns the requeued targets.
  std::vector<StoredTarget> retry_failed(std::int64_t now_ms);
  [[nodiscard]] QueueCounts queue_counts();
  // Deletes intents created before `before_ms` whose targets are all done or failed, and targets
  // no intent refers to any more. Returns the number of intents deleted.
  std::int64_t prune(std::int64_t before_ms);
  // A write that must succeed for /healthz to say 200.
  void probe_write(std::int64_t now_ms);

 private:
  struct Statement;
  sqlite3_stmt* prepare(std::string_view sql);
  void exec(std::string_view sql);
  void migrate();
  void set_state(std::span<const std::int64_t> ids, TargetState state, std::int64_t now_ms);

  std::string path_;
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*, std::less<>> statements_;
};

}  // namespace purgeq
