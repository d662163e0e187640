// Tests for the batch rules: groups and their stored numbers, per-request caps, cutting a queue
// head into one request (caps, linger, body size) and the key ranges a broad purge covers, checked
// against coverage.h's covers() as a property over parser-normalised items.
#include "planner/batch_rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "intake/intent_parser.h"
#include "planner/coverage.h"

namespace purgeq {
namespace {

namespace json = boost::json;

constexpr std::array<Group, kGroupCount> kAllGroups{
    Group::file,   Group::tag,        Group::host,
    Group::prefix, Group::everything, Group::file_with_headers,
};

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

// What the store asks: does some range of `broad` hold `narrow`'s key?
bool reached(const std::vector<KeyRange>& ranges, const Item& narrow) {
  const std::string key = narrow.key();
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const KeyRange& r) { return in_range(r, narrow.kind, key); });
}
bool reached(const Item& broad, const Item& narrow) {
  return reached(coverage_ranges(broad), narrow);
}

std::string describe(const Item& item) {
  std::string out = std::string(to_string(item.kind)) + ":" + item.value;
  for (const auto& [name, value] : item.headers) out += "|" + name + ": " + value;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Groups

// The values are stored on disk (the targets table's grp column): never renumber.
static_assert(static_cast<int>(Group::file) == 0);
static_assert(static_cast<int>(Group::tag) == 1);
static_assert(static_cast<int>(Group::host) == 2);
static_assert(static_cast<int>(Group::prefix) == 3);
static_assert(static_cast<int>(Group::everything) == 4);
static_assert(static_cast<int>(Group::file_with_headers) == 5);
static_assert(kGroupCount == 6);

TEST(BatchRulesGroup, NumericValuesNeverChange) {
  EXPECT_EQ(static_cast<int>(Group::file), 0);
  EXPECT_EQ(static_cast<int>(Group::tag), 1);
  EXPECT_EQ(static_cast<int>(Group::host), 2);
  EXPECT_EQ(static_cast<int>(Group::prefix), 3);
  EXPECT_EQ(static_cast<int>(Group::everything), 4);
  EXPECT_EQ(static_cast<int>(Group::file_with_headers), 5);
  EXPECT_EQ(kGroupCount, 6);
  for (int i = 0; i < kGroupCount; ++i) {
    EXPECT_EQ(static_cast<int>(kAllGroups[static_cast<std::size_t>(i)]), i);
  }
}

TEST(BatchRulesGroup, Names) {
  EXPECT_EQ(to_string(Group::file), "file");
  EXPECT_EQ(to_string(Group::tag), "tag");
  EXPECT_EQ(to_string(Group::host), "host");
  EXPECT_EQ(to_string(Group::prefix), "prefix");
  EXPECT_EQ(to_string(Group::everything), "everything");
  EXPECT_EQ(to_string(Group::file_with_headers), "file_with_headers");
  std::set<std::string_view> names;
  for (const Group g : kAllGroups) names.insert(to_string(g));
  EXPECT_EQ(names.size(), static_cast<std::size_t>(kGroupCount));
}

TEST(BatchRulesGroup, KindsOfGroups) {
  EXPECT_EQ(kind_of(Group::file), Kind::file);
  EXPECT_EQ(kind_of(Group::file_with_headers), Kind::file);
  EXPECT_EQ(kind_of(Group::tag), Kind::tag);
  EXPECT_EQ(kind_of(Group::host), Kind::host);
  EXPECT_EQ(kind_of(Group::prefix), Kind::prefix);
  EXPECT_EQ(kind_of(Group::everything), Kind::everything);
  // Every group but file_with_headers carries its kind's name.
  for (const Group g : kAllGroups) {
    if (g == Group::file_with_headers) continue;
    EXPECT_EQ(to_string(g), to_string(kind_of(g))) << to_string(g);
  }
}

TEST(BatchRulesGroup, GroupOfItems) {
  EXPECT_EQ(group_of(file("https://a.example/x")), Group::file);
  EXPECT_EQ(group_of(file("https://a.example/x", {{"CF-IPCountry", "US"}})),
            Group::file_with_headers);
  EXPECT_EQ(group_of(file("https://a.example/x", {{"Accept-Language", "en"}, {"Origin", "x"}})),
            Group::file_with_headers);
  EXPECT_EQ(group_of(tag("t")), Group::tag);
  EXPECT_EQ(group_of(host("a.example")), Group::host);
  EXPECT_EQ(group_of(prefix("a.example/x")), Group::prefix);
  EXPECT_EQ(group_of(everything()), Group::everything);
}

TEST(BatchRulesGroup, RoundTrips) {
  // A sample item of each group: group_of(item) is the group, and its kind is kind_of(group).
  for (const Group g : kAllGroups) {
    Item item{kind_of(g), "v", {}};
    if (g == Group::file_with_headers) item.headers = {{"CF-Device-Type", "mobile"}};
    if (g == Group::everything) item.value.clear();
    EXPECT_EQ(group_of(item), g) << to_string(g);
    EXPECT_EQ(kind_of(group_of(item)), item.kind) << to_string(g);
  }
  // And from items: kind_of(group_of(item)) == item.kind for every kind.
  for (int k = 0; k < kKindCount; ++k) {
    const Item item{static_cast<Kind>(k), "v", {}};
    EXPECT_EQ(kind_of(group_of(item)), item.kind) << k;
  }
}

// ---------------------------------------------------------------------------------------------
// Caps

TEST(BatchRulesCap, PerGroup) {
  BatchCaps caps;
  caps.max_ops = 7;
  caps.max_urls = 11;
  EXPECT_EQ(cap_of(Group::everything, caps), 1U);
  EXPECT_EQ(cap_of(Group::file, caps), 11U);
  EXPECT_EQ(cap_of(Group::file_with_headers, caps), 11U);
  EXPECT_EQ(cap_of(Group::tag, caps), 7U);
  EXPECT_EQ(cap_of(Group::host, caps), 7U);
  EXPECT_EQ(cap_of(Group::prefix, caps), 7U);
}

TEST(BatchRulesCap, Defaults) {
  const BatchCaps caps;
  EXPECT_EQ(cap_of(Group::file, caps), 500U);
  EXPECT_EQ(cap_of(Group::tag, caps), 100U);
  EXPECT_EQ(cap_of(Group::everything, caps), 1U);
}

TEST(BatchRulesCap, NeverZero) {
  for (const int bad : {0, -1, -1000}) {
    BatchCaps caps;
    caps.max_ops = bad;
    caps.max_urls = bad;
    for (const Group g : kAllGroups) {
      EXPECT_EQ(cap_of(g, caps), 1U) << to_string(g) << " with caps " << bad;
    }
  }
  // Everything is one whatever the caps say.
  BatchCaps big;
  big.max_ops = 1000;
  big.max_urls = 1000;
  EXPECT_EQ(cap_of(Group::everything, big), 1U);
}

// ---------------------------------------------------------------------------------------------
// Cutting a head

// Owns the items a head points at.
struct Head {
  std::vector<Item> items;
  std::vector<const Item*> ptrs;

  explicit Head(std::vector<Item> list) : items(std::move(list)) {
    for (const auto& item : items) ptrs.push_back(&item);
  }
  Head(const Head&) = delete;
  Head& operator=(const Head&) = delete;

  std::span<const Item* const> span(std::size_t n) const {
    return std::span<const Item* const>(ptrs.data(), std::min(n, ptrs.size()));
  }
  std::span<const Item* const> all() const { return span(ptrs.size()); }
};

std::vector<Item> files(std::size_t n) {
  std::vector<Item> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(file("https://a.example/" + std::to_string(i)));
  return out;
}

std::vector<Item> tags(std::size_t n) {
  std::vector<Item> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(tag("tag-" + std::to_string(i)));
  return out;
}

BatchCaps small_caps(int cap) {
  BatchCaps caps;
  caps.max_ops = cap;
  caps.max_urls = cap;
  return caps;
}

constexpr std::int64_t kOldest = 1'000'000;

TEST(BatchRulesCut, EmptyHeadTakesNothingAndNeverWaits) {
  const std::vector<const Item*> none;
  for (const Group g : kAllGroups) {
    for (const std::int64_t linger : {std::int64_t{0}, std::int64_t{500}}) {
      const Cut cut = cut_batch(g, none, kOldest, BatchCaps{}, linger, kOldest);
      EXPECT_EQ(cut.take, 0U) << to_string(g);
      EXPECT_FALSE(cut.ready_at_ms) << to_string(g);
    }
  }
}

TEST(BatchRulesCut, FullBatchIsTakenAtOnceWhateverTheLinger) {
  const Head head(files(3));
  for (const std::int64_t linger :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{250}, std::int64_t{86'400'000}}) {
    const Cut cut = cut_batch(Group::file, head.all(), kOldest, small_caps(3), linger, kOldest);
    EXPECT_EQ(cut.take, 3U) << linger;
    EXPECT_FALSE(cut.ready_at_ms) << linger;
  }
  const Head tag_head(tags(4));
  BatchCaps caps;
  caps.max_ops = 4;
  const Cut cut = cut_batch(Group::tag, tag_head.all(), kOldest, caps, 10'000, kOldest);
  EXPECT_EQ(cut.take, 4U);
  EXPECT_FALSE(cut.ready_at_ms);
}

TEST(BatchRulesCut, NeverTakesMoreThanTheCap) {
  // The store passes at most cap items, but a longer head must still be cut at the cap.
  const Head head(files(10));
  const Cut cut = cut_batch(Group::file, head.all(), kOldest, small_caps(4), 1000, kOldest);
  EXPECT_EQ(cut.take, 4U);
  EXPECT_FALSE(cut.ready_at_ms);
  // The cap for files is max_urls, not max_ops.
  BatchCaps caps;
  caps.max_ops = 2;
  caps.max_urls = 6;
  const Cut by_urls = cut_batch(Group::file, head.all(), kOldest, caps, 1000, kOldest);
  EXPECT_EQ(by_urls.take, 6U);
  const Head tag_head(tags(10));
  const Cut by_ops = cut_batch(Group::tag, tag_head.all(), kOldest, caps, 1000, kOldest);
  EXPECT_EQ(by_ops.take, 2U);
}

TEST(BatchRulesCut, PartialBatchWaitsForTheLinger) {
  const Head head(files(2));
  const BatchCaps caps = small_caps(3);
  constexpr std::int64_t linger = 250;
  for (const std::int64_t now : {kOldest - 10, kOldest, kOldest + 1, kOldest + linger - 1}) {
    const Cut cut = cut_batch(Group::file, head.all(), kOldest, caps, linger, now);
    EXPECT_EQ(cut.take, 0U) << now;
    ASSERT_TRUE(cut.ready_at_ms) << now;
    EXPECT_EQ(*cut.ready_at_ms, kOldest + linger) << now;
  }
  for (const std::int64_t now : {kOldest + linger, kOldest + linger + 1, kOldest + 100 * linger}) {
    const Cut cut = cut_batch(Group::file, head.all(), kOldest, caps, linger, now);
    EXPECT_EQ(cut.take, 2U) << now;
    EXPECT_FALSE(cut.ready_at_ms) << now;
  }
}

TEST(BatchRulesCut, PartialBatchOfEveryKindWaits) {
  const Head file_head(files(1));
  const Head tag_head(tags(1));
  const Head host_head({host("a.example")});
  const Head prefix_head({prefix("a.example/x")});
  const Head headers_head({file("https://a.example/x", {{"CF-IPCountry", "US"}})});
  const std::vector<std::pair<Group, const Head*>> cases{
      {Group::file, &file_head},
      {Group::tag, &tag_head},
      {Group::host, &host_head},
      {Group::prefix, &prefix_head},
      {Group::file_with_headers, &headers_head},
  };
  for (const auto& [group, head] : cases) {
    const Cut cut = cut_batch(group, head->all(), kOldest, BatchCaps{}, 40, kOldest + 5);
    EXPECT_EQ(cut.take, 0U) << to_string(group);
    ASSERT_TRUE(cut.ready_at_ms) << to_string(group);
    EXPECT_EQ(*cut.ready_at_ms, kOldest + 40) << to_string(group);
  }
}

TEST(BatchRulesCut, NoLingerTakesAtOnce) {
  const Head head(files(2));
  for (const std::int64_t linger : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{-1000}}) {
    const Cut cut = cut_batch(Group::file, head.all(), kOldest, small_caps(3), linger, kOldest);
    EXPECT_EQ(cut.take, 2U) << linger;
    EXPECT_FALSE(cut.ready_at_ms) << linger;
  }
}

TEST(BatchRulesCut, EverythingIsAlwaysFull) {
  const Head head({everything()});
  for (const std::int64_t linger : {std::int64_t{0}, std::int64_t{250}, std::int64_t{86'400'000}}) {
    const Cut cut = cut_batch(Group::everything, head.all(), kOldest, BatchCaps{}, linger, kOldest);
    EXPECT_EQ(cut.take, 1U) << linger;
    EXPECT_FALSE(cut.ready_at_ms) << linger;
  }
  // Whatever the caps and the body bound say.
  BatchCaps odd = small_caps(0);
  odd.max_body_bytes = 1;
  const Cut cut = cut_batch(Group::everything, head.all(), kOldest, odd, 10'000, kOldest);
  EXPECT_EQ(cut.take, 1U);
  EXPECT_FALSE(cut.ready_at_ms);
}

TEST(BatchRulesCut, BodyBytesGrowWithTheItem) {
  const Item short_url = file("https://a.example/x");
  const Item long_url = file("https://a.example/" + std::string(1000, 'x'));
  const Item with_headers = file("https://a.example/x", {{"CF-IPCountry", "US"}});
  EXPECT_GT(body_bytes(short_url), short_url.value.size());
  EXPECT_GT(body_bytes(long_url), long_url.value.size());
  EXPECT_GT(body_bytes(long_url), body_bytes(short_url));
  EXPECT_GT(body_bytes(with_headers), body_bytes(short_url));
  EXPECT_GT(body_bytes(tag("t")), 0U);
  EXPECT_GT(body_bytes(everything()), 0U);
}

// The smallest max_body_bytes for which `n` items of `head` fit one request (linger 0).
std::size_t bound_for(const Head& head, std::size_t n) {
  BatchCaps caps;
  for (std::size_t bound = 1; bound < 1'000'000; ++bound) {
    caps.max_body_bytes = bound;
    if (cut_batch(Group::file, head.all(), kOldest, caps, 0, kOldest).take >= n) return bound;
  }
  return 0;
}

TEST(BatchRulesCut, BodyBoundMakesTheBatchFullBeforeTheCap) {
  const Head head(files(5));  // equal sizes; cap 500
  const std::size_t two = bound_for(head, 2);
  const std::size_t three = bound_for(head, 3);
  ASSERT_GT(two, 0U);
  ASSERT_GT(three, two);
  // Each item counts its body_bytes, plus a fixed overhead per request.
  EXPECT_EQ(three - two, body_bytes(head.items[2]));
  EXPECT_GT(two, body_bytes(head.items[0]) + body_bytes(head.items[1]));
  BatchCaps caps;
  caps.max_body_bytes = two;
  // Full at two items: taken at once despite a long linger.
  Cut cut = cut_batch(Group::file, head.all(), kOldest, caps, 86'400'000, kOldest);
  EXPECT_EQ(cut.take, 2U);
  EXPECT_FALSE(cut.ready_at_ms);
  caps.max_body_bytes = three - 1;
  cut = cut_batch(Group::file, head.all(), kOldest, caps, 86'400'000, kOldest);
  EXPECT_EQ(cut.take, 2U);
  EXPECT_FALSE(cut.ready_at_ms);
  caps.max_body_bytes = two - 1;
  cut = cut_batch(Group::file, head.all(), kOldest, caps, 86'400'000, kOldest);
  EXPECT_EQ(cut.take, 1U);
  EXPECT_FALSE(cut.ready_at_ms);
  // Below the bound for five: a partial batch that still waits.
  caps.max_body_bytes = 1'000'000;
  cut = cut_batch(Group::file, head.all(), kOldest, caps, 250, kOldest);
  EXPECT_EQ(cut.take, 0U);
  ASSERT_TRUE(cut.ready_at_ms);
  EXPECT_EQ(*cut.ready_at_ms, kOldest + 250);
}

TEST(BatchRulesCut, BodyBoundCountsHeaders) {
  std::vector<Item> list;
  for (int i = 0; i < 5; ++i) {
    list.push_back(file("https://a.example/" + std::to_string(i),
                        {{"Accept-Language", std::string(200, 'e')}}));
  }
  const Head with_headers(std::move(list));
  const Head plain(files(5));
  BatchCaps caps;
  caps.max_body_bytes = bound_for(plain, 5);
  EXPECT_EQ(cut_batch(Group::file, plain.all(), kOldest, caps, 0, kOldest).take, 5U);
  const Cut cut =
      cut_batch(Group::file_with_headers, with_headers.all(), kOldest, caps, 10'000, kOldest);
  EXPECT_GE(cut.take, 1U);
  EXPECT_LT(cut.take, 5U);
  EXPECT_FALSE(cut.ready_at_ms);
}

TEST(BatchRulesCut, AnOversizedItemStillGoesAloneAndAtOnce) {
  // A first item larger than the bound still makes a batch of one; the next one does not fit,
  // so the batch is full and leaves at once.
  std::vector<Item> list{file("https://a.example/" + std::string(4000, 'x'))};
  for (auto& item : files(3)) list.push_back(std::move(item));
  const Head head(std::move(list));
  BatchCaps caps;
  caps.max_body_bytes = 100;
  const Cut cut = cut_batch(Group::file, head.all(), kOldest, caps, 86'400'000, kOldest);
  EXPECT_EQ(cut.take, 1U);
  EXPECT_FALSE(cut.ready_at_ms);
  // A bound smaller than any item: one item per batch, never zero.
  caps.max_body_bytes = 1;
  const Head small(files(4));
  const Cut one = cut_batch(Group::file, small.all(), kOldest, caps, 86'400'000, kOldest);
  EXPECT_EQ(one.take, 1U);
  EXPECT_FALSE(one.ready_at_ms);
  caps.max_body_bytes = 0;
  EXPECT_EQ(cut_batch(Group::file, small.all(), kOldest, caps, 0, kOldest).take, 1U);
}

TEST(BatchRulesCut, LoneItemOverTheBoundIsFull) {
  // A lone head item that alone reaches max_body_bytes is a full batch: no companion can ever
  // join it, so lingering would only delay it (was a bug: only a *next* item that did not fit
  // made a batch full).
  const Head head({file("https://a.example/" + std::string(4000, 'x'))});
  BatchCaps caps;
  caps.max_body_bytes = 100;
  const Cut cut = cut_batch(Group::file, head.all(), kOldest, caps, 86'400'000, kOldest);
  EXPECT_EQ(cut.take, 1U);
  EXPECT_FALSE(cut.ready_at_ms);
}

TEST(BatchRulesCut, HeadThatExactlyReachesTheBoundIsFull) {
  // Two items whose body is exactly max_body_bytes have reached the bound (a third never fits):
  // they leave at once even with nothing behind them.
  const Head five(files(5));
  BatchCaps caps;
  caps.max_body_bytes = bound_for(five, 2);
  ASSERT_GT(caps.max_body_bytes, 0U);
  const Head two(files(2));
  const Cut cut = cut_batch(Group::file, two.all(), kOldest, caps, 86'400'000, kOldest);
  EXPECT_EQ(cut.take, 2U);
  EXPECT_FALSE(cut.ready_at_ms);
}

// ---------------------------------------------------------------------------------------------
// in_range

TEST(BatchRulesInRange, ExactRangesMatchOnlyTheirKey) {
  const KeyRange exact{Kind::host, "a.example", {}, true};
  EXPECT_TRUE(in_range(exact, Kind::host, "a.example"));
  EXPECT_FALSE(in_range(exact, Kind::host, "a.example/"));
  EXPECT_FALSE(in_range(exact, Kind::host, "a.example.au"));
  EXPECT_FALSE(in_range(exact, Kind::host, "a.exampl"));
  EXPECT_FALSE(in_range(exact, Kind::host, "A.example"));
  EXPECT_FALSE(in_range(exact, Kind::host, ""));
  // An exact range ignores `high`, even one that would make a half-open range hold the key.
  const KeyRange with_high{Kind::prefix, "a.example", "a.example0", true};
  EXPECT_TRUE(in_range(with_high, Kind::prefix, "a.example"));
  EXPECT_FALSE(in_range(with_high, Kind::prefix, "a.example/x"));
}

TEST(BatchRulesInRange, HalfOpenRanges) {
  const KeyRange range{Kind::file, "https://a.example/", "https://a.example0", false};
  EXPECT_TRUE(in_range(range, Kind::file, "https://a.example/"));
  EXPECT_TRUE(in_range(range, Kind::file, "https://a.example/x?y"));
  EXPECT_TRUE(in_range(range, Kind::file, "https://a.example/~~~"));
  EXPECT_TRUE(in_range(range, Kind::file, "https://a.example/x\ncf-ipcountry:US"));
  EXPECT_FALSE(in_range(range, Kind::file, "https://a.example0"));  // high is excluded
  EXPECT_FALSE(in_range(range, Kind::file, "https://a.example"));
  EXPECT_FALSE(in_range(range, Kind::file, "https://a.example.au/"));
  EXPECT_FALSE(in_range(range, Kind::file, "https://a.example:8443/"));
  EXPECT_FALSE(in_range(range, Kind::file, "http://a.example/"));
}

TEST(BatchRulesInRange, KindMustMatch) {
  const KeyRange exact{Kind::host, "a.example", {}, true};
  const KeyRange range{Kind::prefix, "a.example/", "a.example0", false};
  for (int k = 0; k < kKindCount; ++k) {
    const auto kind = static_cast<Kind>(k);
    EXPECT_EQ(in_range(exact, kind, "a.example"), kind == Kind::host) << k;
    EXPECT_EQ(in_range(range, kind, "a.example/x"), kind == Kind::prefix) << k;
  }
}

// ---------------------------------------------------------------------------------------------
// coverage_ranges, by hand

TEST(BatchRulesCoverage, EdgeCases) {
  struct Row {
    Item broad;
    Item narrow;
    bool covered;
  };
  const std::vector<Row> rows{
      // A bare-host prefix: its host only, every scheme, never a longer host or a port.
      {prefix("a.example"), file("https://a.example/x"), true},
      {prefix("a.example"), file("http://a.example/x"), true},
      {prefix("a.example"), file("https://a.example/"), true},
      {prefix("a.example"), file("https://a.example/?q"), true},
      {prefix("a.example"), prefix("a.example/x"), true},
      {prefix("a.example"), prefix("a.example"), true},
      {prefix("a.example"), file("https://a.example.au/x"), false},
      {prefix("a.example"), file("https://a.example:8443/x"), false},
      {prefix("a.example"), file("https://b.a.example/x"), false},
      {prefix("a.example"), prefix("a.example.au/x"), false},
      {prefix("a.example"), host("a.example"), false},
      {prefix("a.example"), tag("a.example"), false},
      // A prefix with a path: plain "starts with" on host+path, queries ignored.
      {prefix("a.example/foo"), file("https://a.example/foobar"), true},
      {prefix("a.example/foo"), file("http://a.example/foo?x=1"), true},
      {prefix("a.example/foo"), file("https://a.example/foo/bar"), true},
      {prefix("a.example/foo"), prefix("a.example/foo/"), true},
      {prefix("a.example/foo"), prefix("a.example/foobar"), true},
      {prefix("a.example/foo"), file("https://a.example/fo"), false},
      {prefix("a.example/foo"), file("https://a.example/fo?o"), false},
      {prefix("a.example/foo"), file("https://a.example/Foo"), false},
      {prefix("a.example/foo"), prefix("a.example/fo"), false},
      {prefix("a.example/foo"), prefix("a.example"), false},
      {prefix("a.example/foo/"), file("https://a.example/foo"), false},
      {prefix("a.example/foo"), file("https://a.example:8443/foo"), false},
      // A host: files on it (headers play no part) and prefixes on it.
      {host("a.example"), file("https://a.example/x", {{"CF-IPCountry", "US"}}), true},
      {host("a.example"), file("http://a.example/?q", {{"Origin", "https://a.example"}}), true},
      {host("a.example"), file("https://a.example/"), true},
      {host("a.example"), prefix("a.example"), true},
      {host("a.example"), prefix("a.example/foo"), true},
      {host("a.example"), host("a.example"), true},
      {host("a.example"), host("b.a.example"), false},
      {host("a.example"), file("https://a.example.au/"), false},
      {host("a.example"), file("https://a.example:8443/"), false},
      {host("a.example"), file("https://b.a.example/"), false},
      {host("a.example"), prefix("a.example.au"), false},
      {host("a.example"), tag("a.example"), false},
      {host("a.example"), everything(), false},
  };
  for (const auto& row : rows) {
    const std::string where = describe(row.broad) + " over " + describe(row.narrow);
    EXPECT_EQ(covers(row.broad, row.narrow), row.covered) << where;
    EXPECT_EQ(reached(row.broad, row.narrow), row.covered) << where;
  }
}

TEST(BatchRulesCoverage, TagsFilesAndEverythingHaveNoRanges) {
  EXPECT_TRUE(coverage_ranges(tag("a.example")).empty());
  EXPECT_TRUE(coverage_ranges(file("https://a.example/")).empty());
  EXPECT_TRUE(coverage_ranges(file("https://a.example/", {{"CF-IPCountry", "US"}})).empty());
  // The store covers the whole zone for purge-everything, without ranges.
  EXPECT_TRUE(coverage_ranges(everything()).empty());
}

TEST(BatchRulesCoverage, UnreachablePrefixesHaveNoRanges) {
  // The parser refuses these; a malformed stored item must not claim coverage.
  EXPECT_TRUE(coverage_ranges(prefix("a.example/a?x=1")).empty());
  EXPECT_TRUE(coverage_ranges(prefix("a.example:8443/a")).empty());
  EXPECT_TRUE(coverage_ranges(prefix("/a")).empty());
  EXPECT_TRUE(coverage_ranges(host("a.example:8443")).empty());
}

TEST(BatchRulesCoverage, RangesAreWellFormed) {
  for (const Item& broad : {host("a.example"), prefix("a.example"), prefix("a.example/"),
                            prefix("a.example/foo"), prefix("x-y.example/~")}) {
    const auto ranges = coverage_ranges(broad);
    EXPECT_FALSE(ranges.empty()) << describe(broad);
    for (const auto& r : ranges) {
      EXPECT_TRUE(r.kind == Kind::file || r.kind == Kind::prefix || r.kind == Kind::host)
          << describe(broad);
      if (r.exact) continue;
      // [low, high) is "starts with low": high is low with its last byte incremented.
      ASSERT_FALSE(r.low.empty()) << describe(broad);
      EXPECT_LT(r.low, r.high) << describe(broad);
      std::string expected_high = r.low;
      expected_high.back() = static_cast<char>(expected_high.back() + 1);
      EXPECT_EQ(r.high, expected_high) << describe(broad);
    }
    // Host ranges only come with host items.
    const bool has_host_range = std::any_of(ranges.begin(), ranges.end(),
                                            [](const KeyRange& r) { return r.kind == Kind::host; });
    EXPECT_EQ(has_host_range, broad.kind == Kind::host) << describe(broad);
  }
}

// ---------------------------------------------------------------------------------------------
// coverage_ranges agrees with covers(): a property over items as the intent parser makes them

Item parsed(const std::variant<Item, IntakeError>& result, const std::string& input) {
  if (const auto* item = std::get_if<Item>(&result)) return *item;
  ADD_FAILURE() << "the parser refused " << input;
  return everything();
}

const std::vector<std::string> kHosts{"a.example",   "A.Example",   "a.example.au",
                                      "b.a.example", "x-y.example", "X-Y.EXAMPLE"};
const std::vector<std::string> kPaths{"",    "/",        "/foo",    "/foo/",  "/foobar",
                                      "/fo", "/foo/bar", "/%2F",    "/a?x=1", "/?q",
                                      "?q",  "/Foo",     "/foo%2F", "/~",     "/foo?x=/bar"};
const std::vector<std::string> kSchemes{"https://", "http://", "HTTPS://", "Http://"};
const std::vector<std::string> kPorts{"", "", "", ":8443", ":443"};
const std::vector<std::vector<std::pair<std::string, std::string>>> kHeaderSets{
    {},
    {},
    {{"CF-IPCountry", "US"}},
    {{"Origin", "https://a.example"}},
    {{"Accept-Language", "en"}, {"CF-Device-Type", "mobile"}},
};

struct Universe {
  std::vector<Item> broads;   // hosts and prefixes
  std::vector<Item> narrows;  // files, prefixes, hosts, tags, everything
};

Universe make_universe() {
  Universe u;
  std::mt19937 rng(20240611);
  auto pick = [&rng](const auto& list) -> const auto& {
    return list[std::uniform_int_distribution<std::size_t>(0, list.size() - 1)(rng)];
  };
  // Every host and every query-free prefix, as broads and as narrows.
  for (const auto& h : kHosts) {
    const Item item = parsed(validate_host(h, ""), h);
    u.broads.push_back(item);
    u.narrows.push_back(item);
    for (const auto& p : kPaths) {
      if (p.find('?') != std::string::npos) continue;
      const std::string raw = h + p;
      const Item pre = parsed(validate_prefix(raw, ""), raw);
      u.broads.push_back(pre);
      u.narrows.push_back(pre);
    }
  }
  // Random files over the alphabet, some with a port, some with headers.
  for (int i = 0; i < 1500; ++i) {
    const std::string url = pick(kSchemes) + pick(kHosts) + pick(kPorts) + pick(kPaths);
    const auto& headers = pick(kHeaderSets);
    if (headers.empty()) {
      u.narrows.push_back(parsed(validate_file(json::value(url), ""), url));
    } else {
      json::object entry;
      entry["url"] = url;
      json::object h;
      for (const auto& [name, value] : headers) h[name] = value;
      entry["headers"] = std::move(h);
      u.narrows.push_back(parsed(validate_file(json::value(std::move(entry)), ""), url));
    }
  }
  // Tags that look like hosts and prefixes, and everything.
  for (const auto& t : {"a.example", "A.Example", "a.example/foo", "https://a.example/", "x"}) {
    u.narrows.push_back(parsed(validate_tag(t, ""), t));
  }
  u.narrows.push_back(everything());
  return u;
}

TEST(BatchRulesCoverage, ParserNormalisesAsTheGeneratorExpects) {
  // The universe's items are parser output: lower-cased scheme and host, "/" for an empty path.
  EXPECT_EQ(parsed(validate_file(json::value("HTTPS://A.Example?q"), ""), "").value,
            "https://a.example/?q");
  EXPECT_EQ(parsed(validate_file(json::value("Http://X-Y.EXAMPLE:8443"), ""), "").value,
            "http://x-y.example:8443/");
  EXPECT_EQ(parsed(validate_prefix("A.Example/Foo", ""), "").value, "a.example/Foo");
  EXPECT_EQ(parsed(validate_host("X-Y.EXAMPLE", ""), "").value, "x-y.example");
  const Universe u = make_universe();
  for (const auto& item : u.narrows) {
    if (item.kind != Kind::file) continue;
    EXPECT_TRUE(item.value.starts_with("https://") || item.value.starts_with("http://"))
        << item.value;
  }
}

TEST(BatchRulesCoverage, RangesAgreeWithCovers) {
  const Universe u = make_universe();
  ASSERT_GE(u.broads.size(), 60U);
  ASSERT_GE(u.narrows.size(), 1500U);
  std::size_t covered = 0;
  std::size_t not_covered = 0;
  std::size_t mismatches = 0;
  std::set<Kind> covered_kinds;
  for (const auto& broad : u.broads) {
    const auto ranges = coverage_ranges(broad);
    // Its own duplicates are in its ranges, as covers() is reflexive.
    EXPECT_TRUE(reached(ranges, broad)) << describe(broad);
    for (const auto& narrow : u.narrows) {
      const bool expected = covers(broad, narrow);
      const bool actual = reached(ranges, narrow);
      (expected ? covered : not_covered) += 1;
      if (expected) covered_kinds.insert(narrow.kind);
      if (expected != actual && ++mismatches <= 20) {
        ADD_FAILURE() << describe(broad) << " over " << describe(narrow) << ": covers() says "
                      << expected << ", coverage_ranges says " << actual;
      }
    }
  }
  EXPECT_EQ(mismatches, 0U);
  // Not vacuous: both answers occur often, for every kind a broad can reach.
  EXPECT_GT(covered, 1000U);
  EXPECT_GT(not_covered, 10000U);
  EXPECT_EQ(covered_kinds, (std::set<Kind>{Kind::file, Kind::host, Kind::prefix}));
}

TEST(BatchRulesCoverage, RangesAreTheSameForEqualCoverageKeys) {
  // Broads that purge the same thing (same kind and coverage_key) reach the same keys.
  const Universe u = make_universe();
  std::vector<std::vector<KeyRange>> ranges;
  for (const auto& broad : u.broads) ranges.push_back(coverage_ranges(broad));
  std::size_t pairs = 0;
  for (std::size_t i = 0; i < u.broads.size(); ++i) {
    for (std::size_t j = i + 1; j < u.broads.size(); ++j) {
      const Item& a = u.broads[i];
      const Item& b = u.broads[j];
      if (a.kind != b.kind || coverage_key(a) != coverage_key(b)) continue;
      ++pairs;
      for (const auto& narrow : u.narrows) {
        ASSERT_EQ(reached(ranges[i], narrow), reached(ranges[j], narrow))
            << describe(a) << " vs " << describe(b) << " over " << describe(narrow);
      }
    }
  }
  EXPECT_GT(pairs, 0U);  // "A.Example" and "a.example" parse to the same item
}

}  // namespace
}  // namespace purgeq
