// One group-commit round, as the store's writer runs it: every job in a savepoint of its own
// inside one transaction, so that one job's failure does not undo its neighbours; the whole round
// run again when another daemon's transaction conflicted with it; the disk's reserve given up
// when a write found the disk full. StoreWorker runs rounds on its thread, the simulator inline.
#pragma once

#include <exception>
#include <functional>
#include <span>

#include "store/store.h"

namespace purgeq {

struct RoundJob {
  std::function<void(Store&)> run;
  std::exception_ptr error;  // the job's own failure (its savepoint was rolled back)
};

struct RoundOutcome {
  std::exception_ptr error;  // the round's failure: begin or commit failed, nothing was kept
  int conflicts = 0;         // times the round was undone for another daemon's and run again
};

// Runs `jobs` as one round. A job's outcome is `outcome.error` if set, else its own `error`.
RoundOutcome run_round(Store& store, std::span<RoundJob> jobs);

}  // namespace purgeq
