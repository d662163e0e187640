// Tests for the shared item vocabulary: kind names and the de-duplication key.
#include "model/item.h"

#include <gtest/gtest.h>

namespace purgeq {
namespace {

TEST(KindNames, SingularAndBodyKeys) {
  EXPECT_EQ(to_string(Kind::file), "file");
  EXPECT_EQ(to_string(Kind::tag), "tag");
  EXPECT_EQ(to_string(Kind::host), "host");
  EXPECT_EQ(to_string(Kind::prefix), "prefix");
  EXPECT_EQ(to_string(Kind::everything), "everything");
  EXPECT_EQ(body_key(Kind::file), "files");
  EXPECT_EQ(body_key(Kind::tag), "tags");
  EXPECT_EQ(body_key(Kind::host), "hosts");
  EXPECT_EQ(body_key(Kind::prefix), "prefixes");
  EXPECT_EQ(body_key(Kind::everything), "purge_everything");
}

TEST(KindNames, StoredValuesNeverChange) {
  EXPECT_EQ(static_cast<int>(Kind::file), 0);
  EXPECT_EQ(static_cast<int>(Kind::tag), 1);
  EXPECT_EQ(static_cast<int>(Kind::host), 2);
  EXPECT_EQ(static_cast<int>(Kind::prefix), 3);
  EXPECT_EQ(static_cast<int>(Kind::everything), 4);
  EXPECT_EQ(kKindCount, 5);
}

TEST(KindNames, ParseRoundTrips) {
  for (int k = 0; k < kKindCount; ++k) {
    const auto kind = static_cast<Kind>(k);
    EXPECT_EQ(kind_from_string(to_string(kind)), kind);
    EXPECT_EQ(kind_from_string(body_key(kind)), kind);
  }
  EXPECT_EQ(kind_from_string(""), std::nullopt);
  EXPECT_EQ(kind_from_string("File"), std::nullopt);
  EXPECT_EQ(kind_from_string("url"), std::nullopt);
  EXPECT_EQ(kind_from_string("purge-everything"), std::nullopt);
}

TEST(ItemKey, TagsAreCaseInsensitive) {
  EXPECT_EQ((Item{Kind::tag, "Product-1", {}}.key()), "product-1");
  EXPECT_EQ((Item{Kind::tag, "PRODUCT-1", {}}.key()), (Item{Kind::tag, "product-1", {}}.key()));
  // Equality is not the key: the stored tag keeps its spelling.
  EXPECT_NE((Item{Kind::tag, "A", {}}), (Item{Kind::tag, "a", {}}));
}

TEST(ItemKey, HostsAndPrefixesAreTheirValue) {
  EXPECT_EQ((Item{Kind::host, "www.example.com", {}}.key()), "www.example.com");
  EXPECT_EQ((Item{Kind::prefix, "example.com/Blog/", {}}.key()), "example.com/Blog/");
  EXPECT_NE((Item{Kind::prefix, "example.com/a", {}}.key()),
            (Item{Kind::prefix, "example.com/A", {}}.key()));
}

TEST(ItemKey, EverythingIsOneKey) {
  EXPECT_EQ((Item{Kind::everything, "", {}}.key()), "*");
}

TEST(ItemKey, FilesIncludeCanonicalHeaders) {
  const Item plain{Kind::file, "https://example.com/a", {}};
  EXPECT_EQ(plain.key(), "https://example.com/a");
  // Path and query are case-sensitive.
  EXPECT_NE(plain.key(), (Item{Kind::file, "https://example.com/A", {}}.key()));
  EXPECT_NE(plain.key(), (Item{Kind::file, "https://example.com/a?x=1", {}}.key()));

  const Item with{Kind::file, "https://example.com/a", {{"CF-IPCountry", "US"}}};
  EXPECT_EQ(with.key(), "https://example.com/a\ncf-ipcountry:US");
  EXPECT_NE(with.key(), plain.key());
  // Header names compare case-insensitively, values exactly.
  EXPECT_EQ(with.key(),
            (Item{Kind::file, "https://example.com/a", {{"cf-ipcountry", "US"}}}.key()));
  EXPECT_NE(with.key(),
            (Item{Kind::file, "https://example.com/a", {{"CF-IPCountry", "us"}}}.key()));

  const Item two{Kind::file,
                 "https://example.com/a",
                 {{"Accept-Language", "de"}, {"CF-Device-Type", "mobile"}}};
  EXPECT_EQ(two.key(), "https://example.com/a\naccept-language:de\ncf-device-type:mobile");
}

TEST(ItemKey, HostAndPrefixMayShareKeyText) {
  // Keys are compared within one zone and kind only, so equal strings across kinds are fine;
  // this pins down that a host and a prefix of the same text have the same key text.
  EXPECT_EQ((Item{Kind::host, "example.com", {}}.key()),
            (Item{Kind::prefix, "example.com", {}}.key()));
}

}  // namespace
}  // namespace purgeq
