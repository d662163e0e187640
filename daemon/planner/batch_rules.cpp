// Batch cutting and coverage ranges: the planner's rules as the store applies them to a queue head.
#include "planner/batch_rules.h"

#include <algorithm>
#include <array>

#include "planner/coverage.h"

namespace purgeq {
namespace {

constexpr std::size_t kBodyOverhead = 64;

// The smallest string greater than every string that starts with `s` (s is printable ASCII, so
// its last byte can always be incremented).
std::string after_prefix(std::string s) {
  s.back() = static_cast<char>(s.back() + 1);
  return s;
}

void add_starts_with(std::vector<KeyRange>& out, Kind kind, std::string prefix) {
  std::string high = after_prefix(prefix);
  out.push_back(KeyRange{kind, std::move(prefix), std::move(high), false});
}

// A host and everything under it: the host itself ("h", for prefixes) and "h/...", never
// "h.au" or "h:8443".
void add_whole_host(std::vector<KeyRange>& out, const std::string& host) {
  for (const char* scheme : {"https://", "http://"}) {
    add_starts_with(out, Kind::file, std::string(scheme) + host + "/");
  }
  out.push_back(KeyRange{Kind::prefix, host, {}, true});
  add_starts_with(out, Kind::prefix, host + "/");
}

}  // namespace

Group group_of(const Item& item) {
  switch (item.kind) {
    case Kind::file:
      return item.headers.empty() ? Group::file : Group::file_with_headers;
    case Kind::tag:
      return Group::tag;
    case Kind::host:
      return Group::host;
    case Kind::prefix:
      return Group::prefix;
    case Kind::everything:
      return Group::everything;
  }
  return Group::file;
}

Kind kind_of(Group group) {
  switch (group) {
    case Group::file:
    case Group::file_with_headers:
      return Kind::file;
    case Group::tag:
      return Kind::tag;
    case Group::host:
      return Kind::host;
    case Group::prefix:
      return Kind::prefix;
    case Group::everything:
      return Kind::everything;
  }
  return Kind::file;
}

std::string_view to_string(Group group) {
  static constexpr std::array<std::string_view, kGroupCount> kNames{
      "file", "tag", "host", "prefix", "everything", "file_with_headers"};
  return kNames.at(static_cast<std::size_t>(group));
}

std::size_t cap_of(Group group, const BatchCaps& caps) {
  switch (group) {
    case Group::everything:
      return 1;
    case Group::file:
    case Group::file_with_headers:
      return static_cast<std::size_t>(std::max(caps.max_urls, 1));
    default:
      return static_cast<std::size_t>(std::max(caps.max_ops, 1));
  }
}

std::size_t body_bytes(const Item& item) {
  std::size_t bytes = item.value.size() + 4;
  if (!item.headers.empty()) {
    bytes += 24;
    for (const auto& [name, value] : item.headers) bytes += name.size() + value.size() + 6;
  }
  return bytes + bytes / 16;  // escapes are rare; this slack covers them
}

Cut cut_batch(Group group, std::span<const Item* const> head_items, std::int64_t oldest_created_ms,
              const BatchCaps& caps, std::int64_t linger_ms, std::int64_t now_ms) {
  Cut cut;
  if (head_items.empty()) return cut;
  const std::size_t cap = cap_of(group, caps);
  std::size_t bytes = kBodyOverhead;
  std::size_t n = 0;
  bool full = false;
  for (const Item* item : head_items) {
    if (n == cap) break;
    const std::size_t size = body_bytes(*item);
    if (n > 0 && bytes + size > caps.max_body_bytes) {
      full = true;
      break;
    }
    bytes += size;
    ++n;
  }
  full = full || n == cap || bytes >= caps.max_body_bytes;
  if (full || linger_ms <= 0 || now_ms >= oldest_created_ms + linger_ms) {
    cut.take = n;
  } else {
    cut.ready_at_ms = oldest_created_ms + linger_ms;
  }
  return cut;
}

std::vector<KeyRange> coverage_ranges(const Item& broad) {
  std::vector<KeyRange> out;
  if (broad.kind != Kind::host && broad.kind != Kind::prefix) return out;
  const auto reach = reach_of(broad);
  if (!reach) return out;
  if (reach->path.empty()) {
    add_whole_host(out, reach->host);
  } else {
    const std::string under = reach->host + std::string(reach->path);
    for (const char* scheme : {"https://", "http://"}) {
      add_starts_with(out, Kind::file, std::string(scheme) + under);
    }
    add_starts_with(out, Kind::prefix, under);
  }
  if (broad.kind == Kind::host) out.push_back(KeyRange{Kind::host, reach->host, {}, true});
  return out;
}

bool in_range(const KeyRange& range, Kind kind, std::string_view key) {
  if (kind != range.kind) return false;
  if (range.exact) return key == range.low;
  return key >= range.low && key < range.high;
}

}  // namespace purgeq
