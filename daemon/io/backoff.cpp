// Exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS Architecture Blog):
// retries of many failed batches spread out instead of arriving at Cloudflare together.
#include "io/backoff.h"

#include <algorithm>
#include <cstdint>

namespace purgeq {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
    : initial_(std::max(initial, std::chrono::milliseconds::zero())),
      max_(std::max(max, std::chrono::milliseconds::zero())) {}

std::chrono::milliseconds Backoff::ceiling(int attempt) const {
  const std::int64_t cap = max_.count();
  std::int64_t value = std::min(initial_.count(), cap);
  // Double at most attempt-1 times, stopping at the cap: no overflow for any attempt, and the
  // loop ends after ~63 rounds at most (or at once when initial is 0).
  for (int i = 1; i < attempt && value < cap && value > 0; ++i) {
    value = value > cap / 2 ? cap : value * 2;
  }
  return std::chrono::milliseconds(value);
}

std::chrono::milliseconds Backoff::equal_jitter_delay(int attempt, std::mt19937_64& rng) const {
  const std::int64_t ceiling_ms = ceiling(attempt).count();
  std::uniform_int_distribution<std::int64_t> pick(ceiling_ms / 2, ceiling_ms);
  return std::chrono::milliseconds(pick(rng));
}

std::chrono::milliseconds Backoff::delay(int attempt, std::mt19937_64& rng) const {
  std::uniform_int_distribution<std::int64_t> pick(0, ceiling(attempt).count());
  return std::chrono::milliseconds(pick(rng));
}

}  // namespace purgeq
