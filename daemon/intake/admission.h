// Admission: whether an intent that parsed may be stored now. Decided before anything is stored,
// from the store's latest snapshot, so that nothing is acknowledged that was not stored and a full
// queue or disk refuses new intents instead of failing them later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>

#include "config/config.h"
#include "intake/intake_error.h"
#include "store/store_worker.h"

namespace purgeq {

// The queue as admission sees it.
struct QueueLoad {
  std::int64_t queued = 0;      // items pending or in flight
  std::int64_t size_bytes = 0;  // the database's size
  bool disk_full = false;       // the disk filled up and its reserve is not back yet
};

QueueLoad queue_load(const StoreSnapshot& snapshot);

// nullopt: `items` more items may be stored. Otherwise the refusal, checked in this order:
// queue_full (storage.max_pending_items would be passed), storage_full (the database has reached
// storage.max_size_mb), disk_full. Each message names the limit and its value.
std::optional<IntakeError> admit_intent(const QueueLoad& load, const Config::Storage& storage,
                                        std::size_t items);

// The refusal of every submission once purgeqd is stopping (shutting_down).
IntakeError shutting_down_error();

// Why storing an intent failed, for its submitter: disk_full when the disk filled up during the
// write (StorageFullError), else storage_unavailable. Local users see the store's error (the path
// and the database's reason help them); a network client only that it may retry.
IntakeError storage_refusal(const std::exception& error, bool network_client);

}  // namespace purgeq
