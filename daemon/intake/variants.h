// Cache-key variants at intake (docs/delivery.md, "Cache-key variants"): a URL purged in a zone
// whose cache key varies on request headers becomes one file item per combination of the zone's
// header values, so that every cached copy is purged, not only the one keyed without headers.
#pragma once

#include <cstddef>
#include <functional>

#include "config/config.h"
#include "model/item.h"

namespace purgeq {

// How many items expand_variants makes of `item` in `zone`: 1 for anything but a file, and for
// a file in a zone without variants.
[[nodiscard]] std::size_t variant_count(const Zone& zone, const Item& item);

// How many headers expand_variants adds to each variant of `item`: the zone's headers it does not
// name itself. Added to the item's own, they must stay within intake's kMaxFileHeaders.
[[nodiscard]] std::size_t added_headers(const Zone& zone, const Item& item);

// Calls `emit` with each variant of `item` in `zone`, in the order of the zone's headers and
// values (the last header varies fastest); with `item` itself when nothing varies. A variant is
// the item's URL with its own headers plus one value of each varying header; a header the item
// names itself (case-insensitively) does not vary: the purge asked for that value only. A header
// that visitors may omit (VariantHeader::may_be_absent) also varies as "not sent". Headers come
// out sorted as Item requires, the zone's in the spelling Cloudflare documents.
void expand_variants(const Zone& zone, const Item& item, const std::function<void(Item)>& emit);

}  // namespace purgeq
