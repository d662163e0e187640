// Tests for the pure rules of cost-based escalation (planner/escalation.h).
#include "planner/escalation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace purgeq {
namespace {

Item url(std::string value) {
  return Item{Kind::file, std::move(value), {}};
}

TEST(UrlBudgetBinding, BindsWhenPendingUrlsOutrunTheHorizonsYield) {
  UrlBudget budget{.pending_urls = 500,
                   .url_tokens = 100,
                   .urls_per_second = 50,
                   .flex_tokens = 5,
                   .horizon_seconds = 2};
  EXPECT_TRUE(url_budget_binding(budget));  // 500 > 100 + 50 * 2
  budget.pending_urls = 200;
  EXPECT_FALSE(url_budget_binding(budget));  // exactly what the horizon yields
  budget.pending_urls = 201;
  EXPECT_TRUE(url_budget_binding(budget));
  budget.horizon_seconds = 10;
  EXPECT_FALSE(url_budget_binding(budget));  // 201 <= 100 + 500
}

TEST(UrlBudgetBinding, AnEmptyBucketBindsButAScarceFlexBucketDoesNotEscalate) {
  UrlBudget budget{.pending_urls = 10,
                   .url_tokens = -40,
                   .urls_per_second = 1,
                   .flex_tokens = 1,
                   .horizon_seconds = 5};
  EXPECT_TRUE(url_budget_binding(budget));  // debt counts as nothing in hand
  budget.flex_tokens = 0.99;
  EXPECT_FALSE(url_budget_binding(budget));
}

TEST(PrefixAtDepth, HostAndTheFirstSegmentsWithTheirSlash) {
  const Item item = url("https://WWW.Example.com/blog/2024/post?x=1");
  EXPECT_EQ(prefix_at_depth(item, 1), "www.example.com/blog/");
  EXPECT_EQ(prefix_at_depth(item, 2), "www.example.com/blog/2024/");
  EXPECT_EQ(prefix_at_depth(item, 3), std::nullopt);  // "post" has no slash after it
  EXPECT_EQ(prefix_at_depth(url("https://a.example.com/blog/"), 1), "a.example.com/blog/");
  EXPECT_EQ(prefix_at_depth(url("https://a.example.com/blog"), 1), std::nullopt);
  EXPECT_EQ(prefix_at_depth(url("https://a.example.com"), 1), std::nullopt);
  EXPECT_EQ(prefix_at_depth(url("https://a.example.com//x/"), 1), std::nullopt);
  EXPECT_EQ(prefix_at_depth(url("https://a.example.com:8443/blog/x"), 1), std::nullopt);
  EXPECT_EQ(prefix_at_depth(item, 0), std::nullopt);
  EXPECT_EQ(prefix_at_depth(Item{Kind::prefix, "a.example.com/blog/", {}}, 1), std::nullopt);
}

TEST(EscalationCandidates, AllowedPrefixesThatCoverHeadUrlsMostFirst) {
  const std::vector<Item> items{
      url("https://a.example.com/blog/1"), url("https://a.example.com/news/1"),
      url("https://a.example.com/blog/2"), url("https://a.example.com/shop/1")};
  std::vector<const Item*> head;
  for (const auto& item : items) head.push_back(&item);
  EscalationRule rule;
  rule.prefixes = {"a.example.com/news/", "a.example.com/blog/", "b.example.com/blog/"};
  EXPECT_EQ(escalation_candidates(head, rule, 3),
            (std::vector<std::string>{"a.example.com/blog/", "a.example.com/news/"}));
  EXPECT_EQ(escalation_candidates(head, rule, 1),
            (std::vector<std::string>{"a.example.com/blog/"}));
  rule.prefixes.clear();
  EXPECT_TRUE(escalation_candidates(head, rule, 3).empty());  // policy off: nothing
}

TEST(EscalationCandidates, DepthDerivesFromHeadUrlsAndTiesPreferTheNarrower) {
  const std::vector<Item> items{url("https://a.example.com/blog/x/1"),
                                url("https://a.example.com/blog/x/2"),
                                url("https://a.example.com/top")};
  std::vector<const Item*> head;
  for (const auto& item : items) head.push_back(&item);
  EscalationRule rule;
  rule.depth = 2;
  rule.prefixes = {"a.example.com/blog/"};
  EXPECT_EQ(escalation_candidates(head, rule, 3),
            (std::vector<std::string>{"a.example.com/blog/x/", "a.example.com/blog/"}));
}

TEST(EscalationThresholds, MinUrlsAndShareOfKnownUrls) {
  EscalationRule rule;
  rule.min_urls = 100;
  rule.min_share = 0.5;
  EXPECT_FALSE(worth_escalating(99, 0, rule));
  EXPECT_TRUE(worth_escalating(100, 100, rule));   // exactly half
  EXPECT_FALSE(worth_escalating(100, 101, rule));  // less than half pending
  rule.min_share = 0;
  EXPECT_TRUE(worth_escalating(100, 1'000'000, rule));
}

TEST(EscalationThresholds, FinishedCountStopsOneAboveWhatTheShareAllows) {
  EXPECT_EQ(finished_count_cap(100, 0.5), 101);
  EXPECT_EQ(finished_count_cap(100, 0.25), 301);
  EXPECT_EQ(finished_count_cap(100, 1.0), 1);
  EXPECT_EQ(finished_count_cap(100, 0), 0);
  EscalationRule rule;
  rule.min_urls = 1;
  for (const double share : {0.1, 0.25, 0.5, 0.75, 1.0}) {
    rule.min_share = share;
    const auto cap = finished_count_cap(100, share);
    EXPECT_TRUE(worth_escalating(100, cap - 1, rule)) << share;
    EXPECT_FALSE(worth_escalating(100, cap, rule)) << share;
  }
}

}  // namespace
}  // namespace purgeq
