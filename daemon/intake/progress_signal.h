// Wakes every coroutine waiting for "something changed" (intent waiters of GET ...?wait=).
// A waiter re-checks its condition after each wake; spurious wakes are harmless.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <set>

namespace purgeq {

class ProgressSignal {
 public:
  // Returns when notify_all() is called or at `deadline`.
  boost::asio::awaitable<void> wait_until(std::chrono::steady_clock::time_point deadline) {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, deadline);
    waiting_.insert(&timer);
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    waiting_.erase(&timer);
  }
  void notify_all() {
    for (auto* timer : waiting_) timer->cancel();
  }

 private:
  std::set<boost::asio::steady_timer*> waiting_;
};

}  // namespace purgeq
