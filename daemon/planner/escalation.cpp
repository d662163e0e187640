// The pure rules of cost-based escalation: when the budget binds, which prefixes to look at, and
// whether one is worth purging whole.
#include "planner/escalation.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "planner/coverage.h"

namespace purgeq {

bool url_budget_binding(const UrlBudget& budget) {
  if (budget.flex_tokens < 1) return false;
  const double yield = std::max(budget.url_tokens, 0.0) +
                       budget.urls_per_second * std::max(budget.horizon_seconds, 0.0);
  return static_cast<double>(budget.pending_urls) > yield;
}

std::optional<std::string> prefix_at_depth(const Item& file, int depth) {
  if (file.kind != Kind::file || depth < 1) return std::nullopt;
  const auto reach = reach_of(file);
  if (!reach) return std::nullopt;
  const std::string_view path = reach->path;
  // The slash that ends the depth-th segment: the (depth + 1)-th one, counting the leading one.
  std::size_t at = 0;
  for (int slashes = 0; slashes <= depth; ++slashes) {
    at = path.find('/', slashes == 0 ? 0 : at + 1);
    if (at == std::string_view::npos) return std::nullopt;
    // "//": an empty segment is no segment a prefix could name sensibly.
    if (slashes > 0 && path[at - 1] == '/') return std::nullopt;
  }
  return reach->host + std::string(path.substr(0, at + 1));
}

std::vector<std::string> escalation_candidates(std::span<const Item* const> head,
                                               const EscalationRule& rule, std::size_t limit) {
  std::map<std::string, std::size_t> hits;
  std::vector<Item> allowed;
  allowed.reserve(rule.prefixes.size());
  for (const auto& prefix : rule.prefixes) allowed.push_back(Item{Kind::prefix, prefix, {}});
  for (const Item* item : head) {
    if (item == nullptr || item->kind != Kind::file) continue;
    for (const auto& prefix : allowed) {
      if (covers(prefix, *item)) ++hits[prefix.value];
    }
    if (rule.depth > 0) {
      if (auto derived = prefix_at_depth(*item, rule.depth)) ++hits[*derived];
    }
  }
  std::vector<std::pair<std::string, std::size_t>> ranked(hits.begin(), hits.end());
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second > b.second;
    if (a.first.size() != b.first.size()) return a.first.size() > b.first.size();
    return a.first < b.first;
  });
  std::vector<std::string> out;
  for (auto& [prefix, n] : ranked) {
    if (out.size() >= limit) break;
    out.push_back(std::move(prefix));
  }
  return out;
}

std::int64_t finished_count_cap(std::int64_t pending, double min_share) {
  if (min_share <= 0) return 0;
  if (min_share >= 1) return 1;
  // pending / (pending + finished) >= share  <=>  finished <= pending * (1 / share - 1)
  const double most = std::floor(static_cast<double>(pending) * (1.0 / min_share - 1.0) + 1e-9);
  return static_cast<std::int64_t>(most) + 1;
}

bool worth_escalating(std::int64_t pending, std::int64_t finished, const EscalationRule& rule) {
  if (pending < std::max<std::int64_t>(rule.min_urls, 1)) return false;
  if (rule.min_share <= 0) return true;
  return static_cast<double>(pending) >=
         rule.min_share * static_cast<double>(pending + finished) - 1e-9;
}

}  // namespace purgeq
