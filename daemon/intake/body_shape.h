// The shape of a purge request body: which members it has and of which types, checked before any
// item is looked at so a misnamed or mistyped member is reported first, and a million items cost
// a count rather than a million validations when the intent is too large anyway.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <string_view>
#include <variant>
#include <vector>

#include "intake/intake_error.h"
#include "model/item.h"

namespace purgeq {

// native: the body of POST /v1/purge (kinds may be mixed, optional "zone").
// cloudflare: the body of POST /client/v4/zones/{id}/purge_cache, held to Cloudflare's shape:
// exactly one kind, and purge_everything only on its own.
enum class IntakeFlavor { native, cloudflare };

struct BodyMember {
  std::string_view key;  // "files", "tags", "hosts", "prefixes" or "purge_everything"
  Kind kind;
  const boost::json::value* value;  // an array, or `true` for purge_everything
};

// Views the body it was read from: keep the body alive.
struct BodyShape {
  std::vector<BodyMember> members;           // in body order
  const boost::json::value* zone = nullptr;  // the native flavor's "zone", unchecked; or null
  const boost::json::value* priority = nullptr;  // the native flavor's "priority", unchecked
  std::size_t item_count = 0;                // array entries, plus one for purge_everything
};

// Errors, first found wins: invalid_body, unknown_field, then for the cloudflare flavor
// purge_everything_not_alone, mixed_kinds, no_kind, then per member invalid_purge_everything or
// not_an_array, then too_many_items (more than `max_items` items; 0 means no limit).
std::variant<BodyShape, IntakeError> read_body_shape(const boost::json::value& body,
                                                     IntakeFlavor flavor, long long max_items);

}  // namespace purgeq
