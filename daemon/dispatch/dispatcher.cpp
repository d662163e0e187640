// The delivery driver: engines decide, this performs. Every store call here is bounded (one
// batch, or one chunk of a large update), so acknowledgements keep flowing between them.
#include "dispatch/dispatcher.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <cmath>

#include "dispatch/request_body.h"
#include "model/wall_clock.h"
#include "observe/log.h"

namespace purgeq {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr auto kGiveUpSweepInterval = std::chrono::seconds(10);
constexpr std::size_t kRecentErrors = 20;
// Rows one store step may touch when a flight is recorded, covered or given up: large enough to
// be efficient, small enough that submissions waiting behind it are acknowledged within
// milliseconds.
constexpr std::int64_t kStepRows = 5000;
// How long before an outcome that could not be recorded (a storage error) is recorded again.
constexpr auto kSettleRetry = std::chrono::seconds(1);
// How often a zone's URL queue is checked for escalation at most: each check reads a bounded
// number of rows (planner/escalation.h), and a backlog worth escalating does not vanish in a
// second.
constexpr auto kEscalationCheckInterval = std::chrono::seconds(1);
// A shared store: how often each daemon renews its claim on the accounts (and retries the ones
// another daemon holds). A sender that dies is replaced within about this long once the server
// has seen its connection close; each round also refreshes the shared queue's counts.
constexpr auto kClaimInterval = std::chrono::seconds(1);

// A claim round's result, with the pacing history of the accounts it won.
struct ClaimRound {
  SenderClaims claims;
  std::vector<SendRecord> sends;
};

// A take, or the escalations that made it unnecessary: the URLs now wait for the prefixes.
struct TakeOrEscalate {
  TakeResult taken;
  std::vector<Escalation> escalated;
};

std::int64_t to_ms(Clock::duration d) {
  return duration_cast<milliseconds>(d).count();
}

// The buckets refill a little slower than Cloudflare's: a request reaches Cloudflare some
// milliseconds after purgeqd charged it, and concurrent requests do not always arrive in the order
// they were charged, so exact pacing meets Cloudflare's bucket a few tokens short now and then (a
// 429 at 20,000 URLs/s in the drain benchmark). 3 % is 600 URL tokens a second at that rate:
// more than the jitter of a local connection, and little throughput.
constexpr double kPacingMargin = 0.97;

// A zone's pending targets by kind (URLs with and without headers together), from its counts.
std::array<std::int64_t, kKindCount> pending_by_kind(const QueueCounts::PerGroup& groups) {
  std::array<std::int64_t, kKindCount> pending{};
  for (int g = 0; g < kGroupCount; ++g) {
    pending[static_cast<std::size_t>(kind_of(static_cast<Group>(g)))] +=
        groups[static_cast<std::size_t>(g)][static_cast<std::size_t>(TargetState::pending)];
  }
  return pending;
}

Limits paced(Limits limits) {
  limits.requests_per_second *= kPacingMargin;
  limits.urls_per_second *= kPacingMargin;
  // The same for the API-wide window: its oldest request expires a second later here.
  limits.global_window += std::chrono::seconds(1);
  return limits;
}

}  // namespace

Dispatcher::Dispatcher(boost::asio::io_context& io, StoreWorker& store, Metrics& metrics,
                       std::shared_ptr<const Config> config)
    : io_(io),
      store_(store),
      metrics_(metrics),
      config_(std::move(config)),
      http_(io),
      timer_(io),
      shutdown_timer_(io),
      claim_timer_(io) {}

Dispatcher::~Dispatcher() = default;

std::vector<std::string> Dispatcher::zones_of(std::size_t account_index) const {
  std::vector<std::string> ids;
  for (const auto& zone : config_->zones) {
    if (zone.account_index == account_index) ids.push_back(zone.id);
  }
  return ids;
}

std::string Dispatcher::zone_name(const std::string& zone_id) const {
  const Zone* zone = config_->find_zone(zone_id);
  return zone != nullptr ? zone->name : zone_id;
}

RecentSends Dispatcher::recent_of(const std::string& account, const Limits& limits,
                                  const std::vector<SendRecord>& sends) const {
  const auto now = Clock::now();
  const auto wall = wall_ms();
  RecentSends recent;
  recent.horizon = limits.global_window;
  for (const auto& send : sends) {
    if (send.account != account) continue;
    const auto at = now - milliseconds(std::max<std::int64_t>(0, wall - send.at_ms));
    recent.all.push_back(at);
    (send.kind == Kind::file ? recent.last_urls : recent.last_flex) = at;
  }
  return recent;
}

void Dispatcher::start(const std::vector<SendRecord>& recent_sends) {
  const auto now = Clock::now();
  // Flight numbers lead with the host id, so that the flights of daemons sharing a store never
  // collide (a settle names its rows by flight).
  next_flight_ = (store_.host_id() << 32) + 1;
  for (std::size_t i = 0; i < config_->accounts.size(); ++i) {
    const auto& account = config_->accounts[i];
    Account state;
    state.config_index = i;
    state.engine = std::make_unique<AccountEngine>(
        account.name, paced(account.limits), Backoff(config_->retry.initial, config_->retry.max),
        zones_of(i), [this] { return next_flight_++; },
        recent_of(account.name, account.limits, recent_sends), now);
    state.engine->set_lane_share_every(config_->batching.lane_share_every);
    // A shared store: nothing is sent for an account before a claim round wins its lock.
    state.sending = !store_.shared();
    accounts_.emplace(account.name, std::move(state));
  }
  started_ = true;
  if (store_.shared()) claim_round();
  schedule_tick();
}

void Dispatcher::claim_round() {
  if (stopping_) return;
  SenderRequest request;
  request.node = config_->storage.node;
  request.now_ms = wall_ms();
  std::int64_t horizon_ms = 0;
  for (const auto& account : config_->accounts) {
    request.accounts.push_back(account.name);
    horizon_ms = std::max(horizon_ms, to_ms(account.limits.global_window));
  }
  std::vector<std::string> sending;
  for (const auto& [name, account] : accounts_) {
    if (account.sending) sending.push_back(name);
  }
  store_.run(
      [request, horizon_ms, sending](Store& store) {
        ClaimRound round;
        round.claims = store.claim_senders(request, kStepRows);
        // An account this daemon starts sending for paces from what any daemon sent for it.
        const bool gains = std::any_of(round.claims.sending.begin(), round.claims.sending.end(),
                                       [&](const std::string& account) {
                                         return std::find(sending.begin(), sending.end(),
                                                          account) == sending.end();
                                       });
        if (gains) round.sends = store.recent_sends(request.now_ms - horizon_ms);
        return round;
      },
      std::function<void(std::exception_ptr, ClaimRound)>(
          [this](const std::exception_ptr& error, const ClaimRound& round) {
            if (error) {
              // The session, and with it every account lock, may be gone: send nothing until a
              // round says which accounts are still this daemon's.
              log::warning("storage_error", "op=claim_senders error={}",
                           log::quote(log::describe(error)));
              for (auto& [name, account] : accounts_) {
                if (account.sending) stop_sending(name, "storage_error");
              }
            } else {
              claimed(round.claims, round.sends);
            }
            if (stopping_) return;
            claim_timer_.expires_after(kClaimInterval);
            claim_timer_.async_wait([this](boost::system::error_code ec) {
              if (!ec) claim_round();
            });
          }));
}

void Dispatcher::claimed(const SenderClaims& claims, const std::vector<SendRecord>& sends) {
  senders_ = claims.senders;
  const auto now = Clock::now();
  const auto has = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  for (auto& [name, account] : accounts_) {
    const bool now_sending = has(claims.sending, name);
    if (now_sending && !account.sending) {
      if (account.config_index < config_->accounts.size()) {
        const auto& limits = config_->accounts[account.config_index].limits;
        account.engine->resume_sending(recent_of(name, limits, sends), now);
      }
      log::notice("sender_gained", "account={} node={} host_id={}", log::quote(name),
                  log::quote(config_->storage.node), store_.host_id());
      account.sending = true;
    } else if (!now_sending && account.sending) {
      stop_sending(name, "lock_lost");
    }
  }
  if (claims.reclaimed > 0) {
    log::notice("reclaimed", "rows={} note={}", claims.reclaimed,
                log::quote("in flight under a daemon that is gone; sent again"));
  }
  // Another daemon's settles reach this one's intent waiters through the queue watch; should
  // the watch be away, they look again at least every round.
  if (on_progress) on_progress();
  schedule_tick();
}

void Dispatcher::stop_sending(const std::string& account, std::string_view reason) {
  auto it = accounts_.find(account);
  if (it == accounts_.end() || !it->second.sending) return;
  it->second.sending = false;
  // Halves of refused batches wait for this daemon's drive(), which no longer runs for the
  // account: their rows go back to the queue for the new sender.
  for (const auto& [flight, group] : it->second.engine->release_splits()) {
    SettleRequest release;
    release.flight = flight;
    release.outcome = Settlement::released;
    release.now_ms = wall_ms();
    settle_steps(std::move(release), kind_of(group));
  }
  log::notice("sender_lost", "account={} reason={} note={}", log::quote(account), reason,
              log::quote("requests in flight are answered and recorded; no new ones"));
}

void Dispatcher::queued_elsewhere() {
  if (!started_ || stopping_) return;
  const bool any_sending = std::any_of(accounts_.begin(), accounts_.end(),
                                       [](const auto& entry) { return entry.second.sending; });
  if (!any_sending) return;  // the claim rounds keep the counts fresh enough for status
  if (refreshing_) {
    refresh_again_ = true;
    return;
  }
  refreshing_ = true;
  // An empty round: the writer publishes the counts after every commit.
  store_.run([](Store& /*store*/) { return true; },
             std::function<void(std::exception_ptr, bool)>([this](const std::exception_ptr&, bool) {
               refreshing_ = false;
               schedule_tick();
               if (std::exchange(refresh_again_, false)) queued_elsewhere();
             }));
}

void Dispatcher::reconfigure(std::shared_ptr<const Config> config) {
  config_ = std::move(config);
  const auto now = Clock::now();
  std::map<std::string, Account> kept;
  for (std::size_t i = 0; i < config_->accounts.size(); ++i) {
    const auto& account = config_->accounts[i];
    auto it = accounts_.find(account.name);
    if (it == accounts_.end()) {
      Account state;
      state.config_index = i;
      // A new account has no history: it starts with full buckets, like a new database.
      state.engine = std::make_unique<AccountEngine>(
          account.name, paced(account.limits), Backoff(config_->retry.initial, config_->retry.max),
          zones_of(i), [this] { return next_flight_++; }, RecentSends{}, now);
      state.engine->set_lane_share_every(config_->batching.lane_share_every);
      // Shared: the next claim round tries its lock (and paces it from the store's history).
      state.sending = !store_.shared();
      kept.emplace(account.name, std::move(state));
      continue;
    }
    if (it->second.engine->auth_paused()) {
      log::notice("account_resumed", "account={} reason=reload", log::quote(account.name));
    }
    it->second.config_index = i;
    it->second.engine->reconfigure(paced(account.limits),
                                   Backoff(config_->retry.initial, config_->retry.max), zones_of(i),
                                   now);
    it->second.engine->set_lane_share_every(config_->batching.lane_share_every);
    kept.emplace(account.name, std::move(it->second));
    accounts_.erase(it);
  }
  // Accounts removed by the reload keep their flights until answered; they send nothing new.
  for (auto& [name, state] : accounts_) {
    if (state.engine->in_flight() > 0 || state.engine->taking()) {
      state.config_index = static_cast<std::size_t>(-1);
      kept.emplace(name, std::move(state));
    }
  }
  accounts_ = std::move(kept);
  schedule_tick();
}

void Dispatcher::shutdown(Clock::duration deadline, std::function<void()> done) {
  stopping_ = true;
  timer_.cancel();
  claim_timer_.cancel();
  if (requests_in_flight_ == 0 && steps_in_progress_ == 0) {
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

void Dispatcher::flight_ended() {
  if (stopping_ && requests_in_flight_ == 0 && steps_in_progress_ == 0 && on_drained_) {
    auto drained = std::move(on_drained_);
    on_drained_ = nullptr;
    shutdown_timer_.cancel();
    boost::asio::post(io_, std::move(drained));
  }
}

std::size_t Dispatcher::requests_in_flight() const {
  return requests_in_flight_;
}

void Dispatcher::wake() {
  schedule_tick();
}

void Dispatcher::schedule_tick() {
  if (tick_posted_ || stopping_ || !started_) return;
  tick_posted_ = true;
  // Posting coalesces the many triggers of one loop turn (submissions, answers) into one look.
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
  std::optional<Clock::time_point> wake;
  if (now - last_sweep_ >= kGiveUpSweepInterval && !sweeping_) {
    last_sweep_ = now;
    give_up_sweep();
  }
  wake = last_sweep_ + kGiveUpSweepInterval;
  for (auto& [name, account] : accounts_) {
    if (account.config_index == static_cast<std::size_t>(-1) || !account.sending) continue;
    drive(name, now, wake);
  }
  if (wake) arm_timer(std::max(*wake, now + milliseconds(1)));
}

void Dispatcher::drive(const std::string& account, Clock::time_point now,
                       std::optional<Clock::time_point>& wake) {
  auto& engine = *accounts_.at(account).engine;
  const auto snap = snapshot();
  // Splits leave at once; a take is asynchronous and comes back through take().
  for (;;) {
    auto action = engine.next(now, snap->counts);
    if (auto* waiting = std::get_if<WaitAction>(&action)) {
      if (waiting->until && (!wake || *waiting->until < *wake)) wake = waiting->until;
      return;
    }
    if (auto* sending = std::get_if<SendAction>(&action)) {
      // A half of a refused batch: its send is recorded beside it (a take records its own).
      const auto& limits = config_->accounts.at(accounts_.at(account).config_index).limits;
      const auto sent_ms = wall_ms();
      store_.run(
          [send = SendRecord{account, kind_of(sending->flight.group), sent_ms},
           keep = sent_ms - to_ms(limits.global_window)](Store& store) {
            store.record_send(send, keep);
            return true;
          },
          std::function<void(std::exception_ptr, bool)>([](const std::exception_ptr&, bool) {}));
      send(account, std::move(sending->flight));
      continue;
    }
    take(account, std::get<TakeAction>(action));
    return;
  }
}

void Dispatcher::take(const std::string& account, const TakeAction& action) {
  const auto& limits = config_->accounts.at(accounts_.at(account).config_index).limits;
  TakeRequest request;
  request.zone_id = action.zone_id;
  request.group = action.group;
  request.lane = action.lane;
  request.flight = action.flight;
  request.caps = BatchCaps{limits.max_ops_per_request, limits.max_urls_per_request};
  // The limiter's budget bounds the batch: it is cut to what may be sent now.
  request.budget = action.budget;
  // A partial head waits for companions only when the engine says the budget is tight.
  request.linger_ms =
      config_->batching.adaptive && !action.linger ? 0 : config_->batching.linger.count();
  request.now_ms = wall_ms();
  request.account = account;
  request.keep_sends_after_ms = request.now_ms - to_ms(limits.global_window);
  const auto escalation = escalation_check(account, action, Clock::now());
  ++steps_in_progress_;
  store_.run(
      [request, escalation](Store& store) {
        TakeOrEscalate out;
        if (escalation) out.escalated = store.escalate(*escalation);
        // An escalation leaves the URLs to its prefix: the engine finds the prefix queue next.
        if (out.escalated.empty()) out.taken = store.take(request, kStepRows);
        return out;
      },
      std::function<void(std::exception_ptr, TakeOrEscalate)>(
          [this, account, action](const std::exception_ptr& error, TakeOrEscalate outcome) {
            --steps_in_progress_;
            for (const auto& escalated : outcome.escalated) {
              const std::string zone = zone_name(action.zone_id);
              ++metrics_.escalations[zone];
              log::notice("escalated", "zone={} prefix={} urls={} known={} escalation={}",
                          log::quote(zone), log::quote(escalated.prefix), escalated.urls,
                          escalated.known, escalated.id);
            }
            TakeResult result = std::move(outcome.taken);
            auto it = accounts_.find(account);
            if (it == accounts_.end()) return;
            auto& engine = *it->second.engine;
            const auto now = Clock::now();
            if (!error && !outcome.escalated.empty()) {
              engine.on_escalated(action);
              flight_ended();
              schedule_tick();
              return;
            }
            if (error) {
              if (failed_with<NotSenderError>(error)) {
                stop_sending(account, "lock_lost");
              } else {
                log::error("storage_error", "op=take zone={} error={}",
                           log::quote(zone_name(action.zone_id)), log::quote(log::describe(error)));
              }
              engine.on_take_failed(action, now);
              flight_ended();
              schedule_tick();
              return;
            }
            const bool coverage_pending = result.coverage_pending;
            const auto watermark = result.watermark;
            const auto riders = result.riders;
            auto flight = engine.on_taken(action, std::move(result), now, snapshot()->counts);
            for (const auto released : engine.drain_releases()) {
              SettleRequest release;
              release.flight = released;
              release.outcome = Settlement::released;
              release.now_ms = wall_ms();
              settle_steps(std::move(release), kind_of(action.group));
            }
            if (flight) {
              if (riders > 0) {
                log::debug("batch_taken", "zone={} kind={} items={} riders={}",
                           log::quote(zone_name(flight->zone_id)),
                           to_string(kind_of(flight->group)), flight->members.size(), riders);
              }
              if (coverage_pending) {
                cover_then_send(account, std::move(*flight), watermark);
              } else {
                send(account, std::move(*flight));
              }
            }
            flight_ended();
            schedule_tick();
          }));
}

std::optional<EscalationRequest> Dispatcher::escalation_check(const std::string& account,
                                                              const TakeAction& action,
                                                              Clock::time_point now) {
  if (action.group != Group::file && action.group != Group::file_with_headers) return std::nullopt;
  const Zone* zone = config_->find_zone(action.zone_id);
  const auto it = accounts_.find(account);
  if (zone == nullptr || !zone->escalate.enabled() || it == accounts_.end() ||
      it->second.config_index >= config_->accounts.size()) {
    return std::nullopt;
  }
  if (const auto checked = escalation_checked_.find(zone->id);
      checked != escalation_checked_.end() && now - checked->second < kEscalationCheckInterval) {
    return std::nullopt;
  }
  // The account's URL bucket serves all its zones: their pending URLs together are what it must
  // send.
  const auto snap = snapshot();
  UrlBudget budget;
  for (const auto& zone_id : zones_of(it->second.config_index)) {
    if (const auto found = snap->counts.zones.find(zone_id); found != snap->counts.zones.end()) {
      budget.pending_urls += pending_by_kind(found->second)[static_cast<std::size_t>(Kind::file)];
    }
  }
  const auto& limiter = it->second.engine->limiter();
  budget.url_tokens = limiter.url_tokens(now);
  budget.flex_tokens = limiter.flex_tokens(now);
  budget.urls_per_second = paced(config_->accounts[it->second.config_index].limits).urls_per_second;
  budget.horizon_seconds = std::chrono::duration<double>(zone->escalate.horizon).count();
  if (!url_budget_binding(budget)) return std::nullopt;
  escalation_checked_[zone->id] = now;
  EscalationRequest request;
  request.zone_id = zone->id;
  request.group = action.group;
  request.lane = action.lane;
  request.rule.prefixes = zone->escalate.prefixes;
  request.rule.depth = zone->escalate.depth;
  request.rule.min_urls = zone->escalate.min_urls;
  request.rule.min_share = zone->escalate.min_share;
  request.now_ms = wall_ms();
  return request;
}

void Dispatcher::cover_then_send(const std::string& account, EngineFlight flight,
                                 std::int64_t watermark) {
  // A purge-everything over a large backlog: mark what it covers chunk by chunk, each its own
  // commit, and send only when all is marked (only targets accepted before the send count).
  auto shared = std::make_shared<EngineFlight>(std::move(flight));
  ++steps_in_progress_;
  store_.run(
      [shared, watermark](Store& store) {
        return store.cover_step(shared->zone_id, shared->id, shared->members, watermark, kStepRows);
      },
      std::function<void(std::exception_ptr, std::int64_t)>(
          [this, account, shared, watermark](const std::exception_ptr& error,
                                             std::int64_t covered) {
            --steps_in_progress_;
            if (!error && covered >= kStepRows && !stopping_) {
              cover_then_send(account, std::move(*shared), watermark);
            } else if (!stopping_) {
              // A storage error leaves some covered targets pending: they are sent on their own
              // later, which costs a request, never a purge.
              send(account, std::move(*shared));
            }
            flight_ended();
          }));
}

void Dispatcher::send(const std::string& account, EngineFlight flight) {
  auto it = accounts_.find(account);
  const Zone* zone = config_->find_zone(flight.zone_id);
  const Account* state = it != accounts_.end() ? &it->second : nullptr;
  if (stopping_ || zone == nullptr || state == nullptr ||
      state->config_index >= config_->accounts.size() ||
      config_->accounts[state->config_index].name != account) {
    // Shutting down (left in flight for the next start), or the zone moved in a reload.
    if (state != nullptr) {
      auto outcome = state->engine->abandon(flight.id);
      if (!stopping_) record(flight, std::move(outcome));
    }
    return;
  }
  const auto& config_account = config_->accounts[state->config_index];
  const Kind kind = kind_of(flight.group);
  std::vector<const Item*> items;
  items.reserve(flight.members.size());
  for (const auto& member : flight.members) items.push_back(&member.item);
  std::string body = build_request_body(kind, items);
  ++requests_in_flight_;
  if (config_->dry_run) {
    log::info("batch_dry_run", "zone={} kind={} items={} body_bytes={} body={}",
              log::quote(zone->name), to_string(kind), flight.members.size(), body.size(),
              log::quote(body.substr(0, 512)));
    ++metrics_.requests[{account, "dry_run"}];
    boost::asio::post(io_, [this, account, flight = std::move(flight)] {
      HttpResponse ok;
      ok.status = 200;
      ok.body = R"({"success":true,"errors":[],"messages":[],"result":{"id":"dry-run"}})";
      on_answer(account, flight, ok);
    });
    return;
  }
  log::info("batch_sent", "zone={} account={} kind={} lane={} items={}{}", log::quote(zone->name),
            log::quote(account), to_string(kind), to_string(flight.lane), flight.members.size(),
            flight.probe ? " probe=true" : "");
  HttpRequest request;
  request.url = fmt::format("{}/zones/{}/purge_cache", config_->cloudflare.api_base, zone->id);
  request.headers.push_back("Authorization: Bearer " + config_account.token);
  request.headers.emplace_back("Content-Type: application/json");
  request.body = std::move(body);
  request.timeout = config_->cloudflare.timeout;
  http_.post(std::move(request), [this, account, flight = std::move(flight),
                                  sent = Clock::now()](const HttpResponse& response) {
    metrics_.observe_request(account, std::chrono::duration<double>(Clock::now() - sent).count());
    on_answer(account, flight, response);
  });
}

void Dispatcher::on_answer(const std::string& account, const EngineFlight& flight,
                           const HttpResponse& response) {
  --requests_in_flight_;
  auto it = accounts_.find(account);
  if (it == accounts_.end()) {
    flight_ended();
    return;
  }
  auto& engine = *it->second.engine;
  if (stopping_ && response.transport_error == "cancelled") {
    // Left in_flight on disk on purpose: the next start sends it again.
    engine.abandon(flight.id);
    flight_ended();
    return;
  }
  const auto now = Clock::now();
  const Classified answer = classify(response);
  const bool was_paused = engine.auth_paused();
  auto outcome = engine.on_answer(flight.id, answer, now);
  const std::string zone = zone_name(flight.zone_id);
  const Kind kind = kind_of(flight.group);
  if (was_paused && !engine.auth_paused()) {
    log::notice("account_resumed", "account={} reason=answer verdict={}", log::quote(account),
                to_string(answer.verdict));
  }
  switch (answer.verdict) {
    case Verdict::success:
      if (!config_->dry_run) ++metrics_.requests[{account, "success"}];
      break;
    case Verdict::rate_limited: {
      ++metrics_.requests[{account, "rate_limited"}];
      ++metrics_.rate_limited;
      record_error(account, flight, answer);
      const auto resume = engine.limiter().paused_until(now).value_or(now);
      log::warning("rate_limited", "account={} zone={} kind={} retry_after_ms={}",
                   log::quote(account), log::quote(zone), to_string(kind), to_ms(resume - now));
      break;
    }
    case Verdict::auth_error:
      ++metrics_.requests[{account, "auth_error"}];
      record_error(account, flight, answer);
      log::warning("account_paused",
                   "account={} reason=auth status={} code={} message={} next_probe_s={}",
                   log::quote(account), answer.status, answer.code, log::quote(answer.message),
                   duration_cast<std::chrono::seconds>(kAuthProbeInterval).count());
      break;
    case Verdict::zone_error:
      ++metrics_.requests[{account, "zone_error"}];
      record_error(account, flight, answer);
      log::error("zone_error", "zone={} status={} code={} message={}", log::quote(zone),
                 answer.status, answer.code, log::quote(answer.message));
      break;
    case Verdict::rejected:
      ++metrics_.requests[{account, "rejected"}];
      record_error(account, flight, answer);
      if (flight.members.size() <= 1) {
        for (const auto& member : flight.members) {
          log::warning("item_failed", "zone={} kind={} item={} code={} message={}",
                       log::quote(zone), to_string(kind), log::quote(member.item.value),
                       answer.code, log::quote(answer.message));
        }
      } else {
        log::info("batch_split", "zone={} kind={} items={} code={} message={}", log::quote(zone),
                  to_string(kind), flight.members.size(), answer.code, log::quote(answer.message));
      }
      break;
    case Verdict::transient: {
      ++metrics_.requests[{account,
                           response.transport_error.empty() ? "server_error" : "transport_error"}];
      ++metrics_.retries_scheduled;
      record_error(account, flight, answer);
      const auto until = engine.backoff_until(now).value_or(now);
      log::warning("retry_scheduled",
                   "account={} zone={} kind={} items={} attempt={} delay_ms={} reason={}",
                   log::quote(account), log::quote(zone), to_string(kind), flight.members.size(),
                   engine.consecutive_failures(), to_ms(until - now), log::quote(answer.message));
      break;
    }
  }
  record(flight, std::move(outcome));
  flight_ended();
  schedule_tick();
}

void Dispatcher::record(const EngineFlight& flight, FlightOutcome outcome) {
  const Kind kind = kind_of(flight.group);
  const auto now_ms = wall_ms();
  for (auto& off : outcome.split_off) {
    ++steps_in_progress_;
    store_.run(
        [ids = off.ids, id = off.flight](Store& store) {
          store.move_to_flight(ids, id);
          return true;
        },
        std::function<void(std::exception_ptr, bool)>([this](const std::exception_ptr&, bool) {
          --steps_in_progress_;
          flight_ended();
        }));
    if (off.settle_now) {
      SettleRequest request;
      request.flight = off.flight;
      request.outcome = *off.settle_now;
      request.now_ms = now_ms;
      request.code = outcome.code;
      request.message = outcome.message;
      settle_steps(std::move(request), kind);
    }
  }
  SettleRequest request;
  request.flight = flight.id;
  request.outcome = outcome.settlement;
  request.now_ms = now_ms;
  request.code = outcome.code;
  request.message = outcome.message;
  request.count_attempt = outcome.count_attempt;
  if (outcome.settlement == Settlement::retry || outcome.settlement == Settlement::failed) {
    for (const auto& member : flight.members) request.member_ids.push_back(member.id);
  }
  settle_steps(std::move(request), kind);
}

void Dispatcher::settle_steps(SettleRequest request, Kind kind) {
  ++steps_in_progress_;
  auto shared = std::make_shared<SettleRequest>(std::move(request));
  store_.run([shared](Store& store) { return store.settle(*shared, kStepRows); },
             std::function<void(std::exception_ptr, Settled)>(
                 [this, shared, kind](const std::exception_ptr& error, Settled settled) {
                   --steps_in_progress_;
                   if (error) {
                     log::error("storage_error", "op=record_outcome error={} retry_in_ms={}",
                                log::quote(log::describe(error)), to_ms(kSettleRetry));
                     // The rows still say in_flight and nothing else will move them: record the
                     // outcome again shortly (a full disk frees up, a locked database unlocks),
                     // rather than leaving them stuck until a restart.
                     if (!stopping_) {
                       auto timer = std::make_shared<boost::asio::steady_timer>(io_, kSettleRetry);
                       ++steps_in_progress_;
                       timer->async_wait([this, timer, shared, kind](boost::system::error_code) {
                         --steps_in_progress_;
                         if (stopping_) {
                           flight_ended();
                           return;
                         }
                         settle_steps(std::move(*shared), kind);
                       });
                     }
                   } else {
                     count_settled(settled, shared->outcome);
                     if (shared->outcome == Settlement::failed && settled.rows > 1) {
                       log::warning("items_failed", "kind={} items={} code={} message={}",
                                    to_string(kind), settled.rows, shared->code,
                                    log::quote(shared->message));
                     }
                     if (settled.more) {
                       shared->member_ids.clear();  // applied by the first step
                       settle_steps(std::move(*shared), kind);
                     }
                   }
                   if (on_progress) on_progress();
                   flight_ended();
                   schedule_tick();
                 }));
}

void Dispatcher::count_settled(const Settled& settled, Settlement outcome) {
  const auto add_by_kind = [&](std::map<Kind, std::uint64_t>& counter) {
    for (int k = 0; k < kKindCount; ++k) {
      if (const auto n = settled.by_kind[static_cast<std::size_t>(k)]; n > 0) {
        counter[static_cast<Kind>(k)] += n;
      }
    }
  };
  if (outcome == Settlement::done) {
    add_by_kind(metrics_.items_purged);
    const auto wall = wall_ms();
    for (const auto created : settled.created_ms) {
      metrics_.purge_latency.observe(static_cast<double>(wall - created) / 1000.0);
    }
    if (settled.rows > 0) metrics_.api_calls_saved += settled.rows - 1;
  } else if (outcome == Settlement::failed) {
    add_by_kind(metrics_.items_failed);
  }
}

void Dispatcher::give_up_sweep() {
  const auto now = wall_ms();
  const auto limit = config_->retry.give_up_after.count();
  const std::string prefix =
      fmt::format("gave up after {} without a successful purge (last error: ",
                  format_duration(config_->retry.give_up_after));
  sweeping_ = true;
  ++steps_in_progress_;
  store_.run([before = now - limit, now,
              prefix](Store& store) { return store.give_up_step(before, now, prefix, kStepRows); },
             std::function<void(std::exception_ptr, Settled)>(
                 [this](const std::exception_ptr& error, Settled settled) {
                   --steps_in_progress_;
                   sweeping_ = false;
                   if (!error && settled.rows > 0) {
                     count_settled(settled, Settlement::failed);
                     log::warning("items_gave_up", "items={} give_up_after={}", settled.rows,
                                  format_duration(config_->retry.give_up_after));
                     if (on_progress) on_progress();
                     if (settled.more && !stopping_) give_up_sweep();
                   }
                   flight_ended();
                 }));
}

void Dispatcher::record_error(const std::string& account, const EngineFlight& flight,
                              const Classified& answer) {
  recent_errors_.push_back(RecentError{wall_ms(), account, zone_name(flight.zone_id),
                                       std::string(to_string(answer.verdict)), answer.status,
                                       answer.code, answer.message});
  while (recent_errors_.size() > kRecentErrors) recent_errors_.pop_front();
}

boost::json::object Dispatcher::status_json(const StoreSnapshot& snapshot) const {
  const auto now = Clock::now();
  boost::json::object out;
  boost::json::object queue;
  for (const auto& [zone_id, groups] : snapshot.counts.zones) {
    boost::json::object kinds;
    const auto pending = pending_by_kind(groups);
    std::int64_t in_flight = 0;
    for (const auto& states : groups)
      in_flight += states[static_cast<std::size_t>(TargetState::in_flight)];
    for (int k = 0; k < kKindCount; ++k) {
      if (pending[static_cast<std::size_t>(k)] > 0) {
        kinds[to_string(static_cast<Kind>(k))] = pending[static_cast<std::size_t>(k)];
      }
    }
    if (kinds.empty() && in_flight == 0) continue;
    kinds["in_flight"] = in_flight;
    if (const Zone* zone = config_->find_zone(zone_id); zone != nullptr && !kinds.empty()) {
      kinds["drain_estimate_s"] =
          drain_estimate(config_->accounts[zone->account_index].name, pending);
    }
    queue[zone_name(zone_id)] = std::move(kinds);
  }
  out["queue"] = std::move(queue);
  out["pending"] = snapshot.counts.total(TargetState::pending);
  boost::json::object lanes;
  for (const Lane lane : kLanes) lanes[to_string(lane)] = snapshot.counts.lane_total(lane);
  out["pending_by_lane"] = std::move(lanes);
  out["in_flight_items"] = snapshot.counts.total(TargetState::in_flight);
  out["requests_in_flight"] = requests_in_flight_;
  // Nothing pending: the timer only paces sweeps, and "next dispatch in 50 s" would mislead.
  if (timer_at_ && snapshot.counts.total(TargetState::pending) > 0) {
    out["next_dispatch_in_ms"] = std::max<std::int64_t>(0, to_ms(*timer_at_ - now));
  }
  boost::json::object accounts;
  for (const auto& account : config_->accounts) {
    auto it = accounts_.find(account.name);
    if (it == accounts_.end()) continue;
    const auto& engine = *it->second.engine;
    boost::json::object a;
    a["plan"] = to_string(account.plan);
    a["paused"] = engine.auth_paused();
    a["pause_reason"] = engine.auth_paused() ? engine.pause_reason() : std::string();
    const auto paused = engine.limiter().paused_until(now);
    a["rate_limited_for_ms"] = paused ? to_ms(*paused - now) : std::int64_t{0};
    const auto backoff = engine.backoff_until(now);
    a["backoff_for_ms"] = backoff ? to_ms(*backoff - now) : std::int64_t{0};
    a["consecutive_failures"] = engine.consecutive_failures();
    a["flex_tokens"] = engine.limiter().flex_tokens(now);
    a["url_tokens"] = engine.limiter().url_tokens(now);
    a["global_used"] = engine.limiter().global_used(now);
    a["requests_in_flight"] = engine.in_flight();
    a["split_batches_waiting"] = engine.splits_waiting();
    a["sending"] = it->second.sending;
    if (store_.shared()) a["sender"] = sender_json(account.name);
    PendingByKind pending{};
    for (const auto& zone_id : zones_of(it->second.config_index)) {
      const auto found = snapshot.counts.zones.find(zone_id);
      if (found == snapshot.counts.zones.end()) continue;
      const auto of_zone = pending_by_kind(found->second);
      for (std::size_t k = 0; k < pending.size(); ++k) pending[k] += of_zone[k];
    }
    a["drain_estimate_s"] = drain_estimate(account.name, pending);
    accounts[account.name] = std::move(a);
  }
  out["accounts"] = std::move(accounts);
  boost::json::array errors;
  const auto now_ms = wall_ms();
  for (const auto& e : recent_errors_) {
    errors.push_back(
        boost::json::object{{"at_ms", e.at_ms},
                            {"age_s", std::max<std::int64_t>(0, now_ms - e.at_ms) / 1000},
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

boost::json::value Dispatcher::sender_json(const std::string& account) const {
  for (const auto& sender : senders_) {
    if (sender.account != account || !sender.live) continue;
    return boost::json::object{{"node", sender.node},
                               {"host_id", sender.host},
                               {"this_host", sender.host == store_.host_id()},
                               {"since_ms", sender.since_ms}};
  }
  // Nobody holds the account's lock now (a sender just died; the next claim round takes it).
  return boost::json::object{
      {"node", nullptr}, {"host_id", nullptr}, {"this_host", false}, {"since_ms", nullptr}};
}

std::int64_t Dispatcher::drain_estimate(const std::string& account,
                                        const PendingByKind& pending) const {
  const purgeq::Account* config_account = nullptr;
  for (const auto& candidate : config_->accounts) {
    if (candidate.name == account) config_account = &candidate;
  }
  if (config_account == nullptr) return 0;
  return static_cast<std::int64_t>(
      std::ceil(drain_seconds(paced(config_account->limits), pending)));
}

const Dispatcher::RecentError* Dispatcher::last_error_of(const std::string& account) const {
  for (auto it = recent_errors_.rbegin(); it != recent_errors_.rend(); ++it) {
    if (it->account == account) return &*it;
  }
  return nullptr;
}

boost::json::object Dispatcher::waiting_for(const std::string& zone_id, Lane lane,
                                            const StoreSnapshot& snapshot) const {
  const auto now = Clock::now();
  const auto seconds_until = [now](Clock::time_point when) {
    return std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(
                                         when - now + std::chrono::milliseconds(999))
                                         .count());
  };
  boost::json::object out{{"zone", zone_name(zone_id)}};
  const Zone* zone = config_->find_zone(zone_id);
  if (zone == nullptr) {
    // Removed by a reload: its items stay queued until the zone is configured again.
    out["state"] = "zone_not_configured";
    return out;
  }
  const auto& account = config_->accounts[zone->account_index];
  out["account"] = account.name;
  PendingByKind pending{};
  if (const auto found = snapshot.counts.zones.find(zone_id);
      found != snapshot.counts.zones.end()) {
    pending = pending_by_kind(found->second);
  }
  std::int64_t total = 0;
  for (const auto n : pending) total += n;
  out["pending"] = total;
  out["drain_estimate_s"] = drain_estimate(account.name, pending);
  // Higher lanes of the account go first (Priority lanes): a bulk intent behind a normal
  // backlog is waiting for that, not for its own zone's queue. O(zones · groups) counts.
  std::int64_t ahead = 0;
  for (const auto& other : zones_of(zone->account_index)) {
    for (int g = 0; g < kGroupCount; ++g) {
      for (const Lane higher : kLanes) {
        if (higher < lane)
          ahead += snapshot.counts.pending_in(other, static_cast<Group>(g), higher);
      }
    }
  }
  if (ahead > 0) out["ahead_in_higher_lanes"] = ahead;
  const auto it = accounts_.find(account.name);
  if (it == accounts_.end()) {
    out["state"] = "sending";
    return out;
  }
  if (!it->second.sending && store_.shared()) {
    // Another daemon sharing the queue sends for this account: only it knows its buckets,
    // pauses and errors (its own `purgeq status` says more).
    out["state"] = "sent_elsewhere";
    out["sender"] = sender_json(account.name);
    return out;
  }
  const auto& engine = *it->second.engine;
  if (const auto since = engine.paused_since()) {
    out["state"] = "paused";
    out["reason"] = engine.pause_reason();
    const auto ago = std::chrono::duration_cast<std::chrono::milliseconds>(now - *since).count();
    out["since"] = rfc3339_utc(wall_ms() - ago);
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
    if (const RecentError* last = last_error_of(account.name)) {
      out["last_error"] = last->status > 0 ? fmt::format("HTTP {} code {}: {}", last->status,
                                                         last->code, last->message)
                                           : last->message;
      out["last_error_age_s"] = std::max<std::int64_t>(0, wall_ms() - last->at_ms) / 1000;
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

void Dispatcher::render_gauges(MetricsText& text, const StoreSnapshot& snapshot,
                               const OldestPending& oldest) const {
  const auto now_ms = wall_ms();
  const auto now = Clock::now();
  text.family("purgeq_queue_depth", "gauge", "Pending targets by zone and kind.");
  for (const auto& [zone_id, groups] : snapshot.counts.zones) {
    const auto pending = pending_by_kind(groups);
    for (int k = 0; k < kKindCount; ++k) {
      if (pending[static_cast<std::size_t>(k)] == 0) continue;
      text.sample(
          "purgeq_queue_depth",
          {{"zone", zone_name(zone_id)}, {"kind", std::string(to_string(static_cast<Kind>(k)))}},
          static_cast<double>(pending[static_cast<std::size_t>(k)]));
    }
  }
  text.family("purgeq_account_sending", "gauge",
              "1 while this daemon sends for the account (always, unless the store is shared).");
  for (const auto& [name, account] : accounts_) {
    if (account.config_index == static_cast<std::size_t>(-1)) continue;
    text.sample("purgeq_account_sending", {{"account", name}}, account.sending ? 1.0 : 0.0);
  }
  text.family("purgeq_queue_lane_depth", "gauge", "Pending targets by priority lane.");
  for (const Lane lane : kLanes) {
    text.sample("purgeq_queue_lane_depth", {{"lane", std::string(to_string(lane))}},
                static_cast<double>(snapshot.counts.lane_total(lane)));
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
      text.sample("purgeq_queue_oldest_age_seconds",
                  {{"zone", zone_name(zone_id)}, {"kind", std::string(to_string(kind))}},
                  static_cast<double>(std::max<std::int64_t>(0, now_ms - created)) / 1000.0);
    }
  }
  text.family("purgeq_queue_in_flight", "gauge", "Targets in requests not yet answered.");
  text.sample("purgeq_queue_in_flight", {},
              static_cast<double>(snapshot.counts.total(TargetState::in_flight)));
  text.family("purgeq_failed_items", "gauge", "Targets that ended failed and are kept on disk.");
  text.sample("purgeq_failed_items", {},
              static_cast<double>(snapshot.counts.total(TargetState::failed)));
  text.family("purgeq_targets_in_backoff", "gauge",
              "Pending targets of accounts waiting out a retry backoff.");
  double in_backoff = 0;
  for (const auto& [name, account] : accounts_) {
    if (!account.engine->backoff_until(now) || account.config_index >= config_->accounts.size()) {
      continue;
    }
    for (const auto& zone_id : zones_of(account.config_index)) {
      in_backoff += static_cast<double>(snapshot.counts.zone_total(zone_id, TargetState::pending));
    }
  }
  text.sample("purgeq_targets_in_backoff", {}, in_backoff);
  text.family("purgeq_requests_in_flight", "gauge", "Requests sent and not yet answered.");
  text.sample("purgeq_requests_in_flight", {}, static_cast<double>(requests_in_flight_));
  text.family("purgeq_account_paused", "gauge",
              "1 while an account is paused, by reason (auth, rate_limit or backoff).");
  for (const auto& account : config_->accounts) {
    auto it = accounts_.find(account.name);
    if (it == accounts_.end()) continue;
    const auto& engine = *it->second.engine;
    text.sample("purgeq_account_paused", {{"account", account.name}, {"reason", "auth"}},
                engine.auth_paused() ? 1 : 0);
    text.sample("purgeq_account_paused", {{"account", account.name}, {"reason", "rate_limit"}},
                engine.limiter().paused_until(now) ? 1 : 0);
    text.sample("purgeq_account_paused", {{"account", account.name}, {"reason", "backoff"}},
                engine.backoff_until(now) ? 1 : 0);
  }
  text.family("purgeq_account_tokens", "gauge", "Tokens left in an account's buckets.");
  for (const auto& account : config_->accounts) {
    auto it = accounts_.find(account.name);
    if (it == accounts_.end()) continue;
    const auto& limiter = it->second.engine->limiter();
    text.sample("purgeq_account_tokens", {{"account", account.name}, {"bucket", "flex"}},
                limiter.flex_tokens(now));
    text.sample("purgeq_account_tokens", {{"account", account.name}, {"bucket", "url"}},
                limiter.url_tokens(now));
  }
}

std::string Dispatcher::status_line() const {
  const auto snap = snapshot();
  std::string line = fmt::format("{} pending, {} requests in flight",
                                 snap->counts.total(TargetState::pending), requests_in_flight_);
  for (const auto& [name, account] : accounts_) {
    if (account.engine->auth_paused()) line += fmt::format("; account {} paused (auth)", name);
  }
  if (store_.shared()) {
    const auto sending = std::count_if(accounts_.begin(), accounts_.end(),
                                       [](const auto& entry) { return entry.second.sending; });
    line += fmt::format("; sends for {} of {} accounts", sending, accounts_.size());
  }
  if (config_->dry_run) line += "; dry run";
  return line;
}

}  // namespace purgeq
