// Turns a purge request body into validated, normalised items, each routed to the zone that owns
// it, or into the one error that rejects the whole intent: body shape (intake/body_shape.h), item
// rules (intake/item_rules.h), routing (intake/routing.h) and de-duplication (intake/dedup.h),
// composed. What each error code means is in docs/api.md, "Error codes".
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.h"
#include "intake/body_shape.h"
#include "intake/intake_error.h"
#include "intake/item_rules.h"
#include "intake/json_body.h"
#include "model/item.h"
#include "model/lane.h"

namespace purgeq {

struct RoutedItem {
  std::size_t zone_index = 0;  // into Config::zones
  Item item;
};

struct ParsedIntent {
  // In body order; duplicates (same zone, kind and Item::key()) are merged, the first one kept.
  // A URL in a zone with cache-key variants stands for its variants (intake/variants.h).
  std::vector<RoutedItem> items;
  // The native body's "priority"; nullopt: the lane comes from the access rules (intake/access.h).
  std::optional<Lane> lane;
  // URL entries that expanded into several variants, and the items those variants make in
  // `items` (after duplicates merged): for the receipt, so that "3 items" for one URL is clear.
  std::size_t expanded_urls = 0;
  std::size_t variant_items = 0;
};

// Validates and routes one request body. `forced_zone` is the zone index taken from the URL path
// and is required for the cloudflare flavor; it is ignored for the native flavor. The first
// problem found rejects the whole intent. The items are counted before any is validated: more
// than config.intake.max_items_per_intent is refused (too_many_items) at once, and again as URLs
// expand into their cache-key variants: the limit holds for the items stored.
std::variant<ParsedIntent, IntakeError> parse_intent(
    const boost::json::value& body, const Config& config,
    IntakeFlavor flavor = IntakeFlavor::native,
    std::optional<std::size_t> forced_zone = std::nullopt);

// What the daemon runs on a purge request's body (POST /v1/purge, /v1/expand and Cloudflare's
// endpoint): parse_json_body, refusing duplicate members (invalid_json, duplicate_key), then
// parse_intent. The JSON document is freed before it returns: only the items stay.
std::variant<ParsedIntent, IntakeError> read_intent(
    std::string_view body, const Config& config, IntakeFlavor flavor = IntakeFlavor::native,
    std::optional<std::size_t> forced_zone = std::nullopt);

// How cache-key variants grew an intent, for the receipt and /v1/expand:
// {"urls": URLs expanded, "items": the items they make}.
boost::json::object variants_json(const ParsedIntent& intent);

}  // namespace purgeq
