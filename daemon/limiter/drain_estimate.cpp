#include "limiter/drain_estimate.h"

#include <algorithm>
#include <chrono>

namespace purgeq {
namespace {

std::int64_t requests_for(std::int64_t items, std::int64_t per_request) {
  return items <= 0 ? 0 : (items + per_request - 1) / std::max<std::int64_t>(1, per_request);
}

}  // namespace

double drain_seconds(const Limits& limits, const PendingByKind& pending) {
  const auto of = [&pending](Kind kind) { return pending[static_cast<std::size_t>(kind)]; };
  const std::int64_t urls = of(Kind::file);
  const std::int64_t flex_requests = requests_for(of(Kind::tag), limits.max_ops_per_request) +
                                     requests_for(of(Kind::host), limits.max_ops_per_request) +
                                     requests_for(of(Kind::prefix), limits.max_ops_per_request) +
                                     (of(Kind::everything) > 0 ? 1 : 0);
  const std::int64_t url_requests = requests_for(urls, limits.max_urls_per_request);
  double seconds = std::max(static_cast<double>(urls) / limits.urls_per_second,
                            static_cast<double>(flex_requests) / limits.requests_per_second);
  if (limits.global_requests > 0) {
    const double window = std::chrono::duration<double>(limits.global_window).count();
    const double per_second = static_cast<double>(limits.global_requests) / window;
    seconds = std::max(seconds, static_cast<double>(url_requests + flex_requests) / per_second);
  }
  return seconds;
}

}  // namespace purgeq
