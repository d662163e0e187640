// Cost-based escalation (docs/delivery.md, "Cost-based escalation"): while an account's URL budget
// is what holds its backlog back, many pending URLs under one allowed prefix may go as one prefix
// purge, which costs one flex token instead of hundreds of URL tokens. Pure rules over values: the
// store counts what it holds and the dispatcher supplies the budget.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/item.h"

namespace purgeq {

// A zone's policy (`zones[i].escalate`). Off unless it names prefixes or a depth.
struct EscalationRule {
  // Prefixes that may be purged in place of the URLs under them, as Cloudflare takes them
  // ("www.example.com/blog/"; a bare host means the whole host). The blast radius: nothing
  // broader is ever purged, and never everything.
  std::vector<std::string> prefixes;
  // 0: only `prefixes`. N: also any prefix made of a pending URL's host and its first N path
  // segments ("www.example.com/blog/" at depth 1), found among the queue head's URLs.
  int depth = 0;
  std::int64_t min_urls = 100;  // at least this many pending URLs under the prefix
  // ... and at least this share of the prefix's known URLs (pending, in flight and finished ones
  // the store still holds) is pending: a prefix most of whose cached pages are fresh stays. 0: no
  // share asked.
  double min_share = 0.5;

  [[nodiscard]] bool enabled() const { return !prefixes.empty() || depth > 0; }
};

// Bounds on the work of one check, so that it costs the same whatever the backlog.
inline constexpr std::size_t kEscalationHeadRows = 500;      // head URLs candidates come from
inline constexpr std::size_t kEscalationCandidates = 3;      // prefixes counted per check
inline constexpr std::int64_t kEscalationPendingCap = 5000;  // pending URLs counted per prefix
inline constexpr double kMinEscalationShare = 0.1;           // the smallest min_share above 0

// The account's URL budget, as the limiter sees it now.
struct UrlBudget {
  std::int64_t pending_urls = 0;  // pending URLs of the account, all its zones
  double url_tokens = 0;          // URL tokens in hand
  double urls_per_second = 0;     // the URL bucket's refill
  double flex_tokens = 0;         // a prefix purge costs one
  double horizon_seconds = 10;    // how far ahead the budget is looked at
};

// The URL budget binds when the account's pending URLs outnumber what its URL bucket yields within
// the horizon (the tokens in hand plus the refill), while a flex token is there for the prefix:
// escalating when the flex bucket is the scarce one would only trade one wait for another.
[[nodiscard]] bool url_budget_binding(const UrlBudget& budget);

// The prefix made of `file`'s host and its first `depth` path segments, with the slash after them
// ("https://WWW.example.com/blog/2024/x?q" at depth 1: "www.example.com/blog/"); nullopt when the
// path has fewer segments followed by a slash, or the URL has no reach (a port, unparsable).
[[nodiscard]] std::optional<std::string> prefix_at_depth(const Item& file, int depth);

// The prefixes worth counting for a queue head (file items, oldest first): each allowed prefix
// that covers some of them and each depth prefix derived from them, ordered by how many head URLs
// they cover (most first; on a tie the narrower, then by name), at most `limit`.
[[nodiscard]] std::vector<std::string> escalation_candidates(std::span<const Item* const> head,
                                                             const EscalationRule& rule,
                                                             std::size_t limit);

// The most finished URLs of a prefix worth counting: one more than `pending` pending URLs may
// stand beside while still making up `min_share` of the known ones. Counting stops there.
[[nodiscard]] std::int64_t finished_count_cap(std::int64_t pending, double min_share);

// Whether `pending` pending URLs under a prefix with `finished` finished (or in-flight) ones the
// store holds meet the rule's thresholds.
[[nodiscard]] bool worth_escalating(std::int64_t pending, std::int64_t finished,
                                    const EscalationRule& rule);

}  // namespace purgeq
