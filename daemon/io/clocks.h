// The time the delivery driver reads: the steady clock for pacing and timers, the wall clock for
// what it stores and shows. One object, so that a test or a simulation sets both together.
#pragma once

#include <chrono>
#include <cstdint>

#include "model/wall_clock.h"

namespace purgeq {

using Clock = std::chrono::steady_clock;

// Whole milliseconds of a steady-clock span: how logs, metrics and the API print one.
inline std::int64_t to_ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

class Clocks {
 public:
  virtual ~Clocks() = default;
  [[nodiscard]] virtual Clock::time_point now() const = 0;
  [[nodiscard]] virtual std::int64_t wall_ms() const = 0;
};

// The machine's clocks.
class SystemClocks final : public Clocks {
 public:
  [[nodiscard]] Clock::time_point now() const override { return Clock::now(); }
  [[nodiscard]] std::int64_t wall_ms() const override { return purgeq::wall_ms(); }
};

}  // namespace purgeq
