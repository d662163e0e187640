// Delivery as status, waiting_for, gauges and STATUS= (see the header): O(accounts · zones ·
// groups) each, from counts the store keeps, never from the queued items.
#include "dispatch/delivery_status.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

#include "io/clocks.h"
#include "limiter/pacing.h"
#include "model/wall_clock.h"

namespace purgeq {
namespace {

using std::chrono::milliseconds;

std::string zone_name(const Config& config, const std::string& zone_id) {
  const Zone* zone = config.find_zone(zone_id);
  return zone != nullptr ? zone->name : zone_id;
}

// The account's zones by name (the queue's key), resolved or not.
std::vector<std::string> zones_of(const Config& config, const Account& account) {
  std::vector<std::string> names;
  for (const auto& zone : config.zones) {
    if (zone.account == account.name) names.push_back(zone.name);
  }
  return names;
}

const LookupTrouble* trouble_of(const DeliverySnapshot& snapshot, const std::string& zone) {
  if (snapshot.lookups == nullptr) return nullptr;
  const auto it = snapshot.lookups->zones.find(zone);
  return it != snapshot.lookups->zones.end() ? &it->second : nullptr;
}

// /v1/status's `zones`: what is known of each configured zone and where it came from.
boost::json::object zones_json(const DeliverySnapshot& snapshot) {
  boost::json::object zones;
  for (const auto& zone : snapshot.config.zones) {
    boost::json::object z;
    z["id"] = zone.resolved() ? boost::json::value(zone.id) : boost::json::value(nullptr);
    z["account"] = zone.account;
    z["plan"] = zone.plan.empty() ? boost::json::value(nullptr) : boost::json::value(zone.plan);
    z["source"] = to_string(zone.source);
    z["resolved_at_ms"] = zone.resolved_at_ms > 0 ? boost::json::value(zone.resolved_at_ms)
                                                  : boost::json::value(nullptr);
    if (const LookupTrouble* trouble = trouble_of(snapshot, zone.name)) {
      z["lookup_error"] = trouble->error;
      z["lookup_refused"] = trouble->refused;
      z["lookup_failures"] = trouble->failures;
      if (trouble->next_attempt_ms) {
        z["next_lookup_in_s"] =
            std::max<std::int64_t>(0, *trouble->next_attempt_ms - snapshot.wall_ms + 999) / 1000;
      }
    }
    zones[zone.name] = std::move(z);
  }
  return zones;
}

const AccountView* view_of(const DeliverySnapshot& snapshot, const std::string& account) {
  const auto it = snapshot.accounts.find(account);
  return it != snapshot.accounts.end() ? &it->second : nullptr;
}

const RecentError* last_error_of(const DeliverySnapshot& snapshot, const std::string& account) {
  for (auto it = snapshot.recent_errors.rbegin(); it != snapshot.recent_errors.rend(); ++it) {
    if (it->account == account) return &*it;
  }
  return nullptr;
}

// The wall-clock time of a steady one, as the snapshot sees both.
std::int64_t wall_of(const DeliverySnapshot& snapshot, Clock::time_point when) {
  return snapshot.wall_ms - to_ms(snapshot.now - when);
}

boost::json::value sender_json(const DeliverySnapshot& snapshot, const std::string& account) {
  for (const auto& sender : snapshot.senders) {
    if (sender.account != account || !sender.live) continue;
    return boost::json::object{{"node", sender.node},
                               {"host_id", sender.host},
                               {"this_host", sender.host == snapshot.host_id},
                               {"since_ms", sender.since_ms}};
  }
  // Nobody holds the account's lock now (a sender just died; the next claim round takes it).
  return boost::json::object{
      {"node", nullptr}, {"host_id", nullptr}, {"this_host", false}, {"since_ms", nullptr}};
}

PendingByKind account_pending(const DeliverySnapshot& snapshot, const Account& account) {
  PendingByKind pending{};
  for (const auto& zone_id : zones_of(snapshot.config, account)) {
    const auto found = snapshot.counts.zones.find(zone_id);
    if (found == snapshot.counts.zones.end()) continue;
    const auto of_zone = pending_by_kind(found->second);
    for (std::size_t k = 0; k < pending.size(); ++k) pending[k] += of_zone[k];
  }
  return pending;
}

boost::json::object account_json(const DeliverySnapshot& snapshot, const Account& account,
                                 const AccountView& view) {
  const auto now = snapshot.now;
  const auto& engine = *view.engine;
  boost::json::object a;
  // Unresolved: no plan set and no zone looked up yet (paced as free meanwhile).
  a["plan"] = account.plan_source == PlanSource::unresolved
                  ? boost::json::value(nullptr)
                  : boost::json::value(to_string(account.plan));
  a["plan_source"] = to_string(account.plan_source);
  if (!account.plan_note.empty()) a["plan_note"] = account.plan_note;
  if (snapshot.lookups != nullptr) {
    const auto token = snapshot.lookups->tokens.find(account.name);
    a["token"] =
        to_string(token != snapshot.lookups->tokens.end() ? token->second : TokenState::unchecked);
  }
  a["paused"] = engine.auth_paused();
  a["pause_reason"] = engine.auth_paused() ? engine.pause_reason() : std::string();
  const auto paused = engine.limiter().paused_until(now);
  a["rate_limited_for_ms"] = paused ? to_ms(*paused - now) : std::int64_t{0};
  const auto backoff = engine.backoff_until(now);
  a["backoff_for_ms"] = backoff ? to_ms(*backoff - now) : std::int64_t{0};
  a["consecutive_failures"] = engine.consecutive_failures();
  if (const auto since = engine.failing_since()) {
    a["failing_since_ms"] = wall_of(snapshot, *since);
  }
  if (const auto since = engine.paused_since()) {
    a["paused_since_ms"] = wall_of(snapshot, *since);
    if (const auto probe = engine.next_probe()) {
      a["next_probe_in_ms"] = std::max<std::int64_t>(0, to_ms(*probe - now));
    }
  }
  a["flex_tokens"] = engine.limiter().flex_tokens(now);
  a["flex_bucket_size"] = engine.limiter().flex_size();
  a["url_tokens"] = engine.limiter().url_tokens(now);
  a["url_bucket_size"] = engine.limiter().url_size();
  a["global_used"] = engine.limiter().global_used(now);
  // Cloudflare's API-wide budget as configured (0: not enforced); the limiter counts the window a
  // second longer (limiter/pacing.h).
  a["global_limit"] = account.limits.global_requests;
  a["global_window_s"] =
      std::chrono::duration_cast<std::chrono::seconds>(account.limits.global_window).count();
  a["requests_in_flight"] = engine.in_flight();
  a["split_batches_waiting"] = engine.splits_waiting();
  a["sending"] = view.sending;
  if (snapshot.shared) a["sender"] = sender_json(snapshot, account.name);
  a["drain_estimate_s"] = drain_estimate(account, account_pending(snapshot, account));
  return a;
}

// A zone's pending targets per lane and kind: {"high": {"tag": 3}, "bulk": {"file": 900}};
// lanes with nothing pending are left out.
boost::json::object lanes_json(const QueueCounts& counts, const std::string& zone_id) {
  boost::json::object lanes;
  const auto found = counts.lanes.find(zone_id);
  if (found == counts.lanes.end()) return lanes;
  for (const Lane lane : kLanes) {
    PendingByKind pending{};
    for (int g = 0; g < kGroupCount; ++g) {
      pending[static_cast<std::size_t>(kind_of(static_cast<Group>(g)))] +=
          found->second[static_cast<std::size_t>(g)][static_cast<std::size_t>(lane)];
    }
    boost::json::object kinds;
    for (int k = 0; k < kKindCount; ++k) {
      if (pending[static_cast<std::size_t>(k)] > 0) {
        kinds[to_string(static_cast<Kind>(k))] = pending[static_cast<std::size_t>(k)];
      }
    }
    if (!kinds.empty()) lanes[to_string(lane)] = std::move(kinds);
  }
  return lanes;
}

}  // namespace

PendingByKind pending_by_kind(const QueueCounts::PerGroup& groups) {
  PendingByKind pending{};
  for (int g = 0; g < kGroupCount; ++g) {
    pending[static_cast<std::size_t>(kind_of(static_cast<Group>(g)))] +=
        groups[static_cast<std::size_t>(g)][static_cast<std::size_t>(TargetState::pending)];
  }
  return pending;
}

std::int64_t drain_estimate(const Account& account, const PendingByKind& pending) {
  return static_cast<std::int64_t>(std::ceil(drain_seconds(paced(account.limits), pending)));
}

boost::json::object status_json(const DeliverySnapshot& snapshot) {
  const auto& config = snapshot.config;
  const auto& counts = snapshot.counts;
  boost::json::object out;
  boost::json::object queue;
  for (const auto& [zone_id, groups] : counts.zones) {
    boost::json::object kinds;
    const auto pending = pending_by_kind(groups);
    std::int64_t in_flight = 0;
    for (const auto& states : groups) {
      in_flight += states[static_cast<std::size_t>(TargetState::in_flight)];
    }
    for (int k = 0; k < kKindCount; ++k) {
      if (pending[static_cast<std::size_t>(k)] > 0) {
        kinds[to_string(static_cast<Kind>(k))] = pending[static_cast<std::size_t>(k)];
      }
    }
    if (kinds.empty() && in_flight == 0) continue;
    kinds["in_flight"] = in_flight;
    if (auto lanes = lanes_json(counts, zone_id); !lanes.empty()) kinds["lanes"] = std::move(lanes);
    if (const Zone* zone = config.find_zone(zone_id); zone != nullptr && !kinds.empty()) {
      kinds["drain_estimate_s"] = drain_estimate(config.accounts[zone->account_index], pending);
    }
    queue[zone_name(config, zone_id)] = std::move(kinds);
  }
  out["queue"] = std::move(queue);
  out["pending"] = counts.total(TargetState::pending);
  boost::json::object lanes;
  for (const Lane lane : kLanes) lanes[to_string(lane)] = counts.lane_total(lane);
  out["pending_by_lane"] = std::move(lanes);
  out["in_flight_items"] = counts.total(TargetState::in_flight);
  out["requests_in_flight"] = snapshot.requests_in_flight;
  // Nothing pending: the timer only paces sweeps, and "next dispatch in 50 s" would mislead.
  if (snapshot.next_dispatch && counts.total(TargetState::pending) > 0) {
    out["next_dispatch_in_ms"] =
        std::max<std::int64_t>(0, to_ms(*snapshot.next_dispatch - snapshot.now));
  }
  boost::json::object accounts;
  for (const auto& account : config.accounts) {
    if (const AccountView* view = view_of(snapshot, account.name)) {
      accounts[account.name] = account_json(snapshot, account, *view);
    }
  }
  out["accounts"] = std::move(accounts);
  out["zones"] = zones_json(snapshot);
  boost::json::array errors;
  for (const auto& e : snapshot.recent_errors) {
    errors.push_back(
        boost::json::object{{"at_ms", e.at_ms},
                            {"age_s", std::max<std::int64_t>(0, snapshot.wall_ms - e.at_ms) / 1000},
                            {"account", e.account},
                            {"zone", e.zone},
                            {"verdict", e.verdict},
                            {"status", e.status},
                            {"code", e.code},
                            {"message", e.message}});
  }
  out["recent_errors"] = std::move(errors);
  out["dry_run"] = config.dry_run;
  // The clock the *_ms times above are read against: a viewer's own clock may be off.
  out["now_ms"] = snapshot.wall_ms;
  return out;
}

boost::json::object waiting_for(const DeliverySnapshot& snapshot, const std::string& zone_id,
                                Lane lane) {
  const auto& config = snapshot.config;
  const auto now = snapshot.now;
  const auto seconds_until = [now](Clock::time_point when) {
    return std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(
                                         when - now + std::chrono::milliseconds(999))
                                         .count());
  };
  boost::json::object out{{"zone", zone_name(config, zone_id)}};
  const Zone* zone = config.find_zone(zone_id);
  if (zone == nullptr) {
    // Removed by a reload: its items stay queued until the zone is configured again.
    out["state"] = "zone_not_configured";
    return out;
  }
  const auto& account = config.accounts[zone->account_index];
  out["account"] = account.name;
  PendingByKind pending{};
  if (const auto found = snapshot.counts.zones.find(zone_id);
      found != snapshot.counts.zones.end()) {
    pending = pending_by_kind(found->second);
  }
  std::int64_t total = 0;
  for (const auto n : pending) total += n;
  out["pending"] = total;
  if (!zone->resolved() && !config.dry_run) {
    // Accepted and stored; sent once Cloudflare has said which zone id the name is.
    out["state"] = "zone_unresolved";
    if (const LookupTrouble* trouble = trouble_of(snapshot, zone->name)) {
      out["reason"] = trouble->error;
      out["refused"] = trouble->refused;
      if (trouble->next_attempt_ms) {
        out["next_attempt_in_s"] =
            std::max<std::int64_t>(0, *trouble->next_attempt_ms - snapshot.wall_ms + 999) / 1000;
      }
    } else {
      out["reason"] = "its id is being looked up by name";
    }
    return out;
  }
  out["drain_estimate_s"] = drain_estimate(account, pending);
  // Higher lanes of the account go first (Priority lanes): a bulk intent behind a normal
  // backlog is waiting for that, not for its own zone's queue. O(zones · groups) counts.
  std::int64_t ahead = 0;
  for (const auto& other : zones_of(config, account)) {
    for (int g = 0; g < kGroupCount; ++g) {
      for (const Lane higher : kLanes) {
        if (higher < lane) {
          ahead += snapshot.counts.pending_in(other, static_cast<Group>(g), higher);
        }
      }
    }
  }
  if (ahead > 0) out["ahead_in_higher_lanes"] = ahead;
  const AccountView* view = view_of(snapshot, account.name);
  if (view == nullptr) {
    out["state"] = "sending";
    return out;
  }
  if (!view->sending && snapshot.shared) {
    // Another daemon sharing the queue sends for this account: only it knows its buckets,
    // pauses and errors (its own `purgeq status` says more).
    out["state"] = "sent_elsewhere";
    out["sender"] = sender_json(snapshot, account.name);
    return out;
  }
  const auto& engine = *view->engine;
  if (const auto since = engine.paused_since()) {
    out["state"] = "paused";
    out["reason"] = engine.pause_reason();
    const auto ago = to_ms(now - *since);
    out["since"] = rfc3339_utc(snapshot.wall_ms - ago);
    out["since_s"] = ago / 1000;
    out["resume"] = fmt::format(
        "give account {} a token with Zone > Cache Purge permission for this zone, then reload "
        "purgeqd (systemctl reload purgeq); it also retries by itself every {} s",
        account.name, kAuthProbeInterval.count());
    if (const auto probe = engine.next_probe()) out["next_probe_in_s"] = seconds_until(*probe);
    return out;
  }
  const auto backoff = engine.backoff_until(now);
  if (backoff || engine.consecutive_failures() > 0) {
    out["state"] = "upstream_failing";
    if (const RecentError* last = last_error_of(snapshot, account.name)) {
      out["last_error"] = last->status > 0 ? fmt::format("HTTP {} code {}: {}", last->status,
                                                         last->code, last->message)
                                           : last->message;
      out["last_error_age_s"] = std::max<std::int64_t>(0, snapshot.wall_ms - last->at_ms) / 1000;
    }
    out["next_attempt_in_s"] = backoff ? seconds_until(*backoff) : 0;
    out["consecutive_failures"] = engine.consecutive_failures();
    return out;
  }
  const auto& limiter = engine.limiter();
  if (const auto until = limiter.paused_until(now)) {
    out["state"] = "rate_limited";
    out["retry_in_s"] = seconds_until(*until);
    return out;
  }
  // Spent budget for what this zone has pending: it goes out as tokens refill.
  const bool urls_wait =
      pending[static_cast<std::size_t>(Kind::file)] > 0 && limiter.url_tokens(now) < 1;
  const bool flex_wait =
      total > pending[static_cast<std::size_t>(Kind::file)] && limiter.flex_tokens(now) < 1;
  const bool global_wait = account.limits.global_requests > 0 &&
                           limiter.global_used(now) >= account.limits.global_requests;
  out["state"] = urls_wait || flex_wait || global_wait ? "rate_limited" : "sending";
  return out;
}

void render_gauges(MetricsText& text, const DeliverySnapshot& snapshot,
                   const OldestPending& oldest) {
  const auto& config = snapshot.config;
  const auto& counts = snapshot.counts;
  const auto now = snapshot.now;
  text.family("purgeq_queue_depth", "gauge", "Pending targets by zone and kind.");
  for (const auto& [zone_id, groups] : counts.zones) {
    const auto pending = pending_by_kind(groups);
    for (int k = 0; k < kKindCount; ++k) {
      if (pending[static_cast<std::size_t>(k)] == 0) continue;
      text.sample("purgeq_queue_depth",
                  {{"zone", zone_name(config, zone_id)},
                   {"kind", std::string(to_string(static_cast<Kind>(k)))}},
                  static_cast<double>(pending[static_cast<std::size_t>(k)]));
    }
  }
  text.family("purgeq_zone_resolved", "gauge",
              "1 while the zone's id is known (from the config, Cloudflare or the store), 0 while "
              "its items wait for a lookup.");
  for (const auto& zone : config.zones) {
    text.sample("purgeq_zone_resolved", {{"zone", zone.name}, {"account", zone.account}},
                zone.resolved() ? 1.0 : 0.0);
  }
  text.family("purgeq_account_sending", "gauge",
              "1 while this daemon sends for the account (always, unless the store is shared).");
  for (const auto& [name, view] : snapshot.accounts) {
    if (view.config == nullptr) continue;
    text.sample("purgeq_account_sending", {{"account", name}}, view.sending ? 1.0 : 0.0);
  }
  text.family("purgeq_queue_lane_depth", "gauge", "Pending targets by priority lane.");
  for (const Lane lane : kLanes) {
    text.sample("purgeq_queue_lane_depth", {{"lane", std::string(to_string(lane))}},
                static_cast<double>(counts.lane_total(lane)));
  }
  text.family("purgeq_queue_oldest_age_seconds", "gauge",
              "Age of the oldest pending target by zone and kind.");
  for (const auto& [zone_id, groups] : oldest) {
    std::map<Kind, std::int64_t> by_kind;
    for (const auto& [group, created] : groups) {
      auto [it, inserted] = by_kind.try_emplace(kind_of(group), created);
      it->second = std::min(it->second, created);
    }
    for (const auto& [kind, created] : by_kind) {
      text.sample(
          "purgeq_queue_oldest_age_seconds",
          {{"zone", zone_name(config, zone_id)}, {"kind", std::string(to_string(kind))}},
          static_cast<double>(std::max<std::int64_t>(0, snapshot.wall_ms - created)) / 1000.0);
    }
  }
  text.family("purgeq_queue_in_flight", "gauge", "Targets in requests not yet answered.");
  text.sample("purgeq_queue_in_flight", {},
              static_cast<double>(counts.total(TargetState::in_flight)));
  text.family("purgeq_failed_items", "gauge", "Targets that ended failed and are kept on disk.");
  text.sample("purgeq_failed_items", {}, static_cast<double>(counts.total(TargetState::failed)));
  text.family("purgeq_targets_in_backoff", "gauge",
              "Pending targets of accounts waiting out a retry backoff.");
  double in_backoff = 0;
  for (const auto& [name, view] : snapshot.accounts) {
    if (!view.engine->backoff_until(now) || view.config == nullptr) continue;
    for (const auto& zone_id : zones_of(config, *view.config)) {
      in_backoff += static_cast<double>(counts.zone_total(zone_id, TargetState::pending));
    }
  }
  text.sample("purgeq_targets_in_backoff", {}, in_backoff);
  text.family("purgeq_requests_in_flight", "gauge", "Requests sent and not yet answered.");
  text.sample("purgeq_requests_in_flight", {}, static_cast<double>(snapshot.requests_in_flight));
  text.family("purgeq_account_paused", "gauge",
              "1 while an account is paused, by reason (auth, rate_limit or backoff).");
  for (const auto& account : config.accounts) {
    const AccountView* view = view_of(snapshot, account.name);
    if (view == nullptr) continue;
    const auto& engine = *view->engine;
    text.sample("purgeq_account_paused", {{"account", account.name}, {"reason", "auth"}},
                engine.auth_paused() ? 1 : 0);
    text.sample("purgeq_account_paused", {{"account", account.name}, {"reason", "rate_limit"}},
                engine.limiter().paused_until(now) ? 1 : 0);
    text.sample("purgeq_account_paused", {{"account", account.name}, {"reason", "backoff"}},
                engine.backoff_until(now) ? 1 : 0);
  }
  text.family("purgeq_account_tokens", "gauge", "Tokens left in an account's buckets.");
  for (const auto& account : config.accounts) {
    const AccountView* view = view_of(snapshot, account.name);
    if (view == nullptr) continue;
    const auto& limiter = view->engine->limiter();
    text.sample("purgeq_account_tokens", {{"account", account.name}, {"bucket", "flex"}},
                limiter.flex_tokens(now));
    text.sample("purgeq_account_tokens", {{"account", account.name}, {"bucket", "url"}},
                limiter.url_tokens(now));
  }
}

std::string status_line(const DeliverySnapshot& snapshot) {
  std::string line =
      fmt::format("{} pending, {} requests in flight", snapshot.counts.total(TargetState::pending),
                  snapshot.requests_in_flight);
  for (const auto& [name, view] : snapshot.accounts) {
    if (view.engine->auth_paused()) line += fmt::format("; account {} paused (auth)", name);
  }
  if (snapshot.shared) {
    const auto sending = std::count_if(snapshot.accounts.begin(), snapshot.accounts.end(),
                                       [](const auto& entry) { return entry.second.sending; });
    line += fmt::format("; sends for {} of {} accounts", sending, snapshot.accounts.size());
  }
  if (snapshot.config.dry_run) line += "; dry run";
  return line;
}

}  // namespace purgeq
