// The de-duplication key of a routed item.
#include "intake/dedup.h"

#include <fmt/format.h>

namespace purgeq {

bool IntentDedup::first(std::size_t zone_index, const Item& item) {
  // '\x1f' cannot occur in a zone index or a kind number, so the fields stay apart.
  return seen_
      .insert(fmt::format("{}\x1f{}\x1f{}", zone_index, static_cast<int>(item.kind), item.key()))
      .second;
}

}  // namespace purgeq
