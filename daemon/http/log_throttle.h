// At most one log line per interval for events that come in floods (refused connections, token
// guesses, failing accepts), each line with the count of events since the last one.
#pragma once

#include <chrono>
#include <cstddef>

namespace purgeq {

class LogThrottle {
 public:
  explicit LogThrottle(std::chrono::steady_clock::duration interval = std::chrono::seconds(10))
      : interval_(interval) {}

  // Counts one event. True when a line is due now: log it with count(), then call logged().
  bool due() {
    ++count_;
    const auto now = std::chrono::steady_clock::now();
    if (last_ != std::chrono::steady_clock::time_point{} && now - last_ < interval_) return false;
    last_ = now;
    return true;
  }
  // Events since the last line, this one included.
  [[nodiscard]] std::size_t count() const { return count_; }
  void logged() { count_ = 0; }

 private:
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point last_{};
  std::size_t count_ = 0;
};

}  // namespace purgeq
