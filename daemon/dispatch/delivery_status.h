// What the daemon shows of delivery (GET /v1/status, an intent's `waiting_for`, the gauges of
// /metrics, systemd's STATUS=), as pure functions of one snapshot of the driver and the store's
// counts: no clock of their own, no I/O, so each answer is tested from values.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/known_zones.h"
#include "dispatch/account_engine.h"
#include "intake/delivery_view.h"
#include "limiter/drain_estimate.h"
#include "observe/metrics.h"

namespace purgeq {

// An upstream error the driver keeps for status (the latest few).
struct RecentError {
  std::int64_t at_ms = 0;
  std::string account;
  std::string zone;
  std::string verdict;
  long status = 0;
  int code = 0;
  std::string message;
};

// One account as the driver holds it.
struct AccountView {
  const AccountEngine* engine = nullptr;
  // The account's entry in config.accounts; nullptr for an account a reload removed whose last
  // requests are still out.
  const Account* config = nullptr;
  // This daemon sends for it: always with a store of its own; with a shared one while it holds
  // the account's lock.
  bool sending = true;
};

struct DeliverySnapshot {
  const Config& config;
  const QueueCounts& counts;
  Clock::time_point now;
  std::int64_t wall_ms = 0;
  std::map<std::string, AccountView> accounts;  // by name
  const std::deque<RecentError>& recent_errors;
  std::optional<Clock::time_point> next_dispatch;  // the driver's timer
  std::size_t requests_in_flight = 0;
  bool shared = false;  // the store is shared by several daemons
  std::int64_t host_id = 0;
  const std::vector<AccountSender>& senders;  // from the last claim round
  // Zone lookups that failed and tokens' checks (docs/configuration.md, "Zones by name");
  // nullptr: nothing looked up (a test, or before the first lookup).
  const LookupStatus* lookups = nullptr;
};

// A zone's pending targets by kind (URLs with and without headers together).
[[nodiscard]] PendingByKind pending_by_kind(const QueueCounts::PerGroup& groups);
// Seconds to send `pending` at `account`'s paced budget, rounded up.
[[nodiscard]] std::int64_t drain_estimate(const Account& account, const PendingByKind& pending);

[[nodiscard]] boost::json::object status_json(const DeliverySnapshot& snapshot);
[[nodiscard]] boost::json::object waiting_for(const DeliverySnapshot& snapshot,
                                              const std::string& zone_id, Lane lane);
void render_gauges(MetricsText& text, const DeliverySnapshot& snapshot,
                   const OldestPending& oldest);
// "12 pending, 1 request in flight, main: paused (auth)" for systemd's STATUS=.
[[nodiscard]] std::string status_line(const DeliverySnapshot& snapshot);

}  // namespace purgeq
