// The thin driver of delivery: asks each account's AccountEngine what to do, performs it (store
// jobs, HTTP requests, timers) and reports the results back. Everything it touches outside itself
// is injected (DeliveryEnv): the clocks, a scheduler for posts and timers, the store's jobs and
// the HTTP transport, so that tests and the simulator drive it on a clock of their own. The queue
// lives in the store; this holds only the flights in the air, per-account engines and a few recent
// errors, so its memory and its work per event do not grow with the backlog. With nothing
// sendable it sleeps until the earliest deadline an engine names.
#pragma once

#include <boost/json/object.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "dispatch/account_engine.h"
#include "dispatch/delivery_status.h"
#include "intake/delivery_view.h"
#include "io/clocks.h"
#include "io/scheduler.h"
#include "io/transport.h"
#include "observe/metrics.h"
#include "store/store_jobs.h"

namespace purgeq {

// What the driver runs on.
struct DeliveryEnv {
  Clocks& clocks;
  Scheduler& scheduler;
  StoreJobs& store;
  Transport& transport;
  // Seeds the engines' backoff jitter (an account's engine: seed + its index), so that a
  // simulation replays exactly; 0 draws them from the system's entropy.
  std::uint64_t seed = 0;
};

class Dispatcher final : public DeliveryView {
 public:
  Dispatcher(DeliveryEnv env, Metrics& metrics, std::shared_ptr<const Config> config);
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

  // A request of `account` outside purging (a zone lookup) wants to go now: zero when the
  // account's global window had a slot, now taken (Cloudflare counts every API request there);
  // else how long until one is free. Zero for an account delivery does not know.
  [[nodiscard]] Clock::duration take_api_request(const std::string& account);

  // Another daemon sharing the store queued work (a NOTIFY, store/pg_queue_watch.h): the
  // accounts this daemon sends for look at the shared queue now.
  void queued_elsewhere();

  // What failed looking zones and tokens up, shown in status and waiting_for.
  void set_lookups(std::shared_ptr<const LookupStatus> lookups) { lookups_ = std::move(lookups); }

  // Called after outcomes are committed, so intent waiters can look again.
  std::function<void()> on_progress;

  void wake() override;
  [[nodiscard]] boost::json::object status_json(const StoreSnapshot& snapshot) const override;
  [[nodiscard]] boost::json::object waiting_for(const std::string& zone_id, Lane lane,
                                                const StoreSnapshot& snapshot) const override;
  void render_gauges(MetricsText& text, const StoreSnapshot& snapshot,
                     const OldestPending& oldest) const override;

  [[nodiscard]] std::size_t requests_in_flight() const { return requests_in_flight_; }
  // Store jobs the driver waits for (takes, cover and settle steps, sweeps).
  [[nodiscard]] std::size_t steps_in_progress() const { return steps_in_progress_; }
  // "12 pending, 1 request in flight, main: paused (auth)" for systemd's STATUS=.
  [[nodiscard]] std::string status_line() const;
  // The account's engine, while the driver has one (tests and the simulator look inside).
  [[nodiscard]] const AccountEngine* engine(const std::string& account) const;

 private:
  // Rows one store step may touch when a flight is recorded, covered or given up: large enough to
  // be efficient, small enough that submissions waiting behind it are acknowledged within
  // milliseconds.
  static constexpr std::int64_t kStepRows = 5000;

  struct Account {
    std::unique_ptr<AccountEngine> engine;
    std::size_t config_index = 0;
    // This daemon sends for the account: always with a store of its own; with a shared one while
    // it holds the account's lock (claim_round).
    bool sending = true;
    [[nodiscard]] bool retired() const { return config_index == kRetired; }
  };
  // An account a reload removed, kept until its last requests are answered.
  static constexpr std::size_t kRetired = static_cast<std::size_t>(-1);

  [[nodiscard]] std::unique_ptr<AccountEngine> make_engine(std::size_t index,
                                                           const RecentSends& recent);
  // A shared store: one claim round (Store::claim_senders), then the next after kClaimInterval.
  void claim_round();
  void claimed(const SenderClaims& claims, const std::vector<SendRecord>& sends);
  void stop_sending(const std::string& account, std::string_view reason);
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
  void taken(const std::string& account, const TakeAction& action, TakeResult result,
             std::size_t escalations);
  [[nodiscard]] std::optional<EscalationRequest> escalation_request(const TakeAction& action,
                                                                    Clock::time_point now);
  void cover_then_send(const std::string& account, EngineFlight flight, std::int64_t watermark);
  void send(const std::string& account, EngineFlight flight);
  void on_answer(const std::string& account, const EngineFlight& flight,
                 const HttpResponse& response);
  void record(const EngineFlight& flight, FlightOutcome outcome);
  void release(std::int64_t flight, Group group);
  void settle_steps(SettleRequest request, Kind kind);
  void give_up_sweep();
  void count_settled(const Settled& settled, Settlement outcome);
  // A store job of the driver's own is done: count it off, wake the engines, finish a shutdown.
  void step_done();
  void flight_ended();
  [[nodiscard]] std::string zone_name(const std::string& zone_id) const;
  [[nodiscard]] DeliverySnapshot snapshot_of(const StoreSnapshot& store) const;
  [[nodiscard]] std::vector<std::string> zones_of(std::size_t account_index) const;
  // The account by its name, or by a name it had before a reload renamed it (callbacks of
  // requests and takes that were out then name it so); nullptr once it is gone.
  [[nodiscard]] Account* find_account(const std::string& name);

  Clocks& clocks_;
  Scheduler& scheduler_;
  StoreJobs& store_;
  Transport& transport_;
  std::uint64_t seed_;
  Metrics& metrics_;
  std::shared_ptr<const Config> config_;
  std::shared_ptr<const LookupStatus> lookups_;
  std::optional<Scheduler::TimerId> timer_;
  std::optional<Clock::time_point> timer_at_;
  std::optional<Scheduler::TimerId> shutdown_timer_;
  std::optional<Scheduler::TimerId> claim_timer_;
  bool refreshing_ = false;             // a queued_elsewhere() refresh of the counts is out
  bool refresh_again_ = false;          // ... and another notification came meanwhile
  std::vector<AccountSender> senders_;  // who sends for each account, from the last claim round
  bool started_ = false;
  bool tick_posted_ = false;
  bool stopping_ = false;
  bool sweeping_ = false;
  std::function<void()> on_drained_;
  Clock::time_point last_sweep_{};
  std::map<std::string, Account> accounts_;     // by account name
  std::map<std::string, std::string> renamed_;  // an old name -> the name a reload gave it
  std::size_t requests_in_flight_ = 0;          // requests sent and not answered
  std::size_t steps_in_progress_ = 0;           // store jobs recording outcomes
  std::deque<RecentError> recent_errors_;
  std::int64_t next_flight_ = 1;
};

}  // namespace purgeq
