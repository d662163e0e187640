#include "io/asio_scheduler.h"

#include <boost/asio/post.hpp>

namespace purgeq {

AsioScheduler::~AsioScheduler() {
  for (auto& [id, timer] : timers_) timer->cancel();
}

void AsioScheduler::post(Task task) {
  boost::asio::post(io_, std::move(task));
}

Scheduler::TimerId AsioScheduler::at(Clock::time_point when, Task task) {
  const TimerId id = next_++;
  auto& timer = timers_[id];
  timer = std::make_unique<boost::asio::steady_timer>(io_, when);
  timer->async_wait([this, id, task = std::move(task)](boost::system::error_code ec) {
    // A cancelled timer's handler still runs (with operation_aborted); its entry went with
    // cancel() already, and the scheduler may be gone with it.
    if (ec) return;
    timers_.erase(id);
    task();
  });
  return id;
}

void AsioScheduler::cancel(TimerId timer) {
  const auto it = timers_.find(timer);
  if (it == timers_.end()) return;
  it->second->cancel();
  timers_.erase(it);
}

}  // namespace purgeq
