// Applying what Cloudflare said about the zones to a config (see the header).
#include "config/known_zones.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace purgeq {
namespace {

// "a.com on business, b.com on free"
std::string zones_on_plans(const std::vector<std::pair<std::string, std::string>>& zone_plans) {
  std::string out;
  for (const auto& [zone, plan] : zone_plans) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} on {}", zone, plan);
  }
  return out;
}

void apply_plan(Account& account, std::size_t index, const Config& config) {
  // (zone, plan as Cloudflare names it) for the account's zones Cloudflare answered for.
  std::vector<std::pair<std::string, std::string>> zone_plans;
  std::vector<std::string> unknown;  // plans purgeqd does not know, as reported
  std::optional<Plan> lowest;
  for (const auto& zone : config.zones) {
    if (zone.account_index != index || zone.plan.empty()) continue;
    zone_plans.emplace_back(zone.name, zone.plan);
    const auto plan = plan_of_legacy_id(zone.plan);
    if (!plan) unknown.push_back(zone.plan);
    // Free is the most conservative pacing there is: an unknown plan must not draw 429s.
    const Plan paced_as = plan.value_or(Plan::free);
    if (!lowest || paced_as < *lowest) lowest = paced_as;
  }
  account.plan_note.clear();
  const bool same = std::all_of(zone_plans.begin(), zone_plans.end(), [&](const auto& entry) {
    return entry.second == zone_plans.front().second;
  });
  if (account.plan_setting) {
    account.plan = *account.plan_setting;
    account.plan_source = PlanSource::config;
    const bool differs = std::any_of(zone_plans.begin(), zone_plans.end(), [&](const auto& entry) {
      return entry.second != to_string(account.plan);
    });
    if (differs) {
      account.plan_note = fmt::format("paced as {}, as accounts.plan says; Cloudflare reports {}",
                                      to_string(account.plan), zones_on_plans(zone_plans));
    }
  } else if (lowest) {
    account.plan = *lowest;
    account.plan_source = PlanSource::cloudflare;
    if (!unknown.empty()) {
      account.plan_note = fmt::format(
          "Cloudflare reports {}; a plan purgeqd does not know is paced as free, the most "
          "conservative: set accounts.plan to choose",
          zones_on_plans(zone_plans));
    } else if (!same) {
      account.plan_note = fmt::format(
          "zones on different plans ({}): paced as {}, the most conservative; set accounts.plan "
          "to choose",
          zones_on_plans(zone_plans), to_string(account.plan));
    }
  } else {
    // Nothing of the account is sent before one of its zones is resolved; free until then.
    account.plan = Plan::free;
    account.plan_source = PlanSource::unresolved;
  }
  account.limits = limits_for_plan(account.plan, account.limit_overrides);
}

}  // namespace

std::string_view to_string(TokenState state) {
  switch (state) {
    case TokenState::unchecked:
      return "unchecked";
    case TokenState::verified:
      return "verified";
    case TokenState::refused:
      return "refused";
  }
  return "unchecked";
}

std::optional<Plan> plan_of_legacy_id(std::string_view legacy_id) {
  return plan_from_string(legacy_id);
}

Config with_known_zones(const Config& config, const KnownZones& known) {
  Config out = config;
  for (auto& zone : out.zones) {
    const auto it = known.find(zone.name);
    const KnownZone* entry = it != known.end() ? &it->second : nullptr;
    if (zone.source == ZoneSource::config) {
      // A pinned id wins; a record for another id (looked up before it was pinned) says nothing
      // about this one.
      if (entry == nullptr || entry->record.id != zone.id) continue;
    } else if (entry == nullptr) {
      zone.id.clear();
      zone.source = ZoneSource::unresolved;
      zone.account_id.clear();
      zone.plan.clear();
      zone.resolved_at_ms = 0;
      continue;
    } else {
      zone.id = entry->record.id;
      zone.source = entry->source;
    }
    zone.account_id = entry->record.account_id;
    zone.plan = entry->record.plan;
    zone.resolved_at_ms = entry->record.resolved_at_ms;
  }
  for (std::size_t i = 0; i < out.accounts.size(); ++i) apply_plan(out.accounts[i], i, out);
  return out;
}

bool needs_lookup(const Config& config, const Zone& zone) {
  if (!zone.resolved()) return true;
  return !config.accounts.at(zone.account_index).plan_setting && zone.plan.empty();
}

}  // namespace purgeq
