// Cloudflare plans and the purge pacing each allows (reference/cloudflare-purge-api.md §3).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "config/duration.h"

namespace purgeq {

enum class Plan { free, pro, business, enterprise };

// Per-account pacing and per-request caps. Defaults come from the plan (limits_for_plan) and may be
// overridden key by key under `accounts[i].limits`.
struct Limits {
  double requests_per_second = 50;  // flex (tag/host/prefix/everything) bucket refill, > 0
  double burst = 500;               // flex bucket size, >= 1
  double urls_per_second = 3000;    // single-file purge budget (URLs/s), > 0
  int max_ops_per_request = 100;    // tags/hosts/prefixes per request, in [1, 1000]
  int max_urls_per_request = 500;   // files per request, >= 1
  int global_requests = 1200;       // API-wide budget per global_window, >= 0; 0 disables it
  Duration global_window = std::chrono::minutes(5);  // > 0
  int max_in_flight = 4;                             // concurrent requests per account, [1, 64]
};

// `accounts[i].limits` as written: each key that is set replaces the plan's default. Kept apart
// from the Limits in effect because the plan may only be known later (from Cloudflare).
struct LimitOverrides {
  std::optional<double> requests_per_second;
  std::optional<double> burst;
  std::optional<double> urls_per_second;
  std::optional<int> max_ops_per_request;
  std::optional<int> max_urls_per_request;
  std::optional<int> global_requests;
  std::optional<Duration> global_window;
  std::optional<int> max_in_flight;
};

// Cloudflare's documented defaults (reference/cloudflare-purge-api.md §3).
Limits limits_for_plan(Plan plan);
// The plan's defaults with the overrides applied.
Limits limits_for_plan(Plan plan, const LimitOverrides& overrides);
std::string_view to_string(Plan plan);
// "free", "pro", "business", "enterprise"; nullopt for anything else (case-sensitive).
std::optional<Plan> plan_from_string(std::string_view name);
// Every plan's name, in the enum's order: for messages that list the valid ones.
const std::vector<std::string_view>& plan_names();

}  // namespace purgeq
