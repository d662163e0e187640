// What intake needs from delivery, and no more: a nudge when targets were queued, and the
// delivery side's part of /v1/status and /metrics. Intake and dispatch otherwise meet only in the
// store; the dispatcher implements this.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <string>

#include "observe/metrics.h"
#include "planner/batch_rules.h"
#include "store/store_worker.h"

namespace purgeq {

// Creation time (unix ms) of the oldest pending target, by zone id and queue group.
using OldestPending = std::map<std::string, std::map<Group, std::int64_t>>;

class DeliveryView {
 public:
  virtual ~DeliveryView() = default;
  // Targets were queued or requeued: look at the queues again (cheap; coalesced per loop turn).
  virtual void wake() = 0;
  // Accounts, pauses, flights and the next dispatch, with the queue from `snapshot`.
  [[nodiscard]] virtual boost::json::object status_json(const StoreSnapshot& snapshot) const = 0;
  // Why a zone's pending items are not purged yet, for an intent that has some there: the account
  // is paused (auth), the upstream is failing, the budget is spent, or it is sending; with the
  // zone's backlog and the time to drain it; for an intent in `lane`, how many items of the
  // account's higher lanes go first. Members are documented in docs/api.md.
  [[nodiscard]] virtual boost::json::object waiting_for(const std::string& zone_id, Lane lane,
                                                        const StoreSnapshot& snapshot) const = 0;
  // Queue depth, age, pause and token gauges.
  virtual void render_gauges(MetricsText& text, const StoreSnapshot& snapshot,
                             const OldestPending& oldest) const = 0;
};

}  // namespace purgeq
