// Backpressure and storage refusals of intake.
#include "intake/admission.h"

#include <fmt/format.h>

namespace purgeq {

QueueLoad queue_load(const StoreSnapshot& snapshot) {
  return QueueLoad{
      snapshot.counts.total(TargetState::pending) + snapshot.counts.total(TargetState::in_flight),
      snapshot.size_bytes, snapshot.disk_full};
}

std::optional<IntakeError> admit_intent(const QueueLoad& load, const Config::Storage& storage,
                                        std::size_t items) {
  if (load.queued + static_cast<std::int64_t>(items) > storage.max_pending_items) {
    return IntakeError{ErrorCode::queue_full,
                       fmt::format("the queue holds {} pending items and storage.max_pending_items "
                                   "is {}; try again when it has drained",
                                   load.queued, storage.max_pending_items),
                       {}};
  }
  const auto max_bytes = storage.max_size_mb * 1024 * 1024;
  if (max_bytes > 0 && load.size_bytes >= max_bytes) {
    return IntakeError{ErrorCode::storage_full,
                       fmt::format("the database uses {} MiB and storage.max_size_mb is {}; try "
                                   "again when the queue has drained",
                                   load.size_bytes / (1024 * 1024), storage.max_size_mb),
                       {}};
  }
  if (load.disk_full) {
    return IntakeError{ErrorCode::disk_full,
                       fmt::format("the disk holding {} is full; purgeqd takes new intents again "
                                   "within a second of space being freed",
                                   storage.path),
                       {}};
  }
  return std::nullopt;
}

IntakeError shutting_down_error() {
  return IntakeError{
      ErrorCode::shutting_down, "purgeqd is shutting down; submit again after it restarts", {}};
}

IntakeError storage_refusal(const std::exception& error, bool network_client) {
  const bool full = dynamic_cast<const StorageFullError*>(&error) != nullptr;
  return IntakeError{full ? ErrorCode::disk_full : ErrorCode::storage_unavailable,
                     network_client ? "could not store the intent; try again later"
                                    : fmt::format("could not store the intent: {}", error.what()),
                     {}};
}

}  // namespace purgeq
