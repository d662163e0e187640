// Sends what is pending: keeps the pending targets in memory (the store is the durable copy),
// plans batches per zone, paces them through each account's limiter, sends them with the
// HttpClient and records each outcome in the store before reporting progress.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "dispatch/backoff.h"
#include "dispatch/http_client.h"
#include "dispatch/verdict.h"
#include "limiter/account_limiter.h"
#include "planner/planner.h"
#include "service/metrics.h"
#include "store/store_worker.h"

namespace purgeq {

class Dispatcher {
 public:
  Dispatcher(boost::asio::io_context& io, StoreWorker& store, Metrics& metrics,
             std::shared_ptr<const Config> config);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Targets that are pending in the store (after recovery, a submission or a retry request).
  void add(std::vector<StoredTarget> targets);
  // New limits, tokens, zones or timings take effect now; auth pauses are lifted.
  void reconfigure(std::shared_ptr<const Config> config);
  // Stops sending new requests; `done` runs when none is in flight or at `deadline`, whichever
  // comes first (requests still unanswered stay in flight in the store and are resent on start).
  void shutdown(Clock::duration deadline, std::function<void()> done);

  // Called after outcomes are committed, so intent waiters can look again.
  std::function<void()> on_progress;

  [[nodiscard]] std::size_t pending_count() const;
  [[nodiscard]] std::size_t requests_in_flight() const;
  [[nodiscard]] boost::json::object status_json() const;
  // Gauges: queue depth and oldest age by zone and kind, backoff and pause state.
  void render_gauges(MetricsText& text) const;
  // "12 pending, 1 request in flight, main: paused (auth)" for systemd's STATUS=.
  [[nodiscard]] std::string status_line() const;

 private:
  struct Live {
    StoredTarget stored;
    Clock::time_point accepted;
    Clock::time_point not_before;
    std::string last_error;
  };
  struct ZoneQueue {
    std::unordered_map<std::int64_t, Live> pending;
    std::size_t in_flight_targets = 0;
  };
  // A batch that already left memory: its targets live here until the outcome is known.
  struct Flight {
    std::string account;
    std::string zone_id;
    Kind kind = Kind::file;
    std::vector<Live> members;
    std::vector<Live> covered;
    Clock::time_point sent_at;
    bool probe = false;
  };
  // Halves of a refused batch waiting to be sent as they are (bisection), bypassing the planner.
  struct Split {
    std::string zone_id;
    Kind kind = Kind::file;
    std::vector<Live> members;
  };
  struct AccountState {
    explicit AccountState(const Limits& limits, Clock::time_point now) : limiter(limits, now) {}
    AccountLimiter limiter;
    int in_flight = 0;
    bool auth_paused = false;
    bool probing = false;
    std::string pause_reason;
    Clock::time_point next_probe{};
    std::size_t round_robin = 0;
    std::deque<Split> splits;
  };
  struct RecentError {
    std::int64_t at_ms = 0;
    std::string account;
    std::string zone;
    std::string verdict;
    int status = 0;
    int code = 0;
    std::string message;
  };

  void schedule_tick();
  void tick();
  void arm_timer(Clock::time_point when);
  void dispatch_account(const Account& account, std::size_t account_index, Clock::time_point now,
                        std::optional<Clock::time_point>& wake);
  bool try_send_split(AccountState& state, const Account& account, Clock::time_point now,
                      std::optional<Clock::time_point>& wake);
  void launch(std::shared_ptr<Flight> flight);
  void transmit(const std::shared_ptr<Flight>& flight);
  void on_answer(const std::shared_ptr<Flight>& flight, const HttpResponse& response);
  void finish_success(const std::shared_ptr<Flight>& flight);
  void requeue(std::vector<Live> targets, Clock::time_point not_before, bool count_attempt,
               const std::string& error);
  void fail(std::vector<Live> targets, int code, const std::string& message);
  void give_up_sweep(Clock::time_point now);
  void commit_then_progress(std::function<void(Store&)> job);
  void record_error(const Flight& flight, const Classified& classified, long status);
  void finish_flight(const std::shared_ptr<Flight>& flight);
  [[nodiscard]] const Zone* zone_by_id(const std::string& zone_id) const;
  [[nodiscard]] Clock::time_point steady_from_wall(std::int64_t ms) const;

  boost::asio::io_context& io_;
  StoreWorker& store_;
  Metrics& metrics_;
  std::shared_ptr<const Config> config_;
  HttpClient http_;
  Backoff backoff_;
  std::mt19937_64 rng_;
  boost::asio::steady_timer timer_;
  std::optional<Clock::time_point> timer_at_;
  boost::asio::steady_timer shutdown_timer_;
  bool tick_posted_ = false;
  bool stopping_ = false;
  std::function<void()> on_drained_;
  Clock::time_point last_sweep_{};
  std::map<std::string, ZoneQueue> zones_;  // by zone id, including zones no longer configured
  std::map<std::string, AccountState> accounts_;  // by account name
  std::size_t requests_in_flight_ = 0;
  std::deque<RecentError> recent_errors_;
  std::uint64_t next_flight_id_ = 1;
};

}  // namespace purgeq
