// The one error that rejects an intent, and the helpers every intake step words its errors with.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "model/text.h"

namespace purgeq {

// An error's `item` carries at most this many bytes of the rejected item (then "... (N bytes)"),
// so a rejected 8 MiB tag does not come back as an 8 MiB answer.
inline constexpr std::size_t kMaxErrorItemBytes = 256;

// Why an intent was rejected. `code` is stable and machine-readable:
//
// Body shape (intake/json_body.h, intake/body_shape.h)
//   invalid_json               the body is not valid JSON (parse_json_body)
//   duplicate_key              an object of the body names one member twice (parse_json_body)
//   invalid_body               the body is not a JSON object
//   too_many_items             more items than intake.max_items_per_intent (answered with 413)
//   unknown_field              a member other than files, tags, hosts, prefixes, purge_everything,
//                              zone, priority (cloudflare flavor: zone and priority are unknown
//                              too: the path names the zone, the client's config the lane)
//   not_an_array               files/tags/hosts/prefixes is not an array (Cloudflare 1014)
//   invalid_purge_everything   purge_everything is anything but true (Cloudflare 1013)
//   invalid_zone               zone is not a non-empty string
//   invalid_priority           priority is not "high", "normal" or "bulk"
//   no_kind                    cloudflare flavor: none of the five kinds (Cloudflare 1012)
//   mixed_kinds                cloudflare flavor: more than one of files/tags/hosts/prefixes
//   purge_everything_not_alone cloudflare flavor: purge_everything with another member (1092)
//   empty_intent               no item at all
// Routing (intake/routing.h)
//   unknown_zone               zone names no configured zone (by name or id)
//   zone_required              tags/purge_everything without zone while several zones exist
//   no_zone_for_host           no configured zone owns the item's host
//   host_not_in_zone           the item's host is not owned by the zone given (or the path zone)
// Items (intake/item_rules.h)
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
// Rules (intake/access.h, intake/api_clients.h, intake/everything_guard.h)
//   access_denied              an access rule or an API client's rules refuse the item (403)
//   everything_too_soon        a purge-everything within its zone's everything.min_interval (429)
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

// "path: text" (just "text" when `path` is empty), with `item` bounded.
IntakeError make_error(std::string_view code, std::string_view path, std::string_view text,
                       std::string_view item);

// "null", "a boolean", "a number", "a string", "an array" or "an object", for "got ..." messages.
std::string_view type_name(const boost::json::value& value);

}  // namespace purgeq
