// The open sessions of a listener (Unix socket or TCP), and the wait for them to end at shutdown:
// both listeners stop the same way, so the bookkeeping lives here once.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "observe/log.h"

namespace purgeq {

template <class Session>
class SessionSet {
 public:
  explicit SessionSet(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}

  void add(Session* session) { sessions_.insert(session); }
  // False when `session` was not here. The last one out ends a drain.
  bool remove(Session* session) {
    if (sessions_.erase(session) == 0) return false;
    if (sessions_.empty() && drained_) {
      if (timer_) timer_->cancel();
      boost::asio::post(executor_, std::exchange(drained_, nullptr));
    }
    return true;
  }
  [[nodiscard]] std::size_t size() const { return sessions_.size(); }
  [[nodiscard]] bool empty() const { return sessions_.empty(); }
  // A copy: cutting a session may remove it while the caller iterates.
  [[nodiscard]] std::vector<Session*> all() const { return {sessions_.begin(), sessions_.end()}; }

  // After the listener stopped: `done` (posted) once every session has ended, or at `deadline`,
  // when `cut_all` ends the rest first. `self` keeps the owner alive for the timer, weakly.
  template <class Owner>
  void drain(std::chrono::steady_clock::duration deadline, std::function<void()> done,
             std::weak_ptr<Owner> self, void (*cut_all)(Owner&)) {
    if (sessions_.empty()) {
      boost::asio::post(executor_, std::move(done));
      return;
    }
    drained_ = std::move(done);
    timer_.emplace(executor_);
    timer_->expires_after(deadline);
    timer_->async_wait([self = std::move(self), cut_all](boost::system::error_code ec) {
      const auto owner = self.lock();
      if (ec || !owner) return;
      auto& set = owner->sessions;
      if (!set.drained_) return;
      log::warning("connections_cancelled", "connections={} note={}", set.size(),
                   log::quote("still busy when the stop deadline passed"));
      cut_all(*owner);
      std::exchange(set.drained_, nullptr)();
    });
  }

  // The listener is going away: no drain callback may run after it.
  void forget_drain() {
    drained_ = nullptr;
    if (timer_) timer_->cancel();
  }

 private:
  boost::asio::any_io_executor executor_;
  std::set<Session*> sessions_;
  std::function<void()> drained_;
  std::optional<boost::asio::steady_timer> timer_;
};

// Gives a session's slot back to its owner however its coroutine ends: returned, thrown, or
// destroyed while suspended after the listener is gone (the owner is shared with the coroutine).
template <class Owner, class Session>
struct SessionGuard {
  std::shared_ptr<Owner> owner;
  Session* session;
  SessionGuard(std::shared_ptr<Owner> o, Session* s) : owner(std::move(o)), session(s) {}
  SessionGuard(const SessionGuard&) = delete;
  SessionGuard& operator=(const SessionGuard&) = delete;
  ~SessionGuard() { owner->remove(session); }
};

// A completion handler for co_spawn'ed listener coroutines: logs what ended one with an exception.
inline auto log_coroutine_failure(std::string_view event, std::string_view listener) {
  return [event, listener](const std::exception_ptr& error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log::error(event, "listener={} error={}", listener, log::quote(e.what()));
    }
  };
}

}  // namespace purgeq
