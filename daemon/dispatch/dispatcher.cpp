// The dispatch loop: plan, pace, send, classify, record.
#include "dispatch/dispatcher.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "dispatch/request_body.h"
#include "model/wall_clock.h"
#include "service/log.h"

namespace purgeq {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// How long an account paused by an auth error waits before one probe request tries again.
constexpr auto kAuthProbeInterval = std::chrono::seconds(60);
constexpr auto kGiveUpSweepInterval = std::chrono::seconds(10);
constexpr std::size_t kRecentErrors = 20;

template <class Range>
std::vector<std::int64_t> collect_ids(const Range& targets) {
  std::vector<std::int64_t> ids;
  ids.reserve(targets.size());
  for (const auto& live : targets) ids.push_back(live.stored.id);
  return ids;
}

std::optional<Clock::time_point> earliest(std::optional<Clock::time_point> a, Clock::time_point b) {
  return a && *a <= b ? a : std::optional<Clock::time_point>(b);
}

}  // namespace

Dispatcher::Dispatcher(boost::asio::io_context& io, StoreWorker& store, Metrics& metrics,
                       std::shared_ptr<const Config> config)
    : io_(io),
      store_(store),
      metrics_(metrics),
      config_(std::move(config)),
      http_(io),
      backoff_(config_->retry.initial, config_->retry.max),
      rng_(std::random_device{}()),
      timer_(io),
      shutdown_timer_(io) {
  const auto now = Clock::now();
  for (const auto& account : config_->accounts) {
    accounts_.emplace(account.name, AccountState(account.limits, now));
  }
}

Dispatcher::~Dispatcher() = default;

Clock::time_point Dispatcher::steady_from_wall(std::int64_t ms) const {
  return Clock::now() - milliseconds(wall_ms() - ms);
}

const Zone* Dispatcher::zone_by_id(const std::string& zone_id) const {
  for (const auto& zone : config_->zones) {
    if (zone.id == zone_id) return &zone;
  }
  return nullptr;
}

void Dispatcher::add(std::vector<StoredTarget> targets) {
  for (auto& target : targets) {
    Live live;
    live.accepted = steady_from_wall(target.created_ms);
    live.not_before =
        target.not_before_ms > 0 ? steady_from_wall(target.not_before_ms) : Clock::time_point{};
    const auto id = target.id;
    auto& queue = zones_[target.zone_id];
    live.stored = std::move(target);
    queue.pending.insert_or_assign(id, std::move(live));
  }
  schedule_tick();
}

void Dispatcher::reconfigure(std::shared_ptr<const Config> config) {
  config_ = std::move(config);
  backoff_ = Backoff(config_->retry.initial, config_->retry.max);
  const auto now = Clock::now();
  for (const auto& account : config_->accounts) {
    auto it = accounts_.find(account.name);
    if (it == accounts_.end()) {
      accounts_.emplace(account.name, AccountState(account.limits, now));
      continue;
    }
    // A reload is how an operator says "the token is fixed": resume at once.
    if (it->second.auth_paused) {
      log::notice("account_resumed", "account={} reason=reload", log::quote(account.name));
    }
    it->second.auth_paused = false;
    it->second.probing = false;
    it->second.limiter = AccountLimiter(account.limits, now);
  }
  schedule_tick();
}

void Dispatcher::shutdown(Clock::duration deadline, std::function<void()> done) {
  stopping_ = true;
  timer_.cancel();
  if (requests_in_flight_ == 0) {
    boost::asio::post(io_, std::move(done));
    return;
  }
  on_drained_ = std::move(done);
  shutdown_timer_.expires_after(deadline);
  shutdown_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || !on_drained_) return;
    log::warning("shutdown_deadline", "requests_in_flight={} note={}", requests_in_flight_,
                 log::quote("unanswered requests are sent again on next start"));
    auto drained = std::move(on_drained_);
    on_drained_ = nullptr;
    http_.cancel_all();
    drained();
  });
}

std::size_t Dispatcher::pending_count() const {
  std::size_t n = 0;
  for (const auto& [id, queue] : zones_) n += queue.pending.size();
  return n;
}

std::size_t Dispatcher::requests_in_flight() const {
  return requests_in_flight_;
}

void Dispatcher::schedule_tick() {
  if (tick_posted_ || stopping_) return;
  tick_posted_ = true;
  // Posting coalesces the many triggers of one loop turn (submissions, answers) into one plan.
  boost::asio::post(io_, [this] { tick(); });
}

void Dispatcher::arm_timer(Clock::time_point when) {
  if (timer_at_ && *timer_at_ <= when && *timer_at_ > Clock::now()) return;
  timer_at_ = when;
  timer_.expires_at(when);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    timer_at_.reset();
    schedule_tick();
  });
}

void Dispatcher::tick() {
  tick_posted_ = false;
  if (stopping_) return;
  const auto now = Clock::now();
  if (now - last_sweep_ >= kGiveUpSweepInterval) {
    last_sweep_ = now;
    give_up_sweep(now);
  }
  std::optional<Clock::time_point> wake;
  for (std::size_t i = 0; i < config_->accounts.size(); ++i) {
    dispatch_account(config_->accounts[i], i, now, wake);
  }
  if (wake) arm_timer(std::max(*wake, now + milliseconds(1)));
}

bool Dispatcher::try_send_split(AccountState& state, const Account& account, Clock::time_point now,
                                std::optional<Clock::time_point>& wake) {
  auto& split = state.splits.front();
  if (!state.limiter.try_acquire(split.kind, split.members.size(), now)) {
    wake = earliest(wake, now + state.limiter.wait_for(split.kind, split.members.size(), now));
    return false;
  }
  auto flight = std::make_shared<Flight>();
  flight->account = account.name;
  flight->zone_id = split.zone_id;
  flight->kind = split.kind;
  flight->members = std::move(split.members);
  flight->probe = state.probing;
  state.splits.pop_front();
  launch(std::move(flight));
  return true;
}

void Dispatcher::dispatch_account(const Account& account, std::size_t account_index,
                                  Clock::time_point now, std::optional<Clock::time_point>& wake) {
  auto& state = accounts_.at(account.name);
  if (state.auth_paused) {
    if (state.probing) return;  // the probe's answer will decide
    if (now < state.next_probe) {
      wake = earliest(wake, state.next_probe);
      return;
    }
    state.probing = true;
  }
  const int max_in_flight = state.probing ? 1 : account.limits.max_in_flight;
  while (state.in_flight < max_in_flight && !state.splits.empty()) {
    if (!try_send_split(state, account, now, wake)) return;
  }
  if (state.in_flight >= max_in_flight) return;  // an answer will tick again

  std::vector<std::string> zone_ids;
  std::vector<ZonePlan> plans;
  const Caps caps{account.limits.max_ops_per_request, account.limits.max_urls_per_request};
  for (const auto& zone : config_->zones) {
    if (zone.account_index != account_index) continue;
    auto it = zones_.find(zone.id);
    if (it == zones_.end() || it->second.pending.empty()) continue;
    std::vector<PlanTarget> input;
    input.reserve(it->second.pending.size());
    for (const auto& [id, live] : it->second.pending) {
      input.push_back(PlanTarget{id, &live.stored.item, live.accepted, live.not_before});
    }
    auto plan = plan_zone(input, caps, config_->batching.linger, now);
    if (plan.wake_at) wake = earliest(wake, *plan.wake_at);
    zone_ids.push_back(zone.id);
    plans.push_back(std::move(plan));
  }
  if (plans.empty()) return;
  bool url_blocked = false;
  bool flex_blocked = false;
  for (auto& [slot, batch] : interleave_fairly(std::move(plans), state.round_robin++)) {
    if (state.in_flight >= max_in_flight) break;
    bool& blocked = batch.kind == Kind::file ? url_blocked : flex_blocked;
    if (blocked) continue;
    if (!state.limiter.try_acquire(batch.kind, batch.members.size(), now)) {
      // Later, smaller batches of the same bucket must not starve this one.
      blocked = true;
      wake = earliest(wake, now + std::max<Clock::duration>(
                                      state.limiter.wait_for(batch.kind, batch.members.size(), now),
                                      milliseconds(1)));
      continue;
    }
    auto& queue = zones_[zone_ids[slot]];
    auto flight = std::make_shared<Flight>();
    flight->account = account.name;
    flight->zone_id = zone_ids[slot];
    flight->kind = batch.kind;
    flight->probe = state.probing;
    for (const auto id : batch.members) {
      auto node = queue.pending.extract(id);
      if (!node.empty()) flight->members.push_back(std::move(node.mapped()));
    }
    for (const auto id : batch.covered) {
      auto node = queue.pending.extract(id);
      if (!node.empty()) flight->covered.push_back(std::move(node.mapped()));
    }
    launch(std::move(flight));
  }
}

void Dispatcher::launch(std::shared_ptr<Flight> flight) {
  auto& state = accounts_.at(flight->account);
  ++state.in_flight;
  ++requests_in_flight_;
  flight->sent_at = Clock::now();
  zones_[flight->zone_id].in_flight_targets += flight->members.size() + flight->covered.size();
  auto ids = collect_ids(flight->members);
  for (const auto id : collect_ids(flight->covered)) ids.push_back(id);
  // The request leaves only after its targets are in_flight on disk: a twin submitted from now on
  // becomes a new pending target, so nothing accepted after the send is taken as purged by it.
  store_.run(
      [ids = std::move(ids)](Store& store) {
        store.mark_in_flight(ids);
        return true;
      },
      std::function<void(std::exception_ptr, bool)>(
          [this, flight](const std::exception_ptr& error, bool /*ok*/) {
            if (error) {
              log::error("storage_error", "op=mark_in_flight zone={}", flight->zone_id);
              requeue(std::move(flight->members), Clock::now() + std::chrono::seconds(1), false,
                      "storage error");
              requeue(std::move(flight->covered), Clock::now(), false, "");
              finish_flight(flight);
              return;
            }
            transmit(flight);
          }));
}

void Dispatcher::transmit(const std::shared_ptr<Flight>& flight) {
  const Zone* zone = zone_by_id(flight->zone_id);
  const Account* account = nullptr;
  if (zone != nullptr) account = &config_->accounts.at(zone->account_index);
  if (stopping_ || zone == nullptr || account == nullptr || account->name != flight->account) {
    // Shutting down, or the zone moved in a reload: leave it to the next plan / next start.
    if (!stopping_) {
      requeue(std::move(flight->members), Clock::now(), false, "");
      requeue(std::move(flight->covered), Clock::now(), false, "");
    }
    finish_flight(flight);
    return;
  }
  std::vector<const Item*> items;
  items.reserve(flight->members.size());
  for (const auto& live : flight->members) items.push_back(&live.stored.item);
  std::string body = build_request_body(flight->kind, items);
  if (config_->dry_run) {
    log::info("batch_dry_run", "zone={} kind={} items={} covered={} body_bytes={} body={}",
              log::quote(zone->name), to_string(flight->kind), flight->members.size(),
              flight->covered.size(), body.size(), log::quote(body.substr(0, 512)));
    ++metrics_.requests["dry_run"];
    boost::asio::post(io_, [this, flight] {
      finish_success(flight);
      finish_flight(flight);
      schedule_tick();
    });
    return;
  }
  accounts_.at(flight->account).limiter.sent_late(flight->kind, Clock::now() - flight->sent_at);
  log::info("batch_sent", "zone={} account={} kind={} items={} covered={}", log::quote(zone->name),
            log::quote(account->name), to_string(flight->kind), flight->members.size(),
            flight->covered.size());
  HttpRequest request;
  request.url = fmt::format("{}/zones/{}/purge_cache", config_->cloudflare.api_base, zone->id);
  request.headers.push_back("Authorization: Bearer " + account->token);
  request.headers.emplace_back("Content-Type: application/json");
  request.body = std::move(body);
  request.timeout = config_->cloudflare.timeout;
  http_.post(std::move(request),
             [this, flight](const HttpResponse& response) { on_answer(flight, response); });
}

void Dispatcher::record_error(const Flight& flight, const Classified& classified, long status) {
  const Zone* zone = zone_by_id(flight.zone_id);
  recent_errors_.push_back(
      RecentError{wall_ms(), flight.account, zone != nullptr ? zone->name : flight.zone_id,
                  std::string(to_string(classified.verdict)), static_cast<int>(status),
                  classified.code, classified.message});
  while (recent_errors_.size() > kRecentErrors) recent_errors_.pop_front();
}

void Dispatcher::on_answer(const std::shared_ptr<Flight>& flight, const HttpResponse& response) {
  if (stopping_ && response.transport_error == "cancelled") {
    // Left in_flight on disk on purpose: the next start sends it again.
    finish_flight(flight);
    return;
  }
  const auto now = Clock::now();
  const Classified answer = classify(response);
  auto& state = accounts_.at(flight->account);
  const std::string zone_name = [&] {
    const Zone* zone = zone_by_id(flight->zone_id);
    return zone != nullptr ? zone->name : flight->zone_id;
  }();
  if (flight->probe && answer.verdict != Verdict::auth_error) {
    state.probing = false;
    if (state.auth_paused) {
      state.auth_paused = false;
      log::notice("account_resumed", "account={} reason=probe", log::quote(flight->account));
    }
  }
  switch (answer.verdict) {
    case Verdict::success:
      ++metrics_.requests["success"];
      finish_success(flight);
      break;
    case Verdict::rate_limited: {
      ++metrics_.requests["rate_limited"];
      ++metrics_.rate_limited;
      record_error(*flight, answer, response.status);
      std::optional<Clock::duration> retry_after;
      if (answer.retry_after) retry_after = *answer.retry_after;
      state.limiter.on_rate_limited(flight->kind, retry_after, now);
      const auto resume = state.limiter.paused_until(now).value_or(now);
      log::warning("rate_limited", "account={} zone={} kind={} retry_after_ms={}",
                   log::quote(flight->account), log::quote(zone_name), to_string(flight->kind),
                   duration_cast<milliseconds>(resume - now).count());
      requeue(std::move(flight->members), resume, false, answer.message);
      requeue(std::move(flight->covered), resume, false, "");
      break;
    }
    case Verdict::auth_error:
      ++metrics_.requests["auth_error"];
      record_error(*flight, answer, response.status);
      state.auth_paused = true;
      state.probing = false;
      state.pause_reason =
          fmt::format("HTTP {} code {}: {}", response.status, answer.code, answer.message);
      state.next_probe = now + kAuthProbeInterval;
      log::warning("account_paused",
                   "account={} reason=auth status={} code={} message={} "
                   "next_probe_s={}",
                   log::quote(flight->account), response.status, answer.code,
                   log::quote(answer.message),
                   std::chrono::duration_cast<std::chrono::seconds>(kAuthProbeInterval).count());
      requeue(std::move(flight->members), now, false, answer.message);
      requeue(std::move(flight->covered), now, false, "");
      break;
    case Verdict::zone_error:
      ++metrics_.requests["zone_error"];
      record_error(*flight, answer, response.status);
      log::error("zone_error", "zone={} status={} code={} message={}", log::quote(zone_name),
                 response.status, answer.code, log::quote(answer.message));
      fail(std::move(flight->members), answer.code, answer.message);
      fail(std::move(flight->covered), answer.code, answer.message);
      break;
    case Verdict::rejected:
      ++metrics_.requests["rejected"];
      record_error(*flight, answer, response.status);
      requeue(std::move(flight->covered), now, false, "");
      if (flight->members.size() <= 1) {
        fail(std::move(flight->members), answer.code, answer.message);
      } else {
        // Bisect: Cloudflare refuses the whole request for one bad item; halves find it in
        // log2(n) rounds while the good items still get purged.
        const auto half = static_cast<std::ptrdiff_t>(flight->members.size() / 2);
        Split first{flight->zone_id, flight->kind, {}};
        Split second{flight->zone_id, flight->kind, {}};
        std::move(flight->members.begin(), flight->members.begin() + half,
                  std::back_inserter(first.members));
        std::move(flight->members.begin() + half, flight->members.end(),
                  std::back_inserter(second.members));
        log::info("batch_split", "zone={} kind={} items={} code={} message={}",
                  log::quote(zone_name), to_string(flight->kind),
                  first.members.size() + second.members.size(), answer.code,
                  log::quote(answer.message));
        state.splits.push_back(std::move(first));
        state.splits.push_back(std::move(second));
      }
      break;
    case Verdict::transient: {
      ++metrics_.requests[response.transport_error.empty() ? "server_error" : "transport_error"];
      ++metrics_.retries_scheduled;
      record_error(*flight, answer, response.status);
      int attempts = 0;
      for (auto& live : flight->members) attempts = std::max(attempts, ++live.stored.attempts);
      const auto delay = backoff_.delay(attempts, rng_);
      log::warning("retry_scheduled", "zone={} kind={} items={} attempt={} delay_ms={} reason={}",
                   log::quote(zone_name), to_string(flight->kind), flight->members.size(), attempts,
                   delay.count(), log::quote(answer.message));
      requeue(std::move(flight->members), now + delay, true, answer.message);
      requeue(std::move(flight->covered), now + delay, false, "");
      break;
    }
  }
  finish_flight(flight);
  schedule_tick();
}

void Dispatcher::finish_success(const std::shared_ptr<Flight>& flight) {
  const auto wall = wall_ms();
  std::vector<std::int64_t> ids;
  for (const auto* group : {&flight->members, &flight->covered}) {
    for (const auto& live : *group) {
      ids.push_back(live.stored.id);
      ++metrics_.items_purged[live.stored.item.kind];
      metrics_.purge_latency.observe(static_cast<double>(wall - live.stored.created_ms) / 1000.0);
    }
  }
  metrics_.api_calls_saved += ids.size() - 1;
  log::debug("batch_done", "zone={} kind={} items={} covered={} ms={}", flight->zone_id,
             to_string(flight->kind), flight->members.size(), flight->covered.size(),
             duration_cast<milliseconds>(Clock::now() - flight->sent_at).count());
  commit_then_progress([ids = std::move(ids), wall](Store& store) { store.mark_done(ids, wall); });
}

void Dispatcher::requeue(std::vector<Live> targets, Clock::time_point not_before,
                         bool count_attempt, const std::string& error) {
  if (targets.empty()) return;
  const auto now = Clock::now();
  const auto wall = wall_ms();
  const auto not_before_ms = wall + duration_cast<milliseconds>(not_before - now).count();
  auto ids = collect_ids(targets);
  for (auto& live : targets) {
    live.not_before = not_before;
    if (!error.empty()) live.last_error = error;
    const auto id = live.stored.id;
    auto& queue = zones_[live.stored.zone_id];
    queue.pending.insert_or_assign(id, std::move(live));
  }
  commit_then_progress(
      [ids = std::move(ids), wall, not_before_ms, count_attempt, error](Store& store) {
        store.mark_retry(ids, wall, std::max(not_before_ms, wall), count_attempt, error);
      });
}

void Dispatcher::fail(std::vector<Live> targets, int code, const std::string& message) {
  if (targets.empty()) return;
  for (const auto& live : targets) {
    ++metrics_.items_failed[live.stored.item.kind];
    log::warning("item_failed", "zone={} kind={} item={} code={} message={}", live.stored.zone_id,
                 to_string(live.stored.item.kind), log::quote(live.stored.item.value), code,
                 log::quote(message));
  }
  auto ids = collect_ids(targets);
  const auto wall = wall_ms();
  commit_then_progress([ids = std::move(ids), wall, code, message](Store& store) {
    store.mark_failed(ids, wall, code, message);
  });
}

void Dispatcher::give_up_sweep(Clock::time_point /*now*/) {
  const auto wall = wall_ms();
  const auto limit = config_->retry.give_up_after.count();
  for (auto& [zone_id, queue] : zones_) {
    std::vector<Live> expired;
    for (auto it = queue.pending.begin(); it != queue.pending.end();) {
      if (wall - it->second.stored.created_ms > limit) {
        expired.push_back(std::move(it->second));
        it = queue.pending.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& live : expired) {
      const std::string reason = fmt::format(
          "gave up after {}h without a successful purge (last error: {})", limit / 3600000,
          live.last_error.empty() ? "none; never sent" : live.last_error);
      std::vector<Live> one;
      one.push_back(std::move(live));
      fail(std::move(one), 0, reason);
    }
  }
}

void Dispatcher::commit_then_progress(std::function<void(Store&)> job) {
  store_.run(
      [job = std::move(job)](Store& store) {
        job(store);
        return true;
      },
      std::function<void(std::exception_ptr, bool)>([this](const std::exception_ptr& error, bool) {
        if (error) {
          try {
            std::rethrow_exception(error);
          } catch (const std::exception& e) {
            // The store still says in_flight: the next start sends these again (at least once).
            log::error("storage_error", "op=record_outcome error={}", log::quote(e.what()));
          }
        }
        if (on_progress) on_progress();
      }));
}

void Dispatcher::finish_flight(const std::shared_ptr<Flight>& flight) {
  auto& state = accounts_.at(flight->account);
  --state.in_flight;
  --requests_in_flight_;
  auto& queue = zones_[flight->zone_id];
  const std::size_t n = flight->members.size() + flight->covered.size();
  queue.in_flight_targets -= std::min(queue.in_flight_targets, n);
  if (stopping_ && requests_in_flight_ == 0 && on_drained_) {
    auto drained = std::move(on_drained_);
    on_drained_ = nullptr;
    shutdown_timer_.cancel();
    boost::asio::post(io_, std::move(drained));
  }
}

boost::json::object Dispatcher::status_json() const {
  const auto now = Clock::now();
  boost::json::object out;
  boost::json::object queue;
  for (const auto& [zone_id, zone_queue] : zones_) {
    const Zone* zone = zone_by_id(zone_id);
    boost::json::object kinds;
    for (const auto& [id, live] : zone_queue.pending) {
      auto& slot = kinds[to_string(live.stored.item.kind)];
      slot = (slot.is_int64() ? slot.as_int64() : 0) + 1;
    }
    kinds["in_flight"] = zone_queue.in_flight_targets;
    queue[zone != nullptr ? zone->name : zone_id] = std::move(kinds);
  }
  out["queue"] = std::move(queue);
  out["pending"] = pending_count();
  out["requests_in_flight"] = requests_in_flight_;
  if (timer_at_) {
    out["next_dispatch_in_ms"] =
        std::max<std::int64_t>(0, duration_cast<milliseconds>(*timer_at_ - now).count());
  } else {
    out["next_dispatch_in_ms"] = nullptr;
  }
  boost::json::object accounts;
  for (const auto& account : config_->accounts) {
    const auto& state = accounts_.at(account.name);
    boost::json::object a;
    a["plan"] = to_string(account.plan);
    a["paused"] = state.auth_paused;
    a["pause_reason"] = state.auth_paused ? state.pause_reason : std::string();
    const auto paused = state.limiter.paused_until(now);
    a["rate_limited_for_ms"] =
        paused ? duration_cast<milliseconds>(*paused - now).count() : std::int64_t{0};
    a["flex_tokens"] = state.limiter.flex_tokens(now);
    a["url_tokens"] = state.limiter.url_tokens(now);
    a["global_used"] = state.limiter.global_used(now);
    a["requests_in_flight"] = state.in_flight;
    a["split_batches_waiting"] = state.splits.size();
    accounts[account.name] = std::move(a);
  }
  out["accounts"] = std::move(accounts);
  boost::json::array errors;
  for (const auto& e : recent_errors_) {
    errors.push_back(boost::json::object{{"at_ms", e.at_ms},
                                         {"account", e.account},
                                         {"zone", e.zone},
                                         {"verdict", e.verdict},
                                         {"status", e.status},
                                         {"code", e.code},
                                         {"message", e.message}});
  }
  out["recent_errors"] = std::move(errors);
  out["dry_run"] = config_->dry_run;
  return out;
}

void Dispatcher::render_gauges(MetricsText& text) const {
  const auto now = Clock::now();
  text.family("purgeq_queue_depth", "gauge", "Pending targets by zone and kind.");
  std::string oldest_lines;
  std::size_t in_backoff = 0;
  MetricsText oldest;
  for (const auto& [zone_id, queue] : zones_) {
    const Zone* zone = zone_by_id(zone_id);
    const std::string name = zone != nullptr ? zone->name : zone_id;
    std::map<Kind, std::pair<std::size_t, Clock::time_point>> by_kind;
    for (const auto& [id, live] : queue.pending) {
      auto [it, inserted] = by_kind.try_emplace(live.stored.item.kind, 0, live.accepted);
      ++it->second.first;
      it->second.second = std::min(it->second.second, live.accepted);
      if (live.not_before > now) ++in_backoff;
    }
    for (const auto& [kind, entry] : by_kind) {
      text.sample("purgeq_queue_depth", {{"zone", name}, {"kind", std::string(to_string(kind))}},
                  static_cast<double>(entry.first));
      oldest.sample("purgeq_queue_oldest_age_seconds",
                    {{"zone", name}, {"kind", std::string(to_string(kind))}},
                    std::chrono::duration<double>(now - entry.second).count());
    }
  }
  text.family("purgeq_queue_oldest_age_seconds", "gauge",
              "Age of the oldest pending target by zone and kind.");
  text.raw(oldest.str());
  text.family("purgeq_targets_in_backoff", "gauge", "Pending targets waiting for a retry backoff.");
  text.sample("purgeq_targets_in_backoff", {}, static_cast<double>(in_backoff));
  text.family("purgeq_requests_in_flight", "gauge", "Requests sent and not yet answered.");
  text.sample("purgeq_requests_in_flight", {}, static_cast<double>(requests_in_flight_));
  // Each family's samples must follow its own TYPE line: render them in two passes.
  text.family("purgeq_account_paused", "gauge",
              "1 while an account is paused, by reason (auth or rate_limit).");
  for (const auto& account : config_->accounts) {
    const auto& state = accounts_.at(account.name);
    text.sample("purgeq_account_paused", {{"account", account.name}, {"reason", "auth"}},
                state.auth_paused ? 1 : 0);
    text.sample("purgeq_account_paused", {{"account", account.name}, {"reason", "rate_limit"}},
                state.limiter.paused_until(now) ? 1 : 0);
  }
  text.family("purgeq_account_tokens", "gauge", "Tokens left in an account's buckets.");
  for (const auto& account : config_->accounts) {
    const auto& state = accounts_.at(account.name);
    text.sample("purgeq_account_tokens", {{"account", account.name}, {"bucket", "flex"}},
                state.limiter.flex_tokens(now));
    text.sample("purgeq_account_tokens", {{"account", account.name}, {"bucket", "url"}},
                state.limiter.url_tokens(now));
  }
}

std::string Dispatcher::status_line() const {
  std::string line =
      fmt::format("{} pending, {} requests in flight", pending_count(), requests_in_flight_);
  for (const auto& [name, state] : accounts_) {
    if (state.auth_paused) line += fmt::format("; account {} paused (auth)", name);
  }
  if (config_->dry_run) line += "; dry run";
  return line;
}

}  // namespace purgeq
