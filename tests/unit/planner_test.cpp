// Tests for batch planning: caps and full batches, linger and backoff wake-ups, coverage by
// everything/hosts/prefixes, duplicates, kind order, fairness across zones, a randomised check
// against the coverage rules and a 50,000-target backlog. The clock is injected: plain
// time_points from a fixed origin.
#include "planner/planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "planner/coverage.h"

namespace purgeq {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

const Clock::time_point t0{hours(1000)};  // the fake clock's "start"
constexpr auto kLinger = milliseconds(200);

Item file(std::string url, std::vector<Header> headers = {}) {
  return Item{Kind::file, std::move(url), std::move(headers)};
}
Item tag(std::string value) {
  return Item{Kind::tag, std::move(value), {}};
}
Item host(std::string value) {
  return Item{Kind::host, std::move(value), {}};
}
Item prefix(std::string value) {
  return Item{Kind::prefix, std::move(value), {}};
}
Item everything() {
  return Item{Kind::everything, "", {}};
}

// One zone's pending targets. Ids count from 1 in insertion order; items live as long as this.
class Pending {
 public:
  std::int64_t add(Item item, Clock::time_point accepted = t0, Clock::time_point not_before = {}) {
    items_.push_back(std::move(item));
    const std::int64_t id = static_cast<std::int64_t>(targets_.size()) + 1;
    targets_.push_back(PlanTarget{id, &items_.back(), accepted, not_before});
    return id;
  }
  [[nodiscard]] std::span<const PlanTarget> targets() const { return targets_; }
  [[nodiscard]] const Item& item(std::int64_t id) const {
    return *targets_.at(static_cast<std::size_t>(id - 1)).item;
  }
  [[nodiscard]] const PlanTarget& target(std::int64_t id) const {
    return targets_.at(static_cast<std::size_t>(id - 1));
  }
  [[nodiscard]] ZonePlan plan(Clock::time_point now, Caps caps = {},
                              Clock::duration linger = kLinger) const {
    return plan_zone(targets_, caps, linger, now);
  }

 private:
  std::deque<Item> items_;  // stable addresses
  std::vector<PlanTarget> targets_;
};

std::vector<std::int64_t> range(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> out;
  for (std::int64_t id = first; id <= last; ++id) out.push_back(id);
  return out;
}

// Every id the plan names, counting repeats.
std::map<std::int64_t, int> mentions(const ZonePlan& plan) {
  std::map<std::int64_t, int> seen;
  for (const auto& batch : plan.ready) {
    for (const auto id : batch.members) ++seen[id];
    for (const auto id : batch.covered) ++seen[id];
  }
  return seen;
}

void expect_each_at_most_once(const ZonePlan& plan) {
  for (const auto& [id, count] : mentions(plan)) EXPECT_EQ(count, 1) << "id " << id;
}

// --- caps, full batches and linger ---

TEST(PlannerBatching, FullBatchesNowRemainderAfterLinger) {
  Pending zone;
  for (int i = 0; i < 1234; ++i) zone.add(file("https://example.com/" + std::to_string(i)));
  const Caps caps{100, 500};

  auto plan = zone.plan(t0, caps);
  ASSERT_EQ(plan.ready.size(), 2U);
  EXPECT_EQ(plan.ready[0].members, range(1, 500));
  EXPECT_EQ(plan.ready[1].members, range(501, 1000));
  ASSERT_TRUE(plan.wake_at);
  EXPECT_EQ(*plan.wake_at, t0 + kLinger);

  plan = zone.plan(t0 + kLinger - milliseconds(1), caps);
  EXPECT_EQ(plan.ready.size(), 2U);

  plan = zone.plan(t0 + kLinger, caps);
  ASSERT_EQ(plan.ready.size(), 3U);
  EXPECT_EQ(plan.ready[0].members.size(), 500U);
  EXPECT_EQ(plan.ready[1].members.size(), 500U);
  EXPECT_EQ(plan.ready[2].members, range(1001, 1234));
  EXPECT_FALSE(plan.wake_at);
  for (const auto& batch : plan.ready) {
    EXPECT_EQ(batch.kind, Kind::file);
    EXPECT_FALSE(batch.with_headers);
    EXPECT_TRUE(batch.covered.empty());
  }
}

TEST(PlannerBatching, OldestFirstByAcceptedAtThenId) {
  Pending zone;
  // Inserted newest first: ids run against age.
  const auto c = zone.add(tag("c"), t0 + milliseconds(30));
  const auto b = zone.add(tag("b"), t0 + milliseconds(20));
  const auto a2 = zone.add(tag("a2"), t0 + milliseconds(10));
  const auto a1 = zone.add(tag("a1"), t0 + milliseconds(10));
  const auto plan = zone.plan(t0 + seconds(1), Caps{2, 2});
  ASSERT_EQ(plan.ready.size(), 2U);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{a2, a1}));  // same time: by id
  EXPECT_EQ(plan.ready[1].members, (std::vector<std::int64_t>{b, c}));
}

TEST(PlannerBatching, RemainderLingersFromItsOwnOldestMember) {
  Pending zone;
  // Three old tags and two fresh ones, cap 3: the old ones fill a batch; the remainder's oldest
  // is fresh, so it waits for its own linger.
  for (int i = 0; i < 3; ++i) zone.add(tag("old" + std::to_string(i)), t0);
  zone.add(tag("new0"), t0 + seconds(10));
  zone.add(tag("new1"), t0 + seconds(10) + milliseconds(50));
  const auto now = t0 + seconds(10) + milliseconds(100);
  const auto plan = zone.plan(now, Caps{3, 500});
  ASSERT_EQ(plan.ready.size(), 1U);
  EXPECT_EQ(plan.ready[0].members, range(1, 3));
  ASSERT_TRUE(plan.wake_at);
  EXPECT_EQ(*plan.wake_at, t0 + seconds(10) + kLinger);
}

TEST(PlannerLinger, NothingReadyUntilLingerThenReady) {
  Pending zone;
  zone.add(file("https://example.com/a"), t0);
  auto plan = zone.plan(t0 + milliseconds(100));
  EXPECT_TRUE(plan.ready.empty());
  ASSERT_TRUE(plan.wake_at);
  EXPECT_EQ(*plan.wake_at, t0 + kLinger);

  plan = zone.plan(t0 + kLinger);
  ASSERT_EQ(plan.ready.size(), 1U);
  EXPECT_EQ(plan.ready[0].members, range(1, 1));
  EXPECT_FALSE(plan.wake_at);
}

TEST(PlannerLinger, WakeAtIsTheEarliestGroup) {
  Pending zone;
  zone.add(tag("t"), t0 + milliseconds(50));
  zone.add(file("https://example.com/a"), t0 + milliseconds(20));
  zone.add(host("example.org"), t0 + milliseconds(90));
  const auto plan = zone.plan(t0 + milliseconds(60));
  EXPECT_TRUE(plan.ready.empty());
  ASSERT_TRUE(plan.wake_at);
  EXPECT_EQ(*plan.wake_at, t0 + milliseconds(20) + kLinger);
}

TEST(PlannerLinger, ZeroLingerIsImmediate) {
  Pending zone;
  zone.add(file("https://example.com/a"), t0);
  zone.add(tag("x"), t0);
  const auto plan = zone.plan(t0, Caps{}, Clock::duration::zero());
  EXPECT_EQ(plan.ready.size(), 2U);
  EXPECT_FALSE(plan.wake_at);
}

TEST(PlannerLinger, EmptyZonePlansNothing) {
  const auto plan = plan_zone({}, Caps{}, kLinger, t0);
  EXPECT_TRUE(plan.ready.empty());
  EXPECT_FALSE(plan.wake_at);
}

// --- coverage ---

TEST(PlannerCoverage, EverythingCoversAllOtherTargets) {
  Pending zone;
  const auto f = zone.add(file("https://example.com/a"), t0);
  const auto e1 = zone.add(everything(), t0 + milliseconds(1));
  const auto t = zone.add(tag("x"), t0 + milliseconds(2));
  const auto h = zone.add(host("example.com"), t0 + milliseconds(3));
  const auto p = zone.add(prefix("example.com/a"), t0 + milliseconds(4));
  const auto fh =
      zone.add(file("https://example.com/a", {{"CF-IPCountry", "US"}}), t0 + milliseconds(5));
  const auto e2 = zone.add(everything(), t0 + milliseconds(6));
  // Backed off: not sendable on its own, but the purge-everything purges it all the same.
  const auto late = zone.add(file("https://example.com/b"), t0 + milliseconds(7), t0 + hours(1));

  // Everything is always a full batch: no linger.
  const auto plan = zone.plan(t0 + milliseconds(10));
  ASSERT_EQ(plan.ready.size(), 1U);
  EXPECT_EQ(plan.ready[0].kind, Kind::everything);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{e1}));
  EXPECT_EQ(plan.ready[0].covered, (std::vector<std::int64_t>{f, t, h, p, fh, e2, late}));
  EXPECT_FALSE(plan.wake_at);
}

TEST(PlannerCoverage, EverythingInBackoffHoldsTheZone) {
  Pending zone;
  zone.add(everything(), t0, t0 + seconds(30));
  zone.add(file("https://example.com/a"), t0);
  zone.add(tag("x"), t0);
  const auto plan = zone.plan(t0 + seconds(1));
  EXPECT_TRUE(plan.ready.empty());
  ASSERT_TRUE(plan.wake_at);
  EXPECT_EQ(*plan.wake_at, t0 + seconds(30));
}

TEST(PlannerCoverage, HostCoversItsUrlsAndPrefixes) {
  Pending zone;
  const auto h = zone.add(host("example.com"), t0);
  const auto f1 = zone.add(file("https://example.com/a?x=1"), t0);
  const auto f2 = zone.add(file("http://example.com/b", {{"CF-Device-Type", "mobile"}}), t0);
  const auto p = zone.add(prefix("example.com/blog/"), t0);
  const auto under_p = zone.add(file("https://example.com/blog/post"), t0);
  const auto other = zone.add(file("https://www.example.com/a"), t0);
  const auto port = zone.add(file("https://example.com:8443/a"), t0);
  const auto other_prefix = zone.add(prefix("www.example.com/x"), t0);
  const auto t = zone.add(tag("example.com"), t0);

  const auto plan = zone.plan(t0 + kLinger);
  expect_each_at_most_once(plan);
  ASSERT_EQ(plan.ready.size(), 4U);
  EXPECT_EQ(plan.ready[0].kind, Kind::host);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{h}));
  EXPECT_EQ(plan.ready[0].covered, (std::vector<std::int64_t>{f1, f2, p, under_p}));
  EXPECT_EQ(plan.ready[1].kind, Kind::prefix);
  EXPECT_EQ(plan.ready[1].members, (std::vector<std::int64_t>{other_prefix}));
  EXPECT_EQ(plan.ready[2].kind, Kind::tag);
  EXPECT_EQ(plan.ready[2].members, (std::vector<std::int64_t>{t}));
  EXPECT_EQ(plan.ready[3].kind, Kind::file);
  EXPECT_EQ(plan.ready[3].members, (std::vector<std::int64_t>{other, port}));
}

TEST(PlannerCoverage, PrefixCoversUrlsAndLongerPrefixes) {
  Pending zone;
  const auto foo = zone.add(prefix("example.com/foo"), t0);
  const auto foobar = zone.add(file("https://example.com/foobar"), t0);
  const auto query = zone.add(file("https://example.com/foo?x=1"), t0);
  const auto longer = zone.add(prefix("example.com/foo/bar/"), t0);
  const auto deep = zone.add(file("https://example.com/foo/bar/baz.css"), t0);
  const auto bar = zone.add(file("https://example.com/bar"), t0);
  const auto upper = zone.add(file("https://example.com/Foo"), t0);
  const auto other_host = zone.add(file("https://cdn.example.com/foo"), t0);
  const auto sibling = zone.add(prefix("example.com/fo"), t0 + milliseconds(1));

  // "example.com/fo" is broader still: it covers "example.com/foo" and everything under it.
  const auto plan = zone.plan(t0 + seconds(1));
  expect_each_at_most_once(plan);
  ASSERT_EQ(plan.ready.size(), 2U);
  EXPECT_EQ(plan.ready[0].kind, Kind::prefix);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{sibling}));
  EXPECT_EQ(plan.ready[0].covered, (std::vector<std::int64_t>{foo, foobar, query, longer, deep}));
  EXPECT_EQ(plan.ready[1].kind, Kind::file);
  EXPECT_EQ(plan.ready[1].members, (std::vector<std::int64_t>{bar, upper, other_host}));
}

TEST(PlannerCoverage, CoveredRidesWithTheBatchHoldingItsCoverer) {
  Pending zone;
  // Three prefixes, cap 2: two batches; each URL rides with the batch its prefix is in.
  const auto a = zone.add(prefix("example.com/a/"), t0);
  const auto b = zone.add(prefix("example.com/b/"), t0 + milliseconds(1));
  const auto c = zone.add(prefix("example.com/c/"), t0 + milliseconds(2));
  const auto under_c = zone.add(file("https://example.com/c/1"), t0);
  const auto under_a = zone.add(file("https://example.com/a/1"), t0);
  const auto plan = zone.plan(t0 + seconds(1), Caps{2, 500});
  ASSERT_EQ(plan.ready.size(), 2U);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{a, b}));
  EXPECT_EQ(plan.ready[0].covered, (std::vector<std::int64_t>{under_a}));
  EXPECT_EQ(plan.ready[1].members, (std::vector<std::int64_t>{c}));
  EXPECT_EQ(plan.ready[1].covered, (std::vector<std::int64_t>{under_c}));
}

TEST(PlannerCoverage, CoveredTargetWaitsForItsLingeringCoverer) {
  Pending zone;
  const auto f = zone.add(file("https://example.com/a"), t0);
  const auto h = zone.add(host("example.com"), t0 + milliseconds(150));
  // The file alone would be ready at t0+200ms; its host rides later and purges it too.
  auto plan = zone.plan(t0 + milliseconds(250));
  EXPECT_TRUE(plan.ready.empty());
  ASSERT_TRUE(plan.wake_at);
  EXPECT_EQ(*plan.wake_at, t0 + milliseconds(150) + kLinger);
  plan = zone.plan(t0 + milliseconds(350));
  ASSERT_EQ(plan.ready.size(), 1U);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{h}));
  EXPECT_EQ(plan.ready[0].covered, (std::vector<std::int64_t>{f}));
}

TEST(PlannerCoverage, OnlyPendingTargetsCount) {
  // The host was planned (and sent) while only f1 was pending. f2, accepted after the host left
  // the queue, is not in `pending` the next time: it is planned on its own.
  Pending before;
  const auto h = before.add(host("example.com"), t0);
  const auto f1 = before.add(file("https://example.com/1"), t0);
  auto plan = before.plan(t0 + kLinger);
  ASSERT_EQ(plan.ready.size(), 1U);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{h}));
  EXPECT_EQ(plan.ready[0].covered, (std::vector<std::int64_t>{f1}));

  Pending after;
  const auto f2 = after.add(file("https://example.com/2"), t0 + seconds(1));
  plan = after.plan(t0 + seconds(1) + kLinger);
  ASSERT_EQ(plan.ready.size(), 1U);
  EXPECT_EQ(plan.ready[0].kind, Kind::file);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{f2}));
  EXPECT_TRUE(plan.ready[0].covered.empty());
}

// --- kinds and headers ---

TEST(PlannerKinds, NeverMixedAndWithinCaps) {
  Pending zone;
  for (int i = 0; i < 250; ++i) zone.add(tag("t" + std::to_string(i)), t0);
  for (int i = 0; i < 150; ++i) zone.add(host("h" + std::to_string(i) + ".example.com"), t0);
  for (int i = 0; i < 120; ++i) zone.add(prefix("p" + std::to_string(i) + ".example.org/x"), t0);
  for (int i = 0; i < 600; ++i) zone.add(file("https://f.example.net/" + std::to_string(i)), t0);
  const Caps caps{100, 500};
  const auto plan = zone.plan(t0 + kLinger, caps);
  expect_each_at_most_once(plan);
  EXPECT_EQ(mentions(plan).size(), 1120U);
  std::map<Kind, std::vector<std::size_t>> sizes;
  for (const auto& batch : plan.ready) {
    for (const auto id : batch.members) EXPECT_EQ(zone.item(id).kind, batch.kind);
    sizes[batch.kind].push_back(batch.members.size());
  }
  EXPECT_EQ(sizes[Kind::tag], (std::vector<std::size_t>{100, 100, 50}));
  EXPECT_EQ(sizes[Kind::host], (std::vector<std::size_t>{100, 50}));
  EXPECT_EQ(sizes[Kind::prefix], (std::vector<std::size_t>{100, 20}));
  EXPECT_EQ(sizes[Kind::file], (std::vector<std::size_t>{500, 100}));
}

TEST(PlannerKinds, FilesWithAndWithoutHeadersSplit) {
  Pending zone;
  const auto plain1 = zone.add(file("https://example.com/a"), t0);
  const auto with1 = zone.add(file("https://example.com/a", {{"CF-IPCountry", "US"}}), t0);
  const auto plain2 = zone.add(file("https://example.com/b"), t0);
  const auto with2 = zone.add(file("https://example.com/b", {{"Origin", "https://x.example"}}), t0);
  const auto plan = zone.plan(t0 + kLinger);
  ASSERT_EQ(plan.ready.size(), 2U);
  EXPECT_FALSE(plan.ready[0].with_headers);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{plain1, plain2}));
  EXPECT_TRUE(plan.ready[1].with_headers);
  EXPECT_EQ(plan.ready[1].members, (std::vector<std::int64_t>{with1, with2}));
}

TEST(PlannerKinds, HeaderFilesFillTheirOwnBatches) {
  Pending zone;
  for (int i = 0; i < 5; ++i) zone.add(file("https://example.com/" + std::to_string(i)), t0);
  for (int i = 0; i < 5; ++i) {
    zone.add(file("https://example.com/" + std::to_string(i), {{"CF-IPCountry", "US"}}), t0);
  }
  // Cap 3: each group yields one full batch now; their remainders (2 each) wait for linger.
  const auto plan = zone.plan(t0, Caps{100, 3});
  ASSERT_EQ(plan.ready.size(), 2U);
  EXPECT_EQ(plan.ready[0].members, range(1, 3));
  EXPECT_EQ(plan.ready[1].members, range(6, 8));
  EXPECT_TRUE(plan.ready[1].with_headers);
  ASSERT_TRUE(plan.wake_at);
  EXPECT_EQ(*plan.wake_at, t0 + kLinger);
}

TEST(PlannerOrder, BroadKindsFirstThenOldest) {
  Pending zone;
  const auto f_plain = zone.add(file("https://a.example/x"), t0 + milliseconds(5));
  const auto f_with = zone.add(file("https://a.example/x", {{"CF-IPCountry", "US"}}), t0);
  const auto t = zone.add(tag("x"), t0 + milliseconds(1));
  const auto p = zone.add(prefix("b.example/y"), t0 + milliseconds(2));
  const auto h = zone.add(host("c.example"), t0 + milliseconds(3));
  const auto plan = zone.plan(t0 + seconds(1));
  ASSERT_EQ(plan.ready.size(), 5U);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{h}));
  EXPECT_EQ(plan.ready[1].members, (std::vector<std::int64_t>{p}));
  EXPECT_EQ(plan.ready[2].members, (std::vector<std::int64_t>{t}));
  // Files: the older batch first, headers or not.
  EXPECT_EQ(plan.ready[3].members, (std::vector<std::int64_t>{f_with}));
  EXPECT_EQ(plan.ready[4].members, (std::vector<std::int64_t>{f_plain}));
}

// --- retry backoff ---

TEST(PlannerBackoff, NotBeforeIsRespectedAndReportedAsWake) {
  Pending zone;
  const auto waiting = zone.add(file("https://example.com/a"), t0, t0 + seconds(5));
  const auto ready = zone.add(file("https://example.com/b"), t0);
  auto plan = zone.plan(t0 + seconds(1));
  ASSERT_EQ(plan.ready.size(), 1U);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{ready}));
  ASSERT_TRUE(plan.wake_at);
  EXPECT_EQ(*plan.wake_at, t0 + seconds(5));

  plan = zone.plan(t0 + seconds(5));
  ASSERT_EQ(plan.ready.size(), 1U);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{waiting, ready}));
}

TEST(PlannerBackoff, OnlyEligibleTargetsFillBatches) {
  Pending zone;
  zone.add(tag("a"), t0);
  zone.add(tag("b"), t0, t0 + seconds(5));
  zone.add(tag("c"), t0);
  // Cap 2, linger long: the two eligible tags make a full batch; the third does not count.
  const auto plan = zone.plan(t0 + milliseconds(1), Caps{2, 500}, hours(1));
  ASSERT_EQ(plan.ready.size(), 1U);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{1, 3}));
  ASSERT_TRUE(plan.wake_at);
  EXPECT_EQ(*plan.wake_at, t0 + seconds(5));
}

TEST(PlannerBackoff, BackedOffTargetCanStillBeCovered) {
  Pending zone;
  const auto h = zone.add(host("example.com"), t0);
  const auto f = zone.add(file("https://example.com/a"), t0, t0 + seconds(30));
  const auto plan = zone.plan(t0 + kLinger);
  ASSERT_EQ(plan.ready.size(), 1U);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{h}));
  EXPECT_EQ(plan.ready[0].covered, (std::vector<std::int64_t>{f}));
  EXPECT_FALSE(plan.wake_at);
}

TEST(PlannerBackoff, BackedOffCovererHoldsWhatItCovers) {
  Pending zone;
  zone.add(prefix("example.com/a/"), t0, t0 + seconds(30));
  zone.add(file("https://example.com/a/1"), t0);
  const auto plan = zone.plan(t0 + seconds(1));
  EXPECT_TRUE(plan.ready.empty());
  ASSERT_TRUE(plan.wake_at);
  EXPECT_EQ(*plan.wake_at, t0 + seconds(30));
}

// --- duplicates ---

TEST(PlannerDuplicates, OneMemberTheRestCovered) {
  Pending zone;
  const auto f1 = zone.add(file("https://example.com/a"), t0);
  const auto f2 = zone.add(file("https://example.com/a"), t0 + milliseconds(1));
  const auto t1 = zone.add(tag("Product"), t0);
  const auto t2 = zone.add(tag("product"), t0 + milliseconds(1));
  const auto h1 = zone.add(host("example.org"), t0);
  const auto h2 = zone.add(host("Example.ORG"), t0 + milliseconds(1));
  const auto plan = zone.plan(t0 + kLinger);
  expect_each_at_most_once(plan);
  ASSERT_EQ(plan.ready.size(), 3U);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{h1}));
  EXPECT_EQ(plan.ready[0].covered, (std::vector<std::int64_t>{h2}));
  EXPECT_EQ(plan.ready[1].members, (std::vector<std::int64_t>{t1}));
  EXPECT_EQ(plan.ready[1].covered, (std::vector<std::int64_t>{t2}));
  EXPECT_EQ(plan.ready[2].members, (std::vector<std::int64_t>{f1}));
  EXPECT_EQ(plan.ready[2].covered, (std::vector<std::int64_t>{f2}));
}

TEST(PlannerDuplicates, SendableTwinIsTheMember) {
  Pending zone;
  const auto old_backed_off = zone.add(file("https://example.com/a"), t0, t0 + seconds(30));
  const auto fresh = zone.add(file("https://example.com/a"), t0 + milliseconds(100));
  auto plan = zone.plan(t0 + milliseconds(300));
  ASSERT_EQ(plan.ready.size(), 1U);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{fresh}));
  EXPECT_EQ(plan.ready[0].covered, (std::vector<std::int64_t>{old_backed_off}));
  // Before the fresh one lingered: it is the one the wake-up waits for.
  plan = zone.plan(t0 + milliseconds(150));
  EXPECT_TRUE(plan.ready.empty());
  ASSERT_TRUE(plan.wake_at);
  EXPECT_EQ(*plan.wake_at, t0 + milliseconds(300));
}

TEST(PlannerDuplicates, HeadersMakeADifferentTarget) {
  Pending zone;
  zone.add(file("https://example.com/a", {{"CF-IPCountry", "US"}}), t0);
  zone.add(file("https://example.com/a", {{"cf-ipcountry", "US"}}), t0);  // same key
  zone.add(file("https://example.com/a", {{"CF-IPCountry", "DE"}}), t0);
  const auto plan = zone.plan(t0 + kLinger);
  ASSERT_EQ(plan.ready.size(), 1U);
  EXPECT_EQ(plan.ready[0].members, (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(plan.ready[0].covered, (std::vector<std::int64_t>{2}));
}

TEST(PlannerInput, NullItemIsRejectedLoudly) {
  const PlanTarget broken{7, nullptr, t0, {}};
  EXPECT_THROW((void)plan_zone(std::span<const PlanTarget>(&broken, 1), Caps{}, kLinger, t0),
               std::invalid_argument);
}

// --- fairness across zones ---

ZonePlan plan_with(std::vector<std::int64_t> first_members) {
  ZonePlan plan;
  for (const auto id : first_members) {
    Batch batch;
    batch.kind = Kind::tag;
    batch.members = {id};
    plan.ready.push_back(batch);
  }
  return plan;
}

TEST(PlannerFairness, RoundRobinAcrossThreeZones) {
  std::vector<ZonePlan> plans{plan_with({10, 11, 12}), plan_with({20}), plan_with({30, 31})};
  const auto order = interleave_fairly(plans, 1);
  std::vector<std::pair<std::size_t, std::int64_t>> got;
  for (const auto& [slot, batch] : order) got.emplace_back(slot, batch.members.front());
  const std::vector<std::pair<std::size_t, std::int64_t>> expected{{1, 20}, {2, 30}, {0, 10},
                                                                   {2, 31}, {0, 11}, {0, 12}};
  EXPECT_EQ(got, expected);
}

TEST(PlannerFairness, StartWrapsAndEmptyZonesAreSkipped) {
  std::vector<ZonePlan> plans{plan_with({10}), plan_with({}), plan_with({30})};
  const auto order = interleave_fairly(plans, 5);  // 5 mod 3 = zone 2 first
  ASSERT_EQ(order.size(), 2U);
  EXPECT_EQ(order[0].first, 2U);
  EXPECT_EQ(order[1].first, 0U);
  EXPECT_TRUE(interleave_fairly({}, 3).empty());
}

TEST(PlannerFairness, EachZoneLeadsInTurn) {
  std::vector<ZonePlan> plans{plan_with({10, 11}), plan_with({20, 21}), plan_with({30, 31})};
  for (std::size_t start = 0; start < 3; ++start) {
    const auto order = interleave_fairly(plans, start);
    ASSERT_EQ(order.size(), 6U);
    EXPECT_EQ(order[0].first, start);
    // Nobody gets a second batch before everyone had a first.
    std::set<std::size_t> first_round{order[0].first, order[1].first, order[2].first};
    EXPECT_EQ(first_round.size(), 3U);
  }
}

// --- the planner agrees with the coverage rules (randomised) ---

Item random_item(std::mt19937& rng) {
  static const std::vector<std::string> hosts{"a.example", "b.example", "A.example"};
  static const std::vector<std::string> paths{"/", "/x", "/x/", "/x/y", "/xy", "/y", "/X"};
  auto pick = [&](const auto& options) {
    return options[std::uniform_int_distribution<std::size_t>(0, options.size() - 1)(rng)];
  };
  switch (std::uniform_int_distribution<int>(0, 19)(rng)) {
    case 0:
      return everything();
    case 1:
    case 2:
      return host(pick(hosts));
    case 3:
    case 4:
    case 5:
      return prefix(pick(hosts) + (rng() % 4 == 0 ? std::string() : pick(paths)));
    case 6:
    case 7:
      return tag(pick(std::vector<std::string>{"t1", "T1", "t2"}));
    default: {
      std::string url = std::string(rng() % 2 ? "https" : "http") + "://" + pick(hosts);
      if (rng() % 10 == 0) url += ":8443";
      url += pick(paths);
      if (rng() % 3 == 0) url += "?q=1";
      std::vector<Header> headers;
      if (rng() % 4 == 0) headers.emplace_back("CF-IPCountry", "US");
      return file(url, headers);
    }
  }
}

TEST(PlannerProperty, AgreesWithCoverageRules) {
  std::mt19937 rng(20261125);
  for (int round = 0; round < 300; ++round) {
    Pending zone;
    const int n = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      Item item = random_item(rng);
      // Purge-everything only in some rounds, or it would cover every round whole.
      if (item.kind == Kind::everything && round % 5 != 0) item = tag("e");
      const auto backoff = rng() % 6 == 0 ? seconds(5) : seconds(0);
      zone.add(std::move(item), t0 + milliseconds(rng() % 50), t0 + backoff);
    }
    const Caps caps{1 + static_cast<int>(rng() % 4), 1 + static_cast<int>(rng() % 4)};
    const auto plan = zone.plan(t0 + seconds(1), caps);
    const std::string where = "round " + std::to_string(round);
    expect_each_at_most_once(plan);

    std::vector<std::int64_t> members;
    for (const auto& batch : plan.ready) {
      const auto cap = static_cast<std::size_t>(batch.kind == Kind::file         ? caps.max_urls
                                                : batch.kind == Kind::everything ? 1
                                                                                 : caps.max_ops);
      EXPECT_LE(batch.members.size(), cap) << where;
      for (const auto id : batch.members) {
        EXPECT_EQ(zone.item(id).kind, batch.kind) << where;
        EXPECT_EQ(!zone.item(id).headers.empty(), batch.with_headers) << where;
        EXPECT_LE(zone.target(id).not_before, t0 + seconds(1)) << where;
        members.push_back(id);
      }
      // Every covered target is covered by a member of its own batch.
      for (const auto c : batch.covered) {
        const bool ok = std::any_of(batch.members.begin(), batch.members.end(),
                                    [&](auto m) { return covers(zone.item(m), zone.item(c)); });
        EXPECT_TRUE(ok) << where << ": " << zone.item(c).value << " rides without a coverer";
      }
    }
    // No member is covered by any other pending target, except a duplicate that is not a member.
    for (const auto m : members) {
      for (const auto& other : zone.targets()) {
        if (other.id == m || !covers(*other.item, zone.item(m))) continue;
        EXPECT_TRUE(covers(zone.item(m), *other.item))
            << where << ": member " << zone.item(m).value << " is covered by " << other.item->value;
        EXPECT_EQ(std::count(members.begin(), members.end(), other.id), 0)
            << where << ": duplicates " << m << " and " << other.id << " both sent";
      }
    }
    // All eligible and ready with linger passed: only backed-off targets (and what they cover)
    // may be left out.
    const auto seen = mentions(plan);
    for (const auto& target : zone.targets()) {
      if (seen.count(target.id) != 0) continue;
      const bool held = target.not_before > t0 + seconds(1) ||
                        std::any_of(zone.targets().begin(), zone.targets().end(), [&](auto& o) {
                          return o.not_before > t0 + seconds(1) && covers(*o.item, *target.item);
                        });
      EXPECT_TRUE(held) << where << ": " << target.item->value << " left out";
    }
  }
}

// --- a big backlog ---

TEST(PlannerScale, FiftyThousandTargets) {
  // 50 hosts; a host purge pending for h0..h4; on every host 100 prefixes "/p<j>/" and 10 longer
  // ones "/p<j>/sub/" (j < 10); files on "/p<i % 200>/": those with i % 200 < 100 fall under a
  // prefix. 250 tags, each also pending in capitals (duplicates).
  Pending zone;
  auto host_name = [](int k) { return "h" + std::to_string(k) + ".example.com"; };
  int hosts = 0;
  int prefixes = 0;
  int tags = 0;
  for (int k = 0; k < 5; ++k, ++hosts) zone.add(host(host_name(k)), t0);
  for (int k = 0; k < 50; ++k) {
    for (int j = 0; j < 100; ++j, ++prefixes) {
      zone.add(prefix(host_name(k) + "/p" + std::to_string(j) + "/"), t0);
    }
    for (int j = 0; j < 10; ++j, ++prefixes) {
      zone.add(prefix(host_name(k) + "/p" + std::to_string(j) + "/sub/"), t0);
    }
  }
  for (int i = 0; i < 250; ++i, tags += 2) {
    zone.add(tag("tag-" + std::to_string(i)), t0);
    zone.add(tag("TAG-" + std::to_string(i)), t0 + milliseconds(1));
  }
  const int files = 50000 - hosts - prefixes - tags;
  int expected_file_members = 0;
  int expected_prefix_members = 0;
  for (int i = 0; i < files; ++i) {
    const int k = i % 50;
    const int j = i % 200;
    zone.add(file("https://" + host_name(k) + "/p" + std::to_string(j) + "/x" + std::to_string(i) +
                  ".html?v=1"),
             t0);
    if (k >= 5 && j >= 100) ++expected_file_members;
  }
  expected_prefix_members = 45 * 100;
  ASSERT_EQ(zone.targets().size(), 50000U);

  const Caps caps{100, 500};
  const auto plan = zone.plan(t0 + kLinger, caps);
  std::map<Kind, int> members;
  std::size_t covered = 0;
  for (const auto& batch : plan.ready) {
    members[batch.kind] += static_cast<int>(batch.members.size());
    covered += batch.covered.size();
    EXPECT_LE(batch.members.size(), batch.kind == Kind::file ? 500U : 100U);
  }
  EXPECT_EQ(members[Kind::host], 5);
  EXPECT_EQ(members[Kind::prefix], expected_prefix_members);
  EXPECT_EQ(members[Kind::tag], 250);
  EXPECT_EQ(members[Kind::file], expected_file_members);
  const int total_members = 5 + expected_prefix_members + 250 + expected_file_members;
  EXPECT_EQ(covered, 50000U - static_cast<std::size_t>(total_members));
  const auto seen = mentions(plan);
  EXPECT_EQ(seen.size(), 50000U);
  EXPECT_FALSE(plan.wake_at);
  // Batches are full except each kind's last.
  const std::size_t expected_batches = 1 + 45 + 3 + (expected_file_members + 499) / 500;
  EXPECT_EQ(plan.ready.size(), expected_batches);
}

}  // namespace
}  // namespace purgeq

namespace purgeq {
namespace {

// Long URLs: the body bound closes a batch before the count cap, and such a batch is full (sent
// at once, without waiting for linger).
TEST(PlannerBodyBound, LongUrlsSplitByBytesNotJustCount) {
  const auto now = Clock::time_point{} + std::chrono::hours(1);
  std::vector<Item> items;
  items.reserve(600);
  for (int i = 0; i < 600; ++i) {
    items.push_back(
        Item{Kind::file, "https://a.example/" + std::string(4000, 'x') + std::to_string(i), {}});
  }
  std::vector<PlanTarget> targets;
  for (int i = 0; i < 600; ++i) {
    targets.push_back(PlanTarget{i + 1, &items[static_cast<std::size_t>(i)], now, {}});
  }
  const Caps caps{100, 500, 1000 * 1000};
  const auto plan = plan_zone(targets, caps, std::chrono::seconds(10), now);
  std::size_t planned = 0;
  for (const auto& batch : plan.ready) {
    std::size_t bytes = 0;
    for (const auto id : batch.members)
      bytes += items[static_cast<std::size_t>(id - 1)].value.size() + 4;
    EXPECT_LE(bytes, caps.max_body_bytes);
    EXPECT_GT(batch.members.size(), 200U) << "full by bytes, not tiny";
    planned += batch.members.size();
  }
  EXPECT_GE(plan.ready.size(), 2U) << "600 x 4 KB URLs cannot fit one 1 MB body";
  EXPECT_LT(planned, 600U) << "the remainder waits for linger";
  EXPECT_TRUE(plan.wake_at);
}

}  // namespace
}  // namespace purgeq
