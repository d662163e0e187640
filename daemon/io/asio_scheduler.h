// The Scheduler of the daemon's event loop: posts and steady timers on its io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>

#include "io/scheduler.h"

namespace purgeq {

class AsioScheduler final : public Scheduler {
 public:
  explicit AsioScheduler(boost::asio::io_context& io) : io_(io) {}
  ~AsioScheduler() override;
  AsioScheduler(const AsioScheduler&) = delete;
  AsioScheduler& operator=(const AsioScheduler&) = delete;

  void post(Task task) override;
  TimerId at(Clock::time_point when, Task task) override;
  void cancel(TimerId timer) override;

 private:
  boost::asio::io_context& io_;
  std::map<TimerId, std::unique_ptr<boost::asio::steady_timer>> timers_;
  TimerId next_ = 1;
};

}  // namespace purgeq
