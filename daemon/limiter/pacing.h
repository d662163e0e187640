// How close to Cloudflare's limits purgeqd paces: the limits an account's engine is built with.
#pragma once

#include <chrono>

#include "config/config.h"

namespace purgeq {

// The buckets refill a little slower than Cloudflare's: a request reaches Cloudflare some
// milliseconds after purgeqd charged it, and concurrent requests do not always arrive in the order
// they were charged, so exact pacing meets Cloudflare's bucket a few tokens short now and then (a
// 429 at 20,000 URLs/s in the drain benchmark). 3 % is 600 URL tokens a second at that rate:
// more than the jitter of a local connection, and little throughput.
inline constexpr double kPacingMargin = 0.97;

// `limits` as purgeqd paces them: the refills by kPacingMargin, and the API-wide window's oldest
// request expiring a second later than Cloudflare's.
[[nodiscard]] inline Limits paced(Limits limits) {
  limits.requests_per_second *= kPacingMargin;
  limits.urls_per_second *= kPacingMargin;
  limits.global_window += std::chrono::seconds(1);
  return limits;
}

}  // namespace purgeq
