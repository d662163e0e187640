// Exponential backoff with full jitter (retry.initial doubling up to retry.max).
#pragma once

#include <chrono>
#include <random>

namespace purgeq {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max);
  // Upper bound of the delay before retry number `attempt` (1 = first retry):
  // initial*2^(attempt-1), capped at max, never overflowing. attempt < 1 counts as 1; negative
  // durations as zero.
  [[nodiscard]] std::chrono::milliseconds ceiling(int attempt) const;
  // Full jitter: uniform in [0, ceiling(attempt)].
  [[nodiscard]] std::chrono::milliseconds delay(int attempt, std::mt19937_64& rng) const;
  // Equal jitter: uniform in [ceiling/2, ceiling]. For pausing a whole account while the upstream
  // fails: still spread out, but never a retry at once.
  [[nodiscard]] std::chrono::milliseconds equal_jitter_delay(int attempt,
                                                             std::mt19937_64& rng) const;

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
};

}  // namespace purgeq
