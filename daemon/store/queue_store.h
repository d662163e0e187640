// The queue's algorithms, written once for every backend: intake with twins and lanes, the take
// (the head, distinct keys, the batch cut, the budget, riders, the send record, coverage), cover
// steps, settling, give-up and retry, pruning, escalation, intent status, counts and hooks. Each
// step is a few of the backend's statements (statements.h), bounded however long the queue.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "store/backend.h"
#include "store/store.h"

namespace purgeq {

// The Store over one backend connection (sqlite_backend.cpp, pg_backend.cpp).
std::unique_ptr<Store> make_queue_store(std::unique_ptr<StoreBackend> backend);

}  // namespace purgeq
