// The rules that turn the head of a queue into one Cloudflare request, and the key ranges a broad
// purge covers. Pure: no I/O, the clock is an argument. The store applies them to what it reads
// (store.h's take), so each dispatched batch costs O(cap · log n), whatever the backlog.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/item.h"

namespace purgeq {

// One queue per (zone, group): a request carries one kind, and Cloudflare refuses a `files` list
// that mixes plain URLs with {url, headers} objects. Stored; never renumber.
enum class Group : std::uint8_t {
  file = 0,
  tag = 1,
  host = 2,
  prefix = 3,
  everything = 4,
  file_with_headers = 5,
};
inline constexpr int kGroupCount = 6;

Group group_of(const Item& item);
Kind kind_of(Group group);
// "file", "tag", ..., "file_with_headers".
std::string_view to_string(Group group);

// Per-request caps of the zone's account.
struct BatchCaps {
  int max_ops = 100;   // tags, hosts, prefixes per request, >= 1
  int max_urls = 500;  // files per request, >= 1
  // Bound on a request body's size. Cloudflare documents none; proxies commonly refuse bodies
  // over 1 MiB, and 500 long URLs (or header objects) can pass that. A batch that reaches it is
  // full. Always at least one item per batch.
  std::size_t max_body_bytes = 1000 * 1000;
};

// Items one request of `group` may carry (purge-everything: one).
std::size_t cap_of(Group group, const BatchCaps& caps);

// Bytes an item adds to a request body (an over-estimate: escapes and commas included).
std::size_t body_bytes(const Item& item);

// The decision for a queue's head, given its first `cap_of(group)` pending items oldest first.
struct Cut {
  std::size_t take = 0;  // items to send now from the front of the head (0: none)
  // take == 0 and the head is not empty: the partial batch waits for companions until then.
  std::optional<std::int64_t> ready_at_ms;
};

// - Full (cap items, or max_body_bytes reached): take them now.
// - Partial: take it once the oldest item has waited `linger_ms` (<= 0: at once); until then
//   ready_at_ms says when. Purge-everything is always full.
// `head_items` are the head's items oldest first; `oldest_created_ms` is the first one's
// acceptance time.
Cut cut_batch(Group group, std::span<const Item* const> head_items, std::int64_t oldest_created_ms,
              const BatchCaps& caps, std::int64_t linger_ms, std::int64_t now_ms);

// A set of stored keys of one kind: [low, high) by byte order, or exactly `low` when `exact`.
struct KeyRange {
  Kind kind = Kind::file;
  std::string low;
  std::string high;
  bool exact = false;
};

// The keys (Item::key()) of the items that sending `broad` also purges (its duplicates
// included), following coverage.h's covers(): a host reaches http(s) URLs on it and prefixes on
// it; a prefix reaches URLs and prefixes that start with it (a bare host only its own host).
// Empty for tags and files (they cover only duplicates) and for everything (it covers the whole
// zone: the store needs no range for that).
std::vector<KeyRange> coverage_ranges(const Item& broad);

// Does `key` of kind `kind` fall in `range`?
bool in_range(const KeyRange& range, Kind kind, std::string_view key);

}  // namespace purgeq
