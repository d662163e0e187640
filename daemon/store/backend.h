// What a store backend is, below the queue's algorithms (queue_store.h): one connection to one
// database that runs the queue's statements in its SQL (sql.h), keeps its own transactions and
// schema, and does what truly differs between a database of one daemon and a database several
// daemons share. Everything else is written once, above it.
#pragma once

#include <cstdint>
#include <string_view>

#include "store/sql.h"
#include "store/store.h"

namespace purgeq {

// What a round of the algorithms did that daemons sharing a store should hear of at its commit.
enum class QueueChange {
  queued,      // rows became pending (another daemon's sender may have work)
  progressed,  // rows were purged or failed (another daemon's intent waiters may be answered)
};

class StoreBackend : public SqlRunner {
 public:
  // Transactions: the store worker wraps each group of jobs in one and each job in a savepoint.
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  virtual void savepoint() = 0;
  virtual void release_savepoint() = 0;
  virtual void rollback_to_savepoint() = 0;

  // Told what the round changed, and how many targets it inserted.
  virtual void note(QueueChange /*change*/) {}
  virtual void note_inserted(std::int64_t /*targets*/) {}

  // Refuses new intents (StorageFullError) while the disk is full.
  virtual void check_accepting() {}
  // Before a take of `account`'s: refuses one for an account this daemon does not send for
  // (NotSenderError) on a shared store.
  virtual void check_sender(std::string_view /*account*/) {}
  // Until the transaction ends: the zone's purge-everything guard and its takes of a
  // purge-everything, which may run on different daemons, one at a time.
  virtual void lock_everything(std::int64_t /*zone*/) {}
  // Whether finished URLs are indexed (Store::index_known_urls): without the index an
  // escalation that asks for a share escalates nothing.
  [[nodiscard]] virtual bool knows_finished() const { return true; }

  // After a crash, in steps of at most `limit` rows (Store::recover_step): what the backend's
  // leases say is nobody's any more is pending again.
  virtual std::int64_t recover_step(std::int64_t limit) = 0;
  virtual std::int64_t recover_hook_runs_step(std::int64_t limit) = 0;

  [[nodiscard]] virtual std::int64_t size_bytes() = 0;
  virtual void relieve_full_disk() {}
  virtual bool restore_reserve() { return true; }
  [[nodiscard]] virtual bool disk_full() const { return false; }
  virtual void index_known_urls(bool /*wanted*/) {}

  [[nodiscard]] virtual bool shared() const = 0;
  [[nodiscard]] virtual std::int64_t host_id() const = 0;
  virtual SenderClaims claim_senders(const SenderRequest& request, std::int64_t reclaim_limit) = 0;
};

}  // namespace purgeq
