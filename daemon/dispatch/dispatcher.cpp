// The delivery driver: engines decide, this performs. Every store call here is bounded (one
// batch, or one chunk of a large update), so acknowledgements keep flowing between them. The
// clocks are read once per event and handed down.
#include "dispatch/dispatcher.h"

#include <fmt/format.h>

#include <algorithm>

#include "dispatch/outcome_report.h"
#include "dispatch/request_body.h"
#include "limiter/pacing.h"
#include "observe/log.h"

namespace purgeq {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr auto kGiveUpSweepInterval = std::chrono::seconds(10);
constexpr std::size_t kRecentErrors = 20;
// How long before an outcome that could not be recorded (a storage error) is recorded again.
constexpr auto kSettleRetry = std::chrono::seconds(1);

// A take, or the escalations that made it unnecessary: the URLs now wait for the prefixes.
struct TakeOrEscalate {
  TakeResult taken;
  std::vector<Escalation> escalated;
};

}  // namespace

Dispatcher::Dispatcher(DeliveryEnv env, Metrics& metrics, std::shared_ptr<const Config> config)
    : clocks_(env.clocks),
      scheduler_(env.scheduler),
      store_(env.store),
      transport_(env.transport),
      seed_(env.seed),
      metrics_(metrics),
      config_(std::move(config)) {}

Dispatcher::~Dispatcher() {
  for (const auto& timer : {timer_, shutdown_timer_, claim_timer_}) {
    if (timer) scheduler_.cancel(*timer);
  }
}

std::vector<std::string> Dispatcher::zones_of(std::size_t account_index) const {
  // By name, the queue's key; a zone whose id is not known yet is not sent (a dry run sends
  // nothing, so it needs no id).
  std::vector<std::string> names;
  for (const auto& zone : config_->zones) {
    if (zone.account_index == account_index && (zone.resolved() || config_->dry_run)) {
      names.push_back(zone.name);
    }
  }
  return names;
}

Clock::duration Dispatcher::take_api_request(const std::string& account) {
  const auto it = accounts_.find(account);
  if (it == accounts_.end() || it->second.retired()) return Clock::duration::zero();
  const auto wait = it->second.engine->take_api_request(clocks_.now());
  // The slot taken may have been the one a purge was waiting for: the engines look again.
  if (wait == Clock::duration::zero()) schedule_tick();
  return wait;
}

std::string Dispatcher::zone_name(const std::string& zone_id) const {
  const Zone* zone = config_->find_zone(zone_id);
  return zone != nullptr ? zone->name : zone_id;
}

Dispatcher::Account* Dispatcher::find_account(const std::string& name) {
  std::string current = name;
  for (std::size_t hops = 0; hops <= renamed_.size(); ++hops) {
    if (const auto it = accounts_.find(current); it != accounts_.end()) return &it->second;
    const auto alias = renamed_.find(current);
    if (alias == renamed_.end()) break;
    current = alias->second;
  }
  return nullptr;
}

const AccountEngine* Dispatcher::engine(const std::string& account) const {
  const auto it = accounts_.find(account);
  return it != accounts_.end() ? it->second.engine.get() : nullptr;
}

RecentSends Dispatcher::recent_of(const std::string& account, const Limits& limits,
                                  const std::vector<SendRecord>& sends) const {
  const auto now = clocks_.now();
  const auto wall = clocks_.wall_ms();
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

std::unique_ptr<AccountEngine> Dispatcher::make_engine(std::size_t index,
                                                       const RecentSends& recent) {
  const auto& account = config_->accounts[index];
  auto engine = std::make_unique<AccountEngine>(
      account.name, paced(account.limits), Backoff(config_->retry.initial, config_->retry.max),
      zones_of(index),
      // Flight numbers lead with the host id, so that the flights of daemons sharing a store
      // never collide (a settle names its rows by flight).
      [this] { return next_flight_++; }, recent, clocks_.now(),
      seed_ != 0 ? seed_ + index : std::random_device{}());
  engine->set_lane_share_every(config_->batching.lane_share_every);
  return engine;
}

void Dispatcher::start(const std::vector<SendRecord>& recent_sends) {
  next_flight_ = (store_.host_id() << 32) + 1;
  for (std::size_t i = 0; i < config_->accounts.size(); ++i) {
    const auto& account = config_->accounts[i];
    Account state;
    state.config_index = i;
    state.engine = make_engine(i, recent_of(account.name, account.limits, recent_sends));
    // A shared store: nothing is sent for an account before a claim round wins its lock.
    state.sending = !store_.shared();
    accounts_.emplace(account.name, std::move(state));
  }
  started_ = true;
  if (store_.shared()) claim_round();
  schedule_tick();
}

void Dispatcher::reconfigure(std::shared_ptr<const Config> config) {
  const auto previous = std::exchange(config_, std::move(config));
  const auto now = clocks_.now();
  std::map<std::string, Account> kept;
  for (std::size_t i = 0; i < config_->accounts.size(); ++i) {
    const auto& account = config_->accounts[i];
    auto it = accounts_.find(account.name);
    if (it == accounts_.end()) {
      // Renamed: an account the reload removed, with the same token. Its buckets are
      // Cloudflare's for that token, and its requests in the air are its own: it keeps its engine.
      it = std::find_if(accounts_.begin(), accounts_.end(), [&](const auto& entry) {
        const auto& state = entry.second;
        return !state.retired() && state.config_index < previous->accounts.size() &&
               previous->accounts[state.config_index].token == account.token &&
               std::none_of(config_->accounts.begin(), config_->accounts.end(),
                            [&](const auto& other) { return other.name == entry.first; });
      });
      if (it != accounts_.end()) {
        log::notice("account_renamed", "account={} was={}", log::quote(account.name),
                    log::quote(it->first));
        renamed_[it->first] = account.name;
        renamed_.erase(account.name);
        it->second.engine->rename(account.name);
      }
    }
    if (it == accounts_.end()) {
      Account state;
      state.config_index = i;
      // A new account has no history: it starts with full buckets, like a new database.
      state.engine = make_engine(i, RecentSends{});
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
  // Accounts removed by the reload keep their flights until answered; they send nothing new,
  // and the halves of refused batches waiting in them go back to the queue.
  for (auto& [name, state] : accounts_) {
    for (const auto& [flight, group] : state.engine->release_splits()) release(flight, group);
    if (state.engine->in_flight() > 0 || state.engine->taking()) {
      state.config_index = kRetired;
      kept.emplace(name, std::move(state));
    }
  }
  accounts_ = std::move(kept);
  schedule_tick();
}

void Dispatcher::shutdown(Clock::duration deadline, std::function<void()> done) {
  stopping_ = true;
  for (auto* timer : {&timer_, &claim_timer_}) {
    if (*timer) scheduler_.cancel(**timer);
    timer->reset();
  }
  timer_at_.reset();
  if (requests_in_flight_ == 0 && steps_in_progress_ == 0) {
    scheduler_.post(std::move(done));
    return;
  }
  on_drained_ = std::move(done);
  shutdown_timer_ = scheduler_.at(clocks_.now() + deadline, [this] {
    shutdown_timer_.reset();
    if (!on_drained_) return;
    log::warning("shutdown_deadline", "requests_in_flight={} note={}", requests_in_flight_,
                 log::quote("unanswered requests are sent again on next start"));
    auto drained = std::move(on_drained_);
    on_drained_ = nullptr;
    transport_.cancel_all();
    drained();
  });
}

void Dispatcher::flight_ended() {
  if (stopping_ && requests_in_flight_ == 0 && steps_in_progress_ == 0 && on_drained_) {
    auto drained = std::move(on_drained_);
    on_drained_ = nullptr;
    if (shutdown_timer_) scheduler_.cancel(*shutdown_timer_);
    shutdown_timer_.reset();
    scheduler_.post(std::move(drained));
  }
}

void Dispatcher::step_done() {
  --steps_in_progress_;
  flight_ended();
  schedule_tick();
}

void Dispatcher::wake() {
  schedule_tick();
}

void Dispatcher::schedule_tick() {
  if (tick_posted_ || stopping_ || !started_) return;
  tick_posted_ = true;
  // Posting coalesces the many triggers of one loop turn (submissions, answers) into one look.
  scheduler_.post([this] { tick(); });
}

void Dispatcher::arm_timer(Clock::time_point when) {
  if (timer_at_ && *timer_at_ <= when && *timer_at_ > clocks_.now()) return;
  if (timer_) scheduler_.cancel(*timer_);
  timer_at_ = when;
  timer_ = scheduler_.at(when, [this] {
    timer_.reset();
    timer_at_.reset();
    schedule_tick();
  });
}

void Dispatcher::tick() {
  tick_posted_ = false;
  if (stopping_) return;
  const auto now = clocks_.now();
  if (now - last_sweep_ >= kGiveUpSweepInterval && !sweeping_) {
    last_sweep_ = now;
    give_up_sweep();
  }
  std::optional<Clock::time_point> wake = last_sweep_ + kGiveUpSweepInterval;
  for (auto& [name, account] : accounts_) {
    if (account.retired() || !account.sending) continue;
    drive(name, now, wake);
  }
  if (wake) arm_timer(std::max(*wake, now + milliseconds(1)));
}

void Dispatcher::drive(const std::string& account, Clock::time_point now,
                       std::optional<Clock::time_point>& wake) {
  auto& state = accounts_.at(account);
  auto& engine = *state.engine;
  const auto snap = store_.snapshot();
  // Splits leave at once; a take is asynchronous and comes back through take().
  for (;;) {
    auto action = engine.next(now, snap->counts);
    if (auto* waiting = std::get_if<WaitAction>(&action)) {
      if (waiting->until && (!wake || *waiting->until < *wake)) wake = waiting->until;
      return;
    }
    if (auto* sending = std::get_if<SendAction>(&action)) {
      // A half of a refused batch: its send is recorded beside it (a take records its own).
      const auto& limits = config_->accounts.at(state.config_index).limits;
      const auto sent_ms = clocks_.wall_ms();
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

std::optional<EscalationRequest> Dispatcher::escalation_request(const TakeAction& action,
                                                                Clock::time_point now) {
  const Zone* zone = config_->find_zone(action.zone_id);
  if (zone == nullptr || !zone->escalate.enabled()) return std::nullopt;
  const auto it = accounts_.find(zone->account);
  if (it == accounts_.end() || !it->second.engine->escalation_due(action, zone->escalate.horizon,
                                                                  now, store_.snapshot()->counts)) {
    return std::nullopt;
  }
  EscalationRequest request;
  request.zone_id = zone->name;
  request.group = action.group;
  request.lane = action.lane;
  request.rule.prefixes = zone->escalate.prefixes;
  request.rule.depth = zone->escalate.depth;
  request.rule.min_urls = zone->escalate.min_urls;
  request.rule.min_share = zone->escalate.min_share;
  request.now_ms = clocks_.wall_ms();
  return request;
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
  request.now_ms = clocks_.wall_ms();
  request.account = account;
  request.keep_sends_after_ms = request.now_ms - to_ms(limits.global_window);
  const auto escalation = escalation_request(action, clocks_.now());
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
            for (const auto& escalated : outcome.escalated) {
              const std::string zone = zone_name(action.zone_id);
              ++metrics_.escalations[zone];
              log::notice("escalated", "zone={} prefix={} urls={} known={} escalation={}",
                          log::quote(zone), log::quote(escalated.prefix), escalated.urls,
                          escalated.known, escalated.id);
            }
            Account* state = find_account(account);
            if (state != nullptr && error) {
              if (failed_with<NotSenderError>(error)) {
                stop_sending(state->engine->name(), "lock_lost");
              } else {
                log::error("storage_error", "op=take zone={} error={}",
                           log::quote(zone_name(action.zone_id)), log::quote(log::describe(error)));
              }
              state->engine->on_take_failed(action, clocks_.now());
            } else if (state != nullptr) {
              taken(state->engine->name(), action, std::move(outcome.taken),
                    outcome.escalated.size());
            }
            step_done();
          }));
}

void Dispatcher::taken(const std::string& account, const TakeAction& action, TakeResult result,
                       std::size_t escalations) {
  auto& engine = *accounts_.at(account).engine;
  if (escalations > 0) {
    engine.on_escalated(action);
    return;
  }
  const bool coverage_pending = result.coverage_pending;
  const auto watermark = result.watermark;
  const auto riders = result.riders;
  auto flight =
      engine.on_taken(action, std::move(result), clocks_.now(), store_.snapshot()->counts);
  for (const auto released : engine.drain_releases()) release(released, action.group);
  if (!flight) return;
  if (riders > 0) {
    log::debug("batch_taken", "zone={} kind={} items={} riders={}",
               log::quote(zone_name(flight->zone_id)), to_string(kind_of(flight->group)),
               flight->members.size(), riders);
  }
  if (coverage_pending) {
    cover_then_send(account, std::move(*flight), watermark);
  } else {
    send(account, std::move(*flight));
  }
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
            if (!error && covered >= kStepRows && !stopping_) {
              cover_then_send(account, std::move(*shared), watermark);
            } else if (!stopping_) {
              // A storage error leaves some covered targets pending: they are sent on their own
              // later, which costs a request, never a purge.
              if (Account* state = find_account(account)) {
                state->engine->on_covered(shared->id, clocks_.now());
              }
              send(account, std::move(*shared));
            }
            --steps_in_progress_;
            flight_ended();
          }));
}

void Dispatcher::send(const std::string& name, EngineFlight flight) {
  Account* state = find_account(name);
  const Zone* zone = config_->find_zone(flight.zone_id);
  if (stopping_ || zone == nullptr || state == nullptr || state->retired() ||
      zone->account != state->engine->name() || (!zone->resolved() && !config_->dry_run)) {
    // Shutting down (left in flight for the next start), or the zone went to another account (or
    // away, or lost its id: it is sent once looked up again) in a reload: its rows go back to the
    // queue for the zone's account now.
    if (state != nullptr) {
      auto outcome = state->engine->abandon(flight.id);
      if (!stopping_) record(flight, std::move(outcome));
    }
    return;
  }
  const auto& config_account = config_->accounts[state->config_index];
  const std::string& account = config_account.name;
  const Kind kind = kind_of(flight.group);
  std::vector<const Item*> items;
  items.reserve(flight.members.size());
  for (const auto& member : flight.members) items.push_back(&member.item);
  std::string body = build_request_body(kind, items);
  ++requests_in_flight_;
  metrics_.history.add(clocks_.wall_ms() / 1000, Flow::requests, 1);
  if (config_->dry_run) {
    log::info("batch_dry_run", "zone={} kind={} items={} body_bytes={} body={}",
              log::quote(zone->name), to_string(kind), flight.members.size(), body.size(),
              log::quote(body.substr(0, 512)));
    ++metrics_.requests[{account, "dry_run"}];
    scheduler_.post([this, account, flight = std::move(flight)] {
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
  transport_.post(std::move(request), [this, account, flight = std::move(flight),
                                       sent = clocks_.now()](const HttpResponse& response) {
    metrics_.observe_request(account, std::chrono::duration<double>(clocks_.now() - sent).count());
    on_answer(account, flight, response);
  });
}

void Dispatcher::on_answer(const std::string& account, const EngineFlight& flight,
                           const HttpResponse& response) {
  --requests_in_flight_;
  Account* state = find_account(account);
  if (state == nullptr) {
    flight_ended();
    return;
  }
  auto& engine = *state->engine;
  if (stopping_ && response.transport_error == "cancelled") {
    // Left in_flight on disk on purpose: the next start sends it again.
    engine.abandon(flight.id);
    flight_ended();
    return;
  }
  const auto now = clocks_.now();
  const Classified answer = classify(response);
  const bool was_paused = engine.auth_paused();
  auto outcome = engine.on_answer(flight.id, answer, now);
  const AnswerReport report{engine.name(), zone_name(flight.zone_id), flight, answer,
                            response,      config_->dry_run};
  report_answer(report, engine, was_paused, now, metrics_);
  if (answer.verdict != Verdict::success) {
    recent_errors_.push_back(RecentError{clocks_.wall_ms(), engine.name(), report.zone,
                                         std::string(to_string(answer.verdict)), answer.status,
                                         answer.code, answer.message});
    while (recent_errors_.size() > kRecentErrors) recent_errors_.pop_front();
  }
  record(flight, std::move(outcome));
  if (state->retired()) {
    // A removed account sends nothing more: the halves its refused batch was just split into go
    // back to the queue (after their rows moved, in the same order of store jobs), and it is
    // forgotten once its last request is answered.
    for (const auto& [split, group] : engine.release_splits()) release(split, group);
    if (engine.in_flight() == 0 && !engine.taking()) accounts_.erase(std::string(engine.name()));
  }
  flight_ended();
  schedule_tick();
}

void Dispatcher::record(const EngineFlight& flight, FlightOutcome outcome) {
  const Kind kind = kind_of(flight.group);
  const auto now_ms = clocks_.wall_ms();
  for (auto& off : outcome.split_off) {
    ++steps_in_progress_;
    store_.run(
        [from = flight.id, ids = off.ids, to = off.flight,
         covered = !off.settle_now.has_value()](Store& store) {
          store.split_flight(from, ids, to, covered);
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

void Dispatcher::release(std::int64_t flight, Group group) {
  SettleRequest request;
  request.flight = flight;
  request.outcome = Settlement::released;
  request.now_ms = clocks_.wall_ms();
  settle_steps(std::move(request), kind_of(group));
}

void Dispatcher::settle_steps(SettleRequest request, Kind kind) {
  ++steps_in_progress_;
  auto shared = std::make_shared<SettleRequest>(std::move(request));
  store_.run([shared](Store& store) { return store.settle(*shared, kStepRows); },
             std::function<void(std::exception_ptr, Settled)>(
                 [this, shared, kind](const std::exception_ptr& error, Settled settled) {
                   if (error) {
                     log::error("storage_error", "op=record_outcome error={} retry_in_ms={}",
                                log::quote(log::describe(error)), to_ms(kSettleRetry));
                     // The rows still say in_flight and nothing else will move them: record the
                     // outcome again shortly (a full disk frees up, a locked database unlocks),
                     // rather than leaving them stuck until a restart.
                     if (!stopping_) {
                       ++steps_in_progress_;
                       scheduler_.at(clocks_.now() + kSettleRetry, [this, shared, kind] {
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
                   step_done();
                 }));
}

void Dispatcher::count_settled(const Settled& settled, Settlement outcome) {
  const auto add_by_kind = [&](std::map<Kind, std::uint64_t>& counter, Flow flow) {
    std::uint64_t total = 0;
    for (int k = 0; k < kKindCount; ++k) {
      if (const auto n = settled.by_kind[static_cast<std::size_t>(k)]; n > 0) {
        counter[static_cast<Kind>(k)] += n;
        total += n;
      }
    }
    if (total > 0) metrics_.history.add(clocks_.wall_ms() / 1000, flow, total);
  };
  if (outcome == Settlement::done) {
    add_by_kind(metrics_.items_purged, Flow::purged);
    const auto wall = clocks_.wall_ms();
    for (const auto created : settled.created_ms) {
      metrics_.purge_latency.observe(static_cast<double>(wall - created) / 1000.0);
    }
    if (settled.rows > 0) metrics_.api_calls_saved += settled.rows - 1;
  } else if (outcome == Settlement::failed) {
    add_by_kind(metrics_.items_failed, Flow::failed);
  }
}

void Dispatcher::give_up_sweep() {
  const auto now = clocks_.wall_ms();
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

DeliverySnapshot Dispatcher::snapshot_of(const StoreSnapshot& store) const {
  DeliverySnapshot snapshot{
      *config_,  store.counts,        clocks_.now(),   clocks_.wall_ms(), {},       recent_errors_,
      timer_at_, requests_in_flight_, store_.shared(), store_.host_id(),  senders_, lookups_.get()};
  for (const auto& [name, account] : accounts_) {
    snapshot.accounts.emplace(
        name, AccountView{account.engine.get(),
                          account.retired() ? nullptr : &config_->accounts[account.config_index],
                          account.sending});
  }
  return snapshot;
}

boost::json::object Dispatcher::status_json(const StoreSnapshot& snapshot) const {
  return purgeq::status_json(snapshot_of(snapshot));
}

boost::json::object Dispatcher::waiting_for(const std::string& zone_id, Lane lane,
                                            const StoreSnapshot& snapshot) const {
  return purgeq::waiting_for(snapshot_of(snapshot), zone_id, lane);
}

void Dispatcher::render_gauges(MetricsText& text, const StoreSnapshot& snapshot,
                               const OldestPending& oldest) const {
  purgeq::render_gauges(text, snapshot_of(snapshot), oldest);
}

std::string Dispatcher::status_line() const {
  return purgeq::status_line(snapshot_of(*store_.snapshot()));
}

}  // namespace purgeq
