// Wakes every coroutine waiting for "something changed" (intent waiters of GET ...?wait=).
// A waiter re-checks its condition after each wake; spurious wakes are harmless.
//
// Wake-ups are coalesced: progress can come thousands of times a second, and every wake costs each
// waiter a store query. notify_all() wakes the waiters at once if the last wake-up was at least
// `min_interval` ago, and otherwise at that moment (one timer), so a waiter is woken at most once
// per interval and never misses the last progress event: every notify_all() is followed by a
// wake-up.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>

namespace purgeq {

class ProgressSignal {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kDefaultInterval{100};

  ProgressSignal() : ProgressSignal(kDefaultInterval) {}
  explicit ProgressSignal(Clock::duration min_interval)
      : state_(std::make_shared<State>(min_interval)) {}
  ~ProgressSignal() {
    // Waiters still suspended share the state; they return at their deadline.
    if (state_->timer) state_->timer->cancel();
  }
  ProgressSignal(const ProgressSignal&) = delete;
  ProgressSignal& operator=(const ProgressSignal&) = delete;

  // Wake-ups so far. Read it before looking at the state, pass it to wait_until: race-free.
  [[nodiscard]] std::uint64_t epoch() const { return state_->epoch; }

  // Returns after the next wake-up, or at `deadline`, or at once if there was a wake-up since
  // `seen` (an epoch() read before the caller last looked at the state).
  boost::asio::awaitable<void> wait_until(Clock::time_point deadline, std::uint64_t seen) {
    if (state_->epoch != seen) co_return;
    co_await wait(deadline, false);
  }

  // Returns after the next wake-up or at `deadline`. A caller that looked at the state just before
  // a wake-up it was not waiting for (its query was in flight) may have missed that progress; so a
  // waiter arriving within `min_interval` of a wake-up caused by progress gets one more wake-up at
  // the end of that interval. (The epoch form above needs no such extra wake-up.)
  boost::asio::awaitable<void> wait_until(Clock::time_point deadline) {
    co_await wait(deadline, true);
  }

  // Intents may have changed state.
  void notify_all() {
    state_->progress = true;
    schedule(state_);
  }

 private:
  struct State {
    explicit State(Clock::duration min_interval) : interval(min_interval) {}
    Clock::duration interval;
    std::set<boost::asio::steady_timer*> waiting;
    std::optional<boost::asio::steady_timer> timer;  // the deferred wake-up; made with a waiter's
                                                     // executor when first needed
    bool scheduled = false;                          // the timer is armed
    bool progress = false;                           // notify_all() since the last wake-up
    bool last_had_progress = false;
    Clock::time_point last_wake{};  // epoch start: long ago
    std::uint64_t epoch = 0;
  };

  // Deregisters a waiter however its frame ends (also when destroyed while suspended); holds the
  // state so that order of destruction does not matter.
  struct Registration {
    std::shared_ptr<State> state;
    boost::asio::steady_timer* timer;
    ~Registration() { state->waiting.erase(timer); }
  };

  boost::asio::awaitable<void> wait(Clock::time_point deadline, bool catch_up) {
    const auto state = state_;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, deadline);
    if (!state->timer) state->timer.emplace(timer.get_executor());
    state->waiting.insert(&timer);
    const Registration registration{state, &timer};
    if (catch_up && state->last_had_progress && Clock::now() - state->last_wake < state->interval) {
      schedule(state);
    }
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }

  // Wakes now if allowed, else arms the timer for the end of the interval (once).
  static void schedule(const std::shared_ptr<State>& state) {
    if (state->scheduled) return;
    const auto now = Clock::now();
    if (state->waiting.empty() || now - state->last_wake >= state->interval || !state->timer) {
      wake(*state, now);
      return;
    }
    state->scheduled = true;
    state->timer->expires_at(state->last_wake + state->interval);
    state->timer->async_wait([weak = std::weak_ptr<State>(state)](boost::system::error_code ec) {
      const auto live = weak.lock();
      if (ec || !live) return;
      live->scheduled = false;
      wake(*live, Clock::now());
    });
  }

  static void wake(State& state, Clock::time_point now) {
    ++state.epoch;
    state.last_wake = now;
    state.last_had_progress = state.progress;
    state.progress = false;
    auto waiting = std::move(state.waiting);
    state.waiting.clear();
    for (auto* timer : waiting) timer->cancel();
  }

  std::shared_ptr<State> state_;
};

}  // namespace purgeq
