// Turns a purge request body into validated, normalised items, each routed to the zone that owns
// it, or into the one error that rejects the whole intent. The rules follow Cloudflare's purge API
// (shared/reference/cloudflare-purge-api.md §2–§4) and are slightly stricter where a looser item
// could never purge anything, so that nothing queued can later be refused for its shape.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.h"
#include "model/hostname.h"
#include "model/item.h"

namespace purgeq {

// Bounds of our own where Cloudflare documents none (reference §3.3); the ones Cloudflare does
// document are enforced too (tag 1,024 characters, host 200, 31 '/' per prefix).
inline constexpr std::size_t kMaxUrlLength = 4096;
inline constexpr std::size_t kMaxPrefixLength = 4096;
inline constexpr std::size_t kMaxTagLength = 1024;
inline constexpr std::size_t kMaxHostLength = 200;
inline constexpr std::size_t kMaxPrefixSlashes = 31;
inline constexpr std::size_t kMaxFileHeaders = 32;
// An error's `item` carries at most this many bytes of the rejected item (then "... (N bytes)"),
// so a rejected 8 MiB tag does not come back as an 8 MiB answer.
inline constexpr std::size_t kMaxErrorItemBytes = 256;

struct RoutedItem {
  std::size_t zone_index = 0;  // into Config::zones
  Item item;
};

// Why an intent was rejected. `code` is stable and machine-readable:
//
// Body shape
//   invalid_json               the body is not valid JSON (parse_json_body)
//   duplicate_key              an object of the body names one member twice (parse_json_body)
//   invalid_body               the body is not a JSON object
//   too_many_items             more items than intake.max_items_per_intent (answered with 413)
//   unknown_field              a member other than files, tags, hosts, prefixes, purge_everything,
//                              zone (cloudflare flavor: zone is unknown too, the path names it)
//   not_an_array               files/tags/hosts/prefixes is not an array (Cloudflare 1014)
//   invalid_purge_everything   purge_everything is anything but true (Cloudflare 1013)
//   invalid_zone               zone is not a non-empty string
//   no_kind                    cloudflare flavor: none of the five kinds (Cloudflare 1012)
//   mixed_kinds                cloudflare flavor: more than one of files/tags/hosts/prefixes
//   purge_everything_not_alone cloudflare flavor: purge_everything with another member (1092)
//   empty_intent               no item at all
// Routing
//   unknown_zone               zone names no configured zone (by name or id)
//   zone_required              tags/purge_everything without zone while several zones exist
//   no_zone_for_host           no configured zone owns the item's host
//   host_not_in_zone           the item's host is not owned by the zone given (or the path zone)
// Items
//   not_a_string               a tags/hosts/prefixes entry is not a string
//   invalid_file_entry         a files entry is neither a URL string nor a {url, headers} object,
//                              or the object has a missing/non-string url, non-object headers or
//                              another member
//   invalid_url                not an absolute http(s) URL, whitespace/control characters,
//                              user info, bad port, no host, raw non-ASCII in path/query
//   url_too_long               longer than kMaxUrlLength (our bound; Cloudflare documents none)
//   url_has_fragment           contains '#': fragments never reach the cache key
//   invalid_host               host is not a DNS hostname (letters, digits, '-', '.'), is an IP
//                              address, or (hosts) carries a scheme, path, port or wildcard
//   host_too_long              hosts entry longer than 200 characters (Cloudflare 1114)
//   invalid_header             header name not an HTTP token, value not printable ASCII or not a
//                              string
//   duplicate_header           the same header name twice (case-insensitive)
//   too_many_headers           more than kMaxFileHeaders headers on one file
//   invalid_origin_header      Origin is not scheme://host[:port] as a browser sends it
//   invalid_tag                empty, or not printable ASCII without spaces and commas
//   tag_too_long               longer than 1,024 characters (Cloudflare 1100)
//   invalid_prefix             scheme, query, fragment, port, missing host, path characters
//                              outside printable ASCII, or a "." or ".." path segment
//   prefix_too_long            longer than kMaxPrefixLength (our bound)
//   prefix_too_many_slashes    more than 31 '/' (Cloudflare's documented limit)
struct IntakeError {
  std::string code;
  // One sentence naming the item's position and the rule, e.g.
  // `files[3]: "ftp://x/a" is not an absolute http(s) URL`.
  std::string message;
  // The offending item as given (a file object's url, or its compact JSON when it has no string
  // url), cut by bounded_item(); "" when the error concerns the body rather than one item.
  std::string item;
};

// `item` itself when it has at most kMaxErrorItemBytes bytes; otherwise its first bytes (cut on a
// UTF-8 boundary), "..." and its length: `aaaa... (8388608 bytes)`.
std::string bounded_item(std::string_view item);

// Parses a request body as JSON, refusing what json::parse would accept silently: an object that
// names a member twice (Boost.JSON keeps the last one, so `{"files": [a], "files": [b]}` would
// lose `a`). Errors: invalid_json, duplicate_key (the message names the key and where it is).
// One pass over the text, building the value as it goes.
std::variant<boost::json::value, IntakeError> parse_json_body(std::string_view text);

// native: the body of POST /v1/purge (kinds may be mixed, optional "zone").
// cloudflare: the body of POST /client/v4/zones/{id}/purge_cache, held to Cloudflare's shape:
// exactly one kind, and purge_everything only on its own.
enum class IntakeFlavor { native, cloudflare };

struct ParsedIntent {
  // In body order; duplicates (same zone, kind and Item::key()) are merged, the first one kept.
  std::vector<RoutedItem> items;
};

// Validates and routes one request body. `forced_zone` is the zone index taken from the URL path
// and is required for the cloudflare flavor; it is ignored for the native flavor. The first
// problem found rejects the whole intent. The items are counted before any is validated: more
// than config.intake.max_items_per_intent is refused (too_many_items) at once.
std::variant<ParsedIntent, IntakeError> parse_intent(
    const boost::json::value& body, const Config& config,
    IntakeFlavor flavor = IntakeFlavor::native,
    std::optional<std::size_t> forced_zone = std::nullopt);

// Single-item validation, without routing. `path` names the item in messages ("files[3]"); with
// an empty path the message starts with the item itself.
std::variant<Item, IntakeError> validate_file(const boost::json::value& entry,
                                              std::string_view path);
std::variant<Item, IntakeError> validate_tag(std::string_view tag, std::string_view path);
std::variant<Item, IntakeError> validate_host(std::string_view host, std::string_view path);
std::variant<Item, IntakeError> validate_prefix(std::string_view prefix, std::string_view path);

}  // namespace purgeq
