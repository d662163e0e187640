// A zone's cache-key variants (`zones[].variants`, docs/delivery.md "Cache-key variants"): the
// request headers its cache key varies on and their values, so that a URL purge can name every
// cached copy. Cloudflare purges a {url, headers} cache key only when the purge carries the
// header values the copy was cached with (reference §4.4).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace purgeq {

// One header a zone's cache key varies on.
struct VariantHeader {
  // The spelling Cloudflare documents: "CF-Device-Type", "CF-IPCountry", "Accept-Language" or
  // "Origin" (config names are matched case-insensitively).
  std::string name;
  // Normalised, unique, in config order, at least one.
  std::vector<std::string> values;
  // Visitors may send no such header (Accept-Language, Origin), so the cache also holds copies
  // keyed without it: purging "without the header" is a variant of its own. Cloudflare sets
  // CF-Device-Type and CF-IPCountry on every request, so those never go missing.
  bool may_be_absent = false;
};

// At most this many variants per URL: the smallest per-request URL cap of any plan, so one URL's
// variants always fit in one request, and a typo in a long country list cannot multiply every
// URL purge a hundredfold unnoticed.
inline constexpr std::size_t kMaxVariantCombinations = 100;

// The headers `zones[].variants` may name, in the spelling used when sending.
inline constexpr std::string_view kVariantHeaderNames[] = {"CF-Device-Type", "CF-IPCountry",
                                                           "Accept-Language", "Origin"};

// `name: value` as a variant of that header is spelled (the name as kVariantHeaderNames writes it,
// the value normalised as config normalises it: "Mobile" -> "mobile", "us" -> "US"); nullopt when
// `name` is not one of those headers or `value` is not one it can take.
[[nodiscard]] std::optional<std::pair<std::string, std::string>> canonical_variant_header(
    std::string_view name, std::string_view value);

// Variants of one URL the headers give: the product of each header's value count (plus one for
// "absent" where it may be absent). 1 for no headers. Saturates at SIZE_MAX.
[[nodiscard]] std::size_t combination_count(const std::vector<VariantHeader>& headers);

}  // namespace purgeq
