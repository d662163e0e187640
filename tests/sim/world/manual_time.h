// Time as a test or the simulator sets it: clocks that move only when told, and a scheduler that
// runs its tasks in (time, order of scheduling) order on the caller's thread. Deterministic: the
// same calls give the same runs.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "io/clocks.h"
#include "io/scheduler.h"

namespace purgeq::sim {

class ManualClocks final : public Clocks {
 public:
  // The steady clock starts at an arbitrary point; the wall clock at `wall_start_ms`.
  explicit ManualClocks(std::int64_t wall_start_ms = 1'767'225'600'000)  // 2026-01-01
      : start_(Clock::time_point(std::chrono::hours(1000))), wall_start_ms_(wall_start_ms) {}
  [[nodiscard]] Clock::time_point now() const override { return now_; }
  [[nodiscard]] std::int64_t wall_ms() const override {
    return wall_start_ms_ +
           std::chrono::duration_cast<std::chrono::milliseconds>(now_ - start_).count();
  }
  void set(Clock::time_point when) {
    if (when > now_) now_ = when;
  }
  void advance(Clock::duration by) { now_ += by; }
  [[nodiscard]] Clock::time_point start() const { return start_; }

 private:
  Clock::time_point start_;
  Clock::time_point now_{start_};
  std::int64_t wall_start_ms_;
};

class ManualScheduler final : public Scheduler {
 public:
  explicit ManualScheduler(ManualClocks& clocks) : clocks_(clocks) {}

  void post(Task task) override { at(clocks_.now(), std::move(task)); }
  TimerId at(Clock::time_point when, Task task) override {
    const TimerId id = next_id_++;
    tasks_.emplace(Key{std::max(when, clocks_.now()), id}, std::move(task));
    return id;
  }
  void cancel(TimerId timer) override {
    for (auto it = tasks_.begin(); it != tasks_.end(); ++it) {
      if (it->first.id == timer) {
        tasks_.erase(it);
        return;
      }
    }
  }

  // Runs the tasks due by now (and those they post for now); returns how many ran.
  std::size_t run_due() {
    std::size_t ran = 0;
    while (!tasks_.empty() && tasks_.begin()->first.when <= clocks_.now()) {
      run_first();
      ++ran;
    }
    return ran;
  }
  // Moves the clock to the next task (not past `limit`) and runs what is due then; false when
  // nothing is scheduled by `limit`.
  bool step(Clock::time_point limit) {
    if (tasks_.empty() || tasks_.begin()->first.when > limit) return false;
    clocks_.set(tasks_.begin()->first.when);
    run_due();
    return true;
  }
  // Runs everything until `until`, then sets the clock there.
  void run_until(Clock::time_point until) {
    while (step(until)) {
    }
    clocks_.set(until);
    run_due();
  }
  [[nodiscard]] std::optional<Clock::time_point> next_due() const {
    if (tasks_.empty()) return std::nullopt;
    return tasks_.begin()->first.when;
  }
  [[nodiscard]] std::size_t pending() const { return tasks_.size(); }
  // Drops every task (a crash: nothing in memory runs again).
  void clear() { tasks_.clear(); }

 private:
  struct Key {
    Clock::time_point when;
    TimerId id;
    friend bool operator<(const Key& a, const Key& b) {
      return std::tie(a.when, a.id) < std::tie(b.when, b.id);
    }
  };
  void run_first() {
    auto node = tasks_.extract(tasks_.begin());
    node.mapped()();
  }

  ManualClocks& clocks_;
  std::map<Key, Task> tasks_;
  TimerId next_id_ = 1;
};

}  // namespace purgeq::sim
