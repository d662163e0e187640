// Tests for cache-key variants: `zones[].variants` validation (config/variants.cpp), the
// expansion of a URL into its variants (intake/variants.cpp) and how an intent counts, merges and
// narrows them (intake/intent_parser.cpp).
#include "intake/variants.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "intake/intent_parser.h"
#include "intake/item_rules.h"
#include "support/config_problems.h"

namespace purgeq {
namespace {

namespace json = boost::json;

// --- config -------------------------------------------------------------------------------------

std::string zone_with(const std::string& variants) {
  return R"(
dry_run: true
accounts:
  - {name: main, plan: enterprise}
zones:
  - name: shop.test
    id: 22222222222222222222222222222222
    account: main
    variants: )" +
         variants + "\n";
}

using test::problems_of;

TEST(VariantConfig, ReadsHeadersInTheirDocumentedSpellingAndNormalisesValues) {
  const auto config = load_config_string(
      zone_with("{cf-device-type: [mobile, Tablet, desktop], CF-IPCOUNTRY: [us, DE, T1], "
                "accept-language: [en-US, de], origin: [\"HTTPS://App.Shop.test\", "
                "\"http://localhost:8080\"]}"));
  const auto& variants = config.zones.at(0).variants;
  ASSERT_EQ(variants.size(), 4U);
  EXPECT_EQ(variants[0].name, "CF-Device-Type");
  EXPECT_EQ(variants[0].values, (std::vector<std::string>{"mobile", "tablet", "desktop"}));
  EXPECT_FALSE(variants[0].may_be_absent);
  EXPECT_EQ(variants[1].name, "CF-IPCountry");
  EXPECT_EQ(variants[1].values, (std::vector<std::string>{"US", "DE", "T1"}));
  EXPECT_FALSE(variants[1].may_be_absent);
  EXPECT_EQ(variants[2].name, "Accept-Language");
  EXPECT_EQ(variants[2].values, (std::vector<std::string>{"en-US", "de"}));
  EXPECT_TRUE(variants[2].may_be_absent);
  EXPECT_EQ(variants[3].name, "Origin");
  EXPECT_EQ(variants[3].values,
            (std::vector<std::string>{"https://app.shop.test", "http://localhost:8080"}));
  EXPECT_TRUE(variants[3].may_be_absent);
  // 3 x 3 x (2 + absent) x (2 + absent)
  EXPECT_EQ(combination_count(variants), 81U);
}

TEST(VariantConfig, AbsentOrNullMeansNoVariants) {
  EXPECT_TRUE(load_config_string(zone_with("")).zones.at(0).variants.empty());
  EXPECT_TRUE(load_config_string(zone_with("null")).zones.at(0).variants.empty());
}

TEST(VariantConfig, ProblemsNameTheKeyAndTheRule) {
  EXPECT_EQ(
      problems_of(zone_with("{CF-Device-Type: [mobile, phone]}")),
      (std::vector<std::string>{
          R"(zones[0].variants.CF-Device-Type[1]: "phone" is not a device type: Cloudflare sets CF-Device-Type to mobile, tablet or desktop)"}));
  EXPECT_EQ(
      problems_of(zone_with("{CF-IPCountry: [USA]}")),
      (std::vector<std::string>{
          R"(zones[0].variants.CF-IPCountry[0]: "USA" is not a country code: CF-IPCountry holds ISO 3166-1 alpha-2 codes ("US", "DE"), "XX" for unknown or "T1" for Tor)"}));
  EXPECT_EQ(
      problems_of(zone_with("{Accept-Language: [\"en-US,en;q=0.9\"]}")),
      (std::vector<std::string>{
          R"(zones[0].variants.Accept-Language[0]: "en-US,en;q=0.9" is not a language tag: give one tag per value, as "en-US" or "de")"}));
  EXPECT_EQ(
      problems_of(zone_with("{Origin: [\"https://a.test/app\"]}")),
      (std::vector<std::string>{
          R"(zones[0].variants.Origin[0]: "https://a.test/app" is not an origin: use scheme://host[:port] with no path, as "https://www.example.com")"}));
  EXPECT_EQ(
      problems_of(zone_with("{Origin: [\"https://a.test:443\"]}")),
      (std::vector<std::string>{
          R"(zones[0].variants.Origin[0]: "https://a.test:443" must omit the default port, as browsers do)"}));
  EXPECT_EQ(
      problems_of(zone_with("{CF-Device-Typ: [mobile]}")),
      (std::vector<std::string>{
          R"(zones[0].variants.CF-Device-Typ: "CF-Device-Typ" is not a header purgeq can vary cache keys on (did you mean "CF-Device-Type"?))"}));
  const auto unknown = problems_of(zone_with("{X-Tenant: [a]}"));
  ASSERT_EQ(unknown.size(), 1U);
  EXPECT_NE(unknown[0].find("use CF-Device-Type, CF-IPCountry, Accept-Language or Origin"),
            std::string::npos)
      << unknown[0];
  EXPECT_EQ(problems_of(zone_with("{CF-Device-Type: [mobile, Mobile]}")),
            (std::vector<std::string>{
                R"(zones[0].variants.CF-Device-Type[1]: "mobile" is listed twice)"}));
  EXPECT_EQ(problems_of(zone_with("{CF-Device-Type: [mobile], cf-device-type: [tablet]}")),
            (std::vector<std::string>{
                "zones[0].variants.cf-device-type: CF-Device-Type is given twice (header names "
                "are case-insensitive)"}));
  EXPECT_EQ(problems_of(zone_with("{CF-Device-Type: []}")),
            (std::vector<std::string>{
                "zones[0].variants.CF-Device-Type: lists no value; give the values the cache key "
                "varies on"}));
  EXPECT_EQ(problems_of(zone_with("{}")),
            (std::vector<std::string>{
                "zones[0].variants: names no header; leave out `variants` for a cache key "
                "without headers"}));
  EXPECT_EQ(problems_of(zone_with("[CF-Device-Type]")).size(), 1U);
  EXPECT_EQ(problems_of(zone_with("{CF-Device-Type: mobile}")).size(), 1U);
}

TEST(VariantConfig, CombinationsAreCappedNamingTheZoneAndTheCount) {
  std::string countries;
  for (const char* code : {"US", "DE", "FR", "GB", "IT", "ES", "NL", "BE", "AT", "CH",
                           "SE", "NO", "DK", "FI", "PL", "CZ", "PT", "IE", "GR", "HU"}) {
    countries += std::string(countries.empty() ? "" : ", ") + code;
  }
  EXPECT_EQ(
      problems_of(zone_with("{CF-Device-Type: [mobile, tablet, desktop], CF-IPCountry: [" +
                            countries + "], Accept-Language: [en]}")),
      (std::vector<std::string>{
          "zones[0].variants: zone shop.test would purge every URL in 120 cache-key variants "
          "(CF-Device-Type 3 x CF-IPCountry 20 x Accept-Language 1+1 (absent)); at most 100 are "
          "allowed"}));
  // 3 x 20 = 60 is fine; "NO" stays the country, not YAML 1.1's false.
  const auto config = load_config_string(
      zone_with("{CF-Device-Type: [mobile, tablet, desktop], CF-IPCountry: [" + countries + "]}"));
  EXPECT_EQ(combination_count(config.zones.at(0).variants), 60U);
  EXPECT_EQ(config.zones.at(0).variants[1].values[11], "NO");
}

// --- expansion ----------------------------------------------------------------------------------

constexpr const char* kShopId = "22222222222222222222222222222222";
constexpr const char* kPlainId = "33333333333333333333333333333333";

Zone make_zone(std::string name, std::string id, std::vector<VariantHeader> variants = {}) {
  Zone zone;
  zone.hosts = {name, "*." + name};
  zone.name = std::move(name);
  zone.id = std::move(id);
  zone.account = "main";
  zone.variants = std::move(variants);
  return zone;
}

VariantHeader devices() {
  return {"CF-Device-Type", {"mobile", "tablet", "desktop"}, false};
}

Config shop_config(std::vector<VariantHeader> variants = {devices()}) {
  Config config;
  config.zones.push_back(make_zone("shop.test", kShopId, std::move(variants)));
  config.zones.push_back(make_zone("plain.test", kPlainId));
  return config;
}

std::vector<Item> expand(const Zone& zone, const Item& item) {
  std::vector<Item> out;
  expand_variants(zone, item, [&](Item variant) { out.push_back(std::move(variant)); });
  EXPECT_EQ(out.size(), variant_count(zone, item));
  return out;
}

Item file(std::string url, std::vector<Header> headers = {}) {
  return Item{Kind::file, std::move(url), std::move(headers)};
}

TEST(ExpandVariants, OneItemPerValue) {
  const auto zone = make_zone("shop.test", kShopId, {devices()});
  EXPECT_EQ(expand(zone, file("https://shop.test/")),
            (std::vector<Item>{file("https://shop.test/", {{"CF-Device-Type", "mobile"}}),
                               file("https://shop.test/", {{"CF-Device-Type", "tablet"}}),
                               file("https://shop.test/", {{"CF-Device-Type", "desktop"}})}));
}

TEST(ExpandVariants, ZonesWithoutVariantsAndOtherKindsPassThrough) {
  const auto plain = make_zone("plain.test", kPlainId);
  EXPECT_EQ(expand(plain, file("https://plain.test/a")),
            (std::vector<Item>{file("https://plain.test/a")}));
  const auto shop = make_zone("shop.test", kShopId, {devices()});
  const Item tag{Kind::tag, "t", {}};
  const Item prefix{Kind::prefix, "shop.test/a", {}};
  EXPECT_EQ(expand(shop, tag), (std::vector<Item>{tag}));
  EXPECT_EQ(expand(shop, prefix), (std::vector<Item>{prefix}));
}

TEST(ExpandVariants, CartesianProductLastHeaderFastestAndAbsentWhereVisitorsMayOmitIt) {
  const auto zone = make_zone(
      "shop.test", kShopId,
      {{"CF-Device-Type", {"mobile", "desktop"}, false}, {"Accept-Language", {"de"}, true}});
  // Headers come out sorted by lower-cased name (Item's invariant): accept-language first.
  EXPECT_EQ(
      expand(zone, file("https://shop.test/")),
      (std::vector<Item>{
          file("https://shop.test/", {{"Accept-Language", "de"}, {"CF-Device-Type", "mobile"}}),
          file("https://shop.test/", {{"CF-Device-Type", "mobile"}}),
          file("https://shop.test/", {{"Accept-Language", "de"}, {"CF-Device-Type", "desktop"}}),
          file("https://shop.test/", {{"CF-Device-Type", "desktop"}})}));
}

TEST(ExpandVariants, AnExplicitHeaderNarrowsAndOthersAreKept) {
  const auto zone =
      make_zone("shop.test", kShopId, {devices(), {"CF-IPCountry", {"US", "DE"}, false}});
  // The purge names the device type itself (in any case): only the country varies, and the
  // named header is spelled as the zone's variants spell it.
  EXPECT_EQ(
      expand(zone, file("https://shop.test/", {{"cf-device-type", "Mobile"}})),
      (std::vector<Item>{
          file("https://shop.test/", {{"CF-Device-Type", "mobile"}, {"CF-IPCountry", "US"}}),
          file("https://shop.test/", {{"CF-Device-Type", "mobile"}, {"CF-IPCountry", "DE"}})}));
  // A header the zone does not vary on rides along with every variant.
  const auto with_custom = expand(zone, file("https://shop.test/", {{"X-Tenant", "a"}}));
  ASSERT_EQ(with_custom.size(), 6U);
  for (const auto& item : with_custom) {
    ASSERT_EQ(item.headers.size(), 3U);
    EXPECT_EQ(item.headers[2], (Header{"X-Tenant", "a"}));
  }
  // Naming every varying header leaves one item, the one asked for.
  const auto exact =
      file("https://shop.test/", {{"CF-Device-Type", "tablet"}, {"CF-IPCountry", "DE"}});
  EXPECT_EQ(expand(zone, exact), (std::vector<Item>{exact}));
}

TEST(ExpandVariants, EveryVariantPassesIntakesItemRules) {
  // What intake makes must be what intake would accept if a client had sent it: validate each
  // variant again as a {url, headers} object and expect it back unchanged.
  const auto config = load_config_string(zone_with(
      "{CF-Device-Type: [mobile, tablet, desktop], CF-IPCountry: [US, XX, T1], "
      "Accept-Language: [zh-CN], Origin: [\"https://app.shop.test\", \"http://10.0.0.1:8080\"]}"));
  const auto variants = expand(config.zones.at(0), file("https://shop.test/a?b=c"));
  ASSERT_EQ(variants.size(), 3U * 3U * 2U * 3U);
  for (const auto& item : variants) {
    json::object headers;
    for (const auto& [name, value] : item.headers) headers[name] = value;
    const json::value entry = json::object{{"url", item.value}, {"headers", headers}};
    auto validated = validate_file(entry, "files[0]");
    ASSERT_TRUE(std::holds_alternative<Item>(validated)) << json::serialize(entry);
    EXPECT_EQ(std::get<Item>(validated), item) << json::serialize(entry);
  }
}

// --- whole intents ------------------------------------------------------------------------------

ParsedIntent parse_ok(const std::string& body, const Config& config) {
  auto parsed = parse_intent(json::parse(body), config);
  if (const auto* error = std::get_if<IntakeError>(&parsed)) {
    ADD_FAILURE() << error->code << ": " << error->message;
    return {};
  }
  return std::get<ParsedIntent>(std::move(parsed));
}

std::vector<std::string> keys_of(const ParsedIntent& intent) {
  std::vector<std::string> keys;
  for (const auto& routed : intent.items) keys.push_back(routed.item.key());
  return keys;
}

TEST(ParseIntentVariants, OneUrlBecomesItsVariantsInItsZoneOnly) {
  const auto mixed =
      parse_ok(R"({"files": ["https://shop.test/", "https://plain.test/"]})", shop_config());
  ASSERT_EQ(mixed.items.size(), 4U);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(mixed.items[i].zone_index, 0U);
  EXPECT_EQ(mixed.items[0].item, file("https://shop.test/", {{"CF-Device-Type", "mobile"}}));
  EXPECT_EQ(mixed.items[3].zone_index, 1U);
  EXPECT_EQ(mixed.items[3].item, file("https://plain.test/"));
  EXPECT_EQ(mixed.expanded_urls, 1U);
  EXPECT_EQ(mixed.variant_items, 3U);
}

TEST(ParseIntentVariants, ExplicitHeaderTwinsMergeWithTheExpansion) {
  // The plain URL expands to mobile, tablet, desktop; the explicit mobile purge is one of them.
  const auto intent = parse_ok(
      R"({"files": ["https://shop.test/",
                    {"url": "https://shop.test/", "headers": {"CF-Device-Type": "mobile"}},
                    {"url": "https://SHOP.test/", "headers": {"cf-device-type": "tablet"}}]})",
      shop_config());
  EXPECT_EQ(keys_of(intent),
            (std::vector<std::string>{
                file("https://shop.test/", {{"CF-Device-Type", "mobile"}}).key(),
                file("https://shop.test/", {{"CF-Device-Type", "tablet"}}).key(),
                file("https://shop.test/", {{"CF-Device-Type", "desktop"}}).key()}));
  EXPECT_EQ(intent.expanded_urls, 1U);
  EXPECT_EQ(intent.variant_items, 3U);
  // Explicit first: the expansion adds only what is missing.
  const auto reversed = parse_ok(
      R"({"files": [{"url": "https://shop.test/", "headers": {"CF-Device-Type": "desktop"}},
                    "https://shop.test/"]})",
      shop_config());
  ASSERT_EQ(reversed.items.size(), 3U);
  EXPECT_EQ(reversed.items[0].item, file("https://shop.test/", {{"CF-Device-Type", "desktop"}}));
  EXPECT_EQ(reversed.variant_items, 2U);
}

TEST(ParseIntentVariants, ExplicitValuesAreSpelledAsTheZoneSpellsThem) {
  // "Mobile" names the copy Cloudflare keys as "mobile": the same item as the expansion's.
  const auto intent = parse_ok(
      R"({"files": ["https://shop.test/",
                    {"url": "https://shop.test/", "headers": {"cf-device-type": "Mobile"}}]})",
      shop_config());
  EXPECT_EQ(keys_of(intent),
            (std::vector<std::string>{
                file("https://shop.test/", {{"CF-Device-Type", "mobile"}}).key(),
                file("https://shop.test/", {{"CF-Device-Type", "tablet"}}).key(),
                file("https://shop.test/", {{"CF-Device-Type", "desktop"}}).key()}));
}

TEST(ParseIntentVariants, TheItemCapCountsVariants) {
  auto config = shop_config();
  config.intake.max_items_per_intent = 5;
  // Two URLs are within the cap as given, six as sent.
  auto parsed = parse_intent(
      json::parse(R"({"files": ["https://shop.test/a", "https://shop.test/b"]})"), config);
  ASSERT_TRUE(std::holds_alternative<IntakeError>(parsed));
  const auto& error = std::get<IntakeError>(parsed);
  EXPECT_EQ(error.code, ErrorCode::too_many_items);
  EXPECT_EQ(error.item, "https://shop.test/b");
  EXPECT_NE(error.message.find("files[1]: the intent expands to more than 5 items"),
            std::string::npos)
      << error.message;
  EXPECT_NE(error.message.find("intake.max_items_per_intent is 5"), std::string::npos);
  // Merged twins do not count twice: 3 items.
  config.intake.max_items_per_intent = 3;
  const auto merged = parse_ok(
      R"({"files": ["https://shop.test/a", "https://shop.test/a",
                    {"url": "https://shop.test/a", "headers": {"CF-Device-Type": "mobile"}}]})",
      config);
  EXPECT_EQ(merged.items.size(), 3U);
}

TEST(ParseIntentVariants, OneValueStillAddsItsHeader) {
  // Every cached copy of the zone is keyed with CF-Device-Type: desktop (say, a zone serving
  // only desktops): the bare URL names none of them.
  const auto intent = parse_ok(R"({"files": ["https://shop.test/x"]})",
                               shop_config({{"CF-Device-Type", {"desktop"}, false}}));
  ASSERT_EQ(intent.items.size(), 1U);
  EXPECT_EQ(intent.items[0].item, file("https://shop.test/x", {{"CF-Device-Type", "desktop"}}));
  EXPECT_EQ(intent.expanded_urls, 1U);
  EXPECT_EQ(intent.variant_items, 1U);
}

TEST(ParseIntentVariants, VariantsStayWithinTheHeaderLimit) {
  // 31 headers of its own plus the device type would be 32: allowed; 32 plus one is not.
  auto body_with = [](std::size_t count) {
    json::object headers;
    for (std::size_t i = 0; i < count; ++i) headers["X-H" + std::to_string(i)] = "v";
    return json::value(json::object{
        {"files", json::array{json::object{{"url", "https://shop.test/"}, {"headers", headers}}}}});
  };
  auto ok = parse_intent(body_with(kMaxFileHeaders - 1), shop_config());
  ASSERT_TRUE(std::holds_alternative<ParsedIntent>(ok));
  EXPECT_EQ(std::get<ParsedIntent>(ok).items.at(0).item.headers.size(), kMaxFileHeaders);
  auto refused = parse_intent(body_with(kMaxFileHeaders), shop_config());
  ASSERT_TRUE(std::holds_alternative<IntakeError>(refused));
  EXPECT_EQ(std::get<IntakeError>(refused).code, ErrorCode::too_many_headers);
  EXPECT_EQ(std::get<IntakeError>(refused).message,
            R"(files[0]: "https://shop.test/" has 32 headers and zone shop.test adds 1 cache-key )"
            "headers to each variant; at most 32 are allowed");
  // The same item in a zone without variants is fine.
  auto plain = body_with(kMaxFileHeaders);
  plain.as_object()["files"].as_array()[0].as_object()["url"] = "https://plain.test/";
  EXPECT_TRUE(std::holds_alternative<ParsedIntent>(parse_intent(plain, shop_config())));
}

TEST(ParseIntentVariants, CloudflareFlavorExpandsToo) {
  auto parsed = parse_intent(json::parse(R"({"files": ["https://shop.test/x"]})"), shop_config(),
                             IntakeFlavor::cloudflare, 0);
  ASSERT_TRUE(std::holds_alternative<ParsedIntent>(parsed));
  EXPECT_EQ(std::get<ParsedIntent>(parsed).items.size(), 3U);
}

}  // namespace
}  // namespace purgeq
