#include "config/plans.h"

#include <algorithm>

namespace purgeq {

const std::vector<std::string_view>& plan_names() {
  static const std::vector<std::string_view> names{"free", "pro", "business", "enterprise"};
  return names;
}

Limits limits_for_plan(Plan plan) {
  Limits limits;
  limits.max_ops_per_request = 100;
  limits.max_urls_per_request = 100;
  limits.global_requests = 1200;
  limits.global_window = std::chrono::minutes(5);
  limits.max_in_flight = 4;
  switch (plan) {
    case Plan::free:
      limits.requests_per_second = 5.0 / 60.0;  // 5 per minute
      limits.burst = 25;
      limits.urls_per_second = 800;
      break;
    case Plan::pro:
      limits.requests_per_second = 5;
      limits.burst = 25;
      limits.urls_per_second = 1500;
      break;
    case Plan::business:
      limits.requests_per_second = 10;
      limits.burst = 50;
      limits.urls_per_second = 1500;
      break;
    case Plan::enterprise:
      limits.requests_per_second = 50;
      limits.burst = 500;
      limits.urls_per_second = 3000;
      limits.max_urls_per_request = 500;
      break;
  }
  return limits;
}

Limits limits_for_plan(Plan plan, const LimitOverrides& overrides) {
  Limits limits = limits_for_plan(plan);
  const auto apply = [](auto& value, const auto& override) {
    if (override) value = *override;
  };
  apply(limits.requests_per_second, overrides.requests_per_second);
  apply(limits.burst, overrides.burst);
  apply(limits.urls_per_second, overrides.urls_per_second);
  apply(limits.max_ops_per_request, overrides.max_ops_per_request);
  apply(limits.max_urls_per_request, overrides.max_urls_per_request);
  apply(limits.global_requests, overrides.global_requests);
  apply(limits.global_window, overrides.global_window);
  apply(limits.max_in_flight, overrides.max_in_flight);
  return limits;
}

std::string_view to_string(Plan plan) {
  return plan_names().at(static_cast<std::size_t>(plan));
}

std::optional<Plan> plan_from_string(std::string_view name) {
  const auto& names = plan_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) return std::nullopt;
  return static_cast<Plan>(it - names.begin());
}

}  // namespace purgeq
