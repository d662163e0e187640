// Tests for the intent parser: the item rules as a data table (data/items.tsv), then whole bodies:
// routing, zones, both flavors, body shape errors and in-intent de-duplication.
#include "intake/intent_parser.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "support/tsv.h"

namespace purgeq {
namespace {

namespace json = boost::json;

constexpr const char* kIdCom = "023e105f4ecef8ad9ca31a8372d0c353";
constexpr const char* kIdOrg = "11111111111111111111111111111111";
constexpr const char* kIdShop = "22222222222222222222222222222222";

Zone make_zone(std::string name, std::string id) {
  Zone zone;
  zone.hosts = {name, "*." + name};
  zone.name = std::move(name);
  zone.id = std::move(id);
  zone.account = "main";
  return zone;
}

// Three zones, one nested inside another's wildcard: example.com (0), example.org (1),
// shop.example.com (2).
Config three_zones() {
  Config config;
  config.zones.push_back(make_zone("example.com", kIdCom));
  config.zones.push_back(make_zone("example.org", kIdOrg));
  config.zones.push_back(make_zone("shop.example.com", kIdShop));
  return config;
}

Config one_zone() {
  Config config;
  config.zones.push_back(make_zone("example.com", kIdCom));
  return config;
}

// --- the data table --------------------------------------------------------------------------

// Expands the table's escapes (see the header of items.tsv). Malformed escapes set `error`.
std::string unescape(std::string_view text, std::string& error) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (++i == text.size()) {
      error = "trailing backslash";
      return out;
    }
    switch (text[i]) {
      case '\\':
        out += '\\';
        break;
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 's':
        out += ' ';
        break;
      case 'e':
        break;
      case 'x': {
        if (i + 2 >= text.size()) {
          error = "short \\x escape";
          return out;
        }
        out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
        i += 2;
        break;
      }
      case '{': {
        const auto close = text.find('}', i);
        const auto star = text.find('*', i);
        if (close == std::string_view::npos || star == std::string_view::npos || star > close) {
          error = "malformed \\{text*N}";
          return out;
        }
        const std::string piece(text.substr(i + 1, star - i - 1));
        const int count = std::stoi(std::string(text.substr(star + 1, close - star - 1)));
        for (int n = 0; n < count; ++n) out += piece;
        i = close;
        break;
      }
      default:
        error = std::string("unknown escape \\") + text[i];
        return out;
    }
  }
  return out;
}

std::string render(const Item& item) {
  std::string out = item.value;
  for (const auto& [name, value] : item.headers) out += " [" + name + ": " + value + "]";
  return out;
}

// "ok <value>" or "error <code>", what the table's third column holds.
std::string outcome(const std::variant<Item, IntakeError>& result) {
  if (const auto* item = std::get_if<Item>(&result)) return "ok " + render(*item);
  return "error " + std::string(error_name(std::get<IntakeError>(result).code));
}

TEST(ItemTable, EveryRowHolds) {
  int rows = 0;
  for (const auto& row : test::read_tsv("items.tsv")) {
    const std::string& where = row.where;
    const auto& fields = row.fields;
    if (fields.size() != 3) {
      ADD_FAILURE() << where << ": expected 3 tab-separated columns, got " << fields.size();
      continue;
    }
    const std::string& kind = fields[0];
    std::string error;
    const std::string expected = unescape(fields[2], error);
    std::variant<Item, IntakeError> result;
    const std::string_view item_path = "x[0]";
    if (kind == "file_json") {
      boost::system::error_code ec;
      const json::value entry = json::parse(fields[1], ec);
      if (ec) {
        ADD_FAILURE() << where << ": input is not JSON: " << ec.message();
        continue;
      }
      result = validate_file(entry, item_path);
    } else {
      const std::string input = unescape(fields[1], error);
      if (kind == "file") {
        result = validate_file(json::value(input), item_path);
      } else if (kind == "tag") {
        result = validate_tag(input, item_path);
      } else if (kind == "host") {
        result = validate_host(input, item_path);
      } else if (kind == "prefix") {
        result = validate_prefix(input, item_path);
      } else {
        ADD_FAILURE() << where << ": unknown kind \"" << kind << "\"";
        continue;
      }
    }
    if (!error.empty()) {
      ADD_FAILURE() << where << ": " << error;
      continue;
    }
    ++rows;
    const std::string actual = outcome(result);
    if (actual != expected) {
      ADD_FAILURE() << where << ": " << kind << " " << fields[1] << "\n  expected: " << expected
                    << "\n  actual:   " << actual
                    << (std::holds_alternative<IntakeError>(result)
                            ? "\n  message:  " + std::get<IntakeError>(result).message
                            : std::string());
      continue;
    }
    // Every rejection names the item's position first.
    if (const auto* e = std::get_if<IntakeError>(&result)) {
      EXPECT_TRUE(e->message.starts_with("x[0]: ")) << where << ": " << e->message;
    }
  }
  EXPECT_GE(rows, 60) << "the table lost rows";
}

// --- exact messages --------------------------------------------------------------------------

IntakeError error_of(const std::variant<Item, IntakeError>& result) {
  if (const auto* e = std::get_if<IntakeError>(&result)) return *e;
  ADD_FAILURE() << "accepted: " << render(std::get<Item>(result));
  return {};
}

TEST(ItemMessages, NameTheItemAndTheRule) {
  EXPECT_EQ(error_of(validate_file(json::value("https://exämple.com/"), "files[2]")).message,
            "files[2]: \"https://exämple.com/\" has an invalid host");
  EXPECT_EQ(error_of(validate_file(json::value("ftp://x/a"), "files[3]")).message,
            "files[3]: \"ftp://x/a\" is not an absolute http(s) URL");
  EXPECT_EQ(error_of(validate_tag(std::string(1025, 't'), "tags[0]")).message,
            "tags[0]: tag longer than 1024 characters");
  EXPECT_EQ(error_of(validate_prefix("https://example.com/a", "prefixes[1]")).message,
            "prefixes[1]: \"https://example.com/a\" must not include a scheme (use "
            "\"example.com/a\")");
  EXPECT_EQ(error_of(validate_host("https://www.example.com/x", "hosts[0]")).message,
            "hosts[0]: \"https://www.example.com/x\" must be a bare hostname without a scheme "
            "(use \"www.example.com\")");
  EXPECT_EQ(error_of(validate_file(json::value("https://example.com/a#top"), "files[0]")).message,
            "files[0]: \"https://example.com/a#top\" has a #fragment, which is never part of a "
            "cache key; drop it");
  EXPECT_EQ(error_of(validate_file(json::value("https://example.com/\x01"), "")).message,
            "\"https://example.com/\\x01\" contains whitespace or control characters");
}

TEST(ItemMessages, LongItemsAreShortenedInMessagesAndInTheItem) {
  // A rejected item comes back as its first 256 bytes and its length, never whole: an 8 MiB tag
  // made an 8 MiB answer.
  const std::string url = "https://example.com/" + std::string(500, 'a') + " b";
  const auto e = error_of(validate_file(json::value(url), "files[0]"));
  EXPECT_EQ(e.code, ErrorCode::invalid_url);
  EXPECT_LT(e.message.size(), 250U) << e.message;
  EXPECT_EQ(e.item, url.substr(0, 256) + "... (522 bytes)");

  const std::string huge(8 * 1024 * 1024, 't');
  const auto tag = error_of(validate_tag(huge, "tags[0]"));
  EXPECT_EQ(tag.code, ErrorCode::tag_too_long);
  EXPECT_EQ(tag.item, std::string(256, 't') + "... (8388608 bytes)");
  EXPECT_LT(tag.message.size(), 100U);
  for (const auto& e2 :
       {error_of(validate_host(huge, "hosts[0]")), error_of(validate_prefix(huge, "prefixes[0]")),
        error_of(validate_file(json::value(huge), "files[0]"))}) {
    EXPECT_LE(e2.item.size(), 256U + 32U) << e2.code;
    EXPECT_LT(e2.message.size(), 400U) << e2.code;
  }
}

TEST(ItemMessages, BoundedItemCutsOnACharacterBoundary) {
  EXPECT_EQ(bounded_item(""), "");
  EXPECT_EQ(bounded_item(std::string(256, 'a')), std::string(256, 'a'));
  EXPECT_EQ(bounded_item(std::string(257, 'a')), std::string(256, 'a') + "... (257 bytes)");
  // "x" and 200 two-byte characters: byte 256 is the middle of one, so the cut is at 255.
  std::string text = "x";
  for (int i = 0; i < 200; ++i) text += "\xc3\xa4";
  std::string expected = "x";
  for (int i = 0; i < 127; ++i) expected += "\xc3\xa4";
  EXPECT_EQ(bounded_item(text), expected + "... (401 bytes)");
}

TEST(ItemMessages, FileObjectErrorsCarryTheUrlOrTheJson) {
  const auto with_url = error_of(validate_file(
      json::parse(R"({"url": "https://example.com/a", "headers": {"A B": "c"}})"), "files[0]"));
  EXPECT_EQ(with_url.item, "https://example.com/a");
  const auto without_url = error_of(validate_file(json::parse(R"({"headers": {}})"), "files[0]"));
  EXPECT_EQ(without_url.item, R"({"headers":{}})");
}

TEST(Prefixes, DotSegmentsAreRefused) {
  // Cloudflare matches prefixes against normalised paths: "shop/../../etc" would purge nothing, or
  // after normalisation something other than it says. '%2e' is '.', and '\\' a separator, to
  // Cloudflare's URL normalization.
  for (const std::string_view prefix :
       {"example.com/../../etc", "example.com/a/./b", "example.com/a/..", "example.com/a/.",
        "example.com/.", "example.com/..", "example.com/%2e%2E/x", "example.com/a/%2e",
        "example.com/a/.%2e/b", "example.com/a\\..\\b", "example.com//../a"}) {
    const auto e = error_of(validate_prefix(prefix, "prefixes[0]"));
    EXPECT_EQ(e.code, ErrorCode::invalid_prefix) << prefix;
  }
  EXPECT_EQ(error_of(validate_prefix("shop.example.com/../../etc", "prefixes[2]")).message,
            "prefixes[2]: \"shop.example.com/../../etc\" has a \".\" or \"..\" path segment; "
            "cached paths never do (clients and Cloudflare's URL normalization resolve them), so "
            "write the path without them");
  for (const std::string_view prefix :
       {"example.com/..a/", "example.com/a../b", "example.com/.well-known/", "example.com/a/.../b",
        "example.com/a%2eb", "example.com/a.b/c.", "example.com/%2e%2e%2e"}) {
    const auto result = validate_prefix(prefix, "prefixes[0]");
    EXPECT_TRUE(std::holds_alternative<Item>(result))
        << prefix << ": " << std::get<IntakeError>(result).message;
  }
  // File URLs are matched exactly against the cache key (reference §4.4) and stay as given.
  EXPECT_EQ(outcome(validate_file(json::value("https://example.com/a/../b"), "files[0]")),
            "ok https://example.com/a/../b");
}

TEST(Hostnames, Validity) {
  EXPECT_TRUE(is_valid_hostname("example.com"));
  EXPECT_TRUE(is_valid_hostname("Example.COM"));
  EXPECT_TRUE(is_valid_hostname("localhost"));
  EXPECT_TRUE(is_valid_hostname("1password.com"));
  EXPECT_TRUE(is_valid_hostname("a.b2"));
  EXPECT_FALSE(is_valid_hostname(""));
  EXPECT_FALSE(is_valid_hostname("1.2.3.4"));
  EXPECT_FALSE(is_valid_hostname("example.123"));
  EXPECT_FALSE(is_valid_hostname(".example.com"));
  EXPECT_FALSE(is_valid_hostname("example..com"));
  EXPECT_FALSE(is_valid_hostname(std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                                 std::string(63, 'c') + "." + std::string(63, 'd')));  // 255
  EXPECT_TRUE(is_valid_hostname(std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                                std::string(63, 'c') + "." + std::string(61, 'd')));  // 253
}

// --- whole intents ---------------------------------------------------------------------------

std::variant<ParsedIntent, IntakeError> parse(std::string_view body, const Config& config,
                                              IntakeFlavor flavor = IntakeFlavor::native,
                                              std::optional<std::size_t> zone = std::nullopt) {
  return parse_intent(json::parse(body), config, flavor, zone);
}

ParsedIntent accepted(const std::variant<ParsedIntent, IntakeError>& result) {
  if (const auto* e = std::get_if<IntakeError>(&result)) {
    ADD_FAILURE() << "rejected: " << e->code << ": " << e->message;
    return {};
  }
  return std::get<ParsedIntent>(result);
}

IntakeError rejected(const std::variant<ParsedIntent, IntakeError>& result) {
  if (const auto* e = std::get_if<IntakeError>(&result)) return *e;
  ADD_FAILURE() << "accepted with " << std::get<ParsedIntent>(result).items.size() << " items";
  return {};
}

// "zone:kind:value" per item, for compact comparisons.
std::vector<std::string> summary(const ParsedIntent& intent) {
  std::vector<std::string> out;
  for (const auto& routed : intent.items) {
    out.push_back(std::to_string(routed.zone_index) + ":" +
                  std::string(to_string(routed.item.kind)) + ":" + render(routed.item));
  }
  return out;
}

using Lines = std::vector<std::string>;

TEST(ParseIntent, RoutesByHostWithoutZone) {
  const auto intent = accepted(parse(R"({"files": [
      "https://example.com/a", "https://www.example.com/a", "https://shop.example.com/a",
      "https://cdn.shop.example.com/a", "https://Example.ORG/a"]})",
                                     three_zones()));
  EXPECT_EQ(summary(intent),
            (Lines{"0:file:https://example.com/a", "0:file:https://www.example.com/a",
                   "2:file:https://shop.example.com/a", "2:file:https://cdn.shop.example.com/a",
                   "1:file:https://example.org/a"}));
}

TEST(ParseIntent, MixesKindsAndZonesInOneNativeIntent) {
  const auto intent = accepted(parse(R"({
      "hosts": ["img.example.org"],
      "files": ["https://example.com/a", {"url": "https://example.org/b", "headers": {"CF-Device-Type": "mobile"}}],
      "prefixes": ["shop.example.com/cart/"]})",
                                     three_zones()));
  EXPECT_EQ(summary(intent), (Lines{"1:host:img.example.org", "0:file:https://example.com/a",
                                    "1:file:https://example.org/b [CF-Device-Type: mobile]",
                                    "2:prefix:shop.example.com/cart/"}));
}

TEST(ParseIntent, ZoneByNameOrId) {
  const auto by_name = accepted(parse(R"({"zone": "example.org", "tags": ["t"]})", three_zones()));
  EXPECT_EQ(summary(by_name), (Lines{"1:tag:t"}));
  const auto by_id = accepted(parse(
      R"({"zone": "22222222222222222222222222222222", "purge_everything": true})", three_zones()));
  EXPECT_EQ(summary(by_id), (Lines{"2:everything:"}));
}

TEST(ParseIntent, ZoneMustOwnEveryHost) {
  const auto e = rejected(parse(
      R"({"zone": "example.com", "files": ["https://example.com/a", "https://example.org/b"]})",
      three_zones()));
  EXPECT_EQ(e.code, ErrorCode::host_not_in_zone);
  EXPECT_EQ(e.message, "files[1]: host \"example.org\" is not in zone example.com");
  EXPECT_EQ(e.item, "https://example.org/b");

  EXPECT_EQ(
      rejected(parse(R"({"zone": "example.com", "hosts": ["example.org"]})", three_zones())).code,
      ErrorCode::host_not_in_zone);
  EXPECT_EQ(
      rejected(parse(R"({"zone": "example.org", "prefixes": ["example.com/a"]})", three_zones()))
          .code,
      ErrorCode::host_not_in_zone);
}

TEST(ParseIntent, ExplicitZoneMayClaimAHostItsWildcardCovers) {
  // shop.example.com routes to its own zone by default, but the caller may name the parent zone,
  // whose "*.example.com" also covers it.
  const auto intent =
      accepted(parse(R"({"zone": "example.com", "hosts": ["shop.example.com"]})", three_zones()));
  EXPECT_EQ(summary(intent), (Lines{"0:host:shop.example.com"}));
}

TEST(ParseIntent, UnknownOrInvalidZone) {
  const auto unknown = rejected(parse(R"({"zone": "example.net", "tags": ["a"]})", three_zones()));
  EXPECT_EQ(unknown.code, ErrorCode::unknown_zone);
  EXPECT_EQ(unknown.message, "unknown zone \"example.net\" (not a configured zone name or id)");
  // Zone names match exactly, as in Config::find_zone.
  EXPECT_EQ(rejected(parse(R"({"zone": "Example.com", "tags": ["a"]})", three_zones())).code,
            ErrorCode::unknown_zone);
  EXPECT_EQ(rejected(parse(R"({"zone": 5, "tags": ["a"]})", three_zones())).code,
            ErrorCode::invalid_zone);
  EXPECT_EQ(rejected(parse(R"({"zone": "", "tags": ["a"]})", three_zones())).code,
            ErrorCode::invalid_zone);
}

TEST(ParseIntent, NoZoneForHost) {
  const auto e = rejected(
      parse(R"({"files": ["https://example.com/a", "https://example.net/a"]})", three_zones()));
  EXPECT_EQ(e.code, ErrorCode::no_zone_for_host);
  EXPECT_EQ(e.message, "files[1]: no configured zone owns host \"example.net\"");
  EXPECT_EQ(e.item, "https://example.net/a");
  // The apex pattern is needed for the apex; a zone with only a wildcard does not own it.
  Config config;
  config.zones.push_back(make_zone("example.com", kIdCom));
  config.zones[0].hosts = {"*.example.com"};
  EXPECT_EQ(rejected(parse(R"({"hosts": ["example.com"]})", config)).code,
            ErrorCode::no_zone_for_host);
}

TEST(ParseIntent, TagsAndEverythingNeedZoneWhenSeveralZones) {
  const auto tags = rejected(parse(R"({"tags": ["a"]})", three_zones()));
  EXPECT_EQ(tags.code, ErrorCode::zone_required);
  EXPECT_EQ(tags.message, "tags[0]: purging by tag needs \"zone\" because 3 zones are configured");
  EXPECT_EQ(tags.item, "a");
  const auto everything = rejected(parse(R"({"purge_everything": true})", three_zones()));
  EXPECT_EQ(everything.code, ErrorCode::zone_required);
  EXPECT_EQ(everything.item, "purge_everything");
  // Files route themselves even when tags in the same intent cannot.
  EXPECT_EQ(
      rejected(parse(R"({"files": ["https://example.com/a"], "tags": ["a"]})", three_zones())).code,
      ErrorCode::zone_required);
}

TEST(ParseIntent, SingleZoneNeedsNoZoneMember) {
  const auto intent = accepted(parse(
      R"({"tags": ["a"], "purge_everything": true, "hosts": ["www.example.com"]})", one_zone()));
  EXPECT_EQ(summary(intent), (Lines{"0:tag:a", "0:everything:", "0:host:www.example.com"}));
  // Still routed: a single zone does not own foreign hosts.
  EXPECT_EQ(rejected(parse(R"({"hosts": ["example.org"]})", one_zone())).code,
            ErrorCode::no_zone_for_host);
}

TEST(ParseIntent, NoZonesConfigured) {
  EXPECT_EQ(rejected(parse(R"({"tags": ["a"]})", Config{})).code, ErrorCode::zone_required);
  EXPECT_EQ(rejected(parse(R"({"hosts": ["example.com"]})", Config{})).code,
            ErrorCode::no_zone_for_host);
}

TEST(ParseIntent, BodyShape) {
  EXPECT_EQ(rejected(parse(R"(["https://example.com/a"])", one_zone())).code,
            ErrorCode::invalid_body);
  EXPECT_EQ(rejected(parse(R"("x")", one_zone())).code, ErrorCode::invalid_body);

  const auto unknown =
      rejected(parse(R"({"files": [], "url": "https://example.com/"})", one_zone()));
  EXPECT_EQ(unknown.code, ErrorCode::unknown_field);
  EXPECT_NE(unknown.message.find("\"url\""), std::string::npos) << unknown.message;
  // Singular kind names are not body members.
  EXPECT_EQ(rejected(parse(R"({"file": ["https://example.com/a"]})", one_zone())).code,
            ErrorCode::unknown_field);

  const auto not_array = rejected(parse(R"({"files": "https://example.com/a"})", one_zone()));
  EXPECT_EQ(not_array.code, ErrorCode::not_an_array);
  EXPECT_EQ(not_array.message, "\"files\" must be an array, got a string");
  EXPECT_EQ(rejected(parse(R"({"tags": null})", one_zone())).code, ErrorCode::not_an_array);
  EXPECT_EQ(rejected(parse(R"({"hosts": {}})", one_zone())).code, ErrorCode::not_an_array);
  EXPECT_EQ(rejected(parse(R"({"prefixes": 5})", one_zone())).code, ErrorCode::not_an_array);

  EXPECT_EQ(rejected(parse(R"({"purge_everything": false})", one_zone())).code,
            ErrorCode::invalid_purge_everything);
  EXPECT_EQ(rejected(parse(R"({"purge_everything": "true"})", one_zone())).code,
            ErrorCode::invalid_purge_everything);
  EXPECT_EQ(rejected(parse(R"({"purge_everything": 1})", one_zone())).code,
            ErrorCode::invalid_purge_everything);
}

TEST(ParseIntent, EmptyIntent) {
  EXPECT_EQ(rejected(parse("{}", one_zone())).code, ErrorCode::empty_intent);
  EXPECT_EQ(rejected(parse(R"({"files": [], "tags": []})", one_zone())).code,
            ErrorCode::empty_intent);
  EXPECT_EQ(rejected(parse(R"({"zone": "example.com"})", one_zone())).code,
            ErrorCode::empty_intent);
}

TEST(ParseIntent, ItemsInArraysMustBeStrings) {
  const auto e = rejected(parse(R"({"tags": ["a", 5]})", one_zone()));
  EXPECT_EQ(e.code, ErrorCode::not_a_string);
  EXPECT_EQ(e.message, "tags[1]: expected a string, got a number");
  EXPECT_EQ(e.item, "5");
  EXPECT_EQ(rejected(parse(R"({"hosts": [null]})", one_zone())).code, ErrorCode::not_a_string);
  EXPECT_EQ(rejected(parse(R"({"prefixes": [["example.com"]]})", one_zone())).code,
            ErrorCode::not_a_string);
}

TEST(ParseIntent, FirstBadItemRejectsTheWholeIntent) {
  const auto e = rejected(parse(
      R"({"files": ["https://example.com/ok", "https://example.com/a b", "ftp://example.com/"]})",
      one_zone()));
  EXPECT_EQ(e.code, ErrorCode::invalid_url);
  EXPECT_TRUE(e.message.starts_with("files[1]: ")) << e.message;
  EXPECT_EQ(e.item, "https://example.com/a b");
}

TEST(ParseIntent, ShapeErrorsComeBeforeItemErrors) {
  EXPECT_EQ(rejected(parse(R"({"files": ["nope"], "bogus": 1})", one_zone())).code,
            ErrorCode::unknown_field);
  EXPECT_EQ(rejected(parse(R"({"files": ["nope"], "tags": "x"})", one_zone())).code,
            ErrorCode::not_an_array);
}

TEST(ParseIntent, MergesDuplicatesKeepingTheFirst) {
  const auto intent = accepted(parse(R"({"zone": "example.com",
      "tags": ["Product", "product", "PRODUCT", "other"],
      "files": ["https://example.com/a", "https://EXAMPLE.com/a", "https://example.com/A",
                {"url": "https://example.com/a"},
                {"url": "https://example.com/a", "headers": {"CF-IPCountry": "US", "Accept-Language": "de"}},
                {"url": "https://example.com/a", "headers": {"accept-language": "de", "cf-ipcountry": "US"}},
                {"url": "https://example.com/a", "headers": {"CF-IPCountry": "us"}}],
      "hosts": ["example.com", "EXAMPLE.COM"],
      "prefixes": ["example.com"]})",
                                     three_zones()));
  EXPECT_EQ(summary(intent),
            (Lines{"0:tag:Product", "0:tag:other", "0:file:https://example.com/a",
                   "0:file:https://example.com/A",
                   "0:file:https://example.com/a [Accept-Language: de] [CF-IPCountry: US]",
                   "0:file:https://example.com/a [CF-IPCountry: us]", "0:host:example.com",
                   "0:prefix:example.com"}));
}

TEST(ParseIntent, SameItemOnTwoZonesIsNotMerged) {
  Config config = three_zones();
  config.zones[1].hosts.push_back("example.com");  // overlapping configs are config's problem
  const auto intent =
      accepted(parse(R"({"zone": "example.org", "hosts": ["example.com"]})", config));
  EXPECT_EQ(summary(intent), (Lines{"1:host:example.com"}));
}

TEST(ParseIntent, TooManyItemsAreCountedBeforeAnyIsValidated) {
  Config config = one_zone();
  config.intake.max_items_per_intent = 3;
  EXPECT_EQ(
      accepted(parse(R"({"tags": ["a", "b"], "hosts": ["example.com"]})", config)).items.size(),
      3U);
  // Four items, one of them invalid: the count is reported, the bad item never looked at.
  const auto e = rejected(parse(R"({"tags": ["a", "b", "c"], "files": ["nope"]})", config));
  EXPECT_EQ(e.code, ErrorCode::too_many_items);
  EXPECT_EQ(e.message,
            "the intent has 4 items and intake.max_items_per_intent is 3; split it into several "
            "intents");
  EXPECT_EQ(e.item, "");
  // Counted as given: duplicates before they merge, purge_everything as one.
  EXPECT_EQ(rejected(parse(R"({"tags": ["a", "a", "a"], "purge_everything": true})", config)).code,
            ErrorCode::too_many_items);
  EXPECT_EQ(
      rejected(parse(R"({"tags": ["a", "b", "c", "d"]})", config, IntakeFlavor::cloudflare, 0))
          .code,
      ErrorCode::too_many_items);
  // Shape errors still come first.
  EXPECT_EQ(rejected(parse(R"({"tags": ["a", "b", "c", "d"], "hosts": "x"})", config)).code,
            ErrorCode::not_an_array);
}

TEST(ParseIntent, DefaultItemCapIsTheConfigDefault) {
  Config config = one_zone();
  json::array tags;
  tags.resize(static_cast<std::size_t>(config.intake.max_items_per_intent) + 1, json::value("t"));
  const auto e = rejected(parse_intent(json::object{{"tags", std::move(tags)}}, config));
  EXPECT_EQ(e.code, ErrorCode::too_many_items);
  EXPECT_NE(e.message.find("intake.max_items_per_intent is 250000"), std::string::npos)
      << e.message;
}

TEST(ParseIntent, NotAStringItemIsBounded) {
  json::array inner;
  inner.resize(100000, json::value("nested"));
  const auto e = rejected(
      parse_intent(json::object{{"tags", json::array{json::value(std::move(inner))}}}, one_zone()));
  EXPECT_EQ(e.code, ErrorCode::not_a_string);
  EXPECT_LE(e.item.size(), 256U + 32U);
  EXPECT_TRUE(e.item.ends_with(" bytes)")) << e.item;
}

// --- the body as JSON -------------------------------------------------------------------------

IntakeError json_error(std::string_view text) {
  auto result = parse_json_body(text);
  if (const auto* e = std::get_if<IntakeError>(&result)) return *e;
  ADD_FAILURE() << "parsed: " << text.substr(0, 200);
  return {};
}

json::value json_value(std::string_view text) {
  auto result = parse_json_body(text);
  if (const auto* e = std::get_if<IntakeError>(&result)) {
    ADD_FAILURE() << e->code << ": " << e->message;
    return {};
  }
  return std::get<json::value>(result);
}

TEST(ParseJsonBody, RefusesAMemberNamedTwice) {
  // Boost.JSON keeps the last of two equal keys: files[0] of the first would vanish unseen.
  const auto top =
      json_error(R"({"files": ["https://example.com/1"], "files": ["https://example.com/2"]})");
  EXPECT_EQ(top.code, ErrorCode::duplicate_key);
  EXPECT_EQ(top.message,
            "duplicate member \"files\" in the request body; JSON parsers disagree on which one "
            "counts, so purgeq refuses to guess: give each member once");
  EXPECT_EQ(top.item, "files");

  const auto nested = json_error(R"({"files": [{"url": "a"}, {"url": "b", "url": "c"}]})");
  EXPECT_EQ(nested.code, ErrorCode::duplicate_key);
  EXPECT_TRUE(nested.message.starts_with("files[1]: duplicate member \"url\" in one object"))
      << nested.message;
  EXPECT_TRUE(json_error(R"({"files": [{"url": "x", "headers": {"A": "1", "A": "2"}}]})")
                  .message.starts_with("files[0].headers: duplicate member \"A\""));
  EXPECT_TRUE(json_error(R"({"x": [[1, {"k": 1}], [{"k": 1, "k": 2}]]})")
                  .message.starts_with("x[1][0]: duplicate member \"k\""));
  // Equal after unescaping is equal.
  EXPECT_EQ(json_error(R"({"files": [], "fil\u0065s": []})").item, "files");
  // Case matters in JSON: these are two members.
  EXPECT_EQ(json_value(R"({"A": 1, "a": 2})").as_object().size(), 2U);
}

TEST(ParseJsonBody, ManyMembersAndLongKeys) {
  std::string many = "{";
  for (int i = 0; i < 1000; ++i)
    many += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ",";
  const std::string ok = many + "\"last\": 0}";
  EXPECT_EQ(json_value(ok).as_object().size(), 1001U);
  EXPECT_EQ(json_error(many + "\"k500\": 1}").item, "k500");
  EXPECT_EQ(json_error(many + "\"k3\": 1}").item, "k3");

  // A long key with escapes arrives in parts; it is still compared whole, and quoted short.
  std::string key;
  for (int i = 0; i < 5000; ++i) key += "\\u0041";
  const auto e = json_error("{\"" + key + "\": 1, \"b\": 2, \"" + key + "\": 3}");
  EXPECT_EQ(e.code, ErrorCode::duplicate_key);
  EXPECT_EQ(e.item, std::string(256, 'A') + "... (5000 bytes)");
  EXPECT_LT(e.message.size(), 400U);
  EXPECT_EQ(json_value("{\"" + key + "\": 1, \"" + key + "B\": 2}").as_object().size(), 2U);
}

TEST(ParseJsonBody, SameKeysInDifferentObjectsAreFine) {
  const std::string text =
      R"({"a": {"k": 1, "j": [1, 2.5, -3, true, null, "s"]}, "b": {"k": 2}, "c": [{"k": 1}, {"k": 1}], "d": 18446744073709551615})";
  EXPECT_EQ(json_value(text), json::parse(text));
}

TEST(ParseJsonBody, InvalidJson) {
  for (const std::string_view text : {"", "{", "{} x", "{\"a\": }", "[1,]", "nul"}) {
    const auto e = json_error(text);
    EXPECT_EQ(e.code, ErrorCode::invalid_json) << text;
    EXPECT_TRUE(e.message.starts_with("request body is not valid JSON: ")) << e.message;
  }
  // The same depth limit as json::parse.
  const std::string deep = std::string(40, '[') + std::string(40, ']');
  boost::system::error_code ec;
  (void)json::parse(deep, ec);
  EXPECT_TRUE(ec);
  EXPECT_EQ(json_error(deep).code, ErrorCode::invalid_json);
  EXPECT_EQ(json_value("  {\"a\": 1}  \n").as_object().size(), 1U);
}

// --- the Cloudflare-compatible flavor ---------------------------------------------------------

TEST(ParseIntentCloudflare, AcceptsOneKindForThePathZone) {
  const auto files = accepted(parse(R"({"files": ["https://shop.example.com/a"]})", three_zones(),
                                    IntakeFlavor::cloudflare, 2));
  EXPECT_EQ(summary(files), (Lines{"2:file:https://shop.example.com/a"}));
  const auto tags =
      accepted(parse(R"({"tags": ["a", "A"]})", three_zones(), IntakeFlavor::cloudflare, 1));
  EXPECT_EQ(summary(tags), (Lines{"1:tag:a"}));
  const auto everything =
      accepted(parse(R"({"purge_everything": true})", three_zones(), IntakeFlavor::cloudflare, 0));
  EXPECT_EQ(summary(everything), (Lines{"0:everything:"}));
}

TEST(ParseIntentCloudflare, HostsMustBelongToThePathZone) {
  const auto e = rejected(
      parse(R"({"files": ["https://example.org/a"]})", three_zones(), IntakeFlavor::cloudflare, 0));
  EXPECT_EQ(e.code, ErrorCode::host_not_in_zone);
  EXPECT_EQ(e.item, "https://example.org/a");
  EXPECT_EQ(rejected(parse(R"({"prefixes": ["example.org/a"]})", three_zones(),
                           IntakeFlavor::cloudflare, 0))
                .code,
            ErrorCode::host_not_in_zone);
}

TEST(ParseIntentCloudflare, ExactlyOneKind) {
  const auto mixed = rejected(parse(R"({"files": ["https://example.com/a"], "tags": ["a"]})",
                                    three_zones(), IntakeFlavor::cloudflare, 0));
  EXPECT_EQ(mixed.code, ErrorCode::mixed_kinds);
  const auto everything = rejected(parse(R"({"purge_everything": true, "files": []})",
                                         three_zones(), IntakeFlavor::cloudflare, 0));
  EXPECT_EQ(everything.code, ErrorCode::purge_everything_not_alone);
  EXPECT_EQ(everything.message,
            "request cannot contain \"purge_everything\" and any of \"files\", \"tags\", "
            "\"hosts\" or \"prefixes\"");
  // Even a false purge_everything may not accompany another kind.
  EXPECT_EQ(rejected(parse(R"({"tags": ["a"], "purge_everything": false})", three_zones(),
                           IntakeFlavor::cloudflare, 0))
                .code,
            ErrorCode::purge_everything_not_alone);
  EXPECT_EQ(rejected(parse("{}", three_zones(), IntakeFlavor::cloudflare, 0)).code,
            ErrorCode::no_kind);
  EXPECT_EQ(
      rejected(parse(R"({"purge_everything": false})", three_zones(), IntakeFlavor::cloudflare, 0))
          .code,
      ErrorCode::invalid_purge_everything);
  EXPECT_EQ(rejected(parse(R"({"files": []})", three_zones(), IntakeFlavor::cloudflare, 0)).code,
            ErrorCode::empty_intent);
  EXPECT_EQ(rejected(parse(R"({"files": null})", three_zones(), IntakeFlavor::cloudflare, 0)).code,
            ErrorCode::not_an_array);
}

TEST(ParseIntentCloudflare, ZoneComesFromThePathOnly) {
  const auto e = rejected(parse(R"({"zone": "example.com", "tags": ["a"]})", three_zones(),
                                IntakeFlavor::cloudflare, 0));
  EXPECT_EQ(e.code, ErrorCode::unknown_field);
  EXPECT_EQ(
      rejected(parse(R"({"bogus": 1, "tags": ["a"]})", three_zones(), IntakeFlavor::cloudflare, 0))
          .code,
      ErrorCode::unknown_field);
  EXPECT_EQ(rejected(parse(R"({"tags": ["a"]})", three_zones(), IntakeFlavor::cloudflare)).code,
            ErrorCode::unknown_path_zone);
  EXPECT_EQ(rejected(parse(R"({"tags": ["a"]})", three_zones(), IntakeFlavor::cloudflare, 7)).code,
            ErrorCode::unknown_path_zone);
}

TEST(ParseIntentCloudflare, NativeFlavorIgnoresForcedZone) {
  // The native body's own "zone" (or routing) decides; forced_zone is for the path-zone endpoint.
  const auto intent = accepted(
      parse(R"({"files": ["https://example.org/a"]})", three_zones(), IntakeFlavor::native, 0));
  EXPECT_EQ(summary(intent), (Lines{"1:file:https://example.org/a"}));
}

TEST(ParseIntent, PriorityNamesTheLane) {
  EXPECT_EQ(accepted(parse(R"({"tags": ["a"]})", one_zone())).lane, std::nullopt)
      << "absent: the access rules' default";
  EXPECT_EQ(accepted(parse(R"({"tags": ["a"], "priority": "high"})", one_zone())).lane, Lane::high);
  EXPECT_EQ(accepted(parse(R"({"priority": "bulk", "tags": ["a"]})", one_zone())).lane, Lane::bulk);
  EXPECT_EQ(accepted(parse(R"({"tags": ["a"], "priority": "normal"})", one_zone())).lane,
            Lane::normal);

  const auto unknown = rejected(parse(R"({"tags": ["a"], "priority": "urgent"})", one_zone()));
  EXPECT_EQ(unknown.code, ErrorCode::invalid_priority);
  EXPECT_EQ(unknown.message, R"("priority" must be one of high, normal or bulk, got "urgent")");
  const auto number = rejected(parse(R"({"tags": ["a"], "priority": 1})", one_zone()));
  EXPECT_EQ(number.code, ErrorCode::invalid_priority);
  EXPECT_EQ(number.message, R"("priority" must be one of high, normal or bulk, got a number)");
  EXPECT_EQ(rejected(parse(R"({"tags": ["a"], "priority": "HIGH"})", one_zone())).code,
            ErrorCode::invalid_priority);
}

TEST(ParseIntentCloudflare, PriorityIsNotPartOfCloudflaresBody) {
  const auto e = rejected(
      parse(R"({"priority": "high", "tags": ["a"]})", three_zones(), IntakeFlavor::cloudflare, 0));
  EXPECT_EQ(e.code, ErrorCode::unknown_field);
  EXPECT_NE(e.message.find("api_clients[].priority"), std::string::npos) << e.message;
}

}  // namespace
}  // namespace purgeq
