#include "store/store_round.h"

namespace purgeq {
namespace {

// Rounds undone by a conflict with another daemon's transaction are run again up to this many
// times in all; then the jobs fail as any storage error does (503 for a submission).
constexpr int kConflictAttempts = 4;

}  // namespace

RoundOutcome run_round(Store& store, std::span<RoundJob> jobs) {
  RoundOutcome outcome;
  for (int attempt = 1;; ++attempt) {
    outcome.error = nullptr;
    bool conflict = false;
    try {
      store.begin();
    } catch (...) {
      outcome.error = std::current_exception();
    }
    if (!outcome.error) {
      for (auto& job : jobs) {
        job.error = nullptr;
        try {
          store.savepoint();
          job.run(store);
          store.release_savepoint();
        } catch (...) {
          job.error = std::current_exception();
          // A conflict with another daemon's transaction: this round may hold locks the other
          // waits for, so only undoing the whole round lets it commit; then this one runs again.
          if (attempt < kConflictAttempts && failed_with<StoreConflictError>(job.error)) {
            conflict = true;
            break;
          }
          try {
            store.rollback_to_savepoint();
          } catch (...) {
            outcome.error = std::current_exception();
            break;
          }
        }
      }
    }
    if (!outcome.error && !conflict) {
      try {
        store.commit();
      } catch (...) {
        outcome.error = std::current_exception();
        conflict = attempt < kConflictAttempts && failed_with<StoreConflictError>(outcome.error);
      }
    }
    if (outcome.error || conflict) {
      try {
        store.rollback();
      } catch (...) {  // NOLINT(bugprone-empty-catch): the round already failed; report that
      }
    }
    if (!conflict) break;
    ++outcome.conflicts;
  }
  bool disk_filled = failed_with<StorageFullError>(outcome.error);
  for (const auto& job : jobs)
    disk_filled = disk_filled || failed_with<StorageFullError>(job.error);
  if (disk_filled) {
    try {
      store.relieve_full_disk();
    } catch (...) {  // NOLINT(bugprone-empty-catch): relief is best effort; retried on the next
    }
  }
  return outcome;
}

}  // namespace purgeq
