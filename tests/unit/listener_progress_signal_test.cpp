// ProgressSignal: wake-ups of long-poll waiters are coalesced (at most one per interval) and the
// last progress event is never lost. Real io_context, real timers, short intervals.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "control/progress_signal.h"

namespace purgeq {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Like Api::intent: look at the state, then wait for progress or the deadline; record each wake.
struct Waiter {
  std::vector<Clock::time_point> wakes;  // returns from wait_until before the deadline
  bool done = false;
};

asio::awaitable<void> wait_loop(ProgressSignal& signal, Clock::time_point deadline,
                                Waiter& waiter) {
  while (Clock::now() < deadline) {
    co_await signal.wait_until(deadline);
    if (Clock::now() < deadline) waiter.wakes.push_back(Clock::now());
  }
  waiter.done = true;
}

// The same, race-free: the epoch is read before looking at the state.
asio::awaitable<void> epoch_wait_loop(ProgressSignal& signal, Clock::time_point deadline,
                                      Waiter& waiter) {
  while (Clock::now() < deadline) {
    const auto seen = signal.epoch();
    co_await signal.wait_until(deadline, seen);
    if (Clock::now() < deadline) waiter.wakes.push_back(Clock::now());
  }
  waiter.done = true;
}

// Calls `fn` at each of `offsets` from now.
void at(asio::io_context& io, const std::vector<Clock::duration>& offsets,
        const std::function<void()>& fn) {
  const auto start = Clock::now();
  for (const auto offset : offsets) {
    auto timer = std::make_shared<asio::steady_timer>(io, start + offset);
    timer->async_wait([timer, fn](boost::system::error_code ec) {
      if (!ec) fn();
    });
  }
}

TEST(ProgressSignalTest, AStormOfProgressWakesEachWaiterAtMostOncePer100ms) {
  asio::io_context io;
  ProgressSignal signal;  // the default interval, 100 ms
  const auto start = Clock::now();
  std::vector<Waiter> waiters(50);
  for (auto& waiter : waiters) {
    asio::co_spawn(io, wait_loop(signal, start + 450ms, waiter), asio::detached);
  }
  std::vector<Clock::duration> storm;
  storm.reserve(150);
  for (int i = 0; i < 150; ++i) storm.emplace_back(i * 2ms);  // 150 events in 300 ms
  Clock::time_point last_progress{};
  at(io, storm, [&] {
    last_progress = Clock::now();
    signal.notify_all();
  });
  io.run_for(600ms);
  for (const auto& waiter : waiters) {
    ASSERT_TRUE(waiter.done);
    // Once at the first event, then every 100 ms while events keep coming: about 4, never 150.
    EXPECT_GE(waiter.wakes.size(), 3U);
    EXPECT_LE(waiter.wakes.size(), 6U);
    for (std::size_t i = 1; i < waiter.wakes.size(); ++i) {
      EXPECT_GE(waiter.wakes[i] - waiter.wakes[i - 1], 95ms) << "wake " << i;
    }
    // Not lost: the last event is followed by a wake-up.
    ASSERT_FALSE(waiter.wakes.empty());
    EXPECT_GE(waiter.wakes.back(), last_progress);
  }
}

TEST(ProgressSignalTest, ProgressInsideTheIntervalIsDeferredNotLost) {
  asio::io_context io;
  ProgressSignal signal(50ms);
  const auto start = Clock::now();
  Waiter waiter;
  asio::co_spawn(io, wait_loop(signal, start + 2s, waiter), asio::detached);
  at(io, {10ms, 20ms}, [&] { signal.notify_all(); });
  io.run_for(200ms);
  // At once, then at the end of the interval (not at the deadline); a third would be the
  // catch-up of the plain form (below), another interval later.
  ASSERT_GE(waiter.wakes.size(), 2U);
  ASSERT_LE(waiter.wakes.size(), 3U);
  EXPECT_LT(waiter.wakes[0] - start, 40ms);
  EXPECT_GE(waiter.wakes[1] - start, 55ms);
  EXPECT_LT(waiter.wakes[1] - start, 150ms);
  if (waiter.wakes.size() == 3) {
    EXPECT_GE(waiter.wakes[2] - waiter.wakes[1], 45ms);
  }
}

TEST(ProgressSignalTest, AWaiterWhoseQueryRanDuringAWakeUpIsWokenAgain) {
  // Api::intent reads the state, then waits. Progress that lands while its query is in flight
  // wakes nobody (it is not waiting yet); it must not sleep until its deadline.
  asio::io_context io;
  ProgressSignal signal;
  const auto start = Clock::now();
  signal.notify_all();  // the waiter's query is in flight
  Waiter waiter;
  at(io, {20ms},
     [&] { asio::co_spawn(io, wait_loop(signal, start + 5s, waiter), asio::detached); });
  io.run_for(250ms);
  ASSERT_EQ(waiter.wakes.size(), 1U) << "slept through progress it may not have seen";
  EXPECT_GE(waiter.wakes[0] - start, 95ms);
  EXPECT_LT(waiter.wakes[0] - start, 200ms);
}

TEST(ProgressSignalTest, WithoutProgressAWaiterReturnsAtItsDeadline) {
  asio::io_context io;
  ProgressSignal signal;
  const auto start = Clock::now();
  Waiter waiter;
  asio::co_spawn(io, wait_loop(signal, start + 60ms, waiter), asio::detached);
  io.run_for(300ms);
  EXPECT_TRUE(waiter.done);
  EXPECT_TRUE(waiter.wakes.empty());
  EXPECT_GE(Clock::now() - start, 60ms);
}

TEST(ProgressSignalTest, TheEpochFormReturnsAtOnceAfterAWakeUpItMissed) {
  asio::io_context io;
  ProgressSignal signal;
  const auto seen = signal.epoch();
  signal.notify_all();  // nobody waits: the wake-up happens at once and moves the epoch
  EXPECT_NE(signal.epoch(), seen);
  bool returned = false;
  const auto start = Clock::now();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await signal.wait_until(Clock::now() + 5s, seen);
        returned = true;
      },
      asio::detached);
  io.run_for(50ms);
  EXPECT_TRUE(returned);
  EXPECT_LT(Clock::now() - start, 200ms);
}

TEST(ProgressSignalTest, TheEpochFormWakesOncePerWakeUpWithoutCatchUps) {
  asio::io_context io;
  ProgressSignal signal;
  const auto start = Clock::now();
  Waiter waiter;
  asio::co_spawn(io, epoch_wait_loop(signal, start + 5s, waiter), asio::detached);
  at(io, {10ms}, [&] { signal.notify_all(); });
  io.run_for(250ms);
  EXPECT_EQ(waiter.wakes.size(), 1U);
}

TEST(ProgressSignalTest, ACancelledWaiterLeavesAndWaitersOutliveTheSignal) {
  asio::io_context io;
  std::optional<ProgressSignal> signal(std::in_place, 50ms);
  const auto start = Clock::now();
  asio::cancellation_signal cancel;
  bool cancelled_returned = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await signal->wait_until(Clock::now() + 5s);
        cancelled_returned = true;
      },
      asio::bind_cancellation_slot(cancel.slot(), asio::detached));
  Waiter waiter;
  asio::co_spawn(io, wait_loop(*signal, start + 150ms, waiter), asio::detached);
  at(io, {10ms}, [&] { cancel.emit(asio::cancellation_type::terminal); });
  at(io, {20ms, 30ms}, [&] { signal->notify_all(); });  // the second one is deferred...
  at(io, {40ms}, [&] { signal.reset(); });              // ...and the signal goes first
  io.run_for(300ms);
  EXPECT_TRUE(cancelled_returned);
  EXPECT_TRUE(waiter.done);  // at its deadline, without touching the destroyed signal
  EXPECT_EQ(waiter.wakes.size(), 1U);
}

}  // namespace
}  // namespace purgeq
