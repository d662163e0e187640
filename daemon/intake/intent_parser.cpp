// Body shape, then the zone the intent names, then each item validated, routed and de-duplicated.
#include "intake/intent_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <string>

#include "intake/dedup.h"
#include "intake/routing.h"
#include "intake/variants.h"

namespace purgeq {
namespace {

// The zone an intent names, if any: the cloudflare flavor's path zone (required) or the native
// body's "zone" member.
std::variant<std::optional<std::size_t>, IntakeError> named_zone(
    const Config& config, IntakeFlavor flavor, const boost::json::value* zone_member,
    std::optional<std::size_t> forced_zone) {
  std::variant<std::size_t, IntakeError> zone;
  if (flavor == IntakeFlavor::cloudflare) {
    zone = path_zone(config, forced_zone);
  } else if (zone_member != nullptr) {
    zone = member_zone(config, *zone_member);
  } else {
    return std::nullopt;
  }
  if (auto* error = std::get_if<IntakeError>(&zone)) return std::move(*error);
  return std::get<std::size_t>(zone);
}

}  // namespace

std::variant<ParsedIntent, IntakeError> parse_intent(const boost::json::value& body,
                                                     const Config& config, IntakeFlavor flavor,
                                                     std::optional<std::size_t> forced_zone) {
  auto shaped = read_body_shape(body, flavor, config.intake.max_items_per_intent);
  if (auto* error = std::get_if<IntakeError>(&shaped)) return std::move(*error);
  const BodyShape& shape = std::get<BodyShape>(shaped);

  auto named = named_zone(config, flavor, shape.zone, forced_zone);
  if (auto* error = std::get_if<IntakeError>(&named)) return std::move(*error);
  std::optional<Lane> lane;
  if (shape.priority != nullptr) {
    const auto* name = shape.priority->if_string();
    if (name != nullptr) lane = lane_from_string(*name);
    if (!lane) {
      return make_error(ErrorCode::invalid_priority, {},
                        fmt::format("\"priority\" must be one of {}, got {}", kLaneNames,
                                    name != nullptr ? quote(*name) : type_name(*shape.priority)),
                        {});
    }
  }
  if (shape.item_count == 0) {
    return make_error(ErrorCode::empty_intent, {},
                      "nothing to purge: no files, tags, hosts, prefixes or purge_everything", {});
  }
  const ZoneRouter router(config, std::get<std::optional<std::size_t>>(named));

  const auto max_items =
      static_cast<std::size_t>(std::max(0LL, config.intake.max_items_per_intent));
  ParsedIntent intent;
  intent.lane = lane;
  intent.items.reserve(shape.item_count);
  IntentDedup dedup;
  auto add = [&](std::size_t zone_index, Item item) {
    if (dedup.first(zone_index, item)) {
      intent.items.push_back(RoutedItem{zone_index, std::move(item)});
    }
  };

  for (const auto& member : shape.members) {
    if (member.kind == Kind::everything) {
      Item everything{Kind::everything, {}, {}};
      auto zone = router.zone_for(everything, {});
      if (auto* error = std::get_if<IntakeError>(&zone)) {
        error->item = "purge_everything";
        return std::move(*error);
      }
      add(std::get<std::size_t>(zone), std::move(everything));
      continue;
    }
    const auto& entries = member.value->get_array();
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& entry = entries[i];
      const std::string path = fmt::format("{}[{}]", member.key, i);
      auto validated = validate_entry(member.kind, entry, path);
      if (auto* error = std::get_if<IntakeError>(&validated)) return std::move(*error);
      Item& item = std::get<Item>(validated);
      auto zone = router.zone_for(item, path);
      if (auto* error = std::get_if<IntakeError>(&zone)) {
        error->item = bounded_item(entry_as_item(entry));
        return std::move(*error);
      }
      const std::size_t zone_index = std::get<std::size_t>(zone);
      const Zone& owner = config.zones[zone_index];
      // A zone varying on one header with one value still adds that header: what decides is
      // whether anything is added, not how many variants there are.
      if (const auto added = added_headers(owner, item); added == 0) {
        // Nothing varies, but headers the zone varies on are spelled as its variants are.
        expand_variants(owner, item, [&](Item variant) { add(zone_index, std::move(variant)); });
      } else {
        // A variant must pass the item rules as if a client had sent it.
        if (item.headers.size() + added > kMaxFileHeaders) {
          return make_error(
              ErrorCode::too_many_headers, path,
              fmt::format("{} has {} headers and zone {} adds {} cache-key headers to each "
                          "variant; at most {} are allowed",
                          quote(item.value), item.headers.size(), owner.name, added,
                          kMaxFileHeaders),
              bounded_item(entry_as_item(entry)));
        }
        const std::size_t before = intent.items.size();
        expand_variants(owner, item, [&](Item variant) { add(zone_index, std::move(variant)); });
        ++intent.expanded_urls;
        intent.variant_items += intent.items.size() - before;
      }
      // Checked as items are added, so an intent that expands past the limit is refused before
      // it takes more memory than the limit allows.
      if (max_items > 0 && intent.items.size() > max_items) {
        return make_error(
            ErrorCode::too_many_items, path,
            fmt::format("the intent expands to more than {} items (a URL counts once per "
                        "cache-key variant of its zone, zones[].variants) and "
                        "intake.max_items_per_intent is {}; split it into several intents",
                        max_items, max_items),
            bounded_item(entry_as_item(entry)));
      }
    }
  }
  return intent;
}

std::variant<ParsedIntent, IntakeError> read_intent(std::string_view body, const Config& config,
                                                    IntakeFlavor flavor,
                                                    std::optional<std::size_t> forced_zone) {
  auto json = parse_json_body(body);
  if (auto* error = std::get_if<IntakeError>(&json)) return std::move(*error);
  return parse_intent(std::get<boost::json::value>(json), config, flavor, forced_zone);
}

boost::json::object variants_json(const ParsedIntent& intent) {
  return boost::json::object{{"urls", intent.expanded_urls}, {"items", intent.variant_items}};
}

}  // namespace purgeq
