// Tests for the coverage rules: the table in data/coverage.tsv, then the reach and key helpers the
// planner builds on.
#include "planner/coverage.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/tsv.h"

namespace purgeq {
namespace {

// "everything", "tag:T", "host:H", "prefix:P", "file:URL|Name: value|..." (see coverage.tsv).
std::optional<Item> parse_item(const std::string& text) {
  if (text == "everything") return Item{Kind::everything, "", {}};
  const auto colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  const auto kind = kind_from_string(text.substr(0, colon));
  if (!kind || *kind == Kind::everything) return std::nullopt;
  std::string rest = text.substr(colon + 1);
  Item item{*kind, "", {}};
  if (*kind != Kind::file) {
    item.value = rest;
    return item;
  }
  std::size_t bar = rest.find('|');
  item.value = rest.substr(0, bar);
  while (bar != std::string::npos) {
    const auto next = rest.find('|', bar + 1);
    const std::string header =
        rest.substr(bar + 1, next == std::string::npos ? next : next - bar - 1);
    const auto sep = header.find(": ");
    if (sep == std::string::npos) return std::nullopt;
    item.headers.emplace_back(header.substr(0, sep), header.substr(sep + 2));
    bar = next;
  }
  return item;
}

TEST(CoverageTable, EveryRow) {
  int rows = 0;
  for (const auto& row : test::read_tsv("coverage.tsv")) {
    const std::string& where = row.where;
    const auto& fields = row.fields;
    ASSERT_GE(fields.size(), 3U) << where;
    const auto broad = parse_item(fields[0]);
    const auto narrow = parse_item(fields[1]);
    ASSERT_TRUE(broad) << where;
    ASSERT_TRUE(narrow) << where;
    ASSERT_TRUE(fields[2] == "yes" || fields[2] == "no") << where;
    EXPECT_EQ(covers(*broad, *narrow), fields[2] == "yes") << where;
    ++rows;
  }
  EXPECT_GE(rows, 30);
}

TEST(CoverageReach, FilesDropSchemeQueryAndFragment) {
  const Item file{Kind::file, "https://Example.com/a/b.css?v=1#top", {}};
  const auto reach = reach_of(file);
  ASSERT_TRUE(reach);
  EXPECT_EQ(reach->host, "example.com");
  EXPECT_EQ(reach->path, "/a/b.css");
}

TEST(CoverageReach, EmptyPathIsSlash) {
  const Item file{Kind::file, "https://example.com?x=1", {}};
  const auto reach = reach_of(file);
  ASSERT_TRUE(reach);
  EXPECT_EQ(reach->path, "/");
}

TEST(CoverageReach, PortsAndMalformedUrlsHaveNone) {
  EXPECT_FALSE(reach_of(Item{Kind::file, "https://example.com:8443/a", {}}));
  EXPECT_FALSE(reach_of(Item{Kind::file, "example.com/a", {}}));
  EXPECT_FALSE(reach_of(Item{Kind::file, "https:///a", {}}));
  EXPECT_FALSE(reach_of(Item{Kind::file, "https://user@example.com/a", {}}));
}

TEST(CoverageReach, PrefixesAndHosts) {
  // Reach::path views the item's value: the items must outlive the reaches.
  const Item blog{Kind::prefix, "Example.com/Blog/", {}};
  const Item bare{Kind::prefix, "example.com", {}};
  const Item www{Kind::host, "WWW.example.com", {}};
  auto reach = reach_of(blog);
  ASSERT_TRUE(reach);
  EXPECT_EQ(reach->host, "example.com");
  EXPECT_EQ(reach->path, "/Blog/");
  reach = reach_of(bare);
  ASSERT_TRUE(reach);
  EXPECT_EQ(reach->path, "");
  reach = reach_of(www);
  ASSERT_TRUE(reach);
  EXPECT_EQ(reach->host, "www.example.com");
  EXPECT_EQ(reach->path, "");
  // A prefix with a query matches nothing at Cloudflare, so it cannot cover anything.
  EXPECT_FALSE(reach_of(Item{Kind::prefix, "example.com/a?x", {}}));
  EXPECT_FALSE(reach_of(Item{Kind::tag, "example.com", {}}));
  EXPECT_FALSE(reach_of(Item{Kind::everything, "", {}}));
}

TEST(CoverageKey, HostsAndPrefixesIgnoreHostCase) {
  EXPECT_EQ(coverage_key(Item{Kind::host, "Example.COM", {}}), "example.com");
  EXPECT_EQ(coverage_key(Item{Kind::prefix, "Example.COM/Path", {}}), "example.com/Path");
  EXPECT_EQ(coverage_key(Item{Kind::tag, "Foo", {}}), "foo");
  EXPECT_EQ(coverage_key(Item{Kind::file, "https://example.com/a", {{"CF-IPCountry", "US"}}}),
            "https://example.com/a\ncf-ipcountry:US");
}

TEST(CoverageRules, PathWithinIsPlainStartsWith) {
  EXPECT_TRUE(path_within("", "/anything"));
  EXPECT_TRUE(path_within("/foo", "/foo"));
  EXPECT_TRUE(path_within("/foo", "/foobar"));
  EXPECT_FALSE(path_within("/foo/", "/foo"));
  EXPECT_FALSE(path_within("/Foo", "/foo"));
}

TEST(CoverageRules, EveryItemCoversItself) {
  const std::vector<Item> items{
      {Kind::everything, "", {}},
      {Kind::host, "example.com", {}},
      {Kind::prefix, "example.com/a", {}},
      {Kind::tag, "Tag", {}},
      {Kind::file, "https://example.com/a", {}},
      {Kind::file, "https://example.com/a", {{"Origin", "https://example.com"}}},
      {Kind::file, "https://example.com:8443/a", {}},
  };
  for (const auto& item : items) EXPECT_TRUE(covers(item, item)) << item.value;
}

}  // namespace
}  // namespace purgeq
