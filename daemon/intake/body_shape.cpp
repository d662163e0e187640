// Body members and their types, for both flavors.
#include "intake/body_shape.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace purgeq {
namespace {

IntakeError body_error(ErrorCode code, std::string_view text) {
  return make_error(code, {}, text, {});
}

std::optional<Kind> kind_of_member(std::string_view key) {
  for (int k = 0; k < kKindCount; ++k) {
    const auto kind = static_cast<Kind>(k);
    if (key == body_key(kind)) return kind;
  }
  return std::nullopt;
}

// Cloudflare's endpoint takes exactly one kind per request; clients written for it expect its
// refusals, so the compatible endpoint gives them rather than accepting more.
std::optional<IntakeError> cloudflare_shape_error(const std::vector<BodyMember>& members) {
  const bool has_everything = std::any_of(members.begin(), members.end(), [](const BodyMember& m) {
    return m.kind == Kind::everything;
  });
  if (has_everything && members.size() > 1) {
    return body_error(ErrorCode::purge_everything_not_alone,
                      "request cannot contain \"purge_everything\" and any of \"files\", "
                      "\"tags\", \"hosts\" or \"prefixes\"");
  }
  if (members.size() > 1) {
    return body_error(ErrorCode::mixed_kinds,
                      fmt::format("request must contain exactly one of \"files\", \"tags\", "
                                  "\"hosts\" or \"prefixes\", got \"{}\" and \"{}\"",
                                  members[0].key, members[1].key));
  }
  if (members.empty()) {
    return body_error(ErrorCode::no_kind,
                      "request must contain one of \"purge_everything\", \"files\", \"tags\", "
                      "\"hosts\" or \"prefixes\"");
  }
  return std::nullopt;
}

}  // namespace

std::variant<BodyShape, IntakeError> read_body_shape(const boost::json::value& body,
                                                     IntakeFlavor flavor, long long max_items) {
  const bool cloudflare = flavor == IntakeFlavor::cloudflare;
  if (!body.is_object()) {
    return body_error(ErrorCode::invalid_body,
                      fmt::format("request body must be a JSON object, got {}", type_name(body)));
  }
  BodyShape shape;
  for (const auto& member : body.get_object()) {
    const std::string_view key = member.key();
    if (!cloudflare && key == "zone") {
      shape.zone = &member.value();
      continue;
    }
    if (!cloudflare && key == "priority") {
      shape.priority = &member.value();
      continue;
    }
    const auto kind = kind_of_member(key);
    if (!kind) {
      if (cloudflare && key == "zone") {
        return body_error(ErrorCode::unknown_field,
                          "unknown member \"zone\": the URL path already names the zone");
      }
      if (cloudflare && key == "priority") {
        return body_error(ErrorCode::unknown_field,
                          "unknown member \"priority\": an API client's lane is its "
                          "api_clients[].priority");
      }
      return body_error(
          ErrorCode::unknown_field,
          fmt::format("unknown member {} (expected {})", quote(key),
                      cloudflare ? "one of files, tags, hosts, prefixes or purge_everything"
                                 : "files, tags, hosts, prefixes, purge_everything, zone or "
                                   "priority"));
    }
    shape.members.push_back(BodyMember{key, *kind, &member.value()});
  }
  if (cloudflare) {
    if (auto error = cloudflare_shape_error(shape.members)) return std::move(*error);
  }
  for (const auto& member : shape.members) {
    if (member.kind == Kind::everything) {
      if (!member.value->is_bool() || !member.value->get_bool()) {
        return body_error(
            ErrorCode::invalid_purge_everything,
            fmt::format("\"purge_everything\" must be true, got {}",
                        member.value->is_bool() ? "false" : type_name(*member.value)));
      }
      ++shape.item_count;
    } else if (!member.value->is_array()) {
      return body_error(ErrorCode::not_an_array, fmt::format("\"{}\" must be an array, got {}",
                                                             member.key, type_name(*member.value)));
    } else {
      shape.item_count += member.value->get_array().size();
    }
  }
  if (max_items > 0 && shape.item_count > static_cast<std::size_t>(max_items)) {
    return body_error(
        ErrorCode::too_many_items,
        fmt::format("the intent has {} items and intake.max_items_per_intent is {}; split it into "
                    "several intents",
                    shape.item_count, max_items));
  }
  return shape;
}

}  // namespace purgeq
