// Deferred work on the driver's one thread: a task run later in this turn's place (post), or at
// a time (at). Behind an interface so that tests and the simulator run the driver on a clock of
// their own; asio_scheduler.h is the event loop's.
#pragma once

#include <cstdint>
#include <functional>

#include "io/clocks.h"

namespace purgeq {

class Scheduler {
 public:
  using Task = std::function<void()>;
  using TimerId = std::uint64_t;

  virtual ~Scheduler() = default;
  // Runs `task` soon, never inside this call.
  virtual void post(Task task) = 0;
  // Runs `task` at `when` (at once if that has passed), never inside this call, unless cancel()
  // comes first.
  virtual TimerId at(Clock::time_point when, Task task) = 0;
  // The timer's task will not run; a timer that ran or was cancelled already is ignored.
  virtual void cancel(TimerId timer) = 0;
};

}  // namespace purgeq
