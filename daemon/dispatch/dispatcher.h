// The thin driver of delivery: asks each account's AccountEngine what to do, performs it (store
// jobs, HTTP requests, timers) on the Asio loop, and reports the results back. The queue lives in
// the store; this holds only the flights in the air, per-account state and a few recent errors,
// so its memory and its work per event do not grow with the backlog. With nothing sendable it
// sleeps until the earliest deadline an engine names.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "dispatch/account_engine.h"
#include "dispatch/http_client.h"
#include "intake/delivery_view.h"
#include "limiter/drain_estimate.h"
#include "observe/metrics.h"
#include "store/store_worker.h"

namespace purgeq {

class Dispatcher final : public DeliveryView {
 public:
  Dispatcher(boost::asio::io_context& io, StoreWorker& store, Metrics& metrics,
             std::shared_ptr<const Config> config);
  ~Dispatcher() override;
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Starts sending, pacing each account from the requests the store says it sent recently.
  void start(const std::vector<SendRecord>& recent_sends);
  // New limits, tokens, zones or timings take effect now; auth pauses are lifted; buckets, 429
  // pauses and the global window carry over.
  void reconfigure(std::shared_ptr<const Config> config);
  // Stops sending new requests; `done` runs when none is in flight or at `deadline`, whichever
  // comes first (requests still unanswered stay in flight in the store and are resent on start).
  void shutdown(Clock::duration deadline, std::function<void()> done);

  // Another daemon sharing the store queued work (a NOTIFY, store/pg_queue_watch.h): the
  // accounts this daemon sends for look at the shared queue now.
  void queued_elsewhere();

  // Called after outcomes are committed, so intent waiters can look again.
  std::function<void()> on_progress;

  void wake() override;
  [[nodiscard]] boost::json::object status_json(const StoreSnapshot& snapshot) const override;
  [[nodiscard]] boost::json::object waiting_for(const std::string& zone_id, Lane lane,
                                                const StoreSnapshot& snapshot) const override;
  void render_gauges(MetricsText& text, const StoreSnapshot& snapshot,
                     const OldestPending& oldest) const override;

  [[nodiscard]] std::size_t requests_in_flight() const;
  // "12 pending, 1 request in flight, main: paused (auth)" for systemd's STATUS=.
  [[nodiscard]] std::string status_line() const;

 private:
  struct Account {
    std::unique_ptr<AccountEngine> engine;
    std::size_t config_index = 0;
    // This daemon sends for the account: always with a store of its own; with a shared one while
    // it holds the account's lock (claim_round).
    bool sending = true;
  };
  struct RecentError {
    std::int64_t at_ms = 0;
    std::string account;
    std::string zone;
    std::string verdict;
    long status = 0;
    int code = 0;
    std::string message;
  };

  // A shared store: one claim round (Store::claim_senders), then the next after kClaimInterval.
  void claim_round();
  void claimed(const SenderClaims& claims, const std::vector<SendRecord>& sends);
  void stop_sending(const std::string& account, std::string_view reason);
  [[nodiscard]] boost::json::value sender_json(const std::string& account) const;
  // Pacing history of `account` from the store's record of recent sends (any daemon's).
  [[nodiscard]] RecentSends recent_of(const std::string& account, const Limits& limits,
                                      const std::vector<SendRecord>& sends) const;
  void schedule_tick();
  void tick();
  void arm_timer(Clock::time_point when);
  // Runs an account's engine until it waits or starts an asynchronous step.
  void drive(const std::string& account, Clock::time_point now,
             std::optional<Clock::time_point>& wake);
  void take(const std::string& account, const TakeAction& action);
  // Cost-based escalation: what to ask the store before taking URLs from `action`'s queue, when
  // the zone has a policy, the account's URL budget binds and the zone was not checked within
  // kEscalationCheckInterval; nullopt otherwise.
  std::optional<EscalationRequest> escalation_check(const std::string& account,
                                                    const TakeAction& action,
                                                    Clock::time_point now);
  void cover_then_send(const std::string& account, EngineFlight flight, std::int64_t watermark);
  void send(const std::string& account, EngineFlight flight);
  void on_answer(const std::string& account, const EngineFlight& flight,
                 const HttpResponse& response);
  void record(const EngineFlight& flight, FlightOutcome outcome);
  void settle_steps(SettleRequest request, Kind kind);
  void give_up_sweep();
  void count_settled(const Settled& settled, Settlement outcome);
  void record_error(const std::string& account, const EngineFlight& flight,
                    const Classified& answer);
  void flight_ended();
  [[nodiscard]] std::string zone_name(const std::string& zone_id) const;
  // Seconds to send `pending` at `account`'s paced budget, rounded up.
  [[nodiscard]] std::int64_t drain_estimate(const std::string& account,
                                            const PendingByKind& pending) const;
  [[nodiscard]] const RecentError* last_error_of(const std::string& account) const;
  [[nodiscard]] std::vector<std::string> zones_of(std::size_t account_index) const;
  [[nodiscard]] std::shared_ptr<const StoreSnapshot> snapshot() const { return store_.snapshot(); }

  boost::asio::io_context& io_;
  StoreWorker& store_;
  Metrics& metrics_;
  std::shared_ptr<const Config> config_;
  HttpClient http_;
  boost::asio::steady_timer timer_;
  std::optional<Clock::time_point> timer_at_;
  boost::asio::steady_timer shutdown_timer_;
  boost::asio::steady_timer claim_timer_;
  bool refreshing_ = false;             // a queued_elsewhere() refresh of the counts is out
  bool refresh_again_ = false;          // ... and another notification came meanwhile
  std::vector<AccountSender> senders_;  // who sends for each account, from the last claim round
  bool started_ = false;
  bool tick_posted_ = false;
  bool stopping_ = false;
  bool sweeping_ = false;
  std::function<void()> on_drained_;
  Clock::time_point last_sweep_{};
  std::map<std::string, Account> accounts_;  // by account name
  std::size_t requests_in_flight_ = 0;       // requests sent and not answered
  std::size_t steps_in_progress_ = 0;        // store jobs recording outcomes
  std::deque<RecentError> recent_errors_;
  std::int64_t next_flight_ = 1;
  std::map<std::string, Clock::time_point> escalation_checked_;  // by zone id
};

}  // namespace purgeq
