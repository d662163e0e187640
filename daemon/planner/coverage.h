// Which pending purge makes another one redundant (docs/delivery.md: coalescing never
// purges less than was asked). Pure string rules over normalised items, following
// reference/cloudflare-purge-api.md §4.1 (prefixes), §4.2 (hosts) and §4.3 (tags).
//
// The rules only ever claim coverage Cloudflare documents; where its behaviour is unknown they
// answer "not covered", because a missed coverage costs one extra request while a wrong one loses
// a purge.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "model/item.h"

namespace purgeq {

// Where a file, host or prefix purge reaches, in the form the rules compare: Cloudflare matches
// prefixes as "host+path starts with", the host compared case-insensitively, the path exactly.
struct Reach {
  std::string host;       // lower-cased, never with a port
  std::string_view path;  // file: URL path without query and fragment ("/" when empty);
                          // prefix: the part from the first '/' ("" for a bare host);
                          // host: "". Views the item's value (or a static "/"): keep the item.
};

// The reach of `item`; nullopt for tags and everything (they have none), and for a file URL that
// names a port or cannot be parsed: whether a host or prefix purge reaches "host:8443" objects is
// undocumented, so only purge-everything covers those.
std::optional<Reach> reach_of(const Item& item);

// Does a prefix with path `prefix_path` (Reach::path of a prefix) reach `path` on the same host?
// Plain "starts with", as Cloudflare matches: "/foo" reaches "/foo", "/foo/x" and "/foobar".
inline bool path_within(std::string_view prefix_path, std::string_view path) {
  return path.starts_with(prefix_path);
}

// The identity two targets of one kind share when they purge exactly the same thing: Item::key(),
// except that hosts and prefixes compare their host case-insensitively.
std::string coverage_key(const Item& item);

// Does sending `broad` purge everything `narrow` asks for?
// - everything covers every item; nothing else covers everything;
// - a host covers files whose URL host is that host, and prefixes on that host;
// - a prefix covers files whose host+path (no scheme, query or fragment) starts with it, and
//   prefixes that start with it; a bare-host prefix ("example.com") covers its host only, never
//   "example.com.au";
// - tags and files cover only their duplicates (tags case-insensitively, files including
//   headers); nothing but everything covers a tag;
// - every item covers its duplicate (equal coverage_key and kind), so the relation is reflexive.
// A file's headers play no part when a host, prefix or everything covers it.
bool covers(const Item& broad, const Item& narrow);

}  // namespace purgeq
